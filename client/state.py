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

from shared.api import AccountResponse, TransactionResponse
from shared.money import Money
from shared.notifications import Notification

MovementKind = Literal["deposit", "withdrawal", "transfer"]
QueueStatus = Literal["pending", "sending", "done", "rejected"]
Topic = Literal[
    "session", "accounts", "connection", "queue", "transaction", "theme", "notification", "profile"
]

QUEUE_KEY = "bank.queue.v1"
KEEP_FINISHED = 20


class QueuedMovement(msgspec.Struct, kw_only=True):
    """A money movement the customer confirmed. Its idempotency key is made when it is
    queued and sent with every attempt, so a retry can never apply it twice."""

    key: str
    owner: str  # the customer's email: queued work is only ever sent as its owner
    kind: MovementKind
    account_id: UUID
    to_account_id: UUID | None = None
    amount: int
    currency: str
    description: str = ""
    queued_at: datetime
    status: QueueStatus = "pending"
    reason: str = ""
    balance_after: Money | None = None
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
    ) -> QueuedMovement:
        return cls(
            key=str(uuid.uuid4()),
            owner=owner,
            kind=kind,
            account_id=account_id,
            to_account_id=to_account_id,
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


class AppState:
    def __init__(self, api_url: str) -> None:
        self.api_url = api_url
        self.email: str | None = None
        self.full_name: str = ""
        self.accounts: dict[UUID, AccountResponse] = {}
        # When the balances shown were seen, while they come from the device (cold start
        # offline); None once the bank has answered.
        self.as_of: datetime | None = None
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
        changed = {k: (v.version, v.status, v.name) for k, v in fresh.items()} != {
            k: (v.version, v.status, v.name) for k, v in self.accounts.items()
        }
        self.accounts = fresh
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

    def apply_balance(self, account_id: UUID, balance: Money, version: int) -> bool:
        """Take a balance if it is newer than what is shown; True when it changed."""
        known = self.accounts.get(account_id)
        if known is None or version <= known.version:
            return False
        self.accounts[account_id] = msgspec.structs.replace(known, balance=balance, version=version)
        self.notify("accounts")
        return True

    def apply_transaction(self, tx: TransactionResponse) -> None:
        self.notify("transaction", tx)

    def last_versions(self) -> dict[UUID, int]:
        return {a.id: a.version for a in self.accounts.values()}

    def totals(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for a in self.accounts.values():
            out[a.balance.currency] = out.get(a.balance.currency, 0) + a.balance.amount
        return out

    # --- notifications -----------------------------------------------------------------

    def set_notifications(self, items: list[Notification], unread: int) -> None:
        self.notifications = sorted(items, key=lambda n: n.id, reverse=True)
        self.unread = unread
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

    def sign_out(self, notice: str = "") -> None:
        """Forget the session and its data, never the queue."""
        self.email = None
        self.full_name = ""
        self.accounts = {}
        self.as_of = None
        self.notifications = []
        self.unread = 0

        self.online = False
        self.live = False
        self.notice = notice
        self.notify("session")
