"""GetPendingHolds: an account's pending holds (issue #17), oldest first, from
hold_view; when account_view is behind the event store (the projection has not
caught up), from the fold of the account's events, as the balance reads do."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from server.application.access import check_account_access
from server.application.context import Actor, AppContext
from server.domain.account import Account
from server.domain.errors import AccountNotFoundError
from server.readmodel.rows import hold_response
from shared.api import HoldList, PendingHoldResponse
from shared.money import Money

_STATE = """
SELECT o.owner_id,
       (SELECT version FROM account_view WHERE account_id = o.account_id) AS applied,
       (SELECT e.version FROM events e WHERE e.stream_id = o.account_id
        ORDER BY e.version DESC LIMIT 1) AS head
FROM account_owners o WHERE o.account_id = $1
"""
_PENDING = """
SELECT hold_id, account_id, amount, currency, description, to_account_id, expires_at, placed_at
FROM hold_view WHERE account_id = $1 ORDER BY version
"""


# When each pending hold of the fold was placed: its FundsHeld event's recorded_at, as
# the projection stores it in hold_view (server/projections/plan.hold_change).
_PLACED = """
SELECT (payload->>'hold_id')::uuid AS hold_id, recorded_at FROM events
WHERE stream_id = $1 AND event_type = 'FundsHeld' AND (payload->>'hold_id')::uuid = ANY($2)
"""


def _folded(account: Account, placed: dict[UUID, datetime]) -> list[PendingHoldResponse]:
    return [
        PendingHoldResponse(
            hold_id=h.hold_id,
            account_id=account.id,
            status="pending",
            amount=Money(amount=h.amount, currency=account.currency),
            description=h.description,
            expires_at=h.expires_at,
            to_account_id=h.to_account_id,
            placed_at=placed.get(h.hold_id),
        )
        for h in account.holds
    ]


async def pending_holds(ctx: AppContext, actor: Actor, account_id: UUID) -> HoldList:
    async with ctx.pool.acquire() as conn:
        state = await conn.fetchrow(_STATE, account_id)
        check_account_access(actor, state["owner_id"] if state else None, "read")
        assert state is not None  # check_account_access refuses an unknown account
        if state["applied"] is not None and state["applied"] >= (state["head"] or 0):
            return HoldList(
                items=[hold_response(r) for r in await conn.fetch(_PENDING, account_id)]
            )
        account = await ctx.accounts.get(conn, account_id)
        if account is None:
            raise AccountNotFoundError("No such account.")
        pending = [h.hold_id for h in account.holds]
        rows = await conn.fetch(_PLACED, account_id, pending) if pending else []
    return HoldList(items=_folded(account, {r["hold_id"]: r["recorded_at"] for r in rows}))
