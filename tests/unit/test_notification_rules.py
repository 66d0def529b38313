"""Which facts notify whom (server/notifications/rules.py), without I/O."""

from __future__ import annotations

import dataclasses
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import msgspec.inspect
import pytest
from aiokafka.structs import ConsumerRecord

from server.notifications.consumer import never_notifies
from server.notifications.inbox import DueMail
from server.notifications.mail import alert_mail
from server.notifications.push import UnknownPushProviderError, provider_from_settings
from server.notifications.rules import (
    AUDIT_KINDS,
    MAILED_KINDS,
    NOTIFYING_EVENT_TYPES,
    PAYMENT_ACTIONS,
    SESSION_NEWS,
    AuditRow,
    audit_row_decoder,
    from_audit,
    from_event,
    owners_needed,
)
from shared.events import (
    DESTINATION_CLOSED_VOID,
    AnyEvent,
    EventMetadata,
    HoldReleased,
    MoneyDeposited,
    MoneyTransferredIn,
    MoneyWithdrawn,
    RecordedEvent,
)
from shared.notifications import SESSION_KINDS, Notification
from shared.topics import (
    ACCOUNT_EVENTS,
    AUDIT_ACTION_HEADER,
    AUDIT_EVENTS,
    AUDIT_OUTCOME_HEADER,
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
)

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
OWNER = uuid.uuid4()
ACCOUNT = uuid.uuid4()
SENDER = uuid.uuid4()  # another customer's account
OWN_OTHER_ACCOUNT = uuid.uuid4()  # another account of OWNER
OWNERS = {ACCOUNT: OWNER, SENDER: uuid.uuid4(), OWN_OTHER_ACCOUNT: OWNER}
LARGE = 1_000_00


# The metadata of the scheduler's void of a pending transfer whose destination closed.
VOIDED_FOR_CLOSED = EventMetadata.by_the_scheduler(
    DESTINATION_CLOSED_VOID, str(uuid.uuid4()), trace_id="t"
)


def recorded(
    event: object, at: datetime = NOW, metadata: EventMetadata | None = None
) -> RecordedEvent:
    return RecordedEvent(
        event_id=uuid.uuid4(),
        stream_id=ACCOUNT,
        stream_type="account",
        version=2,
        position=1,
        recorded_at=at,
        metadata=metadata or EventMetadata(),
        event=event,  # type: ignore[arg-type]
    )


def received(
    amount: int = 25_00, description: str = "", sender: uuid.UUID = SENDER
) -> MoneyTransferredIn:
    return MoneyTransferredIn(
        account_id=ACCOUNT,
        transfer_id=uuid.uuid4(),
        from_account_id=sender,
        amount=amount,
        currency="EUR",
        balance_after=125_00,
        description=description,
    )


def withdrawn(amount: int) -> MoneyWithdrawn:
    return MoneyWithdrawn(
        account_id=ACCOUNT,
        transaction_id=uuid.uuid4(),
        amount=amount,
        currency="EUR",
        balance_after=0,
    )


def test_money_received_tells_the_owner_the_amount_once_per_event() -> None:
    rec = recorded(received(description="rent"))
    assert owners_needed(rec, LARGE) == (ACCOUNT, SENDER)
    draft = from_event(rec, OWNERS, LARGE, NOW)
    assert draft is not None
    assert (draft.user_id, draft.kind, draft.account_id) == (OWNER, "money_received", ACCOUNT)
    assert draft.title == "You received 25.00 EUR"
    assert "rent" in draft.body and "125.00 EUR" in draft.body
    assert draft.source_key == f"event:{rec.event_id}"
    assert from_event(rec, OWNERS, LARGE, NOW) == draft  # same fact, same key


def test_money_moved_between_ones_own_accounts_does_not_notify() -> None:
    rec = recorded(received(sender=OWN_OTHER_ACCOUNT))
    assert owners_needed(rec, LARGE) == (ACCOUNT, OWN_OTHER_ACCOUNT)
    assert from_event(rec, OWNERS, LARGE, NOW) is None
    # A sender whose owner is not known is not the customer's own account: it notifies.
    unknown = recorded(received(sender=uuid.uuid4()))
    draft = from_event(unknown, OWNERS, LARGE, NOW)
    assert draft is not None and draft.kind == "money_received"


def test_only_a_withdrawal_at_or_above_the_threshold_notifies() -> None:
    assert from_event(recorded(withdrawn(LARGE - 1)), OWNERS, LARGE, NOW) is None
    assert owners_needed(recorded(withdrawn(LARGE - 1)), LARGE) == ()
    assert owners_needed(recorded(withdrawn(LARGE)), LARGE) == (ACCOUNT,)
    draft = from_event(recorded(withdrawn(LARGE)), OWNERS, LARGE, NOW)
    assert draft is not None and draft.kind == "large_withdrawal"
    assert draft.title == "Large withdrawal: 1,000.00 EUR"


def test_deposits_old_news_and_unknown_owners_do_not_notify() -> None:
    deposit = MoneyDeposited(
        account_id=ACCOUNT, transaction_id=uuid.uuid4(), amount=1, currency="EUR", balance_after=1
    )
    assert owners_needed(recorded(deposit), LARGE) == ()
    assert from_event(recorded(deposit), OWNERS, LARGE, NOW) is None
    assert from_event(recorded(received(), NOW - timedelta(days=2)), OWNERS, LARGE, NOW) is None
    assert from_event(recorded(received()), {}, LARGE, NOW) is None


def audit(**row: object) -> AuditRow:
    """An audit-events record's row, as the connector encodes it (tests/integration/test_cdc.py
    checks that it is the row of the cdc.audit change)."""
    base: dict[str, object] = {
        "id": 41,
        "occurred_at": "2026-11-30T11:59:00.5Z",
        "actor_id": str(OWNER),
        "outcome": "accepted",
    }
    return audit_row_decoder.decode(msgspec.json.encode(base | row))


def test_a_transfer_the_bank_voided_because_its_destination_closed_is_told() -> None:
    def released(reason: str) -> HoldReleased:
        return HoldReleased(
            account_id=ACCOUNT,
            hold_id=uuid.uuid4(),
            amount=15_00,
            reason=reason,  # type: ignore[arg-type]
            available_after=100_00,
        )

    rec = recorded(released("voided"), metadata=VOIDED_FOR_CLOSED)
    assert owners_needed(rec, LARGE) == (ACCOUNT,)
    draft = from_event(rec, OWNERS, LARGE, NOW)
    assert draft is not None and draft.kind == "transfer_cancelled" and draft.user_id == OWNER
    assert draft.title == "A pending transfer was cancelled" and draft.account_id == ACCOUNT
    assert "has been closed" in draft.body and "available again" in draft.body
    # The customer's own void, a post, an expiry: nothing to tell.
    own = EventMetadata(actor_id=str(OWNER), idempotency_key="a-key-of-the-app")
    # ... also under a key that reads like the scheduler's: only the scheduler's count.
    mimic = EventMetadata(actor_id=str(OWNER), idempotency_key=f"{DESTINATION_CLOSED_VOID}:x")
    for rec in (
        recorded(released("voided"), metadata=own),
        recorded(released("voided"), metadata=mimic),
        recorded(released("posted")),
        recorded(released("expired"), metadata=EventMetadata(idempotency_key="hold-expiry:x")),
    ):
        assert owners_needed(rec, LARGE) == () and from_event(rec, OWNERS, LARGE, NOW) is None


def test_a_password_sign_in_is_a_new_device() -> None:
    draft = from_audit(
        audit(action="sign_in", user_agent="Pixel 9", client_ip="10.0.0.7", session_id="s1"), NOW
    )
    assert draft is not None and draft.kind == "new_sign_in" and draft.user_id == OWNER
    assert draft.session_id == "s1"  # the device that signed in need not be told

    assert "Pixel 9" in draft.body and "10.0.0.7" in draft.body
    assert draft.source_key == "audit:41"
    assert not draft.mailed  # the app shows every sign-in; a mail each would be noise
    assert draft.occurred_at == datetime(2026, 11, 30, 11, 59, 0, 500000, tzinfo=UTC)
    # a refresh of a session, a failed sign-in (nobody signed in): no notification
    assert from_audit(audit(action="refresh_token"), NOW) is None
    assert from_audit(audit(action="sign_in", outcome="rejected", actor_id=None), NOW) is None


def test_a_sign_in_with_a_recovery_code_says_so_and_how_many_are_left() -> None:
    row = audit(
        action="sign_in",
        user_agent="Pixel 9",
        client_ip="10.0.0.7",
        details={"username": "ada@example.com", "recovery_codes_left": 1},
    )
    draft = from_audit(row, NOW)
    assert draft is not None and draft.kind == "new_sign_in" and draft.user_id == OWNER
    assert draft.title == "Signed in with a recovery code"
    assert draft.body.startswith(
        "Signed in with a recovery code on Pixel 9 from 10.0.0.7; 1 recovery code left."
    )
    assert "Not you? Call us at once" in draft.body
    plain = from_audit(audit(action="sign_in", details={"username": "ada@example.com"}), NOW)
    assert plain is not None and plain.title == "New sign-in to your account"


def test_a_changed_password_is_told_to_its_owner() -> None:
    draft = from_audit(
        audit(
            action="change_password", user_agent="Pixel 9", client_ip="10.0.0.7", session_id="s1"
        ),
        NOW,
    )
    assert draft is not None and draft.kind == "password_changed" and draft.user_id == OWNER
    assert draft.title == "Your password was changed"
    assert "Pixel 9" in draft.body and "10.0.0.7" in draft.body and "Not you?" in draft.body
    assert draft.session_id == "s1"  # the device that changed it need not be told
    assert draft.mailed and draft.mail_to is None  # emailed to the customer's address
    assert set(SESSION_NEWS) == SESSION_KINDS  # the kinds the app marks read itself
    # a refused change (a wrong current password) changed nothing: no notification
    assert from_audit(audit(action="change_password", outcome="rejected"), NOW) is None


def test_a_changed_email_is_told_with_the_new_address() -> None:
    row = audit(
        action="change_email",
        user_agent="Pixel 9",
        client_ip="10.0.0.7",
        session_id="s1",
        details={"old_email": "ada@example.com", "new_email": "ada@example.net"},
    )
    draft = from_audit(row, NOW)
    assert draft is not None and draft.kind == "email_changed" and draft.user_id == OWNER
    assert draft.title == "Your email address was changed"
    assert draft.body == (
        "Changed to ada@example.net on Pixel 9 from 10.0.0.7; you sign in with the new"
        " address. Not you? Call us at once."
    )
    assert draft.session_id == "s1"
    assert draft.mailed and draft.mail_to == "ada@example.com"  # where the account left
    # asked for, not made (the code has not come back): nothing to tell yet
    assert from_audit(audit(action="request_email_change", details=row.details), NOW) is None
    assert from_audit(audit(action="change_email", outcome="rejected"), NOW) is None


def test_a_refused_payment_says_why() -> None:
    draft = from_audit(
        audit(action="withdraw_money", outcome="rejected", reason_code="insufficient_funds"), NOW
    )
    assert draft is not None and draft.kind == "payment_refused"
    assert draft.title == "A withdrawal was refused"
    assert "not enough money" in draft.body
    transfer = from_audit(
        audit(action="transfer_money", outcome="rejected", reason_code="account_frozen"), NOW
    )
    assert transfer is not None and "transfer" in transfer.title and "frozen" in transfer.body
    order = from_audit(
        audit(
            action="standing_order_payment",
            outcome="rejected",
            reason_code="insufficient_funds",
            details={"due_date": "2027-03-01", "amount": 50},
        ),
        NOW,
    )
    assert order is not None and order.kind == "payment_refused"
    assert order.title == "A standing order payment due 1 Mar 2027 was refused"
    assert "not enough money" in order.body and "suspended" not in order.body
    limited = from_audit(
        audit(action="transfer_money", outcome="rejected", reason_code="daily_limit_exceeded"),
        NOW,
    )
    assert limited is not None
    assert limited.body == "Your transfer was not made: above the account's daily limit."
    # A reused Idempotency-Key is an error in the request, answered to its sender: the
    # payment it names may well have been made.
    reused = audit(
        action="transfer_money", outcome="rejected", reason_code="idempotency_key_reused"
    )
    assert from_audit(reused, NOW) is None
    # A payment the scheduler tried is news whatever refused it.
    other = from_audit(
        audit(action="standing_order_payment", outcome="rejected", reason_code="new_rule"), NOW
    )
    assert other is not None and other.body.endswith("was not made: the bank refused it.")
    # denied by access control (someone else's account) is not a refused payment of yours
    assert from_audit(audit(action="withdraw_money", outcome="denied"), NOW) is None
    assert from_audit(AuditRow(id=1, action="x", outcome="y"), NOW) is None


def test_the_refusal_that_stops_a_standing_order_says_so() -> None:
    def body(code: str, **details: Any) -> str:
        row = audit(
            action="standing_order_payment",
            outcome="rejected",
            reason_code=code,
            details={"due_date": "2027-03-15", "amount": 50, **details},
        )
        draft = from_audit(row, NOW)
        assert draft is not None and draft.title.endswith("due 15 Mar 2027 was refused")
        return draft.body

    assert body("insufficient_funds", refused_before=1).endswith("not enough money in the account.")
    assert body("insufficient_funds", refused_before=2).endswith(
        "After 3 refusals in a row the standing order is suspended:"
        " resume it in Payments once the money is there."
    )
    assert body("account_closed", refused_before=0).endswith(
        "an account was closed. The standing order is cancelled: no further payments will be made."
    )
    # A record written before the scheduler counted the refusals says only why.
    assert body("insufficient_funds").endswith("not enough money in the account.")


def test_push_providers_are_chosen_by_settings() -> None:
    assert provider_from_settings("log").name == "log"
    with pytest.raises(UnknownPushProviderError, match="documented but not installed"):
        provider_from_settings("fcm")
    with pytest.raises(UnknownPushProviderError, match="unknown push provider"):
        provider_from_settings("pigeon")


async def test_the_development_push_is_a_debug_line_without_the_text(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One line per push at INFO was a third of the consumer's CPU under a burst, and
    it wrote amounts and balances into the log (docs/adr/0323)."""
    provider = provider_from_settings("log")
    n = Notification(
        id=42,
        kind="money_received",
        title="You received 0.01 EUR",
        body="A transfer arrived; new balance 1,000,001.65 EUR.",
        occurred_at=datetime.now(UTC),
    )
    user = uuid.uuid4()
    with caplog.at_level(logging.INFO, logger="bank.notifications.push"):
        await provider.send(user, n)
    assert caplog.records == []
    with caplog.at_level(logging.DEBUG, logger="bank.notifications.push"):
        await provider.send(user, n)
    (line,) = [r.getMessage() for r in caplog.records]
    assert str(user) in line and "42" in line and "money_received" in line
    assert "EUR" not in line


def _value_for(t: msgspec.inspect.Type) -> object:
    """A valid value of a required field; amounts far above the large-withdrawal line."""
    if isinstance(t, msgspec.inspect.UUIDType):
        return uuid.uuid4()
    if isinstance(t, msgspec.inspect.IntType):
        return 1_000_000_00
    if isinstance(t, msgspec.inspect.DateTimeType):
        return NOW
    if isinstance(t, msgspec.inspect.LiteralType):
        return t.values[0]
    return "x"


def every_event_type() -> list[object]:
    """One instance of each event type the store can hold."""
    union = msgspec.inspect.type_info(AnyEvent)
    assert isinstance(union, msgspec.inspect.UnionType)
    return [
        t.cls(**{f.name: _value_for(f.type) for f in t.fields if f.required})
        for t in union.types
        if isinstance(t, msgspec.inspect.StructType)
    ]


def record(event_type: str | None) -> ConsumerRecord[bytes, bytes]:
    headers = [(EVENT_ID_HEADER, str(uuid.uuid4()).encode())]
    if event_type is not None:
        headers.append((EVENT_TYPE_HEADER, event_type.encode()))
    return ConsumerRecord(ACCOUNT_EVENTS, 0, 0, 0, 0, b"k", b"{}", None, 1, 2, headers)


def test_only_events_the_rules_can_notify_on_are_decoded() -> None:
    events = every_event_type()
    assert len(events) >= 12
    for event in events:
        name = type(event).__name__
        # (the label only matters to a HoldReleased: the bank's void of a transfer)
        notifies = owners_needed(recorded(event, metadata=VOIDED_FOR_CLOSED), LARGE) != ()
        assert notifies == (name in NOTIFYING_EVENT_TYPES), name
        assert never_notifies(record(name)) is not notifies, name


def test_a_record_without_a_type_header_is_decoded() -> None:
    assert never_notifies(record(None)) is False
    assert never_notifies(record("SomeTypeAddedLater")) is True


def audit_record(action: str | None, outcome: str | None) -> ConsumerRecord[bytes, bytes]:
    headers = [
        (name, value.encode())
        for name, value in ((AUDIT_ACTION_HEADER, action), (AUDIT_OUTCOME_HEADER, outcome))
        if value is not None
    ]
    return ConsumerRecord(AUDIT_EVENTS, 0, 0, 0, 0, b"k", b"{}", None, 1, 2, headers)


def test_only_audit_rows_the_rules_can_notify_on_are_decoded() -> None:
    acts = [
        (a, o)
        for a in ["sign_in", "refresh_token", "deposit_cash", *PAYMENT_ACTIONS]
        for o in ("accepted", "rejected", "denied")
    ]
    for action, outcome in acts:
        row = audit(action=action, outcome=outcome, reason_code="insufficient_funds")
        notifies = from_audit(row, NOW) is not None
        assert notifies == ((action, outcome) in AUDIT_KINDS), (action, outcome)
        assert never_notifies(audit_record(action, outcome)) is not notifies, (action, outcome)


def test_an_audit_record_without_its_headers_is_decoded() -> None:
    assert never_notifies(audit_record(None, None)) is False
    assert never_notifies(audit_record("sign_in", None)) is False
    assert never_notifies(audit_record("an_act_added_later", "accepted")) is True


def test_two_step_turned_off_by_staff_is_told_to_the_customer_not_the_admin() -> None:
    customer = uuid.uuid4()
    draft = from_audit(
        audit(action="reset_two_step", session_id="admin-session", target_id=str(customer)), NOW
    )
    assert draft is not None and draft.kind == "two_step_off"
    assert draft.user_id == customer and draft.session_id is None
    assert draft.title == "Two-step sign-in was turned off"
    assert draft.body.startswith("The bank turned it off as you asked")
    assert draft.mailed and draft.mail_to is None
    assert from_audit(audit(action="reset_two_step", target_id="not an id"), NOW) is None
    own = from_audit(audit(action="turn_off_two_step", user_agent="Pixel 9"), NOW)
    assert own is not None and own.user_id == OWNER and "Pixel 9" in own.body
    assert own.mailed


def test_only_news_of_how_the_customer_signs_in_is_emailed() -> None:
    assert MAILED_KINDS == {"password_changed", "email_changed", "two_step_on", "two_step_off"}
    assert MAILED_KINDS < SESSION_KINDS
    on = from_audit(audit(action="turn_on_two_step"), NOW)
    assert on is not None and on.kind == "two_step_on" and on.mailed
    reset = from_audit(audit(action="reset_password"), NOW)
    assert reset is not None and reset.kind == "password_changed" and reset.mailed
    refused = from_audit(
        audit(action="transfer_money", outcome="rejected", reason_code="insufficient_funds"), NOW
    )
    assert refused is not None and not refused.mailed  # money news: the app, not the mail


def test_an_alert_mail_greets_says_what_when_and_why_it_came() -> None:
    due = DueMail(
        notification_id=7,
        address="ada@example.com",
        full_name="Ada Lovelace",
        title="Your password was changed",
        body="Changed on Pixel 9 from 10.0.0.7. Not you? Call us at once.",
        occurred_at=datetime(2026, 12, 7, 21, 30, tzinfo=UTC),
    )
    subject, text = alert_mail(due)
    assert subject == "Your password was changed"
    assert text.startswith("Hello Ada Lovelace,\n\nYour password was changed on 07 December 2026")
    assert "at 21:30 UTC." in text and "Changed on Pixel 9 from 10.0.0.7" in text
    assert "cannot be turned off" in text
    assert alert_mail(dataclasses.replace(due, full_name=""))[1].startswith("Hello,\n\n")
