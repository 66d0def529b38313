"""The signed-in customer's notifications (written by python -m server.notifications).

GET  /api/v1/notifications        newest first; ?limit=1..100, ?before=<id>, ?unread=true
POST /api/v1/notifications/read   {"ids": [..]} or {"up_to": <id>}: mark read
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import Parameter

from server.api.body import BadRequestError, decode_body
from server.application.context import Actor, AppContext
from server.notifications import inbox
from shared.money import INT64_MAX
from shared.notifications import MarkReadRequest, MarkReadResponse, NotificationPage

MAX_PAGE = 100
MAX_IDS = 500


class NotificationController(Controller):
    path = "/api/v1/notifications"
    tags = ["notifications"]

    @get("/", operation_id="listNotifications")
    async def list_notifications(
        self,
        ctx: AppContext,
        actor: Actor,
        limit: int = Parameter(default=20, description=f"1..{MAX_PAGE}"),
        before: int | None = Parameter(default=None, description="only ids below this one"),
        unread: bool = Parameter(default=False, description="only unread ones"),
    ) -> NotificationPage:
        """Your notifications, newest first, ``limit`` (1 to 100, default 20) a page, and how many
        are ``unread``; send ``next_before`` as ``before`` for the next page, ``unread=true`` for
        unread ones only."""
        if not 1 <= limit <= MAX_PAGE:
            raise BadRequestError(f"limit must be between 1 and {MAX_PAGE}.", "invalid_limit")
        if before is not None and before < 1:
            raise BadRequestError("before must be a notification id (1 or more).", "invalid_before")
        if before is not None and before > INT64_MAX:  # above every id: the same as none
            before = None
        items, unread_count = await inbox.page(ctx.pool, actor.user_id, limit, before, unread)
        more = len(items) == limit
        return NotificationPage(
            items=items, unread=unread_count, next_before=items[-1].id if more else None
        )

    @post("/read", operation_id="markNotificationsRead", status_code=200)
    async def mark_read(
        self, request: Request[Any, Any, Any], ctx: AppContext, actor: Actor, data: MarkReadRequest
    ) -> MarkReadResponse:
        """Mark your notifications read: the ``ids`` (at most 500), or ``up_to``, an id marked with
        every one below it. Another user's ids change nothing; the answer counts those ``marked``
        and those still ``unread``."""
        req = await decode_body(request, MarkReadRequest)
        if not req.ids and req.up_to is None:
            raise BadRequestError(
                "Send the ids to mark read, or up_to: the newest id to mark read"
                " (with every one below it).",
                "invalid_request",
            )
        if len(req.ids) > MAX_IDS:
            raise BadRequestError(f"At most {MAX_IDS} ids at a time.", "invalid_request")
        marked = await inbox.mark_read(ctx.pool, actor.user_id, req.ids, req.up_to)
        unread = await inbox.unread_count(ctx.pool, actor.user_id)
        return MarkReadResponse(marked=marked, unread=unread)
