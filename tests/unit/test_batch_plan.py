"""The batch endpoint's plan on the one write path, against the in-memory unit of work."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from server.application.actor import Actor
from server.application.batch_transfers import transfer_batch
from server.application.command_runner import CommandRunner, Submission
from server.application.commands import DepositMoney, OpenAccount
from server.domain.errors import ConcurrencyError
from shared.api import BatchTransferItem, BatchTransferRequest
from shared.events import EventMetadata
from tests.support import runner_accounts
from tests.support.fake_unit_of_work import FakeUnitOfWork

ADA = Actor(uuid.uuid4())
META = EventMetadata(actor_id=str(ADA.user_id))


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


@pytest.fixture
def runner(uow: FakeUnitOfWork) -> CommandRunner:
    return CommandRunner(uow, max_amount=1_000_000, retries=4)


async def funded(runner: CommandRunner, amount: int) -> uuid.UUID:
    return await runner_accounts.funded(runner, ADA, amount)


def item(a: uuid.UUID, b: uuid.UUID, amount: int, **kw: object) -> BatchTransferItem:
    return BatchTransferItem(
        id=kw.pop("id", None) or uuid.uuid4(),  # type: ignore[arg-type]
        from_account_id=a,
        to_account_id=b,
        amount=amount,
        **kw,  # type: ignore[arg-type]
    )


async def test_each_item_keeps_its_own_outcome_and_the_state_moves_on(
    runner: CommandRunner, uow: FakeUnitOfWork
) -> None:
    a, b = await funded(runner, 100), await funded(runner, 0)
    items = [item(a, b, 60), item(a, b, 60), item(b, a, 10)]

    res = await transfer_batch(runner, ADA, BatchTransferRequest(transfers=items), META)

    assert [r.status for r in res.results] == ["created", "rejected", "created"]
    assert res.results[1].code == "insufficient_funds"
    assert (uow.tables.state(a).balance, uow.tables.state(b).balance) == (50, 50)


async def test_a_linked_chain_fails_as_a_whole_and_leaves_no_trace(
    runner: CommandRunner, uow: FakeUnitOfWork
) -> None:
    a, b = await funded(runner, 100), await funded(runner, 0)
    items = [item(a, b, 50, linked=True), item(a, b, 80), item(a, b, 30)]

    res = await transfer_batch(runner, ADA, BatchTransferRequest(transfers=items), META)

    assert [(r.status, r.code) for r in res.results] == [
        ("rejected", "linked_transfer_failed"),
        ("rejected", "insufficient_funds"),
        ("created", None),
    ]
    assert uow.tables.state(a).balance == 70  # only the last one moved money
    # A chain's refusal is not stored: the same ids may be sent again, fixed.
    assert (str(ADA.user_id), str(items[0].id)) not in uow.tables.answers


async def test_a_batch_sent_again_replays_every_item(
    runner: CommandRunner, uow: FakeUnitOfWork
) -> None:
    a, b = await funded(runner, 100), await funded(runner, 0)
    req = BatchTransferRequest(transfers=[item(a, b, 30), item(a, b, 500)])
    first = await transfer_batch(runner, ADA, req, META)

    again = await transfer_batch(runner, ADA, req, META)

    assert [r.status for r in again.results] == ["replayed", "rejected"]
    assert again.results[0].transfer_id == first.results[0].transfer_id
    assert again.results[1].code == "insufficient_funds"
    assert uow.tables.state(a).balance == 70


async def test_duplicate_ids_and_an_open_chain_are_refused(
    runner: CommandRunner, uow: FakeUnitOfWork
) -> None:
    a, b = await funded(runner, 100), await funded(runner, 0)
    same = uuid.uuid4()
    items = [item(a, b, 1, id=same), item(a, b, 1, id=same), item(a, b, 1, linked=True)]

    res = await transfer_batch(runner, ADA, BatchTransferRequest(transfers=items), META)

    assert [(r.status, r.code) for r in res.results] == [
        ("created", None),
        ("rejected", "duplicate_id"),
        ("rejected", "linked_chain_open"),
    ]
    assert uow.tables.state(a).balance == 99


async def test_a_batch_that_loses_a_race_is_decided_again(
    runner: CommandRunner, uow: FakeUnitOfWork
) -> None:
    a, b = await funded(runner, 100), await funded(runner, 0)
    uow.fail_writes = [ConcurrencyError("lost")]

    res = await transfer_batch(runner, ADA, BatchTransferRequest(transfers=[item(a, b, 40)]), META)

    assert res.created == 1 and uow.tables.state(b).balance == 40


async def test_a_limit_refusal_says_what_is_left_today_and_its_replay_too(
    runner: CommandRunner, uow: FakeUnitOfWork
) -> None:
    a, b = uuid.uuid4(), await funded(runner, 0)
    opened = OpenAccount(
        actor=ADA,
        account_id=a,
        name="A",
        currency="EUR",
        opened_at=datetime.now(UTC),
        daily_outgoing_limit=100,
    )
    await runner.run(Submission(opened, None, META))
    dep = DepositMoney(actor=ADA, account_id=a, transaction_id=uuid.uuid4(), amount=500)
    await runner.run(Submission(dep, None, META))
    req = BatchTransferRequest(transfers=[item(a, b, 70), item(a, b, 50)])

    first = await transfer_batch(runner, ADA, req, META)
    again = await transfer_batch(runner, ADA, req, META)

    for res in (first, again):
        refused = res.results[1]
        assert (refused.status, refused.code) == ("rejected", "daily_limit_exceeded")
        assert refused.remaining_today == 30
    assert uow.tables.state(a).balance == 430
