"""What the app knows: the signed-in customer, accounts and balances, the offline queue.

Plain data plus change notification; no network and no widgets. Views subscribe
with ``listen`` and redraw on ``notify``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal
from uuid import UUID

import msgspec

from client.balances import available_of
from client.payees import merge_payees
from shared.api import AccountResponse, PayeeResponse, TransactionResponse
from shared.money import Money
from shared.notifications import Notification

MovementKind = Literal["deposit", "withdrawal", "transfer"]
QueueStatus = Literal["pending", "sending", "done", "rejected"]
Topic = Literal[
    "session",
    "accounts",
    "connection",
    "queue",
    "transaction",
    "theme",
    "notification",
    "profile",
    "payees",
]

QUEUE_KEY = "bank.queue.v1"
KEEP_FINISHED = 20


class QueuedMovement(msgspec.Struct, kw_only=True):
    """A money movement the customer confirmed. Its idempotency key is made when it is
    queued and sent with every attempt, so a retry can never apply it twice."""

    key: str
    owner: str  # the customer's email: queued work is only ever sent as its owner
    # ... and their user id, when the app knew it (GET /me): queued under an email the
    # customer has since changed, it is still theirs (Controller._load_profile).
    owner_id: UUID | None = None
    kind: MovementKind
    account_id: UUID
    to_account_id: UUID | None = None  # one of the customer's own accounts
    # A payment to an account named by its number (a payee, or typed), sent to
    # POST /transfers/by-account-number; ``to_name`` is what the app shows for it.
    to_account_number: str | None = None
    to_name: str = ""
    amount: int
    currency: str
    description: str = ""
    queued_at: datetime
    status: QueueStatus = "pending"
    reason: str = ""
    balance_after: Money | None = None
    # What can be spent after it (the ledger balance less pending holds); None from a
    # bank that does not say, or a replayed answer stored before it did.
    available_after: Money | None = None
    attempts: int = 0
    deferred: bool = False  # not settled on the first attempt: shown in the queue card

    @classmethod
    def new(
        cls,
        owner: str,
        kind: MovementKind,
        account_id: UUID,
        amount: int,
        currency: str,
        description: str = "",
        to_account_id: UUID | None = None,
        to_account_number: str | None = None,
        to_name: str = "",
        owner_id: UUID | None = None,
    ) -> QueuedMovement:
        return cls(
            key=str(uuid.uuid4()),
            owner=owner,
            owner_id=owner_id,
            kind=kind,
            account_id=account_id,
            to_account_id=to_account_id,
            to_account_number=to_account_number,
            to_name=to_name,
            amount=amount,
            currency=currency,
            description=description,
            queued_at=datetime.now(UTC),
        )

    @property
    def finished(self) -> bool:
        return self.status in ("done", "rejected")


_queue_codec = msgspec.json.Decoder(list[QueuedMovement])
_encoder = msgspec.json.Encoder()


def encode_queue(items: list[QueuedMovement]) -> str:
    return _encoder.encode(items).decode()


def decode_queue(raw: str | None) -> list[QueuedMovement]:
    if not raw:
        return []
    try:
        return _queue_codec.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return []


def _shown(accounts: dict[UUID, AccountResponse]) -> dict[UUID, tuple[object, ...]]:
    """What of each account is on screen: a change of any of it redraws."""
    return {
        k: (v.version, v.status, v.name, v.account_number, available_of(v).amount)
        for k, v in accounts.items()
    }


class AppState:
    def __init__(self, api_url: str) -> None:
        self.api_url = api_url
        self.email: str | None = None
        self.user_id: UUID | None = None  # GET /me's id; None until the bank has said
        self.full_name: str = ""
        # Whether the bank takes this user's deposits (GET /me's can_deposit: a customer's
        # is a development top-up, which a bank in production does not offer). Until the
        # bank says, as before: offered.
        self.can_deposit = True
        # Whether signing in asks this user for an authenticator app's code (GET /me's
        # two_step); None until the bank has said.
        self.two_step: bool | None = None
        # Of its recovery codes, how many were not used (GET /me's recovery_codes_left).
        self.recovery_codes_left = 0
        # A new email address waiting for the code the bank sent to it (GET /me's).
        self.email_change_pending_to: str | None = None
        self.accounts: dict[UUID, AccountResponse] = {}
        # When the balances shown were seen, while they come from the device (cold start
        # offline); None once the bank has answered.
        self.as_of: datetime | None = None
        # Accounts whose available balance is not known since the last push (a push
        # carries the ledger balance only): shown as the balance alone until refreshed.
        self.available_unknown: set[UUID] = set()
        self.payees: list[PayeeResponse] = []
        self.payees_listed = False  # True once the bank itself listed them
        self.notifications: list[Notification] = []  # newest first
        self.unread = 0
        self.online = False
        self.live = False  # True while the push connection is up
        self.last_sync: datetime | None = None
        self.queue: list[QueuedMovement] = []
        self.notice: str = ""  # shown on the sign-in screen (e.g. session expired)
        self._listeners: list[Callable[[Topic, object], None]] = []

    # --- notification ---------------------------------------------------------------

    def listen(self, fn: Callable[[Topic, object], None]) -> Callable[[], None]:
        self._listeners.append(fn)
        return lambda: self._listeners.remove(fn) if fn in self._listeners else None

    def notify(self, topic: Topic, payload: object = None) -> None:
        for fn in list(self._listeners):
            fn(topic, payload)

    # --- accounts -------------------------------------------------------------------

    @property
    def signed_in(self) -> bool:
        return self.email is not None

    def set_accounts(self, items: list[AccountResponse]) -> None:
        # Accounts are never deleted (closing is a status), so one the read model does not
        # list yet (it was just opened) stays.
        fresh: dict[UUID, AccountResponse] = dict(self.accounts)
        for a in items:
            known = self.accounts.get(a.id)
            # a push may already have brought a newer version than this read model row
            fresh[a.id] = known if known and known.version > a.version else a
        unknown = self.available_unknown - {a.id for a in items if fresh.get(a.id) is a}
        changed = unknown != self.available_unknown or _shown(fresh) != _shown(self.accounts)
        self.accounts = fresh
        self.available_unknown = unknown
        self.last_sync = datetime.now(UTC)
        if changed or self.as_of is not None:
            self.as_of = None
            self.notify("accounts")

    def show_cached(self, items: list[AccountResponse], seen_at: datetime) -> None:
        """Accounts kept on the device, shown "as of" when they were seen."""
        for a in items:
            known = self.accounts.get(a.id)
            if known is None or a.version > known.version:
                self.accounts[a.id] = a
        self.as_of = seen_at
        self.notify("accounts")

    def apply_balance(
        self, account_id: UUID, balance: Money, version: int, available: Money | None = None
    ) -> bool:
        """Take a balance if it is newer than what is shown; True when it changed.
        Without the available balance (an older bank's push or answer, or a replayed
        answer stored before the bank gave it) the account's available balance is
        unknown until the next refresh of the accounts."""
        known = self.accounts.get(account_id)
        if known is None or version <= known.version:
            return False
        fresh = msgspec.structs.replace(known, balance=balance, version=version)
        if available is not None:
            fresh = msgspec.structs.replace(fresh, available_balance=available)
            self.available_unknown.discard(account_id)
        else:
            self.available_unknown.add(account_id)
        self.accounts[account_id] = fresh
        self.notify("accounts")
        return True

    def apply_transaction(self, tx: TransactionResponse) -> None:
        self.notify("transaction", tx)

    def accounts_in_order(self) -> list[AccountResponse]:
        """The accounts, the first opened first (one without an opening date last)."""
        return sorted(self.accounts.values(), key=lambda a: (a.opened_at is None, a.opened_at))

    def open_accounts(self) -> list[AccountResponse]:
        """The accounts money can still move from or to (a closed one moves none), in order."""
        return [a for a in self.accounts_in_order() if a.status != "closed"]

    def last_versions(self) -> dict[UUID, int]:
        return {a.id: a.version for a in self.accounts.values()}

    def totals(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for a in self.accounts.values():
            out[a.balance.currency] = out.get(a.balance.currency, 0) + a.balance.amount
        return out

    # --- payees --------------------------------------------------------------------------

    def set_payees(self, listed: list[PayeeResponse] | None, known: list[PayeeResponse]) -> None:
        """The bank's list (None where it cannot list them) joined with what the device
        knows; see ``client.payees.merge_payees``."""
        self.payees = merge_payees(listed, known)
        self.payees_listed = listed is not None or self.payees_listed
        self.notify("payees")

    def add_payee(self, payee: PayeeResponse) -> None:
        """A payee the customer just added (the bank's answer)."""
        self.payees = merge_payees(None, [*self.payees, payee])
        self.notify("payees")

    def remove_payee(self, account_number: str) -> None:
        self.payees = [p for p in self.payees if p.account_number != account_number]
        self.notify("payees")

    # --- notifications -----------------------------------------------------------------

    def set_notifications(self, items: list[Notification], unread: int) -> None:
        """The bank's newest page and unread count, with what was pushed while the page was
        on its way and is newer than all of it (the bank did not count it either)."""
        newest = max((n.id for n in items), default=None)
        pushed = [n for n in self.notifications if newest is None or n.id > newest]
        self.notifications = sorted([*items, *pushed], key=lambda n: n.id, reverse=True)
        self.unread = unread + sum(1 for n in pushed if not n.read)
        self.notify("notification")

    def add_notification(self, n: Notification) -> bool:
        """A pushed notification; False if this device already has it (pushes may repeat)."""
        if any(k.id == n.id for k in self.notifications):
            return False
        self.notifications.insert(0, n)
        self.notifications.sort(key=lambda k: k.id, reverse=True)
        if not n.read:
            self.unread += 1
        self.notify("notification", n)
        return True

    def set_online(self, online: bool, live: bool | None = None) -> None:
        changed = online != self.online or (live is not None and live != self.live)
        self.online = online
        if live is not None:
            self.live = live
        if not online:
            self.live = False
        if changed:
            self.notify("connection")

    # --- offline queue ----------------------------------------------------------------

    def my_queue(self) -> list[QueuedMovement]:
        return [q for q in self.queue if q.owner == self.email]

    def pending(self) -> list[QueuedMovement]:
        return [q for q in self.my_queue() if not q.finished]

    def enqueue(self, item: QueuedMovement) -> None:
        self.queue.append(item)
        self.notify("queue")

    def trim_finished(self) -> None:
        finished = [q for q in self.queue if q.finished]
        drop = (
            {q.key for q in finished[:-KEEP_FINISHED]} if len(finished) > KEEP_FINISHED else set()
        )
        if drop:
            self.queue = [q for q in self.queue if q.key not in drop]

    def dismiss_finished(self) -> None:
        self.queue = [q for q in self.queue if not (q.owner == self.email and q.finished)]
        self.notify("queue")

    def movement_kinds(self) -> list[MovementKind]:
        """What Move money offers: a deposit only where the bank takes this user's."""
        kinds: list[MovementKind] = ["deposit", "withdrawal", "transfer"]
        return kinds if self.can_deposit else kinds[1:]

    def sign_out(self, notice: str = "") -> None:
        """Forget the session and its data, never the queue."""
        self.email = None
        self.user_id = None
        self.full_name = ""
        self.can_deposit = True
        self.two_step = None
        self.recovery_codes_left = 0
        self.email_change_pending_to = None
        self.accounts = {}
        self.available_unknown = set()
        self.payees = []
        self.payees_listed = False
        self.as_of = None
        self.notifications = []
        self.unread = 0

        self.online = False
        self.live = False
        self.notice = notice
        self.notify("session")
