"""REST bodies of maker-checker approvals (issue #17 item 6)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec

from shared.api import Request

ApprovalStatus = Literal["pending", "approved", "rejected", "expired"]


class ApprovalResponse(msgspec.Struct, kw_only=True):
    id: UUID
    action: str
    payload: dict[str, Any]
    target_type: str | None
    target_id: str | None
    maker_id: UUID
    status: ApprovalStatus
    created_at: datetime
    expires_at: datetime
    checker_id: UUID | None = None
    decided_at: datetime | None = None
    reason: str = ""
    result_status: int | None = None


class ApprovalPending(msgspec.Struct, kw_only=True):
    """The answer (202) to a command that waits for a second staff member."""

    approval_id: UUID
    status: ApprovalStatus
    action: str
    message: str


class ApprovalList(msgspec.Struct, kw_only=True):
    items: list[ApprovalResponse]


class RejectRequest(Request, frozen=True):
    reason: Annotated[str, msgspec.Meta(max_length=280)] = ""
