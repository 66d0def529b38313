"""What command handlers and queries need, built once per process by its composition root."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from uuid import UUID

import asyncpg

from runtime.settings import Settings
from server.adapters.account_repository import AccountRepository

Role = Literal["customer", "teller", "admin", "auditor"]


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is asking: the signed-in user, their role and their session."""

    user_id: UUID
    role: Role = "customer"
    session_id: str | None = None


@dataclass(frozen=True, slots=True)
class AppContext:
    settings: Settings
    pool: asyncpg.Pool
    accounts: AccountRepository
