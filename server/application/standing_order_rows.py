"""How a standing order's row reads: its columns, its schedule, and the answer it gives
(``StandingOrderResponse``, with each destination's account number)."""

from __future__ import annotations

from typing import Any

import asyncpg
import msgspec

from server.adapters.account_numbers import account_numbers
from server.domain.schedule import Schedule
from shared.standing_orders import Occurrence, StandingOrderResponse

COLUMNS = (
    "id, owner_id, from_account_id, to_account_id, amount, currency, description, frequency,"
    " start_date, end_date, max_count, status, next_index, next_due, refusals_in_row, created_at"
)


def schedule_of(row: asyncpg.Record | dict[str, Any]) -> Schedule:
    return Schedule(row["frequency"], row["start_date"], row["end_date"], row["max_count"])


def order_view(
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
        payments_left=payments_left(row),
    )


def payments_left(row: asyncpg.Record) -> int | None:
    if row["status"] == "suspended":
        return None
    if row["status"] != "active":
        return 0
    return schedule_of(row).dates_left(row["next_index"])


async def with_account_numbers(
    db: asyncpg.Pool | asyncpg.Connection, views: list[StandingOrderResponse]
) -> list[StandingOrderResponse]:
    """``views`` with each destination's account number."""
    numbers = await account_numbers(db, (v.to_account_id for v in views))
    return [
        msgspec.structs.replace(v, to_account_number=numbers.get(v.to_account_id)) for v in views
    ]


async def with_account_number(
    db: asyncpg.Pool | asyncpg.Connection, view: StandingOrderResponse
) -> StandingOrderResponse:
    return (await with_account_numbers(db, [view]))[0]
