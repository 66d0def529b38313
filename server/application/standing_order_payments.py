"""The scheduler's side of standing orders: each occurrence is paid by the normal
TransferMoney command through the one write path, under the idempotency key
``standing_order / <order id>:<due date>`` and with a transfer id derived from the same
two, so a re-run after any crash replays the stored answer instead of paying twice.
``pay_one_due`` claims one due order at a time with ``FOR UPDATE SKIP LOCKED`` (several
schedulers never take the same order), pays it, records the occurrence (paid, or refused
with the rule's code) and moves the order to its next due date; after
MAX_CONSECUTIVE_REFUSALS refusals in a row the order is suspended, and one refused
because an account is closed is cancelled at once (``after_refusal``)."""

from __future__ import annotations

import logging
import uuid
from datetime import date
from uuid import UUID

import asyncpg
import msgspec

from server.application.actor import Actor
from server.application.audit import AuditRecord
from server.application.command_runner import Submission
from server.application.commands import TransferMoney
from server.application.context import AppContext
from server.application.idempotency import IdempotencyKey, request_hash
from server.application.standing_order_rows import COLUMNS, schedule_of
from server.domain.errors import DomainError
from server.domain.schedule import after_refusal
from shared.api import TransferRequest
from shared.events import EventMetadata

log = logging.getLogger("bank.scheduler")

KEY_SCOPE = "standing_order"
PAYMENT_ACTION = "standing_order_payment"


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


_CLAIM = (
    f"SELECT {COLUMNS} FROM standing_orders WHERE status = 'active' AND next_due <= $1"
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
