"""Domain errors. Each carries a stable machine-readable ``code``; the API maps
them to HTTP problems in one place (server/api/errors.py)."""

from __future__ import annotations


class DomainError(Exception):
    code = "domain_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BusinessRuleError(DomainError):
    """A command broke a business rule: answered 422, nothing appended."""


class InvalidAmountError(BusinessRuleError):
    code = "invalid_amount"


class AmountLimitExceededError(BusinessRuleError):
    code = "amount_over_limit"


class CurrencyMismatchError(BusinessRuleError):
    code = "currency_mismatch"


class InsufficientFundsError(BusinessRuleError):
    code = "insufficient_funds"


class AccountFrozenError(BusinessRuleError):
    code = "account_frozen"


class AccountClosedError(BusinessRuleError):
    code = "account_closed"


class TooManyAccountsError(BusinessRuleError):
    code = "too_many_accounts"


class AccountNotEmptyError(BusinessRuleError):
    code = "account_not_empty"


class AccountNotFrozenError(BusinessRuleError):
    code = "account_not_frozen"


class AccountAlreadyFrozenError(BusinessRuleError):
    code = "account_already_frozen"


class SameAccountTransferError(BusinessRuleError):
    code = "same_account"


class UnsupportedCurrencyError(BusinessRuleError):
    code = "unsupported_currency"


class LimitExceededError(BusinessRuleError):
    """An outgoing limit of the account; ``remaining_today`` is what may still
    leave it today (None: no daily limit)."""

    def __init__(self, message: str, remaining_today: int | None) -> None:
        super().__init__(message)
        self.remaining_today = remaining_today


class TransactionLimitExceededError(LimitExceededError):
    code = "transaction_limit_exceeded"


class DailyLimitExceededError(LimitExceededError):
    code = "daily_limit_exceeded"


class InvalidAccountNumberError(DomainError):
    """Not one of our account numbers (422: well-formed JSON, wrong check digits)."""

    code = "invalid_account_number"


class TopUpCapExceededError(BusinessRuleError):
    code = "top_up_daily_cap_exceeded"


class TopUpsDisabledError(DomainError):
    """Customers' top-ups from outside exist only in development mode (403)."""

    code = "top_ups_disabled"


class ApprovalRequiredError(DomainError):
    """Four eyes (issue #17): the command is valid but takes effect only once a second
    member of staff approves it. The application keeps it as an approval request and
    answers 202; nothing is stored under the key (the request is, by its own key)."""

    code = "approval_required"


class CashDepositToOwnAccountError(DomainError):
    """A member of staff cannot take cash into an account of their own (403)."""

    code = "own_account_cash_deposit"


class AccountNotFoundError(DomainError):
    code = "account_not_found"


class ConcurrencyError(DomainError):
    """Another command appended to the stream first; retry on fresh state."""

    code = "concurrency_conflict"


# --- holds (issue #17: two-phase transfers) ---------------------------------------


class HoldNotPendingError(BusinessRuleError):
    """The hold is not pending on this account: posted, voided or expired already
    (or never placed). Answered 409: the hold's state, not the request, is the problem."""

    code = "hold_not_pending"


class HoldExpiredError(BusinessRuleError):
    """The hold's timeout has passed: it can no longer be posted or voided; it is
    released as expired (409)."""

    code = "hold_expired"


class PostExceedsHoldError(BusinessRuleError):
    code = "post_exceeds_hold"


class InvalidHoldTimeoutError(BusinessRuleError):
    code = "invalid_hold_timeout"


class AccountHasPendingHoldsError(BusinessRuleError):
    code = "pending_holds"


class HoldNotExpiredError(DomainError):
    """Expiring a hold before its timeout (the scheduler's clock is behind the hold's):
    not stored under the key, so the same expiry is tried again later (409)."""

    code = "hold_not_expired"
