"""How one batch of account events turns into read-model rows (no servers)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from server.projections.plan import find_gaps, group_by_account, plan_batch
from shared.events import (
    AccountFrozen,
    AccountOpened,
    AccountRenamed,
    EventMetadata,
    FundsHeld,
    MoneyDeposited,
    MoneyTransferredIn,
    MoneyWithdrawn,
    RecordedEvent,
    TransferCompleted,
)

T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)
OWNER = uuid.uuid4()


def recorded(
    account: uuid.UUID, version: int, event, stream_type: str = "account"
) -> RecordedEvent:  # type: ignore[no-untyped-def]
    return RecordedEvent(
        event_id=uuid.uuid4(),
        stream_id=account,
        stream_type=stream_type,
        version=version,
        position=version,
        recorded_at=T0 + timedelta(seconds=version),
        metadata=EventMetadata(),
        event=event,
    )


def story(account: uuid.UUID) -> list[RecordedEvent]:
    """Opened, 100 in, 30 out, frozen, 5 in from a transfer."""
    return [
        recorded(
            account,
            1,
            AccountOpened(account_id=account, owner_id=OWNER, name="Main", currency="EUR"),
        ),
        recorded(
            account,
            2,
            MoneyDeposited(
                account_id=account,
                transaction_id=uuid.uuid4(),
                amount=100,
                currency="EUR",
                balance_after=100,
            ),
        ),
        recorded(
            account,
            3,
            MoneyWithdrawn(
                account_id=account,
                transaction_id=uuid.uuid4(),
                amount=30,
                currency="EUR",
                balance_after=70,
            ),
        ),
        recorded(account, 4, AccountFrozen(account_id=account, reason="review")),
        recorded(
            account,
            5,
            MoneyTransferredIn(
                account_id=account,
                transfer_id=uuid.uuid4(),
                from_account_id=uuid.uuid4(),
                amount=5,
                currency="EUR",
                balance_after=75,
            ),
        ),
    ]


def test_a_new_account_and_its_postings_in_one_batch() -> None:
    acc = uuid.uuid4()
    plan = plan_batch(group_by_account(story(acc)), {})
    assert [r[0] for r in plan.opens] == [acc]
    assert [(p[1], p[3], p[4], p[5]) for p in plan.postings] == [
        (2, "deposit", 100, 100),
        (3, "withdrawal", 30, 70),
        (5, "transfer_in", 5, 75),
    ]
    (update,) = plan.updates
    assert (update.version, update.balance, update.status) == (5, 75, "frozen")
    assert update.last_posting is not None and update.last_posting[1] == 5
    assert not plan.unresolved


def test_a_rename_sets_the_name_and_the_last_one_in_a_batch_wins() -> None:
    acc = uuid.uuid4()
    renames = [
        recorded(acc, 6, AccountRenamed(account_id=acc, name="Bills")),
        recorded(acc, 7, AccountRenamed(account_id=acc, name="Holiday fund")),
    ]
    (update,) = plan_batch(group_by_account(story(acc) + renames), {}).updates
    assert (update.version, update.name, update.balance) == (7, "Holiday fund", 75)
    (later,) = plan_batch(group_by_account(story(acc) + renames), {acc: 5}).updates
    assert (later.version, later.name, later.balance, later.status) == (
        7,
        "Holiday fund",
        None,
        None,
    )
    (unnamed,) = plan_batch(group_by_account(story(acc)), {}).updates
    assert unnamed.name is None  # not renamed: the view keeps its name


def test_redelivered_events_change_nothing() -> None:
    acc = uuid.uuid4()
    events = story(acc)
    plan = plan_batch(group_by_account(events + events[:3]), {acc: 5})
    assert not plan.opens and not plan.postings and not plan.updates


def test_a_partly_applied_batch_applies_only_the_rest() -> None:
    acc = uuid.uuid4()
    plan = plan_batch(group_by_account(story(acc)), {acc: 3})
    assert [p[1] for p in plan.postings] == [5]
    assert not plan.opens
    (update,) = plan.updates
    assert (update.version, update.balance, update.status) == (5, 75, "frozen")


def test_duplicates_inside_one_batch_count_once() -> None:
    acc = uuid.uuid4()
    events = story(acc)
    plan = plan_batch(group_by_account(events + [events[1], events[1]]), {})
    assert len(plan.postings) == 3


def test_a_gap_is_found_and_never_skipped() -> None:
    acc = uuid.uuid4()
    events = story(acc)
    batch = [events[0], events[1], events[4]]  # versions 3 and 4 lost on the way
    grouped = group_by_account(batch)
    assert find_gaps(grouped, {}) == {acc: (0, 5)}
    plan = plan_batch(grouped, {})
    assert plan.unresolved == {acc: 3}
    (update,) = plan.updates  # stops at the last contiguous version
    assert (update.version, update.balance) == (2, 100)
    assert [p[1] for p in plan.postings] == [2]


def test_a_stream_seen_first_in_the_middle_waits_for_its_opening() -> None:
    acc = uuid.uuid4()
    grouped = group_by_account(story(acc)[1:])
    assert find_gaps(grouped, {}) == {acc: (0, 5)}
    plan = plan_batch(grouped, {})
    assert not plan.opens and not plan.postings and not plan.updates
    assert plan.unresolved == {acc: 1}


def test_transfer_stream_events_are_not_postings() -> None:
    t = uuid.uuid4()
    done = TransferCompleted(
        transfer_id=t,
        from_account_id=uuid.uuid4(),
        to_account_id=uuid.uuid4(),
        amount=5,
        currency="EUR",
    )
    plan = plan_batch(group_by_account([recorded(t, 1, done, stream_type="transfer")]), {})
    assert not plan.opens and not plan.postings and not plan.updates


def test_only_plans_of_postings_and_states_are_idempotent() -> None:
    """Lock-free application (docs/adr/0314) takes only plans whose every write can be
    applied again: not a new account (COPY), not a hold (``held`` moves by a delta)."""
    acc = uuid.uuid4()
    events = story(acc)
    assert not plan_batch(group_by_account(events[:2]), {}).idempotent  # opens the account
    assert plan_batch(group_by_account(events[1:]), {acc: 1}).idempotent
    held = recorded(
        acc,
        6,
        FundsHeld(
            account_id=acc,
            hold_id=uuid.uuid4(),
            amount=10,
            currency="EUR",
            expires_at=T0 + timedelta(days=7),
            available_after=65,
        ),
    )
    assert not plan_batch(group_by_account([*events[1:], held]), {acc: 1}).idempotent
