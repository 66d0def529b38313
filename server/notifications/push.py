"""Push providers: how a notification leaves the bank for a device that is not
connected to the WebSocket.

``PushProvider`` is the port. This machine reaches no push service, so the
implementations here are the development one (``log``: writes each push to the
process log) and, in tests, a fake that records what it was given. Real
providers plug in by settings (``BANK_NOTIFICATIONS_PUSH_PROVIDER``):

- ``fcm``: Firebase Cloud Messaging HTTP v1 (Android, and iOS through APNs);
  needs a service-account JSON and the device registration tokens the app
  reports after ``flet build`` with a messaging extension;
- ``apns``: Apple Push Notification service (token-based .p8 auth key);
- ``webpush``: Web Push (VAPID keys, pywebpush) for the browser client.

Each is a subclass of ``PushProvider`` registered in ``PROVIDERS``; none is
bundled because none can be exercised here (see server/notifications/README.md).
"""

from __future__ import annotations

import logging
from typing import Protocol
from uuid import UUID

from shared.notifications import Notification

log = logging.getLogger("bank.notifications.push")


class PushProvider(Protocol):
    name: str

    async def send(self, user_id: UUID, notification: Notification) -> None:
        """Hand one notification to the provider; raise to have it retried later."""
        ...

    async def close(self) -> None: ...


class LogPushProvider:
    """Development provider: the push is a DEBUG log line naming the notification (its
    text, amounts and balances included, is in the customer's inbox, not in the log).

    At INFO it was a third of the notification consumer's CPU under a burst of
    transfers (one formatted and scrubbed line per transfer), and that consumer is the
    reader the broker's recycling waits for (docs/adr/0323)."""

    name = "log"

    async def send(self, user_id: UUID, notification: Notification) -> None:
        log.debug(
            "push to user %s: notification %d [%s]", user_id, notification.id, notification.kind
        )

    async def close(self) -> None:
        return None


class UnknownPushProviderError(ValueError):
    pass


PROVIDERS: dict[str, type] = {"log": LogPushProvider}
PLANNED = ("fcm", "apns", "webpush")


def provider_from_settings(name: str) -> PushProvider:
    try:
        cls = PROVIDERS[name]
    except KeyError:
        hint = (
            f"{name!r} is documented but not installed on this build"
            if name in PLANNED
            else f"unknown push provider {name!r}"
        )
        raise UnknownPushProviderError(
            f"{hint}; BANK_NOTIFICATIONS_PUSH_PROVIDER must be one of {', '.join(PROVIDERS)}"
        ) from None
    provider: PushProvider = cls()
    return provider
