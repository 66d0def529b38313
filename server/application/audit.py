"""What an audit record says: who did what to which target, from where, and how it ended.

Pure; the audit_log table and its SQL are in server/adapters/audit.py and the unit
of work (which writes a command's record in the same statement as its events)."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

import msgspec

Outcome = Literal["accepted", "rejected", "denied", "replayed"]
# Error codes that mean "access control said no" (403, or 404 for someone else's account).
DENIAL_CODES = frozenset(
    {"forbidden", "account_not_found", "top_ups_disabled", "own_account_cash_deposit"}
)


class AuditRecord(msgspec.Struct, frozen=True):
    """Who did what to which target, from where, and how it ended."""

    action: str
    outcome: Outcome = "accepted"
    actor_id: UUID | None = None
    actor_role: str | None = None
    session_id: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    account_id: UUID | None = None
    reason_code: str | None = None
    client_ip: str | None = None
    user_agent: str | None = None
    trace_id: str | None = None
    details: dict[str, Any] = msgspec.field(default_factory=dict)

    def accepted(self) -> AuditRecord:
        return msgspec.structs.replace(self, outcome="accepted", reason_code=None)

    def refused(self, code: str) -> AuditRecord:
        """Rejected by a rule, or denied by access control (decided by the code)."""
        outcome: Outcome = "denied" if code in DENIAL_CODES else "rejected"
        return msgspec.structs.replace(self, outcome=outcome, reason_code=code)

    def replayed(self) -> AuditRecord:
        return msgspec.structs.replace(self, outcome="replayed", reason_code=None)

    def about_user(self, user_id: UUID) -> AuditRecord:
        return msgspec.structs.replace(self, target_type="user", target_id=str(user_id))

    def about_account(self, account_id: UUID) -> AuditRecord:
        return msgspec.structs.replace(
            self, target_type="account", target_id=str(account_id), account_id=account_id
        )
