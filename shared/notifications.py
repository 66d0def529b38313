"""A customer's notifications as the API and the live push carry them.

Written by the notification consumer (server/notifications), read through
GET /api/v1/notifications and pushed over the WebSocket as ``NotificationReceived``.
Schema evolution: add fields with defaults; never rename a kind.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, get_args
from uuid import UUID

import msgspec

from shared.money import INT64_MAX

# A notification's id (a bigserial): what a request may name.
NotificationId = Annotated[int, msgspec.Meta(ge=1, le=INT64_MAX)]
NotificationKind = Literal[
    "money_received",
    "payment_refused",
    "large_withdrawal",
    "new_sign_in",
    "password_changed",
    "transfer_cancelled",
    "two_step_on",
    "two_step_off",
    "email_changed",
]
NOTIFICATION_KINDS: tuple[str, ...] = get_args(NotificationKind)
# The kinds that tell what a session did (server/notifications/rules.SESSION_NEWS): they
# carry its id, and the device that did it marks them read itself.
SESSION_KINDS: frozenset[NotificationKind] = frozenset(
    {"new_sign_in", "password_changed", "two_step_on", "two_step_off", "email_changed"}
)


class Notification(msgspec.Struct, kw_only=True, frozen=True):
    id: int
    kind: NotificationKind
    title: str
    body: str
    account_id: UUID | None = None
    occurred_at: datetime
    read: bool = False
    # SESSION_KINDS: the session that did it (a device hides the news of what it did itself)
    session_id: str | None = None


class NotificationPage(msgspec.Struct, kw_only=True):
    items: list[Notification]
    unread: int
    # Pass as ?before= for the next (older) page; null when there is none.
    next_before: int | None = None


class MarkReadRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Mark these notifications read, or every one up to and including ``up_to``."""

    ids: list[NotificationId] = []
    up_to: NotificationId | None = None


class MarkReadResponse(msgspec.Struct, kw_only=True):
    marked: int
    unread: int
