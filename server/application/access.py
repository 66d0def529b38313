"""Who may do what to an account (role-based access control).

- customer: own accounts only; for them another customer's account does not
  exist (404, never 403). A customer may close their own account (the domain
  allows it only at a zero balance) and rename it, but not freeze or unfreeze it.
- teller: reads any account, deposits to and withdraws from it (cash desk).
- admin: reads any account, freezes, unfreezes, closes and renames it (a customer who
  asks the bank by phone); assigns roles.
- auditor: reads any account and the audit trail, and nothing else (not even
  opening an account of their own).
Staff other than auditors keep an owner's rights on accounts they own.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from server.application.actor import Actor
from server.application.errors import PermissionDeniedError
from server.domain.errors import AccountNotFoundError
from shared.words import with_article

Action = Literal["read", "deposit", "withdraw", "transfer", "freeze", "unfreeze", "close", "rename"]

# What each staff role may do on any customer's account.
_STAFF: dict[str, frozenset[str]] = {
    "teller": frozenset({"read", "deposit", "withdraw"}),
    "admin": frozenset({"read", "freeze", "unfreeze", "close", "rename"}),
    "auditor": frozenset({"read"}),
}
# What an owner may do on their own account.
_OWNER = frozenset({"read", "deposit", "withdraw", "transfer", "close", "rename"})


def check_account_access(actor: Actor, owner_id: UUID | None, action: Action) -> None:
    if owner_id is None:
        raise AccountNotFoundError("No such account.")
    if actor.role == "customer":
        if owner_id != actor.user_id:
            raise AccountNotFoundError("No such account.")
        if action not in _OWNER:
            raise PermissionDeniedError(f"A customer cannot {action} an account.")
        return
    if action in _STAFF.get(actor.role, frozenset()):
        return
    if owner_id == actor.user_id and actor.role != "auditor" and action in _OWNER:
        return
    raise PermissionDeniedError(f"The {actor.role} role cannot {action} accounts.")


def check_may_open_account(actor: Actor) -> None:
    if actor.role == "auditor":
        raise PermissionDeniedError("The auditor role is read-only and cannot open accounts.")


def check_role(actor: Actor, *roles: str) -> None:
    """For staff functions (audit trail, role assignment): 403 for every other role."""
    if actor.role not in roles:
        raise PermissionDeniedError(
            f"This needs the {' or '.join(roles)} role;"
            f" you are signed in as {with_article(actor.role)}."
        )
