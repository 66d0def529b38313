"""REST request and response bodies (JSON). Unknown fields are rejected."""

from __future__ import annotations

import secrets
from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

from shared.money import CURRENCY_PATTERN, CurrencyCode, Money, PositiveMinorUnits

# The request header of every money-moving command: the client's key for the operation,
# generated once and sent again on every retry (the client sends it; the server reads it,
# allows it through CORS and declares it in the OpenAPI document).
IDEMPOTENCY_KEY = "Idempotency-Key"

# Text a person types for others to read (descriptions, names) is one line, without
# control characters (C0, DEL, C1: a line break, a tab, an escape) and without the
# bidirectional embeddings, overrides and isolates that show text in another order
# than it is written (CVE-2021-42574, "Trojan Source"): a payment reference or a name
# would read differently to the payee, in a statement or in the app.
_UNSHOWN = r"\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069"
# (?![\s\S]) is the end of the text: Python's $ also matches before a final line break,
# and JSON Schema's ECMAScript patterns have no \Z.
ONE_LINE = rf"^[^{_UNSHOWN}]*(?![\s\S])"
ONE_LINE_NOT_BLANK = rf"^(?=.*\S)[^{_UNSHOWN}]*(?![\s\S])"  # and somewhere not a space
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
DESCRIPTION_MAX_LENGTH = 140
Description = Annotated[str, msgspec.Meta(max_length=DESCRIPTION_MAX_LENGTH, pattern=ONE_LINE)]
ACCOUNT_NAME_MAX_LENGTH = 64
AccountName = Annotated[
    str, msgspec.Meta(min_length=1, max_length=ACCOUNT_NAME_MAX_LENGTH, pattern=ONE_LINE_NOT_BLANK)
]
Email = Annotated[str, msgspec.Meta(min_length=3, max_length=254, pattern=EMAIL_PATTERN)]
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
# The password policy's length (server/application/password_policy.py); the app checks it
# before it asks the bank.
PASSWORD_MIN_LENGTH = 12
FullName = Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=ONE_LINE_NOT_BLANK)]


class Request(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of request bodies: unknown fields are an error (no mass assignment)."""


# --- auth ---------------------------------------------------------------------


class RegisterRequest(Request, frozen=True):
    email: Email
    password: Password
    full_name: FullName


class RegisterResponse(msgspec.Struct, kw_only=True):
    user_id: UUID


class TokenResponse(msgspec.Struct, kw_only=True, omit_defaults=True):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    refresh_token: str | None = None


# --- accounts ---------------------------------------------------------------

AccountStatus = Literal["active", "frozen", "closed"]


class OpenAccountRequest(Request, frozen=True):
    currency: CurrencyCode
    name: AccountName


class AccountResponse(msgspec.Struct, kw_only=True):
    id: UUID
    name: str
    currency: str
    status: AccountStatus
    balance: Money
    version: int
    owner_id: UUID
    opened_at: datetime | None = None
    # The number people read out and type (issue #17), in groups of four; the API
    # accepts it (with or without spaces) wherever an account is named.
    account_number: str | None = None
    # The ledger balance less pending holds (issue #17): what can be spent now.
    # Always given by this server; the default only keeps older payloads decodable.
    available_balance: Money | None = None


class AccountList(msgspec.Struct, kw_only=True):
    items: list[AccountResponse]


class BalanceResponse(msgspec.Struct, kw_only=True):
    account_id: UUID
    balance: Money  # the ledger balance
    version: int
    available_balance: Money | None = None  # balance less pending holds (issue #17)


# --- money movements ------------------------------------------------------------


class MoneyMovementRequest(Request, frozen=True):
    """``currency`` (optional) is the currency the client means the amount in; absent,
    the account's own. A currency other than the account's is refused (422,
    ``currency_mismatch``): nothing is converted."""

    amount: PositiveMinorUnits
    description: Description = ""
    currency: CurrencyCode | None = None


class MoneyMovementResponse(msgspec.Struct, kw_only=True):
    transaction_id: UUID
    balance: Money  # the ledger balance
    version: int
    # The ledger balance less pending holds: what can be spent now. Given by this server
    # since 6 December; an answer stored before (a replay) has none.
    available_balance: Money | None = None
    # Deposits (issue #17): where the money came from ("cash", "dev_top_up"), and a
    # notice a person should read (a development top-up says it is one).
    source: str | None = None
    notice: str | None = None


class AccountLimitsRequest(Request, frozen=True):
    """Staff set an account's outgoing limits (minor units of its currency)."""

    per_transaction: PositiveMinorUnits
    daily_outgoing: PositiveMinorUnits
    reason: Description = ""


class AccountLimitsResponse(msgspec.Struct, kw_only=True):
    account_id: UUID
    per_transaction: int | None
    daily_outgoing: int | None
    remaining_today: int | None
    version: int
    # The most the bank takes in one payment from any account, whatever the account's
    # own limit (the smaller of the two holds; 422 amount_over_limit above it).
    bank_per_transaction: int | None = None


class TransferRequest(Request, frozen=True):
    """``currency`` as for deposits: optional, must be the source account's."""

    from_account_id: UUID
    to_account_id: UUID
    amount: PositiveMinorUnits
    description: Description = ""
    currency: CurrencyCode | None = None


_UUID = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_ACCOUNT_NUMBER = "[Xx][Nn][0-9A-Za-z -]{16,30}"
# An account as a person names it: the number read out, or (a source) the internal id.
ACCOUNT_NUMBER_PATTERN = f"^{_ACCOUNT_NUMBER}$"
ACCOUNT_REF_PATTERN = f"^({_UUID}|{_ACCOUNT_NUMBER})$"
AccountNumberText = Annotated[str, msgspec.Meta(pattern=ACCOUNT_NUMBER_PATTERN)]
AccountRef = Annotated[str, msgspec.Meta(pattern=ACCOUNT_REF_PATTERN)]
# What each pattern of a request body asks for, in words: a refusal says these, not the
# regular expression (server/api/errors.py, plain_words).
# A code from an authenticator app: six digits, as typed ("123456", "123 456"); or one
# of the customer's recovery codes (below), for when the app is lost.
_LETTER = "[A-HJ-NP-Za-hj-np-z2-9]"  # CODE_ALPHABET, in either case
TWO_STEP_CODE_PATTERN = rf"^ *([0-9]{{3}} ?[0-9]{{3}}|{_LETTER}{{5}}[ -]?{_LETTER}{{5}}) *$"
TwoStepCode = Annotated[
    str, msgspec.Meta(min_length=6, max_length=16, pattern=TWO_STEP_CODE_PATTERN)
]

# The codes people are given to type: letters and digits without the ones people
# misread (0/O, 1/I), shown in two halves (ABCD-EFGH); typed in any case, with or without
# the hyphen or spaces.
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
# A code the bank emails (to reset a forgotten password, to confirm a new email address):
# eight of them (40 bits).
EMAILED_CODE_LENGTH = 8
EMAILED_CODE_PATTERN = rf"^ *{_LETTER}{{4}}[ -]?{_LETTER}{{4}} *$"
EmailedCode = Annotated[
    str, msgspec.Meta(min_length=8, max_length=16, pattern=EMAILED_CODE_PATTERN)
]
# A recovery code of two-step sign-in (given ten at a time when it is turned on; each
# signs in once without the authenticator app): ten of them (50 bits), ABCDE-FGHJK.
RECOVERY_CODE_LENGTH = 10


def new_code(length: int) -> str:
    """A new code of ``length`` characters of CODE_ALPHABET, from a secure source."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


def _typed(text: str | None, length: int) -> str | None:
    code = (text or "").replace("-", "").replace(" ", "").upper()
    ok = len(code) == length and all(c in CODE_ALPHABET for c in code)
    return code if ok else None


def new_emailed_code() -> str:
    """A new code for the bank to email (a password reset's, a new address's)."""
    return new_code(EMAILED_CODE_LENGTH)


def typed_emailed_code(text: str | None) -> str | None:
    """An emailed code as typed ("abcd efgh", "ABCD-EFGH"), in capitals without the
    hyphen; None if it is not one."""
    return _typed(text, EMAILED_CODE_LENGTH)


def typed_recovery_code(text: str | None) -> str | None:
    """A recovery code as typed ("abcde fghjk", "ABCDE-FGHJK"), in capitals without the
    hyphen; None if it is not one."""
    return _typed(text, RECOVERY_CODE_LENGTH)


def shown_code(code: str) -> str:
    """ABCDEFGH -> ABCD-EFGH: a code in two halves, as it is shown."""
    half = len(code) // 2
    return f"{code[:half]}-{code[half:]}"


PATTERN_WORDS = {
    ONE_LINE: "one line of text, without control characters or characters that change"
    " the direction of text",
    ONE_LINE_NOT_BLANK: "one line of text, not only spaces, without control characters or"
    " characters that change the direction of text",
    EMAIL_PATTERN: "an email address like ada@example.com, without spaces",
    CURRENCY_PATTERN: "a currency code of three capital letters, like EUR",
    ACCOUNT_NUMBER_PATTERN: "an account number like XN12 NWBK 0000 0000 01",
    ACCOUNT_REF_PATTERN: "an account id (a UUID) or an account number like XN12 NWBK 0000 0000 01",
    TWO_STEP_CODE_PATTERN: "the six digits an authenticator app shows, like 123456, or a"
    " recovery code, like ABCDE-FGHJK",
    EMAILED_CODE_PATTERN: "the eight-character code from the email, like ABCD-EFGH",
}


class TransferByNumberRequest(Request, frozen=True):
    """A transfer whose accounts are named as people name them (issue #17): the
    destination by its account number (spaces allowed), the source by number or id."""

    from_account: AccountRef
    to_account_number: AccountNumberText
    amount: PositiveMinorUnits
    description: Description = ""
    currency: CurrencyCode | None = None


class AddPayeeRequest(Request, frozen=True):
    """Save a beneficiary (issue #17): the account number and the holder's name as
    the customer believes it (checked: confirmation of payee), and a nickname."""

    account_number: AccountNumberText
    holder_name: FullName
    nickname: AccountName


class PayeeResponse(msgspec.Struct, kw_only=True):
    account_number: str
    nickname: str
    # match / close_match / no_match: how the name typed compares with the holder's
    # (the holder's real name is never shown).
    name_match: str


class PayeeList(msgspec.Struct, kw_only=True):
    items: list[PayeeResponse]


class TransferResponse(msgspec.Struct, kw_only=True):
    transfer_id: UUID
    balance: Money  # the source account's ledger balance
    version: int
    available_balance: Money | None = None  # as MoneyMovementResponse's


class FreezeRequest(Request, frozen=True):
    reason: Description = ""


class RenameAccountRequest(Request, frozen=True):
    name: AccountName


class AccountNameResponse(msgspec.Struct, kw_only=True):
    account_id: UUID
    name: str
    version: int


class AccountStatusResponse(msgspec.Struct, kw_only=True):
    account_id: UUID
    status: AccountStatus
    version: int


# --- holds (issue #17: two-phase transfers) ---------------------------------------

HoldStatus = Literal["pending", "posted", "voided", "expired"]
# The bound a request may ask at all; the bank's maximum (settings) is checked after.
HoldTimeoutSeconds = Annotated[int, msgspec.Meta(ge=1, le=10 * 365 * 24 * 3600)]


class PlaceHoldRequest(Request, frozen=True):
    """Reserve money on the account: the available balance drops, the ledger balance
    does not. ``to_account`` (an id or account number) makes it a pending transfer to
    that account; without it the hold is card-style (posting withdraws the money).
    ``expires_in_seconds`` absent: the bank's default timeout."""

    amount: PositiveMinorUnits
    description: Description = ""
    currency: CurrencyCode | None = None
    to_account: AccountRef | None = None
    expires_in_seconds: HoldTimeoutSeconds | None = None


class PostHoldRequest(Request, frozen=True):
    """Post a pending hold: ``amount`` absent posts it in full; less is allowed, more
    is not. The whole hold is released either way."""

    amount: PositiveMinorUnits | None = None


class HoldResponse(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A hold command's answer: the hold and the account's balances after it."""

    hold_id: UUID
    account_id: UUID
    status: HoldStatus
    amount: Money  # what was held
    expires_at: datetime
    balance: Money  # the ledger balance
    available_balance: Money
    version: int
    posted_amount: Money | None = None  # a posted hold: what the ledger was debited
    to_account_id: UUID | None = None
    description: str = ""


class PendingHoldResponse(msgspec.Struct, kw_only=True):
    hold_id: UUID
    account_id: UUID
    status: HoldStatus
    amount: Money
    description: str
    expires_at: datetime
    to_account_id: UUID | None = None
    placed_at: datetime | None = None


class HoldList(msgspec.Struct, kw_only=True):
    items: list[PendingHoldResponse]


# --- history and analytics ----------------------------------------------------

TransactionKind = Literal["deposit", "withdrawal", "transfer_out", "transfer_in"]


class TransactionResponse(msgspec.Struct, kw_only=True):
    transaction_id: UUID
    account_id: UUID
    kind: TransactionKind
    amount: Money
    balance_after: Money
    counterparty_account_id: UUID | None = None
    # The other account's number (groups of four) for a transfer: what a person
    # reads and types. Given by history, the transaction's own page and the live feed.
    counterparty_account_number: str | None = None
    description: str = ""
    occurred_at: datetime
    version: int


class TransactionPage(msgspec.Struct, kw_only=True):
    items: list[TransactionResponse]
    next_cursor: str | None = None


class RecentTransactions(msgspec.Struct, kw_only=True):
    """The newest postings over all of a customer's accounts, newest first (no pages:
    an account's own listing pages through its history)."""

    items: list[TransactionResponse]


class AnalyticsDay(msgspec.Struct, kw_only=True):
    day: date
    money_in: int
    money_out: int
    count: int
    closing_balance: int


class AnalyticsResponse(msgspec.Struct, kw_only=True):
    account_id: UUID
    currency: str
    days: list[AnalyticsDay]
    total_in: int
    total_out: int
    count: int


# --- errors -------------------------------------------------------------------


class Problem(msgspec.Struct, kw_only=True, omit_defaults=True):
    """RFC 9457 problem details; ``code`` is machine-readable."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    code: str | None = None
    instance: str | None = None
    # An outgoing limit's refusal (issue #17): what may still leave the account today.
    remaining_today: int | None = None


# --- batch transfers ------------------------------------------------------------

BATCH_MAX_TRANSFERS = 8190


class BatchTransferItem(Request, frozen=True):
    """One transfer of a batch. ``id`` is its idempotency key (a retry with the same
    id answers the first outcome). ``linked: true`` chains this item to the next:
    a chain (up to the first item without ``linked``) succeeds or fails as a whole."""

    id: UUID
    from_account_id: UUID
    to_account_id: UUID
    amount: PositiveMinorUnits
    description: Description = ""
    linked: bool = False


class BatchTransferRequest(Request, frozen=True):
    transfers: Annotated[
        list[BatchTransferItem], msgspec.Meta(min_length=1, max_length=BATCH_MAX_TRANSFERS)
    ]


BatchItemStatus = Literal["created", "replayed", "rejected"]


class BatchTransferResult(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Per item, in request order: ``created`` (with the transfer and the source's new
    balance and version), ``replayed`` (same as first time), or ``rejected`` with a
    machine-readable ``code`` (the same codes as POST /transfers)."""

    id: UUID
    status: BatchItemStatus
    transfer_id: UUID | None = None
    balance: Money | None = None
    version: int | None = None
    code: str | None = None
    detail: str | None = None
    # A limit refusal (transaction_limit_exceeded, daily_limit_exceeded): what may still
    # leave the source account today, as POST /transfers answers it.
    remaining_today: int | None = None


class BatchTransferResponse(msgspec.Struct, kw_only=True):
    results: list[BatchTransferResult]
    created: int
    replayed: int
    rejected: int
