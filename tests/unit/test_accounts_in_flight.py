"""Writes of one process take their accounts in turn (``AccountsInFlight``): batches
and the group committer's groups never write to one account at once, so neither
loses its one-statement write to the other and is decided again under lock."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from server.application.accounts_in_flight import AccountsInFlight
from server.application.actor import Actor
from server.application.batch_transfers import transfer_batch
from server.application.command_runner import CommandRunner, Submission
from server.application.commands import DepositMoney
from server.application.group_commit import GroupCommitter
from server.application.unit_of_work import Changes
from shared.api import BatchTransferItem, BatchTransferRequest
from shared.events import EventMetadata
from tests.support import runner_accounts
from tests.support.fake_unit_of_work import FakeUnitOfWork

ADA = Actor(uuid.uuid4())
META = EventMetadata(actor_id=str(ADA.user_id))


class _SlowWrites(FakeUnitOfWork):
    """Each one-statement write takes a while, so writes of concurrent callers overlap."""

    def __init__(self) -> None:
        super().__init__(cache=True)
        self.order: list[str] = []  # what each write carried, in commit order

    async def write_and_commit(self, changes: Changes) -> None:
        await asyncio.sleep(0.01)
        await super().write_and_commit(changes)
        self.order.append(f"{len(changes.appends)} appends")


@pytest.fixture
def uow() -> _SlowWrites:
    return _SlowWrites()


@pytest.fixture
def runner(uow: _SlowWrites) -> CommandRunner:
    return CommandRunner(uow, max_amount=1_000_000, retries=4)


async def funded(runner: CommandRunner, amount: int) -> uuid.UUID:
    return await runner_accounts.funded(runner, ADA, amount)


def deposit(account: uuid.UUID, amount: int) -> DepositMoney:
    return DepositMoney(actor=ADA, account_id=account, transaction_id=uuid.uuid4(), amount=amount)


def batch(a: uuid.UUID, b: uuid.UUID, n: int) -> BatchTransferRequest:
    return BatchTransferRequest(
        transfers=[
            BatchTransferItem(id=uuid.uuid4(), from_account_id=a, to_account_id=b, amount=1)
            for _ in range(n)
        ]
    )


async def test_two_batches_on_the_same_accounts_are_written_in_turn_and_neither_lost(
    runner: CommandRunner, uow: _SlowWrites
) -> None:
    a, b = await funded(runner, 100), await funded(runner, 100)
    in_flight = AccountsInFlight()

    first, second = await asyncio.gather(
        transfer_batch(runner, ADA, batch(a, b, 5), META, in_flight=in_flight),
        transfer_batch(runner, ADA, batch(b, a, 3), META, in_flight=in_flight),
    )

    assert (first.created, second.created) == (5, 3)
    assert uow.loads == 0  # neither batch lost its write and was decided again under lock
    assert (uow.tables.state(a).balance, uow.tables.state(b).balance) == (98, 102)


async def test_without_taking_turns_one_of_two_batches_is_decided_twice(
    runner: CommandRunner, uow: _SlowWrites
) -> None:
    """What the turns save: the same two batches with no AccountsInFlight."""
    a, b = await funded(runner, 100), await funded(runner, 100)

    await asyncio.gather(
        transfer_batch(runner, ADA, batch(a, b, 5), META),
        transfer_batch(runner, ADA, batch(b, a, 3), META),
    )

    assert uow.loads == 1
    assert (uow.tables.state(a).balance, uow.tables.state(b).balance) == (98, 102)


async def test_a_waiting_batch_is_not_starved_by_the_single_commands_after_it(
    runner: CommandRunner, uow: _SlowWrites
) -> None:
    a, b = await funded(runner, 100), await funded(runner, 100)
    in_flight = AccountsInFlight()
    committer = GroupCommitter(runner, window_ms=1, max_size=1, in_flight=2, accounts=in_flight)
    uow.order.clear()

    def single(account: uuid.UUID) -> asyncio.Task[object]:
        return asyncio.create_task(committer.submit(Submission(deposit(account, 1), None, META)))

    before = single(b)
    await asyncio.sleep(0)  # the committer takes it: account b is in flight
    batch_done = asyncio.create_task(
        transfer_batch(runner, ADA, batch(a, b, 4), META, in_flight=in_flight)
    )
    await asyncio.sleep(0)  # the batch waits for b, and claims a and b
    after = [single(a) for _ in range(3)]  # a is free, but claimed: they wait
    await asyncio.gather(before, batch_done, *after)

    # The deposit in flight, then the batch (4 transfers: 12 appends), then the rest.
    assert uow.order == ["1 appends", "12 appends", "1 appends", "1 appends", "1 appends"]
    assert uow.loads == 0


async def test_claims_are_granted_in_arrival_order_and_disjoint_ones_together() -> None:
    in_flight = AccountsInFlight()
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    entered: list[str] = []
    go = asyncio.Event()

    async def write(name: str, accounts: set[uuid.UUID]) -> None:
        async with in_flight.holding(accounts):
            entered.append(name)
            await go.wait()

    first = asyncio.create_task(write("ab", {a, b}))
    await asyncio.sleep(0)
    waiting = [asyncio.create_task(write(n, s)) for n, s in (("b", {b}), ("bc", {b, c}))]
    apart = asyncio.create_task(write("c-apart", {c}))
    await asyncio.sleep(0)
    # "c" is claimed by the waiting "bc": a later write of c waits behind it.
    assert entered == ["ab"]
    assert not in_flight.free([c]) and not in_flight.free([a])

    go.set()
    await asyncio.gather(first, *waiting, apart)
    assert entered == ["ab", "b", "bc", "c-apart"]
    assert in_flight.free([a, b, c])


async def test_a_claim_given_up_while_waiting_lets_the_next_one_through() -> None:
    in_flight = AccountsInFlight()
    a, b = uuid.uuid4(), uuid.uuid4()
    in_flight.hold([a])

    gone = asyncio.create_task(in_flight.holding({a, b}).__aenter__())
    await asyncio.sleep(0)
    assert not in_flight.free([b])  # claimed by the waiting write
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone

    assert in_flight.free([b])
    async with in_flight.holding({b}):
        assert not in_flight.free([b])
    in_flight.release([a])
    assert in_flight.free([a, b])
