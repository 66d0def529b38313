"""Accounts opened (and funded) through the command runner, for unit tests of the
write path against the in-memory unit of work."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from server.application.actor import Actor
from server.application.command_runner import CommandRunner, Submission
from server.application.commands import DepositMoney, OpenAccount
from shared.events import EventMetadata


async def funded(runner: CommandRunner, actor: Actor, amount: int) -> uuid.UUID:
    """A new EUR account of ``actor`` holding ``amount``."""
    meta = EventMetadata(actor_id=str(actor.user_id))
    account = uuid.uuid4()
    opened = OpenAccount(
        actor=actor, account_id=account, name="A", currency="EUR", opened_at=datetime.now(UTC)
    )
    await runner.run(Submission(opened, None, meta))
    if amount:
        dep = DepositMoney(
            actor=actor, account_id=account, transaction_id=uuid.uuid4(), amount=amount
        )
        await runner.run(Submission(dep, None, meta))
    return account
