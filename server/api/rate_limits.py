"""Per-user request rate limit on money-moving endpoints (taken with the actor).

A token bucket per user shared by all API processes through Redis, taken in
leases so that most requests cost no Redis round trip
(server/adapters/rate_limits.py, docs/adr/0301-rate-limit-leases.md):
``money_rate_per_second`` sustained, ``money_rate_burst`` at once. Over the
limit the answer is 429 with Retry-After, before anything is decided.
Litestar's RateLimitMiddleware keys by client address and keeps its history
with a read-modify-write per request (not atomic across processes), hence this.
"""

from __future__ import annotations

import math
from typing import Any

from litestar import Litestar, Request
from litestar.exceptions import TooManyRequestsException

from server.api.bootstrap import services_of
from server.application.context import Actor

# operation_id of every money-moving endpoint
MONEY_MOVING = frozenset(
    {
        "depositMoney",
        "withdrawMoney",
        "transferMoney",
        "transferMoneyBatch",
        "transferToAccountNumber",
        "depositCash",
        "topUpAccount",
        "placeHold",
        "postHold",
    }
)


async def money_rate_limit(request: Request[Any, Any, Any], actor: Actor) -> None:
    """Called by the ``actor`` dependency (server/api/deps.py): every money-moving handler
    takes the actor. Not a Litestar guard: the framework copies the route handler for
    every guard on every request (~45 µs of CPU, ADR 0305), for all routes alike."""
    if getattr(request.route_handler, "operation_id", None) in MONEY_MOVING:
        await take_money_token(request.app, actor)


async def take_money_token(app: Litestar, actor: Actor) -> None:
    """One money movement from the actor's bucket, or 429 (REST and GraphQL alike)."""
    wait = await services_of(app).money_limit.take(str(actor.user_id))
    if wait > 0:
        retry_after = max(1, math.ceil(wait))
        raise TooManyRequestsException(
            detail=f"Too many money movements in a short time; retry in {retry_after} s.",
            headers={"Retry-After": str(retry_after)},
            extra={"code": "rate_limited"},
        )
