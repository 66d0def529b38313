"""What becomes a notification, decided without I/O.

Sources (one notification per source fact, keyed by it):

- ``money_received``: ``MoneyTransferredIn`` on account-events from an account of
  another customer; key ``event:<event_id>``. Money a customer moves between their own
  accounts does not notify: they made the transfer and saw its answer.
- ``large_withdrawal``: ``MoneyWithdrawn`` of at least the large-withdrawal threshold
  (settings ``notifications_large_withdrawal``, minor units); key ``event:<event_id>``.
- ``transfer_cancelled``: ``HoldReleased`` of a pending transfer the scheduler voided
  because its destination closed (metadata label ``DESTINATION_CLOSED_VOID``); key
  ``event:<event_id>``. The payer did not do it, so is told.
- ``payment_refused``: an audit-events row ``withdraw_money`` / ``transfer_money`` /
  ``standing_order_payment`` (a due payment the scheduler could not make) with outcome
  ``rejected``; key ``audit:<audit_log.id>``. Why, in the words of
  ``shared.words.REFUSED_BECAUSE`` (the app's too); a withdrawal or transfer refused for
  another reason (a reused Idempotency-Key) was an error in the request, answered to its
  sender, and is not notified. The refusal that suspends or cancels a standing order
  says so (and how to resume a suspended one).
- ``new_sign_in``: an audit-events row ``sign_in`` with outcome ``accepted`` (a
  password sign-in makes a new session: a device signed in); key
  ``audit:<audit_log.id>``. One signed in with a recovery code (its details have
  ``recovery_codes_left``) says so, and how many are left: someone else using one has
  the password and a code the customer wrote down.
- ``password_changed``: an audit-events row ``change_password`` with outcome
  ``accepted``; key ``audit:<audit_log.id>``. A customer who did not change it learns
  at once that someone who knew the password did. So does ``reset_password`` (a
  forgotten password reset with the code emailed to the customer).
- ``email_changed``: an audit-events row ``change_email`` with outcome ``accepted`` (the
  account moved to a new email address, which the body names); key
  ``audit:<audit_log.id>``. Its email goes to the old address (details ``old_email``);
  done by someone else, it is the first step of taking the account.
- ``two_step_on`` / ``two_step_off``: an audit-events row ``turn_on_two_step`` /
  ``turn_off_two_step`` with outcome ``accepted`` (a retry that changed nothing is
  ``replayed``); key ``audit:<audit_log.id>``. Done by someone else, the first locks the
  customer out and the second weakens the account. ``reset_two_step`` (staff turned it
  off for a customer who lost their app) is ``two_step_off`` to the customer it names
  (``target_id``), not to the admin.

The kinds in ``MAILED_KINDS``, news of how the customer signs in, are emailed as well
(``Draft.mailed``, ``Draft.mail_to``; server/notifications/mail.py): someone who took
the password can read the app, not the customer's mailbox. A new sign-in is not
emailed: every sign-in would be, and the app shows it with "Sign out everywhere" beside
it.

A refused payment is not an event (rejected commands append nothing), so its
only durable trace is the audit row, which the CDC connector streams to
audit-events (and, in its change envelope, to cdc.audit). A refresh of an
existing session is not a new device and does not notify. Facts older than
``STALE_AFTER`` are not notified (a consumer group starting from the beginning of
a topic must not flood the inbox with old news).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import msgspec

from server.domain.schedule import MAX_CONSECUTIVE_REFUSALS, after_refusal
from shared.events import (
    DESTINATION_CLOSED_VOID,
    HoldReleased,
    MoneyTransferredIn,
    MoneyWithdrawn,
    RecordedEvent,
)
from shared.money import money_text
from shared.notifications import NotificationKind
from shared.words import REFUSED_BECAUSE, counted, day_text

STALE_AFTER = timedelta(days=1)
# What each refused payment is called in a notification, by its audit action.
PAYMENT_ACTIONS = {
    "withdraw_money": "withdrawal",
    "transfer_money": "transfer",
    "standing_order_payment": "standing order payment",
}


@dataclass(frozen=True, slots=True)
class Draft:
    """A notification to store (once) and then push."""

    user_id: UUID
    source_key: str
    kind: NotificationKind
    title: str
    body: str
    occurred_at: datetime
    account_id: UUID | None = None
    session_id: str | None = None
    mail_to: str | None = None  # where it is emailed, if not to the customer's address

    @property
    def mailed(self) -> bool:
        """A security alert: emailed as well as notified."""
        return self.kind in MAILED_KINDS


# The (action, outcome) of the audit rows ``from_audit`` turns into a notification, and
# into which. A record whose headers name any other pair is skipped undecoded: most
# audit rows (every accepted command, every read) never notify.
AUDIT_KINDS: dict[tuple[str, str], NotificationKind] = {
    ("sign_in", "accepted"): "new_sign_in",
    ("change_password", "accepted"): "password_changed",
    ("reset_password", "accepted"): "password_changed",
    ("change_email", "accepted"): "email_changed",
    ("turn_on_two_step", "accepted"): "two_step_on",
    ("turn_off_two_step", "accepted"): "two_step_off",
    ("reset_two_step", "accepted"): "two_step_off",
    **{(action, "rejected"): "payment_refused" for action in PAYMENT_ACTIONS},
}


# What a session did that its owner is told of, wherever it was done (one entry per
# shared.notifications.SESSION_KINDS): title, what was done (", on <device> from
# <address>" follows) and what to do if it was not them.
SESSION_NEWS: dict[NotificationKind, tuple[str, str, str]] = {
    "new_sign_in": (
        "New sign-in to your account",
        "Signed in",
        ". Not you? Sign out everywhere in Settings.",
    ),
    "password_changed": (
        "Your password was changed",
        "Changed",
        "; every other device was signed out. Not you? Call us at once.",
    ),
    "email_changed": (
        "Your email address was changed",
        "Changed",
        "; you sign in with the new address. Not you? Call us at once.",
    ),
    "two_step_on": (
        "Two-step sign-in was turned on",
        "Turned on",
        ". Not you? Call us at once: someone who knows your password set it up.",
    ),
    "two_step_off": (
        "Two-step sign-in was turned off",
        "Turned off",
        ". Not you? Change your password in Settings and turn it on again.",
    ),
}


# News of how the customer signs in, emailed as well as notified (not new_sign_in: see
# the module's docstring).
MAILED_KINDS: frozenset[NotificationKind] = frozenset(
    {"password_changed", "email_changed", "two_step_on", "two_step_off"}
)


# A sign-in with a recovery code instead of a code from the app (``new_sign_in``).
_RECOVERY_SIGN_IN = (
    "Signed in with a recovery code",
    "Signed in with a recovery code",
    " Not you? Call us at once, change your password and make new recovery codes in Settings.",
)


class AuditRow(msgspec.Struct, kw_only=True):
    """The columns of an audit_log row this consumer reads (an audit-events record)."""

    id: int
    occurred_at: str | None = None
    actor_id: UUID | None = None
    action: str
    outcome: str
    reason_code: str | None = None
    account_id: UUID | None = None
    target_id: str | None = None
    session_id: str | None = None
    client_ip: str | None = None
    user_agent: str | None = None
    details: dict[str, Any] | None = None


audit_row_decoder = msgspec.json.Decoder(AuditRow)


def _fresh(occurred_at: datetime, now: datetime) -> bool:
    return now - occurred_at <= STALE_AFTER


# The event types ``owners_needed`` and ``from_event`` can turn into a notification.
# A record whose type header names any other type is skipped undecoded: most account
# events (deposits, a transfer's outgoing leg, holds, status changes) never notify.
NOTIFYING_EVENT_TYPES = frozenset(
    {MoneyTransferredIn.__name__, MoneyWithdrawn.__name__, HoldReleased.__name__}
)


def _voided_as_destination_closed(rec: RecordedEvent) -> bool:
    return isinstance(rec.event, HoldReleased) and rec.metadata.made_by_the_scheduler_as(
        DESTINATION_CLOSED_VOID
    )


def owners_needed(rec: RecordedEvent, large_withdrawal: int) -> tuple[UUID, ...]:
    """The accounts whose owners ``from_event`` needs for this event: none when it
    cannot notify; its account's; and for money received, the sender's too."""
    ev = rec.event
    if isinstance(ev, MoneyTransferredIn):
        return (rec.stream_id, ev.from_account_id)
    if isinstance(ev, MoneyWithdrawn) and ev.amount >= large_withdrawal:
        return (rec.stream_id,)
    if _voided_as_destination_closed(rec):
        return (rec.stream_id,)
    return ()


def from_event(
    rec: RecordedEvent, owners: Mapping[UUID, UUID], large_withdrawal: int, now: datetime
) -> Draft | None:
    """``owners``: account -> owner, for at least the accounts of ``owners_needed``."""
    ev = rec.event
    owner_id = owners.get(rec.stream_id)
    if owner_id is None or not _fresh(rec.recorded_at, now):
        return None
    key = f"event:{rec.event_id}"
    if isinstance(ev, MoneyTransferredIn):
        if owners.get(ev.from_account_id) == owner_id:
            return None  # between the customer's own accounts
        note = f" “{ev.description}”" if ev.description else ""
        return Draft(
            user_id=owner_id,
            source_key=key,
            kind="money_received",
            title=f"You received {money_text(ev.amount, ev.currency)}",
            body=(
                f"A transfer{note} arrived;"
                f" new balance {money_text(ev.balance_after, ev.currency)}."
            ),
            occurred_at=rec.recorded_at,
            account_id=ev.account_id,
        )
    if isinstance(ev, MoneyWithdrawn) and ev.amount >= large_withdrawal:
        return Draft(
            user_id=owner_id,
            source_key=key,
            kind="large_withdrawal",
            title=f"Large withdrawal: {money_text(ev.amount, ev.currency)}",
            body=(
                f"{money_text(ev.amount, ev.currency)} was withdrawn; new balance "
                f"{money_text(ev.balance_after, ev.currency)}. Not you? Sign out everywhere "
                "in Settings and call us."
            ),
            occurred_at=rec.recorded_at,
            account_id=ev.account_id,
        )
    if _voided_as_destination_closed(rec):
        return Draft(
            user_id=owner_id,
            source_key=key,
            kind="transfer_cancelled",
            title="A pending transfer was cancelled",
            body=(
                "The account it was going to has been closed, so it cannot be made; the"
                " money it held is available again."
            ),
            occurred_at=rec.recorded_at,
            account_id=rec.stream_id,
        )
    return None


def _when(row: AuditRow, now: datetime) -> datetime:
    if row.occurred_at:
        try:
            dt = datetime.fromisoformat(row.occurred_at.replace("Z", "+00:00"))
            return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
        except ValueError:
            pass
    return now


def _session_news(
    row: AuditRow, user_id: UUID, kind: NotificationKind, key: str, occurred: datetime
) -> Draft:
    """What a session did (SESSION_NEWS), on which device and from where."""
    title, done, advice = SESSION_NEWS[kind]
    details = row.details or {}
    left, new_email = details.get("recovery_codes_left"), details.get("new_email")
    old_email = details.get("old_email")
    if kind == "new_sign_in" and isinstance(left, int):
        title, done, advice = _RECOVERY_SIGN_IN
        advice = f"; {counted(left, 'recovery code')} left.{advice}"
    if kind == "email_changed" and isinstance(new_email, str):
        done = f"Changed to {new_email[:254]}"
    device = (row.user_agent or "an unknown device")[:120]
    return Draft(
        user_id=user_id,
        source_key=key,
        kind=kind,
        title=title,
        body=f"{done} on {device} from {row.client_ip or 'an unknown address'}{advice}",
        occurred_at=occurred,
        session_id=row.session_id,
        # A changed email's alert goes where the account left, not to the new address.
        mail_to=old_email[:254] if kind == "email_changed" and isinstance(old_email, str) else None,
    )


def from_audit(row: AuditRow, now: datetime) -> Draft | None:
    """An inserted audit_log row (audit-events carries inserts only)."""
    kind = AUDIT_KINDS.get((row.action, row.outcome))
    if kind is None or row.actor_id is None:
        return None
    occurred = _when(row, now)
    if not _fresh(occurred, now):
        return None
    key = f"audit:{row.id}"
    if row.action == "reset_two_step":  # staff did it, for the customer it names
        return _reset_by_staff(row, key, occurred)
    if kind in SESSION_NEWS:
        return _session_news(row, row.actor_id, kind, key, occurred)
    if kind == "payment_refused":
        reason = REFUSED_BECAUSE.get(row.reason_code or "")
        scheduled = row.action == "standing_order_payment"
        if reason is None and not scheduled:
            return None  # an error in the request (a reused key), answered to its sender
        details = row.details or {}
        what = PAYMENT_ACTIONS[row.action]
        if due := _day(details.get("due_date")):
            what = f"{what} due {due}"
        reason = reason or "the bank refused it"  # a payment the scheduler tried: news
        body = f"Your {what} was not made: {reason}."
        if scheduled:
            body += _what_became_of_the_order(row.reason_code, details.get("refused_before"))
        return Draft(
            user_id=row.actor_id,
            source_key=key,
            kind="payment_refused",
            title=f"A {what} was refused",
            body=body,
            occurred_at=occurred,
            account_id=row.account_id,
        )
    return None


def _reset_by_staff(row: AuditRow, key: str, occurred: datetime) -> Draft | None:
    """The customer's two-step sign-in turned off by staff (they lost their app): told
    to the customer, not to the admin who did it, and not from any device of theirs."""
    try:
        customer = UUID(row.target_id or "")
    except ValueError:
        return None
    return Draft(
        user_id=customer,
        source_key=key,
        kind="two_step_off",
        title=SESSION_NEWS["two_step_off"][0],
        body=(
            "The bank turned it off as you asked, and signed you out everywhere. Set it up"
            " again in Settings. Not you? Call us at once."
        ),
        occurred_at=occurred,
    )


def _day(iso: Any) -> str | None:
    """A due date as a person reads it ("1 Mar 2027"); None when there is none."""
    try:
        day = date.fromisoformat(iso) if isinstance(iso, str) else None
    except ValueError:
        return str(iso)
    return day_text(day) if day else None


def _what_became_of_the_order(code: str | None, refused_before: Any) -> str:
    """The sentence that tells the payer their order stopped, when this refusal stopped
    it (the scheduler records the refusals in a row before it; older records have none)."""
    if code is None or not isinstance(refused_before, int):
        return ""
    ends = after_refusal(code, refused_before)
    if ends == "cancelled":
        return " The standing order is cancelled: no further payments will be made."
    if ends == "suspended":
        return (
            f" After {MAX_CONSECUTIVE_REFUSALS} refusals in a row the standing order is"
            " suspended: resume it in Payments once the money is there."
        )
    return ""
