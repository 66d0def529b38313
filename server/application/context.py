"""What the API's command and query handlers need, built once per process by its
composition root: ``AppContext(settings, pool)``.

It owns the account-state cache, the unit of work, the command runner, the
accounts its writes have in flight, (when enabled) the group committer and the
stream-head reader of the read side: no process-global state.
"""

from __future__ import annotations

import asyncpg

from runtime.settings import Settings
from server.adapters.account_repository import AccountRepository
from server.adapters.postgres.stream_heads import StreamHeads
from server.adapters.postgres.unit_of_work import PostgresUnitOfWork
from server.application.accounts_in_flight import AccountsInFlight
from server.application.actor import Actor, Role
from server.application.command_runner import CommandResult, CommandRunner, Submission
from server.application.group_commit import GroupCommitter
from server.application.unit_of_work import UnitOfWork

__all__ = ["Actor", "AppContext", "Role"]


class AppContext:
    def __init__(
        self,
        settings: Settings,
        pool: asyncpg.Pool,
        accounts: AccountRepository | None = None,
        uow: UnitOfWork | None = None,
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.accounts = accounts if accounts is not None else AccountRepository()
        self.uow: UnitOfWork = uow if uow is not None else PostgresUnitOfWork(pool, self.accounts)
        self.heads = StreamHeads(pool)
        self.runner = CommandRunner(
            self.uow,
            max_amount=settings.max_transaction_amount,
            retries=settings.command_retries,
        )
        self.in_flight = AccountsInFlight()  # shared by the group committer and batches
        self.committer: GroupCommitter | None = (
            GroupCommitter(
                self.runner,
                window_ms=settings.group_commit_window_ms,
                max_size=settings.group_commit_max,
                in_flight=settings.group_commit_in_flight,
                accounts=self.in_flight,
            )
            if settings.group_commit
            else None
        )

    async def write(self, submission: Submission) -> CommandResult:
        """A command through the one write path: with the group when one is forming."""
        if self.committer is not None:
            return await self.committer.submit(submission)
        return await self.runner.run(submission)
