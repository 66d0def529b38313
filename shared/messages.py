"""WebSocket messages between the API and the app (JSON, tagged by "type")."""

from __future__ import annotations

from uuid import UUID

import msgspec

from shared.api import TransactionResponse
from shared.money import Money
from shared.notifications import Notification


class Message(msgspec.Struct, frozen=True, kw_only=True, tag=True, tag_field="type"):
    pass


# client -> server


class Hello(Message, frozen=True):
    """First message after connecting: the bearer token (unless given as
    ``?token=``) and, per account, the last version the client has seen, so the
    server first sends what was missed."""

    token: str | None = None
    last_versions: dict[UUID, int] = {}


class Ping(Message, frozen=True):
    pass


# server -> client


class Welcome(Message, frozen=True):
    user_id: UUID


class BalanceChanged(Message, frozen=True):
    account_id: UUID
    balance: Money  # the ledger balance
    version: int
    transaction: TransactionResponse | None = None
    # The ledger balance less pending holds (issue #17); a hold placed or released
    # sends a BalanceChanged with no transaction and a new available balance.
    available_balance: Money | None = None


class AccountStatusChanged(Message, frozen=True):
    account_id: UUID
    status: str
    version: int


class AccountNameChanged(Message, frozen=True):
    """The account was renamed (an app that does not know this type skips it)."""

    account_id: UUID
    name: str
    version: int


class Pong(Message, frozen=True):
    pass


class NotificationReceived(Message, frozen=True):
    """A new entry in the customer's inbox (also in GET /api/v1/notifications)."""

    notification: Notification


class Error(Message, frozen=True):
    code: str
    detail: str


ClientMessage = Hello | Ping
ServerMessage = (
    Welcome
    | BalanceChanged
    | AccountStatusChanged
    | AccountNameChanged
    | Pong
    | Error
    | NotificationReceived
)
