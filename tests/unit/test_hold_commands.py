"""Hold commands through the one write path, on the in-memory unit of work: a post
racing the scheduler's expiry (one wins, the other is refused), an expiry run again
and again (once), an expiry tried too early (not stored: it is tried again later); a
payment beside a hold answers what can still be spent."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from server.application.actor import Actor
from server.application.audit import AuditRecord
from server.application.command_runner import CommandRunner, Submission
from server.application.commands import (
    Command,
    DepositMoney,
    OpenAccount,
    PlaceHold,
    PostHold,
    TransferMoney,
    WithdrawMoney,
)
from server.application.holds import expiry, void_into_closed
from server.application.idempotency import IdempotencyKey, request_hash
from server.domain.errors import DomainError, HoldNotExpiredError
from shared.api import MoneyMovementResponse, PostHoldRequest, TransferResponse
from shared.events import EventMetadata, HoldReleased, MoneyWithdrawn
from shared.money import Money
from tests.support.fake_unit_of_work import FakeUnitOfWork, Tables

ADA = Actor(uuid.uuid4())
META = EventMetadata(actor_id=str(ADA.user_id))
NOW = datetime(2027, 5, 1, 9, 0, tzinfo=UTC)
TIMEOUT = timedelta(minutes=10)


def submit(command: Command, key: str | None = None) -> Submission:
    idem = (
        IdempotencyKey(str(ADA.user_id), key, request_hash(command.action, PostHoldRequest()))
        if key
        else None
    )
    return Submission(command, idem, META, AuditRecord(action=command.action))


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


@pytest.fixture
def runner(uow: FakeUnitOfWork) -> CommandRunner:
    return CommandRunner(uow, max_amount=1_000_000, retries=4)


async def account_with_hold(runner: CommandRunner) -> tuple[uuid.UUID, uuid.UUID]:
    account, hold = uuid.uuid4(), uuid.uuid4()
    for command in (
        OpenAccount(actor=ADA, account_id=account, name="Card", currency="EUR", opened_at=NOW),
        DepositMoney(actor=ADA, account_id=account, transaction_id=uuid.uuid4(), amount=5_000),
        PlaceHold(
            actor=ADA,
            account_id=account,
            hold_id=hold,
            amount=2_000,
            placed_at=NOW,
            expires_at=NOW + TIMEOUT,
            booked_on=NOW.date(),
        ),
    ):
        await runner.run(submit(command))
    return account, hold


def releases(tables: Tables, account: uuid.UUID) -> list[str]:
    return [e.event.reason for e in tables.stream(account) if isinstance(e.event, HoldReleased)]


async def outcome(run: object) -> object:
    try:
        return await run  # type: ignore[misc]
    except DomainError as err:
        return err.code


@pytest.mark.parametrize("post_first", [True, False])
async def test_a_post_racing_the_expiry_one_wins_the_other_is_refused(
    runner: CommandRunner, uow: FakeUnitOfWork, post_first: bool
) -> None:
    account, hold = await account_with_hold(runner)
    at = NOW + TIMEOUT - timedelta(seconds=1) if post_first else NOW + TIMEOUT
    post = submit(PostHold(actor=ADA, account_id=account, hold_id=hold, posted_at=at), "p1")
    expire = expiry(account, hold, NOW + TIMEOUT)
    results = await asyncio.gather(outcome(runner.run(post)), outcome(runner.run(expire)))
    assert len(releases(uow.tables, account)) == 1
    refused = [r for r in results if isinstance(r, str)]
    assert len(refused) == 1 and refused[0] in ("hold_not_pending", "hold_expired")
    withdrawn = [e for e in uow.tables.stream(account) if isinstance(e.event, MoneyWithdrawn)]
    state = uow.tables.state(account)
    assert (state.balance, state.available) == ((3_000, 3_000) if withdrawn else (5_000, 5_000))


async def test_an_expiry_run_again_and_again_releases_once(
    runner: CommandRunner, uow: FakeUnitOfWork
) -> None:
    account, hold = await account_with_hold(runner)
    first = await runner.run(expiry(account, hold, NOW + TIMEOUT))
    later = await runner.run(expiry(account, hold, NOW + 3 * TIMEOUT))  # a later sweep
    assert not first.replayed and later.replayed and later.body == first.body
    assert releases(uow.tables, account) == ["expired"]
    assert [r.outcome for r in uow.tables.audit if r.action == "expire_hold"] == [
        "accepted",
        "replayed",
    ]


async def test_the_void_into_a_closed_account_releases_once_and_not_after_the_expiry(
    runner: CommandRunner, uow: FakeUnitOfWork
) -> None:
    account, hold = await account_with_hold(runner)
    first = await runner.run(void_into_closed(account, hold, NOW))
    again = await runner.run(void_into_closed(account, hold, NOW + TIMEOUT))  # a later sweep
    assert not first.replayed and again.replayed and again.body == first.body
    assert releases(uow.tables, account) == ["voided"]
    assert uow.tables.state(account).available == 5_000
    audited = [r for r in uow.tables.audit if r.action == "void_hold"]
    assert [(r.outcome, r.actor_role, r.details) for r in audited][0] == (
        "accepted",
        "scheduler",
        {"because": "destination_closed", "now": NOW.isoformat()},
    )
    # Past its timeout a hold is the expiry's: the void is refused and releases nothing.
    late, late_hold = await account_with_hold(runner)
    with pytest.raises(DomainError) as refused:
        await runner.run(void_into_closed(late, late_hold, NOW + TIMEOUT))
    assert refused.value.code == "hold_expired"
    assert releases(uow.tables, late) == []


async def test_an_expiry_too_early_is_not_stored_and_succeeds_later(
    runner: CommandRunner, uow: FakeUnitOfWork
) -> None:
    account, hold = await account_with_hold(runner)
    with pytest.raises(HoldNotExpiredError):
        await runner.run(expiry(account, hold, NOW + TIMEOUT - timedelta(seconds=1)))
    assert not [k for k in uow.tables.answers if k[0] == "hold_expiry"]
    await runner.run(expiry(account, hold, NOW + TIMEOUT))
    assert releases(uow.tables, account) == ["expired"]
    assert uow.tables.state(account).available == 5_000


async def test_a_post_that_did_not_see_the_holds_destination_is_refused_unstored(
    runner: CommandRunner, uow: FakeUnitOfWork
) -> None:
    source, _ = await account_with_hold(runner)
    target, hold = uuid.uuid4(), uuid.uuid4()
    await runner.run(
        submit(OpenAccount(actor=ADA, account_id=target, name="Pot", currency="EUR", opened_at=NOW))
    )
    place = PlaceHold(
        actor=ADA,
        account_id=source,
        hold_id=hold,
        amount=1_000,
        placed_at=NOW,
        expires_at=NOW + TIMEOUT,
        to_account_id=target,
    )
    await runner.run(submit(place))
    blind = PostHold(actor=ADA, account_id=source, hold_id=hold, posted_at=NOW)
    assert await outcome(runner.run(submit(blind, "post-1"))) == "concurrency_conflict"
    assert not [k for k in uow.tables.answers if k[1] == "post-1"]  # the key is still free
    seen = PostHold(actor=ADA, account_id=source, hold_id=hold, posted_at=NOW, to_account_id=target)
    await runner.run(submit(seen, "post-1"))
    assert uow.tables.state(target).balance == 1_000


async def test_a_payment_answers_what_can_still_be_spent_beside_the_balance(
    runner: CommandRunner,
) -> None:
    """A withdrawal or a transfer from an account with a pending hold answers the ledger
    balance and the available one (the app shows both after a payment)."""
    account, _ = await account_with_hold(runner)  # 50.00 EUR, 20.00 EUR held
    other = uuid.uuid4()
    await runner.run(
        submit(
            OpenAccount(actor=ADA, account_id=other, name="Other", currency="EUR", opened_at=NOW)
        )
    )
    paid = [
        WithdrawMoney(actor=ADA, account_id=account, transaction_id=uuid.uuid4(), amount=500),
        TransferMoney(
            actor=ADA,
            transfer_id=uuid.uuid4(),
            from_account_id=account,
            to_account_id=other,
            amount=500,
        ),
    ]
    answers = [
        msgspec.json.decode((await runner.run(submit(p))).body, type=kind)
        for p, kind in zip(paid, (MoneyMovementResponse, TransferResponse), strict=True)
    ]
    assert [(a.balance.amount, a.available_balance) for a in answers] == [
        (4_500, Money(amount=2_500, currency="EUR")),
        (4_000, Money(amount=2_000, currency="EUR")),
    ]
    deposit = DepositMoney(actor=ADA, account_id=other, transaction_id=uuid.uuid4(), amount=1)
    answer = msgspec.json.decode((await runner.run(submit(deposit))).body)
    assert answer["available_balance"] == answer["balance"] == {"amount": 501, "currency": "EUR"}
