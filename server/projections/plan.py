"""What one batch of account events does to the read models. Pure: no I/O.

The worker groups a batch's events by account, asks ``find_gaps`` which
versions are missing (and fetches them from the event store), then turns the
contiguous run of new events per account into rows by ``plan_batch``:

- ``opens``: AccountOpened, COPYed straight into account_view;
- ``postings``: one row per balance event, inserted into transaction_view /
  analytics_view by the writer's one statement;
- ``updates``: the final state per account (balance, status, version, and the
  change of what pending holds reserve), applied to account_view by the same
  statement;
- ``holds_placed`` / ``holds_released``: hold_view rows to add and remove
  (FundsHeld, HoldReleased: issue #17's holds).

Idempotency: ``current[account]`` is the last applied stream version; events at
or below it are redeliveries and are dropped. A gap (an event whose version is
more than one past the last applied) is never skipped: the missing events are
read from the event store first; if the store cannot supply them either, the
account is left at its last contiguous version (and ``unresolved`` says so).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from server.readmodel.postings import PostingRow, posting_of
from shared.events import (
    AccountClosed,
    AccountFrozen,
    AccountOpened,
    AccountRenamed,
    AccountUnfrozen,
    FundsHeld,
    HoldReleased,
    RecordedEvent,
)

STATUS_BY_EVENT: dict[type, str] = {
    AccountFrozen: "frozen",
    AccountUnfrozen: "active",
    AccountClosed: "closed",
}
MONEY_IN_KINDS = ("deposit", "transfer_in")


# Row tuples, in the column order of the tables (see writer.py; PostingRow:
# server/readmodel/postings.py).
OpenRow = tuple[UUID, UUID, str, str, str, int, int, datetime, datetime]
# hold_view: hold_id, account_id, version, amount, currency, description, to_account_id,
# expires_at, placed_at
HoldRow = tuple[UUID, UUID, int, int, str, str, UUID | None, datetime, datetime]


@dataclass(frozen=True, slots=True)
class AccountUpdate:
    account_id: UUID
    version: int
    balance: int | None  # None: no balance event in this batch
    status: str | None  # None: no status event in this batch
    updated_at: datetime
    last_posting: PostingRow | None
    held_delta: int = 0  # what pending holds reserve, more (+) or less (-) than before
    holds_changed: bool = False  # a hold was placed or released in this batch
    name: str | None = None  # None: not renamed in this batch


@dataclass(slots=True)
class BatchPlan:
    opens: list[OpenRow] = field(default_factory=list)
    postings: list[PostingRow] = field(default_factory=list)
    updates: list[AccountUpdate] = field(default_factory=list)
    holds_placed: list[HoldRow] = field(default_factory=list)
    holds_released: list[UUID] = field(default_factory=list)
    unresolved: dict[UUID, int] = field(default_factory=dict)  # account -> first missing version

    @property
    def touched(self) -> set[UUID]:
        return {r[0] for r in self.opens} | {u.account_id for u in self.updates}

    @property
    def idempotent(self) -> bool:
        """Whether applying this plan again, or after a newer one, changes nothing: each
        posting is inserted once (its primary key), each account_view row only moves
        to a higher version with absolute values. Not so for new accounts (COPY) and
        hold changes (``held`` moves by a delta)."""
        return not (
            self.opens
            or self.holds_placed
            or self.holds_released
            or any(u.held_delta or u.holds_changed for u in self.updates)
        )


def group_by_account(events: list[RecordedEvent]) -> dict[UUID, list[RecordedEvent]]:
    """Account-stream events per account, sorted by version, duplicates removed."""
    grouped: dict[UUID, dict[int, RecordedEvent]] = {}
    for e in events:
        if e.stream_type != "account":
            continue
        grouped.setdefault(e.stream_id, {}).setdefault(e.version, e)
    return {acc: [by_v[v] for v in sorted(by_v)] for acc, by_v in grouped.items()}


def find_gaps(
    grouped: dict[UUID, list[RecordedEvent]], current: dict[UUID, int]
) -> dict[UUID, tuple[int, int]]:
    """Accounts whose new events are not contiguous after the last applied
    version: account -> (last applied, highest version seen)."""
    gaps: dict[UUID, tuple[int, int]] = {}
    for acc, events in grouped.items():
        expected = current.get(acc, 0) + 1
        for e in events:
            if e.version < expected:
                continue
            if e.version != expected:
                gaps[acc] = (current.get(acc, 0), events[-1].version)
                break
            expected += 1
    return gaps


def posting_row(e: RecordedEvent) -> PostingRow | None:
    return posting_of(e.event, e.stream_id, e.version, e.recorded_at, e.event_id)


def hold_change(plan: BatchPlan, e: RecordedEvent) -> int | None:
    """A hold event's hold_view row (added or removed) and its change of the amount
    held; None for any other event."""
    ev = e.event
    if isinstance(ev, FundsHeld):
        plan.holds_placed.append(
            (
                ev.hold_id,
                e.stream_id,
                e.version,
                ev.amount,
                ev.currency,
                ev.description,
                ev.to_account_id,
                ev.expires_at,
                e.recorded_at,
            )
        )
        return ev.amount
    if isinstance(ev, HoldReleased):
        plan.holds_released.append(ev.hold_id)
        return -ev.amount
    return None


def plan_batch(grouped: dict[UUID, list[RecordedEvent]], current: dict[UUID, int]) -> BatchPlan:
    plan = BatchPlan()
    for acc, events in grouped.items():
        _plan_account(plan, acc, events, current.get(acc, 0))
    return plan


def _plan_account(plan: BatchPlan, acc: UUID, events: list[RecordedEvent], last: int) -> None:
    """Add to ``plan`` what ``events`` of one account change after version ``last``."""
    expected = last + 1
    balance: int | None = None
    status: str | None = None
    name: str | None = None
    last_posting: PostingRow | None = None
    updated_at: datetime | None = None
    held_delta, holds_changed = 0, False
    for e in events:
        if e.version < expected:
            continue  # redelivered: already applied
        ev = e.event
        if e.version != expected or isinstance(ev, AccountOpened) != (expected == 1):
            # A gap, or a stream that does not start with AccountOpened (or opens twice).
            plan.unresolved[acc] = expected
            break
        if isinstance(ev, AccountOpened):
            plan.opens.append(
                (
                    acc,
                    ev.owner_id,
                    ev.name,
                    ev.currency,
                    "active",
                    0,
                    1,
                    e.recorded_at,
                    e.recorded_at,
                )
            )
        elif (row := posting_row(e)) is not None:
            plan.postings.append(row)
            balance, last_posting = row[5], row
        elif type(ev) in STATUS_BY_EVENT:
            status = STATUS_BY_EVENT[type(ev)]
        elif isinstance(ev, AccountRenamed):
            name = ev.name
        elif (delta := hold_change(plan, e)) is not None:
            held_delta, holds_changed = held_delta + delta, True
        updated_at = e.recorded_at
        expected += 1
    applied = expected - 1
    if applied > max(last, 1) and updated_at is not None:
        plan.updates.append(
            AccountUpdate(
                account_id=acc,
                version=applied,
                balance=balance,
                status=status,
                updated_at=updated_at,
                last_posting=last_posting,
                held_delta=held_delta,
                holds_changed=holds_changed,
                name=name,
            )
        )
