"""The one write path (runner, group commit, batch) against the in-memory unit of work:
outcomes per idempotency key, retries on lost races, replays, and groups that fail."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import msgspec
import pytest

from server.application.actor import Actor
from server.application.audit import AuditRecord
from server.application.command_runner import CommandResult, CommandRunner, Submission
from server.application.commands import (
    CloseAccount,
    Command,
    DepositMoney,
    FreezeAccount,
    OpenAccount,
    TransferMoney,
    WithdrawMoney,
    business_day,
)
from server.application.errors import ConflictRetriesExhaustedError, IdempotencyKeyReusedError
from server.application.funding import TopUpAccount
from server.application.group_commit import GroupCommitter
from server.application.idempotency import IdempotencyKey, StoredResponse, request_hash
from server.application.unit_of_work import Changes
from server.domain.errors import (
    AccountNotFoundError,
    ConcurrencyError,
    CurrencyMismatchError,
    InsufficientFundsError,
    TooManyAccountsError,
)
from shared.events import EventMetadata, MoneyDeposited
from tests.support.fake_unit_of_work import FakeUnitOfWork, Tables

ADA = Actor(uuid.uuid4())
BOB = Actor(uuid.uuid4())
META = EventMetadata(actor_id=str(ADA.user_id))


def key(name: str, body: str = "", actor: Actor = ADA) -> IdempotencyKey:
    return IdempotencyKey(str(actor.user_id), name, request_hash(name, _Body(text=body)))


class _Body(msgspec.Struct):
    text: str


def audit(action: str) -> AuditRecord:
    return AuditRecord(action=action, actor_id=ADA.user_id)


def submit(command: Command, idem: IdempotencyKey | None = None) -> Submission:
    return Submission(command, idem, META, audit(command.action))


def deposit(account: uuid.UUID, amount: int, actor: Actor = ADA, **kw: object) -> DepositMoney:
    return DepositMoney(
        actor=actor, account_id=account, transaction_id=uuid.uuid4(), amount=amount, **kw
    )


def withdraw(account: uuid.UUID, amount: int) -> WithdrawMoney:
    return WithdrawMoney(actor=ADA, account_id=account, transaction_id=uuid.uuid4(), amount=amount)


def body(result: CommandResult) -> dict[str, object]:
    decoded: dict[str, object] = msgspec.json.decode(result.body)
    return decoded


@pytest.fixture(params=[False, True], ids=["locked", "on-known-states"])
def uow(request: pytest.FixtureRequest) -> FakeUnitOfWork:
    """Every behaviour holds whether or not the process knows the accounts' states."""
    return FakeUnitOfWork(cache=request.param)


@pytest.fixture
def runner(uow: FakeUnitOfWork) -> CommandRunner:
    return CommandRunner(uow, max_amount=1_000_000, retries=4)


async def open_account(
    runner: CommandRunner, actor: Actor = ADA, currency: str = "EUR"
) -> uuid.UUID:
    account_id = uuid.uuid4()
    command = OpenAccount(
        actor=actor,
        account_id=account_id,
        name="Everyday",
        currency=currency,
        opened_at=datetime.now(UTC),
    )
    result = await runner.run(submit(command))
    assert result.status_code == 201
    return account_id


def on_known_states(uow: FakeUnitOfWork) -> int:
    """1 when the fake keeps states (the runner tries them first), else 0."""
    return int(uow.cache is not None)


def balance(tables: Tables, account: uuid.UUID) -> int:
    return tables.state(account).balance


def outcomes(tables: Tables, action: str) -> list[tuple[str, str | None]]:
    return [(r.outcome, r.reason_code) for r in tables.audit if r.action == action]


async def test_a_deposit_appends_one_event_stores_its_answer_and_audits_it(
    runner: CommandRunner, uow: FakeUnitOfWork
) -> None:
    account = await open_account(runner)
    k = key("dep-1")

    result = await runner.run(submit(deposit(account, 500), k))

    assert result.status_code == 201 and not result.replayed
    assert body(result)["balance"] == {"amount": 500, "currency": "EUR"}
    assert [type(e.event) for e in uow.tables.stream(account)][1:] == [MoneyDeposited]
    assert uow.tables.answers[k.ident].body == result.body
    assert outcomes(uow.tables, "deposit_money") == [("accepted", None)]


async def test_a_retry_with_the_same_key_replays_the_first_answer_and_appends_nothing(
    runner: CommandRunner, uow: FakeUnitOfWork
) -> None:
    account = await open_account(runner)
    k = key("dep-2")
    first = await runner.run(submit(deposit(account, 500), k))

    again = await runner.run(submit(deposit(account, 500), k))

    assert again.replayed and again.body == first.body
    assert balance(uow.tables, account) == 500
    assert outcomes(uow.tables, "deposit_money") == [("accepted", None), ("replayed", None)]


async def test_a_key_reused_for_another_request_is_refused(runner: CommandRunner) -> None:
    account = await open_account(runner)
    await runner.run(submit(deposit(account, 500), key("dep-3", "first")))

    with pytest.raises(IdempotencyKeyReusedError):
        await runner.run(submit(deposit(account, 700), key("dep-3", "second")))


async def test_a_refusal_is_stored_and_replayed_without_deciding_again(
    runner: CommandRunner, uow: FakeUnitOfWork
) -> None:
    account = await open_account(runner)
    k = key("wd-1")
    with pytest.raises(InsufficientFundsError):
        await runner.run(submit(withdraw(account, 100), k))
    await runner.run(submit(deposit(account, 1_000), key("dep-4")))

    # The money is there now, but the key's answer was a refusal: it stays one.
    with pytest.raises(InsufficientFundsError):
        await runner.run(submit(withdraw(account, 100), k))

    assert balance(uow.tables, account) == 1_000
    assert outcomes(uow.tables, "withdraw_money") == [
        ("rejected", "insufficient_funds"),
        ("rejected", "insufficient_funds"),
    ]


async def test_an_access_refusal_is_audited_but_not_stored_under_the_key(
    runner: CommandRunner, uow: FakeUnitOfWork
) -> None:
    account = await open_account(runner)
    k = key("dep-bob", actor=BOB)

    with pytest.raises(AccountNotFoundError):
        await runner.run(submit(deposit(account, 100, actor=BOB), k))

    assert k.ident not in uow.tables.answers
    assert outcomes(uow.tables, "deposit_money") == [("denied", "account_not_found")]


async def test_a_currency_other_than_the_accounts_is_refused(runner: CommandRunner) -> None:
    account = await open_account(runner)

    with pytest.raises(CurrencyMismatchError):
        await runner.run(submit(deposit(account, 100, currency="USD"), key("dep-usd")))
    result = await runner.run(submit(deposit(account, 100, currency="EUR"), key("dep-eur")))

    assert body(result)["balance"] == {"amount": 100, "currency": "EUR"}


async def test_a_lost_race_is_decided_again_on_fresh_state(
    runner: CommandRunner, uow: FakeUnitOfWork
) -> None:
    account = await open_account(runner)
    uow.fail_writes = [ConcurrencyError("lost"), ConcurrencyError("lost again")]

    result = await runner.run(submit(deposit(account, 300), key("dep-5")))

    assert body(result)["version"] == 2
    assert balance(uow.tables, account) == 300
    assert uow.writes - uow.commits == 2  # two rolled back, then one committed (plus the open)


async def test_conflicts_without_end_answer_409_and_audit_it_on_its_own(
    runner: CommandRunner, uow: FakeUnitOfWork
) -> None:
    account = await open_account(runner)
    # On known states, the first write is the one-statement try, then 4 transactions.
    uow.fail_writes = [ConcurrencyError("lost")] * (4 + on_known_states(uow))

    with pytest.raises(ConflictRetriesExhaustedError):
        await runner.run(submit(deposit(account, 300), key("dep-6")))

    assert balance(uow.tables, account) == 0
    assert outcomes(uow.tables, "deposit_money") == [("rejected", "concurrency_conflict")]


async def test_a_key_answered_meanwhile_rolls_back_and_replays_that_answer(
    runner: CommandRunner, uow: FakeUnitOfWork
) -> None:
    account = await open_account(runner)
    k = key("dep-7")
    stored = StoredResponse(k.request_hash, 201, b'{"first": true}')

    async def concurrent_retry_commits(tables: Tables) -> None:
        tables.answers[k.ident] = stored

    uow.meanwhile = concurrent_retry_commits

    result = await runner.run(submit(deposit(account, 300), k))

    assert result.replayed and result.body == b'{"first": true}'
    assert balance(uow.tables, account) == 0  # our own decision was rolled back


async def test_ten_concurrent_retries_with_one_key_take_effect_once(
    runner: CommandRunner, uow: FakeUnitOfWork
) -> None:
    account = await open_account(runner)
    k = key("dep-8")

    results = await asyncio.gather(
        *(runner.run(submit(deposit(account, 100), k)) for _ in range(10))
    )

    assert balance(uow.tables, account) == 100
    assert len({r.body for r in results}) == 1
    assert sum(not r.replayed for r in results) == 1


async def test_fifty_concurrent_withdrawals_never_overdraw(
    runner: CommandRunner, uow: FakeUnitOfWork
) -> None:
    account = await open_account(runner)
    await runner.run(submit(deposit(account, 1_000), key("dep-9")))

    results = await asyncio.gather(
        *(runner.run(submit(withdraw(account, 100), key(f"wd-{i}"))) for i in range(50)),
        return_exceptions=True,
    )

    assert sum(isinstance(r, CommandResult) for r in results) == 10
    assert all(
        isinstance(r, InsufficientFundsError) for r in results if not isinstance(r, CommandResult)
    )
    assert balance(uow.tables, account) == 0


# --- groups ---------------------------------------------------------------------------


async def test_a_group_decides_each_command_on_what_the_ones_before_it_left(
    runner: CommandRunner, uow: FakeUnitOfWork
) -> None:
    account = await open_account(runner)
    commits = uow.commits

    results = await runner.run_group(
        [submit(deposit(account, 10), key(f"g-{i}")) for i in range(20)]
    )

    assert uow.commits == commits + 1  # one transaction
    assert [body(r)["version"] for r in results if isinstance(r, CommandResult)] == list(
        range(2, 22)
    )
    assert balance(uow.tables, account) == 200


async def test_a_rule_breaker_fails_alone_in_its_group(
    runner: CommandRunner, uow: FakeUnitOfWork
) -> None:
    account = await open_account(runner)
    group = [
        submit(deposit(account, 100), key("g-dep")),
        submit(withdraw(account, 150), key("g-too-much")),
        submit(withdraw(account, 60), key("g-ok")),
    ]

    results = await runner.run_group(group)

    assert isinstance(results[0], CommandResult) and isinstance(results[2], CommandResult)
    assert isinstance(results[1], InsufficientFundsError)
    assert balance(uow.tables, account) == 40
    assert uow.tables.answers[key("g-too-much").ident].status_code == 422


async def test_a_group_that_cannot_commit_runs_each_command_alone(
    runner: CommandRunner, uow: FakeUnitOfWork
) -> None:
    a, b = await open_account(runner), await open_account(runner)
    commits = uow.commits
    # On known states, the group's one-statement try loses, then its transaction does.
    uow.fail_writes = [ConcurrencyError("the group lost a race")] * (1 + on_known_states(uow))

    results = await runner.run_group(
        [submit(deposit(a, 10), key("ga")), submit(deposit(b, 20), key("gb"))]
    )

    assert all(isinstance(r, CommandResult) for r in results)
    assert uow.commits == commits + 2  # the group rolled back; each committed alone
    assert (balance(uow.tables, a), balance(uow.tables, b)) == (10, 20)


async def test_the_same_key_twice_in_a_group_replays_the_first(
    runner: CommandRunner, uow: FakeUnitOfWork
) -> None:
    account = await open_account(runner)
    k = key("g-twice")

    first, second = await runner.run_group(
        [submit(deposit(account, 10), k), submit(deposit(account, 10), k)]
    )

    assert isinstance(first, CommandResult) and isinstance(second, CommandResult)
    assert second.replayed and second.body == first.body
    assert balance(uow.tables, account) == 10


async def test_the_group_committer_gathers_concurrent_commands_into_few_transactions(
    runner: CommandRunner, uow: FakeUnitOfWork
) -> None:
    account = await open_account(runner)
    committer = GroupCommitter(runner, window_ms=5, max_size=64, in_flight=2)

    results = await asyncio.gather(
        *(committer.submit(submit(deposit(account, 1), key(f"c-{i}"))) for i in range(100))
    )

    assert sorted(body(r)["version"] for r in results) == list(range(2, 102))
    assert committer.commands == 100 and committer.groups < 100
    assert balance(uow.tables, account) == 100


async def test_status_changes_go_the_same_way(runner: CommandRunner, uow: FakeUnitOfWork) -> None:
    admin = Actor(uuid.uuid4(), role="admin")
    account = await open_account(runner)

    result = await runner.run(
        submit(FreezeAccount(actor=admin, account_id=account, reason="fraud"), key("fz"))
    )

    assert result.status_code == 200 and body(result)["status"] == "frozen"
    with pytest.raises(Exception, match="frozen"):
        await runner.run(submit(withdraw(account, 1), key("wd-frozen")))


async def test_a_transfer_moves_money_between_two_streams_in_one_transaction(
    runner: CommandRunner, uow: FakeUnitOfWork
) -> None:
    a, b = await open_account(runner), await open_account(runner, actor=BOB)
    await runner.run(submit(deposit(a, 500), key("fund")))
    transfer = TransferMoney(
        actor=ADA, transfer_id=uuid.uuid4(), from_account_id=a, to_account_id=b, amount=200
    )

    result = await runner.run(submit(transfer, key("tr")))

    assert body(result)["balance"] == {"amount": 300, "currency": "EUR"}
    assert (balance(uow.tables, a), balance(uow.tables, b)) == (300, 200)
    assert len(uow.tables.stream(transfer.transfer_id)) == 1


# --- on the states this process knows: one statement, no load ------------------------


def knowing() -> tuple[FakeUnitOfWork, CommandRunner]:
    uow = FakeUnitOfWork(cache=True)
    return uow, CommandRunner(uow, max_amount=1_000_000, retries=4)


async def test_a_command_on_known_states_is_written_without_a_load() -> None:
    uow, runner = knowing()
    a, b = await open_account(runner), await open_account(runner)
    await runner.run(submit(deposit(a, 500), key("fund")))
    transfer = TransferMoney(
        actor=ADA, transfer_id=uuid.uuid4(), from_account_id=a, to_account_id=b, amount=200
    )

    result = await runner.run(submit(transfer, key("tr")))

    assert body(result)["balance"] == {"amount": 300, "currency": "EUR"}
    assert uow.loads == 0 and uow.written_on_known_states == 4  # two opens, deposit, transfer
    assert outcomes(uow.tables, "transfer_money") == [("accepted", None)]


async def test_a_state_another_process_moved_on_loses_and_is_decided_on_the_stored_one() -> None:
    uow, runner = knowing()
    account = await open_account(runner)
    other = FakeUnitOfWork(cache=True)  # another API process over the same tables
    other.tables = uow.tables
    await CommandRunner(other, max_amount=1_000_000, retries=4).run(
        submit(deposit(account, 500), key("elsewhere"))
    )

    result = await runner.run(submit(deposit(account, 100), key("here")))

    assert body(result)["version"] == 3  # not 2, which this process's state would give
    assert balance(uow.tables, account) == 600
    assert uow.loads == 1  # the one-statement write lost, then the transaction loaded


async def test_a_refusal_is_never_decided_on_a_state_that_may_be_stale() -> None:
    uow, runner = knowing()
    account = await open_account(runner)
    other = FakeUnitOfWork(cache=True)
    other.tables = uow.tables
    await CommandRunner(other, max_amount=1_000_000, retries=4).run(
        submit(deposit(account, 500), key("elsewhere"))
    )

    # This process still sees 0: a refusal appends nothing the write could check its
    # state by, so it is decided again on the stored state, which has the money.
    result = await runner.run(submit(withdraw(account, 300), key("wd")))

    assert body(result)["balance"] == {"amount": 200, "currency": "EUR"}
    assert uow.loads == 1


async def test_a_key_answered_before_is_replayed_not_decided_again_on_known_states() -> None:
    uow, runner = knowing()
    account = await open_account(runner)
    first = await runner.run(submit(deposit(account, 100), key("again")))

    again = await runner.run(submit(deposit(account, 100), key("again")))

    assert again.replayed and again.body == first.body
    assert balance(uow.tables, account) == 100


async def test_a_top_up_capped_across_accounts_is_decided_on_locked_states_only() -> None:
    uow, runner = knowing()
    a, b = await open_account(runner), await open_account(runner)
    top_up = TopUpAccount(
        actor=ADA,
        account_id=a,
        transaction_id=uuid.uuid4(),
        amount=100,
        booked_on=business_day(),
        enabled=True,
        daily_cap=1_000,
        owned=(a, b),
    )
    lookups = uow.known_lookups

    result = await runner.run(submit(top_up, key("top-up")))

    assert result.status_code == 201
    # Its decision reads b, which it does not append to, so no write of its own could
    # tell whether b was stale: it is not decided on known states at all (not even to
    # be thrown away), only in the transaction, which loads both.
    assert uow.known_lookups == lookups and uow.loads == 1


class _SlowWrites(FakeUnitOfWork):
    """Each one-statement write takes a while; counts how many run at once."""

    def __init__(self) -> None:
        super().__init__(cache=True)
        self.running = 0
        self.most_at_once = 0

    async def write_and_commit(self, changes: Changes) -> None:
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            await asyncio.sleep(0.01)
            await super().write_and_commit(changes)
        finally:
            self.running -= 1


async def test_two_groups_in_flight_never_share_an_account() -> None:
    uow = _SlowWrites()
    runner = CommandRunner(uow, max_amount=1_000_000, retries=4)
    a, b = await open_account(runner), await open_account(runner)
    committer = GroupCommitter(runner, window_ms=1, max_size=1, in_flight=2)

    # One command per group: a's second deposit must wait for its first (deciding on
    # the state it leaves) while b's goes beside it.
    results = await asyncio.gather(
        *(
            committer.submit(submit(deposit(x, 1), key(f"d-{i}")))
            for i, x in enumerate([a, a, b, b])
        )
    )

    assert sorted(body(r)["version"] for r in results) == [2, 2, 3, 3]
    assert uow.loads == 0  # no group lost a race to the other and fell back to a load
    assert uow.most_at_once == 2
    assert (balance(uow.tables, a), balance(uow.tables, b)) == (2, 2)


def opening(most: int, actor: Actor = ADA) -> OpenAccount:
    return OpenAccount(
        actor=actor,
        account_id=uuid.uuid4(),
        name="Pot",
        currency="EUR",
        opened_at=datetime.now(UTC),
        most_open_accounts=most,
    )


async def test_openings_at_the_same_instant_never_pass_the_cap(
    runner: CommandRunner, uow: FakeUnitOfWork
) -> None:
    """Each opening counts its owner's open accounts in its own transaction, after the
    one before it committed: of five at once with one place left, one opens."""
    await open_account(runner)
    await open_account(runner)
    results = await asyncio.gather(
        *(runner.run(submit(opening(most=3))) for _ in range(5)), return_exceptions=True
    )
    assert (
        sorted(type(r).__name__ for r in results)
        == ["CommandResult"] + ["TooManyAccountsError"] * 4
    )
    assert uow.tables.open_accounts(ADA.user_id) == 3
    assert outcomes(uow.tables, "open_account").count(("rejected", "too_many_accounts")) == 4
    # Bob's accounts are his own: counted apart, his opening is not refused
    assert isinstance(await runner.run(submit(opening(most=3, actor=BOB))), CommandResult)


async def test_a_group_counts_the_accounts_its_earlier_openings_opened(
    runner: CommandRunner, uow: FakeUnitOfWork
) -> None:
    results = await runner.run_group([submit(opening(most=2)) for _ in range(3)])
    assert [type(r).__name__ for r in results] == [
        "CommandResult",
        "CommandResult",
        "TooManyAccountsError",
    ]
    assert uow.tables.open_accounts(ADA.user_id) == 2


async def test_a_closed_account_leaves_a_place_for_another(
    runner: CommandRunner, uow: FakeUnitOfWork
) -> None:
    first = await open_account(runner)
    with pytest.raises(TooManyAccountsError):
        await runner.run(submit(opening(most=1)))
    closed = await runner.run(submit(CloseAccount(actor=ADA, account_id=first)))
    assert closed.status_code == 200
    assert (await runner.run(submit(opening(most=1)))).status_code == 201
