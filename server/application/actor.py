"""Who is asking."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from uuid import UUID

Role = Literal["customer", "teller", "admin", "auditor"]


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is asking: the signed-in user, their role and their session."""

    user_id: UUID
    role: Role = "customer"
    session_id: str | None = None
