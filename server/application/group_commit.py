"""Group commit: commands that arrive together are decided and written in ONE transaction.

While a group is being written, the commands that arrive wait for it (at most
``window`` seconds, or until ``max_size`` are queued) and then go together through
``CommandRunner.run_group``: each decided in arrival order on the state the ones
before it left (so a hot account takes many commands per transaction), on the
states this process knows, and written in one statement that commits by itself;
or, when a state is not known here or that write lost a race, with one lock of
every account they touch, one load, one write, one COMMIT. Each command keeps its
own outcome; a group that cannot commit as a whole re-runs each command alone.

Two groups in flight never share an account: a group takes, in arrival order, the
queued commands whose accounts no write in flight touches nor a batch waits for
(``AccountsInFlight``), and that no command left waiting before them touches: per
account, commands keep their order. So a group decides on the states the write
before it committed, with no lost race between them (and no lock wait on the locked
path); the rest wait for the next group.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from uuid import UUID

from server.application.accounts_in_flight import AccountsInFlight
from server.application.command_runner import CommandResult, CommandRunner, Submission


@dataclass(slots=True)
class _Waiting:
    submission: Submission
    future: asyncio.Future[CommandResult]
    accounts: tuple[UUID, ...] = field(init=False)

    def __post_init__(self) -> None:
        self.accounts = tuple(self.submission.command.accounts())


class GroupCommitter:
    def __init__(
        self,
        runner: CommandRunner,
        *,
        window_ms: float,
        max_size: int,
        in_flight: int,
        accounts: AccountsInFlight | None = None,
    ) -> None:
        self.runner = runner
        self.window = window_ms / 1000
        self.max = max(1, max_size)
        self._queue: list[_Waiting] = []
        self._arrived = asyncio.Event()
        self._slots = asyncio.Semaphore(in_flight)  # the settings refuse less than 1
        self._in_flight = 0
        self.accounts = accounts if accounts is not None else AccountsInFlight()
        self._loop_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.groups = 0  # counters, for tests and metrics
        self.commands = 0

    async def submit(self, submission: Submission) -> CommandResult:
        future: asyncio.Future[CommandResult] = asyncio.get_running_loop().create_future()
        self._queue.append(_Waiting(submission, future))
        self._arrived.set()
        if self._loop_task is None or self._loop_task.done():
            self._loop_task = asyncio.create_task(self._gather())
        return await future

    async def _wait_for_company(self) -> None:
        """Busy: wait for more commands, up to the window (idle: go at once)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.window
        while len(self._queue) < self.max:
            left = deadline - loop.time()
            if left <= 0:
                return
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), left)
            except TimeoutError:
                return

    async def _gather(self) -> None:
        while self._queue:
            if self._in_flight and len(self._queue) < self.max:
                await self._wait_for_company()
            await self._slots.acquire()
            group = self._take()
            if not group:  # every queued command waits for an account in flight
                self._slots.release()
                self.accounts.released.clear()
                await self.accounts.released.wait()
                continue
            self._in_flight += 1
            task = asyncio.create_task(self._flush(group))
            self._tasks.add(task)
            task.add_done_callback(functools.partial(self._done, group))

    def _take(self) -> list[_Waiting]:
        """The next group: in arrival order, the commands free of the accounts in flight
        and of those of the commands left waiting before them."""
        group: list[_Waiting] = []
        waiting: list[_Waiting] = []
        held: set[UUID] = set()  # accounts of the commands left waiting
        accounts = self.accounts
        for w in self._queue:
            if (
                len(group) < self.max
                and not any(a in held for a in w.accounts)
                and accounts.free(w.accounts)
            ):
                group.append(w)
            else:
                waiting.append(w)
                held.update(w.accounts)
        self._queue = waiting
        for w in group:  # after the loop: a group may take several commands of an account
            accounts.hold(w.accounts)
        return group

    def _done(self, group: Sequence[_Waiting], task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._in_flight -= 1
        self._slots.release()
        self.accounts.release([a for w in group for a in w.accounts])

    async def _flush(self, group: Sequence[_Waiting]) -> None:
        try:
            outcomes = await self.runner.run_group([w.submission for w in group])
        except Exception as exc:  # noqa: BLE001 - handed to every waiting caller
            outcomes = [exc] * len(group)
        self.groups += 1
        self.commands += len(group)
        for waiting, outcome in zip(group, outcomes, strict=True):
            if waiting.future.done():
                continue  # the caller went away; its command stands, a retry replays it
            if isinstance(outcome, BaseException):
                waiting.future.set_exception(outcome)
            else:
                waiting.future.set_result(outcome)
