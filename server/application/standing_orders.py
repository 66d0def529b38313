"""Standing orders (issue #17 item 4): what a customer does with their scheduled and
recurring payments: create, list, read, cancel, resume, change.

An order is a row (not an event stream: it moves no money itself); the scheduler pays
its occurrences (``standing_order_payments``). Create, cancel, resume and change are
audited in audit_log like every command.

A closed account ends the orders that would pay from it or, between a customer's own
accounts, into it: they are cancelled when it closes (``cancel_for_closed_account``),
and an occurrence refused because an account is closed (another customer's order into
it, or one the closing did not reach) cancels its order at once instead of counting
towards a suspension: no later occurrence could be paid.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from uuid import UUID

import asyncpg
import msgspec

from server.application.access import check_account_access
from server.application.actor import Actor
from server.application.audit import AuditRecord
from server.application.context import AppContext
from server.application.errors import IdempotencyKeyReusedError
from server.application.idempotency import IdempotencyKey
from server.application.standing_order_rows import (
    COLUMNS,
    order_view,
    schedule_of,
    with_account_number,
    with_account_numbers,
)
from server.domain.account import check_standing_transfer
from server.domain.errors import (
    AccountClosedError,
    AccountNotFoundError,
    BusinessRuleError,
    DomainError,
)
from server.domain.schedule import Schedule, new_schedule
from shared.standing_orders import (
    Occurrence,
    StandingOrderChange,
    StandingOrderList,
    StandingOrderRequest,
    StandingOrderResponse,
)

STAFF_READERS = ("admin", "auditor", "teller")
# Ids of orders created under an Idempotency-Key: uuid5 of (caller, key) in this namespace.
_ORDER_IDS = uuid.UUID("5b0e7f0e-2f43-4c55-9d53-1f2a3c4d5e6f")

CANCEL_ACTION = "cancel_standing_order"
RESUME_ACTION = "resume_standing_order"
CHANGE_ACTION = "change_standing_order"


class StandingOrderNotFoundError(AccountNotFoundError):
    code = "standing_order_not_found"


class StandingOrderEndedError(BusinessRuleError):
    """The order makes no more payments (cancelled, finished, or suspended with no date
    left): there is nothing to resume or change (answered 409)."""

    code = "standing_order_ended"


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
    return await with_account_number(ctx.pool, order_view(row))


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


async def _check_order_payable(
    ctx: AppContext, conn: asyncpg.Connection, row: asyncpg.Record, amount: int
) -> None:
    """``_check_payable`` for a stored order paying ``amount`` from now on."""
    await _check_payable(
        ctx, conn, row["from_account_id"], row["to_account_id"], amount, row["currency"]
    )


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
        f" ON CONFLICT (id) DO NOTHING RETURNING {COLUMNS}",
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
        f"SELECT {COLUMNS}, request_hash FROM standing_orders WHERE id = $1", order_id
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
        f"SELECT {COLUMNS} FROM standing_orders WHERE owner_id = $1 ORDER BY created_at, id",
        actor.user_id,
    )
    return StandingOrderList(
        items=await with_account_numbers(ctx.pool, [order_view(r) for r in rows])
    )


async def get_order(ctx: AppContext, actor: Actor, order_id: UUID) -> StandingOrderResponse:
    async with ctx.pool.acquire() as conn:
        row = _may_read(
            actor,
            await conn.fetchrow(f"SELECT {COLUMNS} FROM standing_orders WHERE id = $1", order_id),
        )
        occ = await conn.fetch(
            "SELECT index, due_date, outcome, executed_at, transfer_id, reason_code, message"
            " FROM standing_order_occurrences WHERE order_id = $1 ORDER BY index",
            order_id,
        )
        return await with_account_number(
            conn, order_view(row, [Occurrence(**dict(o)) for o in occ])
        )


async def _own_order_locked(
    conn: asyncpg.Connection, actor: Actor, order_id: UUID
) -> asyncpg.Record:
    """The caller's own order, locked until the transaction ends (anyone else's: not found)."""
    row = await conn.fetchrow(
        f"SELECT {COLUMNS} FROM standing_orders WHERE id = $1 FOR UPDATE", order_id
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
                    f" RETURNING {COLUMNS}",
                    order_id,
                )
                or row
            )
    except DomainError as err:
        await ctx.uow.record([audit.refused(err.code)])
        raise
    await ctx.uow.record([_paying_from(audit, row).accepted()])
    return await with_account_number(ctx.pool, order_view(row))


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
    return await with_account_number(ctx.pool, order_view(row))


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
    await _check_order_payable(ctx, conn, row, row["amount"])
    index, due = nxt
    resumed: asyncpg.Record = await conn.fetchrow(
        "UPDATE standing_orders SET status = 'active', next_index = $2, next_due = $3,"
        f" refusals_in_row = 0 WHERE id = $1 RETURNING {COLUMNS}",
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
                await _check_order_payable(ctx, conn, row, req.amount)
                row = await conn.fetchrow(
                    "UPDATE standing_orders SET amount = $2, description = $3"
                    f" WHERE id = $1 RETURNING {COLUMNS}",
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
    return await with_account_number(ctx.pool, order_view(row))


_CANCEL_FOR_CLOSED = f"""
UPDATE standing_orders SET status = 'cancelled', next_due = NULL
WHERE status IN ('active', 'suspended')
  AND (from_account_id = $1
       OR (to_account_id = $1
           AND owner_id = (SELECT owner_id FROM account_owners WHERE account_id = $1)))
RETURNING {COLUMNS}
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
