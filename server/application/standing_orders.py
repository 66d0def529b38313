"""Standing orders (issue #17 item 4): a customer's scheduled and recurring payments.

An order is a row (not an event stream: it moves no money itself); each occurrence is
paid by the normal TransferMoney command through the one write path, under the
idempotency key ``standing_order / <order id>:<due date>`` and with a transfer id
derived from the same two, so a re-run after any crash replays the stored answer
instead of paying twice. ``pay_one_due`` claims one due order at a time with
``FOR UPDATE SKIP LOCKED`` (several schedulers never take the same order), pays it,
records the occurrence (paid, or refused with the rule's code) and moves the order
to its next due date; after MAX_CONSECUTIVE_REFUSALS refusals in a row the order is
suspended. Create and cancel are audited in audit_log like every command.

A closed account ends the orders that would pay from it or, between a customer's own
accounts, into it: they are cancelled when it closes (``cancel_for_closed_account``),
and an occurrence refused because an account is closed (another customer's order into
it, or one the closing did not reach) cancels its order at once instead of counting
towards a suspension: no later occurrence could be paid.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import asyncpg
import msgspec

from server.adapters.account_numbers import account_numbers
from server.application.access import check_account_access
from server.application.actor import Actor
from server.application.audit import AuditRecord
from server.application.command_runner import Submission
from server.application.commands import TransferMoney
from server.application.context import AppContext
from server.application.errors import IdempotencyKeyReusedError
from server.application.idempotency import IdempotencyKey, request_hash
from server.domain.account import check_standing_transfer
from server.domain.errors import (
    AccountClosedError,
    AccountNotFoundError,
    BusinessRuleError,
    DomainError,
)
from server.domain.schedule import Schedule, after_refusal, new_schedule
from shared.api import TransferRequest
from shared.events import EventMetadata
from shared.standing_orders import (
    Occurrence,
    StandingOrderChange,
    StandingOrderList,
    StandingOrderRequest,
    StandingOrderResponse,
)

log = logging.getLogger("bank.scheduler")
KEY_SCOPE = "standing_order"
STAFF_READERS = ("admin", "auditor", "teller")
# Ids of orders created under an Idempotency-Key: uuid5 of (caller, key) in this namespace.
_ORDER_IDS = uuid.UUID("5b0e7f0e-2f43-4c55-9d53-1f2a3c4d5e6f")
_COLUMNS = (
    "id, owner_id, from_account_id, to_account_id, amount, currency, description, frequency,"
    " start_date, end_date, max_count, status, next_index, next_due, refusals_in_row, created_at"
)

CANCEL_ACTION = "cancel_standing_order"
RESUME_ACTION = "resume_standing_order"
CHANGE_ACTION = "change_standing_order"
PAYMENT_ACTION = "standing_order_payment"


class StandingOrderNotFoundError(AccountNotFoundError):
    code = "standing_order_not_found"


class StandingOrderEndedError(BusinessRuleError):
    """The order makes no more payments (cancelled, finished, or suspended with no date
    left): there is nothing to resume or change (answered 409)."""

    code = "standing_order_ended"


def schedule_of(row: asyncpg.Record | dict[str, Any]) -> Schedule:
    return Schedule(row["frequency"], row["start_date"], row["end_date"], row["max_count"])


def occurrence_key(order_id: UUID, due: date) -> str:
    return f"{order_id}:{due.isoformat()}"


class _OccurrenceIdentity(msgspec.Struct):
    order: str
    due: str


def occurrence_request_hash(order_id: UUID, due: date) -> bytes:
    """What an occurrence's key is bound to: the occurrence (order and date), not what
    the order asks now. A payment made but not recorded (the scheduler stopped between)
    is paid again under its key at the next round, and replays its first answer however
    the order was changed since. Migration 0032 bound the keys stored before this way."""
    return request_hash(PAYMENT_ACTION, _OccurrenceIdentity(str(order_id), due.isoformat()))


def occurrence_transfer_id(order_id: UUID, due: date) -> UUID:
    """The same transfer id for the same occurrence, whoever pays it and how often."""
    return uuid.uuid5(order_id, due.isoformat())


def _view(
    row: asyncpg.Record, occurrences: list[Occurrence] | None = None
) -> StandingOrderResponse:
    return StandingOrderResponse(
        id=row["id"],
        from_account_id=row["from_account_id"],
        to_account_id=row["to_account_id"],
        amount=row["amount"],
        currency=row["currency"],
        description=row["description"],
        frequency=row["frequency"],
        start_date=row["start_date"],
        end_date=row["end_date"],
        count=row["max_count"],
        status=row["status"],
        next_due=row["next_due"],
        refusals_in_row=row["refusals_in_row"],
        created_at=row["created_at"],
        occurrences=occurrences or [],
        payments_left=_payments_left(row),
    )


def _payments_left(row: asyncpg.Record) -> int | None:
    if row["status"] == "suspended":
        return None
    if row["status"] != "active":
        return 0
    return schedule_of(row).dates_left(row["next_index"])


async def _numbered(
    db: asyncpg.Pool | asyncpg.Connection, views: list[StandingOrderResponse]
) -> list[StandingOrderResponse]:
    """``views`` with each destination's account number."""
    numbers = await account_numbers(db, (v.to_account_id for v in views))
    return [
        msgspec.structs.replace(v, to_account_number=numbers.get(v.to_account_id)) for v in views
    ]


async def _one(
    db: asyncpg.Pool | asyncpg.Connection, view: StandingOrderResponse
) -> StandingOrderResponse:
    return (await _numbered(db, [view]))[0]


async def create(
    ctx: AppContext,
    actor: Actor,
    req: StandingOrderRequest,
    audit: AuditRecord,
    idem: IdempotencyKey | None = None,
) -> StandingOrderResponse:
    """Create an order; with an Idempotency-Key, a retry answers the order the key made
    and the same key with another request is refused (the order id comes from the key)."""
    order_id = uuid.uuid5(_ORDER_IDS, f"{idem.scope}\n{idem.key}") if idem else uuid.uuid4()
    audit = msgspec.structs.replace(
        audit.about_account(req.from_account_id),
        target_type="standing_order",
        target_id=str(order_id),
        details={"amount": req.amount, "frequency": req.frequency},
    )
    try:
        async with ctx.pool.acquire() as conn:
            owner = await conn.fetchval(
                "SELECT owner_id FROM account_owners WHERE account_id = $1", req.from_account_id
            )
            check_account_access(actor, owner, "transfer")
            row, made = None, True
            # A retry of an order the key made answers that order, whatever changed since
            # (the date, the accounts); a new order is checked against today's.
            stored = await _stored(conn, order_id) if idem else None
            if stored is None:
                today = datetime.now(UTC).date()
                schedule = new_schedule(
                    req.frequency, req.start_date, req.end_date, req.count, today=today
                )
                await _check_payable(
                    ctx, conn, req.from_account_id, req.to_account_id, req.amount, req.currency
                )
                row = await _insert(conn, order_id, owner, req, schedule, idem)
                if row is None:  # a concurrent request under the key made it just now
                    stored = await _stored(conn, order_id)
            if row is None:  # the key made this order already
                row, made = _same_request(stored, idem), False
    except DomainError as err:
        await ctx.uow.record([audit.refused(err.code)])
        raise
    # recorded once the connection is back in the pool: a request holds one at a time
    await ctx.uow.record([audit.accepted() if made else audit.replayed()])
    return await _one(ctx.pool, _view(row))


async def _check_payable(
    ctx: AppContext,
    conn: asyncpg.Connection,
    source_id: UUID,
    target_id: UUID,
    amount: int,
    currency: str | None,
) -> None:
    """Refuse now what every occurrence would be refused for (a destination that does
    not exist or is closed, an amount over the bank's per-transaction limit, another
    currency), as a transfer's decision would."""
    source = await ctx.accounts.get(conn, source_id)
    target = await ctx.accounts.get(conn, target_id)
    if source is None or target is None:
        raise AccountNotFoundError("No such account.")
    check_standing_transfer(source, target, amount, currency, ctx.settings.max_transaction_amount)


async def _insert(
    conn: asyncpg.Connection,
    order_id: UUID,
    owner: UUID,
    req: StandingOrderRequest,
    schedule: Schedule,
    idem: IdempotencyKey | None,
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "INSERT INTO standing_orders (id, owner_id, from_account_id, to_account_id,"
        " amount, currency, description, frequency, start_date, end_date, max_count,"
        " next_due, request_hash) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)"
        f" ON CONFLICT (id) DO NOTHING RETURNING {_COLUMNS}",
        order_id,
        owner,
        req.from_account_id,
        req.to_account_id,
        req.amount,
        req.currency,
        req.description,
        req.frequency,
        req.start_date,
        req.end_date,
        req.count,
        schedule.due_date(0),
        idem.request_hash if idem else None,
    )


async def _stored(conn: asyncpg.Connection, order_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_COLUMNS}, request_hash FROM standing_orders WHERE id = $1", order_id
    )


def _same_request(row: asyncpg.Record | None, idem: IdempotencyKey | None) -> asyncpg.Record:
    """The order the key made, when this request is the one it was made for."""
    if row is None or idem is None or row["request_hash"] != idem.request_hash:
        raise IdempotencyKeyReusedError(
            "This Idempotency-Key already created a different standing order; use a new key."
        )
    return row


def _may_read(actor: Actor, row: asyncpg.Record | None) -> asyncpg.Record:
    if row is None or (row["owner_id"] != actor.user_id and actor.role not in STAFF_READERS):
        raise StandingOrderNotFoundError("No such standing order.")
    return row


async def list_orders(ctx: AppContext, actor: Actor) -> StandingOrderList:
    rows = await ctx.pool.fetch(
        f"SELECT {_COLUMNS} FROM standing_orders WHERE owner_id = $1 ORDER BY created_at, id",
        actor.user_id,
    )
    return StandingOrderList(items=await _numbered(ctx.pool, [_view(r) for r in rows]))


async def get_order(ctx: AppContext, actor: Actor, order_id: UUID) -> StandingOrderResponse:
    async with ctx.pool.acquire() as conn:
        row = _may_read(
            actor,
            await conn.fetchrow(f"SELECT {_COLUMNS} FROM standing_orders WHERE id = $1", order_id),
        )
        occ = await conn.fetch(
            "SELECT index, due_date, outcome, executed_at, transfer_id, reason_code, message"
            " FROM standing_order_occurrences WHERE order_id = $1 ORDER BY index",
            order_id,
        )
        return await _one(conn, _view(row, [Occurrence(**dict(o)) for o in occ]))


async def _own_order_locked(
    conn: asyncpg.Connection, actor: Actor, order_id: UUID
) -> asyncpg.Record:
    """The caller's own order, locked until the transaction ends (anyone else's: not found)."""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM standing_orders WHERE id = $1 FOR UPDATE", order_id
    )
    if row is None or row["owner_id"] != actor.user_id:
        raise StandingOrderNotFoundError("No such standing order.")
    return row


async def cancel(
    ctx: AppContext, actor: Actor, order_id: UUID, audit: AuditRecord
) -> StandingOrderResponse:
    audit = msgspec.structs.replace(audit, target_type="standing_order", target_id=str(order_id))
    try:
        async with ctx.pool.acquire() as conn, conn.transaction():
            row = await _own_order_locked(conn, actor, order_id)
            row = (
                await conn.fetchrow(
                    "UPDATE standing_orders SET status = 'cancelled', next_due = NULL"
                    " WHERE id = $1 AND status IN ('active', 'suspended')"
                    f" RETURNING {_COLUMNS}",
                    order_id,
                )
                or row
            )
    except DomainError as err:
        await ctx.uow.record([audit.refused(err.code)])
        raise
    await ctx.uow.record([_paying_from(audit, row).accepted()])
    return await _one(ctx.pool, _view(row))


def _check_not_ended(row: asyncpg.Record) -> None:
    if row["status"] not in ("active", "suspended"):
        raise StandingOrderEndedError(
            f"This standing order is {row['status']}: it makes no more payments."
            " Set up a new one to pay again."
        )


def _paying_from(audit: AuditRecord, row: asyncpg.Record) -> AuditRecord:
    """The order's audit record with the account it pays from (the target stays the order)."""
    return msgspec.structs.replace(audit, account_id=row["from_account_id"])


async def resume(
    ctx: AppContext, actor: Actor, order_id: UUID, audit: AuditRecord
) -> StandingOrderResponse:
    """Resume a suspended order once the customer has seen to what refused it: it pays
    again from its first due date on or after today (UTC), with no refusals counted.
    The payments it missed while suspended are not made late. Resuming an active order
    again (a retry) answers it unchanged; a cancelled or finished one, or one with no
    date left, is refused (409 ``standing_order_ended``); one whose payment every date
    would refuse, with that reason (a destination closed since: 422 ``account_closed``)."""
    audit = msgspec.structs.replace(audit, target_type="standing_order", target_id=str(order_id))
    try:
        async with ctx.pool.acquire() as conn, conn.transaction():
            row = await _own_order_locked(conn, actor, order_id)
            audit = _paying_from(audit, row)
            already = row["status"] == "active"  # resumed already: a retry changes nothing
            if not already:
                row = await _resumed(ctx, conn, row)
    except DomainError as err:
        await ctx.uow.record([audit.refused(err.code)])
        raise
    if already:
        await ctx.uow.record([audit.replayed()])
    else:
        details = {"next_due": row["next_due"].isoformat()}
        await ctx.uow.record([msgspec.structs.replace(audit, details=details).accepted()])
    return await _one(ctx.pool, _view(row))


async def _resumed(
    ctx: AppContext, conn: asyncpg.Connection, row: asyncpg.Record
) -> asyncpg.Record:
    """The suspended order ``row`` made active again from its next date (locked by the
    caller's transaction)."""
    _check_not_ended(row)
    today = datetime.now(UTC).date()
    nxt = schedule_of(row).next_on_or_after(row["next_index"], today)
    if nxt is None:
        raise StandingOrderEndedError(
            "This standing order has no payment left to make from today on;"
            " set up a new one to pay again."
        )
    await _check_payable(
        ctx,
        conn,
        row["from_account_id"],
        row["to_account_id"],
        row["amount"],
        row["currency"],
    )
    index, due = nxt
    resumed: asyncpg.Record = await conn.fetchrow(
        "UPDATE standing_orders SET status = 'active', next_index = $2, next_due = $3,"
        f" refusals_in_row = 0 WHERE id = $1 RETURNING {_COLUMNS}",
        row["id"],
        index,
        due,
    )
    return resumed


async def change(
    ctx: AppContext,
    actor: Actor,
    order_id: UUID,
    req: StandingOrderChange,
    audit: AuditRecord,
) -> StandingOrderResponse:
    """A new amount (and reference, if given) for every payment from the order's next
    one on, checked as a new order's is (the bank's limit for one payment, a closed
    destination). The same values again write nothing (a retry). A payment made but not
    recorded keeps what it was made with (its key is bound to the occurrence alone), and
    a change waits for the order's row lock while the scheduler pays it."""
    audit = msgspec.structs.replace(
        audit, target_type="standing_order", target_id=str(order_id), details={"amount": req.amount}
    )
    try:
        async with ctx.pool.acquire() as conn, conn.transaction():
            row = await _own_order_locked(conn, actor, order_id)
            audit = _paying_from(audit, row)
            _check_not_ended(row)
            was = row["amount"]
            description = row["description"] if req.description is None else req.description
            same = (req.amount, description) == (row["amount"], row["description"])
            if not same:  # the same values again (a retry) write nothing
                await _check_payable(
                    ctx,
                    conn,
                    row["from_account_id"],
                    row["to_account_id"],
                    req.amount,
                    row["currency"],
                )
                row = await conn.fetchrow(
                    "UPDATE standing_orders SET amount = $2, description = $3"
                    f" WHERE id = $1 RETURNING {_COLUMNS}",
                    order_id,
                    req.amount,
                    description,
                )
    except DomainError as err:
        await ctx.uow.record([audit.refused(err.code)])
        raise
    if same:
        await ctx.uow.record([audit.replayed()])
    else:
        audit = msgspec.structs.replace(audit, details={"amount": req.amount, "was": was})
        await ctx.uow.record([audit.accepted()])
    return await _one(ctx.pool, _view(row))


_CANCEL_FOR_CLOSED = f"""
UPDATE standing_orders SET status = 'cancelled', next_due = NULL
WHERE status IN ('active', 'suspended')
  AND (from_account_id = $1
       OR (to_account_id = $1
           AND owner_id = (SELECT owner_id FROM account_owners WHERE account_id = $1)))
RETURNING {_COLUMNS}
"""


async def cancel_for_closed_account(
    ctx: AppContext, account_id: UUID, audit: AuditRecord | None
) -> None:
    """Cancel the orders a closed account ends: those paying from it, and its owner's
    own orders paying into it. Run after the closing committed; run again (a retry of
    the close) it finds none. Each cancellation is audited, under the closing's actor."""
    rows = await ctx.pool.fetch(_CANCEL_FOR_CLOSED, account_id)
    if rows and audit is not None:
        await ctx.uow.record(
            [
                msgspec.structs.replace(
                    audit.accepted(),
                    action=CANCEL_ACTION,
                    target_type="standing_order",
                    target_id=str(row["id"]),
                    account_id=row["from_account_id"],
                    details={"because": AccountClosedError.code, "account": str(account_id)},
                )
                for row in rows
            ]
        )


# --- the scheduler's side ---------------------------------------------------------

_CLAIM = (
    f"SELECT {_COLUMNS} FROM standing_orders WHERE status = 'active' AND next_due <= $1"
    " ORDER BY next_due, id LIMIT 1 FOR UPDATE SKIP LOCKED"
)


def payment(row: asyncpg.Record, due: date) -> Submission:
    """The transfer that pays the occurrence due on ``due``, under its idempotency key."""
    order_id: UUID = row["id"]
    req = TransferRequest(
        from_account_id=row["from_account_id"],
        to_account_id=row["to_account_id"],
        amount=row["amount"],
        description=row["description"] or "Standing order",
        currency=row["currency"],
    )
    key = occurrence_key(order_id, due)
    actor = Actor(user_id=row["owner_id"], role="customer")
    command = TransferMoney(
        actor=actor,
        transfer_id=occurrence_transfer_id(order_id, due),
        from_account_id=req.from_account_id,
        to_account_id=req.to_account_id,
        amount=req.amount,
        currency=req.currency,
        description=req.description,
    )
    idem = IdempotencyKey(KEY_SCOPE, key, occurrence_request_hash(order_id, due))
    metadata = EventMetadata(
        actor_id=str(actor.user_id), idempotency_key=key, trace_id=uuid.uuid4().hex
    )
    audit = AuditRecord(
        action=PAYMENT_ACTION,
        actor_id=actor.user_id,
        actor_role="scheduler",
        target_type="standing_order",
        target_id=str(order_id),
        account_id=req.from_account_id,
        # refused_before: what a refusal now does to the order (after_refusal) can be
        # read from this record alone (the notification of it says so)
        details={
            "due_date": due.isoformat(),
            "amount": req.amount,
            "refused_before": row["refusals_in_row"],
        },
    )
    return Submission(command, idem, metadata, audit)


_RECORD = """
WITH occ AS (
    INSERT INTO standing_order_occurrences
        (order_id, index, due_date, outcome, transfer_id, reason_code, message)
    VALUES ($1, $2, $3, $4, $5, $6, $7)
)
UPDATE standing_orders SET next_index = $2 + 1, next_due = $8, status = $9, refusals_in_row = $10
WHERE id = $1
"""


async def pay_one_due(ctx: AppContext, today: date) -> bool:
    """Claim one order due on or before ``today``, pay its occurrence and record it.
    False when nothing is due. A crash anywhere rolls the claim back; the next run pays
    the same occurrence under the same key, which replays the first answer."""
    async with ctx.pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(_CLAIM, today)
        if row is None:
            return False
        due: date = row["next_due"]
        transfer_id: UUID | None = None
        code = message = None
        try:
            await ctx.runner.run(payment(row, due))
            transfer_id = occurrence_transfer_id(row["id"], due)
        except DomainError as err:  # a refusal: recorded, not retried
            code, message = err.code, err.message
        refusals = 0 if code is None else row["refusals_in_row"] + 1
        next_due = schedule_of(row).due_date(row["next_index"] + 1)
        status = "active" if next_due is not None else "finished"
        if code is not None and (ends := after_refusal(code, row["refusals_in_row"])):
            status, next_due = ends, None
        outcome = "paid" if code is None else "refused"
        await conn.execute(
            _RECORD,
            row["id"],
            row["next_index"],
            due,
            outcome,
            transfer_id,
            code,
            message,
            next_due,
            status,
            refusals,
        )
        log.info("standing order %s due %s: %s %s", row["id"], due, outcome, code or "")
    return True
