"""Who may do what to an account. Customers see only their own accounts: for
them another customer's account does not exist (404, never 403)."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from server.application.context import Actor
from server.application.errors import PermissionDeniedError
from server.domain.errors import AccountNotFoundError

Action = Literal["read", "deposit", "withdraw", "transfer", "freeze", "unfreeze", "close"]

# What each staff role may do on any customer's account.
_STAFF: dict[str, frozenset[str]] = {
    "teller": frozenset({"read", "deposit", "withdraw"}),
    "admin": frozenset({"read", "freeze", "unfreeze", "close"}),
    "auditor": frozenset({"read"}),
}
# What an owner may do on their own account.
_OWNER = frozenset({"read", "deposit", "withdraw", "transfer", "close"})


def check_account_access(actor: Actor, owner_id: UUID | None, action: Action) -> None:
    if owner_id is None:
        raise AccountNotFoundError("No such account.")
    if actor.role == "customer":
        if owner_id != actor.user_id:
            raise AccountNotFoundError("No such account.")
        if action not in _OWNER:
            raise PermissionDeniedError(f"A customer cannot {action} an account.")
        return
    if action not in _STAFF.get(actor.role, frozenset()):
        raise PermissionDeniedError(f"The {actor.role} role cannot {action} accounts.")
