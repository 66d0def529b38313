"""The write path on the states a process has cached (server/application/command_runner.py),
against the stack's PostgreSQL: two API processes (two caches over one database) that
take turns on one account. Each one's cached state goes stale with every write of the
other; the one-statement write must lose (UNIQUE (stream_id, version)) and the
command be decided again on the stored state, never on the stale one, and a key
answered before must fail the statement (the key's primary key) and replay."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import asyncpg
import msgspec
import pytest

from infra.local.stack import EmbeddedStack
from runtime.settings import Settings
from server.adapters.postgres import unit_of_work
from server.application.actor import Actor
from server.application.batch_transfers import BatchPlan
from server.application.command_runner import CommandResult, Submission
from server.application.commands import (
    Command,
    DepositMoney,
    OpenAccount,
    TransferMoney,
    WithdrawMoney,
)
from server.application.context import AppContext
from server.application.decide import State, decide
from server.application.idempotency import IdempotencyKey
from server.application.unit_of_work import Changes
from shared.api import BatchTransferItem
from shared.events import EventMetadata

ADA = Actor(uuid.uuid4())
META = EventMetadata(actor_id=str(ADA.user_id))


def submission(command: Command, key: str) -> Submission:
    return Submission(command, IdempotencyKey(str(ADA.user_id), key, key.encode()), META)


def deposit(account: uuid.UUID, amount: int) -> DepositMoney:
    return DepositMoney(actor=ADA, account_id=account, transaction_id=uuid.uuid4(), amount=amount)


def withdraw(account: uuid.UUID, amount: int) -> WithdrawMoney:
    return WithdrawMoney(actor=ADA, account_id=account, transaction_id=uuid.uuid4(), amount=amount)


def count_writes(ctx: AppContext) -> list[str]:
    """What each one-statement write of ``ctx`` did: committed, or the error it lost with."""
    seen: list[str] = []
    write = ctx.uow.write_and_commit

    async def counted(changes: Changes) -> None:
        try:
            await write(changes)
        except Exception as exc:
            seen.append(type(exc).__name__)
            raise
        seen.append("committed")

    ctx.uow.write_and_commit = counted  # type: ignore[method-assign]
    return seen


def transfer(source: uuid.UUID, target: uuid.UUID, amount: int) -> TransferMoney:
    return TransferMoney(
        actor=ADA,
        transfer_id=uuid.uuid4(),
        from_account_id=source,
        to_account_id=target,
        amount=amount,
    )


async def open_two_funded(ctx: AppContext, name: str) -> tuple[uuid.UUID, uuid.UUID]:
    """Two new accounts of ADA's with 1,000 cents each, written through ``ctx``."""
    a, b = uuid.uuid4(), uuid.uuid4()
    for account in (a, b):
        opened = OpenAccount(
            actor=ADA, account_id=account, name=name, currency="EUR", opened_at=datetime.now(UTC)
        )
        await ctx.write(submission(opened, f"open-{account}"))
        await ctx.write(submission(deposit(account, 1_000), f"fund-{account}"))
    return a, b


def copied_batch(source: uuid.UUID, target: uuid.UUID) -> list[BatchTransferItem]:
    """700 transfers of a cent (2,100 events): over COPY_FROM_EVENTS, so it is COPYed."""
    return [
        BatchTransferItem(id=uuid.uuid4(), from_account_id=source, to_account_id=target, amount=1)
        for _ in range(700)
    ]


def answer(result: CommandResult) -> dict[str, object]:
    decoded: dict[str, object] = msgspec.json.decode(result.body)
    return decoded


async def test_two_processes_taking_turns_on_one_account_never_decide_on_a_stale_state(
    stack: EmbeddedStack, app_db: asyncpg.Pool
) -> None:
    settings = Settings.from_env({**stack.env(), "BANK_GROUP_COMMIT": "false"})
    here, there = AppContext(settings, app_db), AppContext(settings, app_db)
    written_here, written_there = count_writes(here), count_writes(there)
    account = uuid.uuid4()
    opened = OpenAccount(
        actor=ADA, account_id=account, name="Shared", currency="EUR", opened_at=datetime.now(UTC)
    )
    await here.write(submission(opened, f"open-{account}"))
    versions = []
    for turn in range(6):  # each process's state is one write behind at its turn
        ctx = here if turn % 2 == 0 else there
        result = await ctx.write(submission(deposit(account, 100), f"dep-{account}-{turn}"))
        versions.append(answer(result)["version"])
    # "here" last saw the balance at 500 (its own turn); "there" wrote the 600th cent.
    # A withdrawal of 600 refused on that state would be wrong: it is decided on 600.
    taken = await here.write(submission(withdraw(account, 600), f"wd-{account}"))
    replay = await there.write(submission(withdraw(account, 600), f"wd-{account}"))

    assert versions == [2, 3, 4, 5, 6, 7]
    # "here" opened and wrote on what it knew, then lost twice to "there" (decided again
    # in a transaction); its refusal on 500 never went to a one-statement write.
    # "there" first had to load the account, then lost twice, then found the key taken.
    assert written_here == ["committed", "committed", "ConcurrencyError", "ConcurrencyError"]
    assert written_there == ["ConcurrencyError", "ConcurrencyError", "AnswerTakenError"]
    assert answer(taken)["balance"] == {"amount": 0, "currency": "EUR"}
    assert replay.replayed and replay.body == taken.body
    rows = await app_db.fetch(
        "SELECT version FROM events WHERE stream_id = $1 ORDER BY version", account
    )
    assert [r["version"] for r in rows] == list(range(1, 9))


async def test_a_batch_and_a_single_transfer_written_at_once_never_deadlock(
    stack: EmbeddedStack, app_db: asyncpg.Pool
) -> None:
    """A batch that moves money out of A first and into B last, and a single B -> A sent
    while the batch's statement runs: in decision order they would take A and B in
    opposite orders; in write_args' order they cannot."""
    settings = Settings.from_env({**stack.env(), "BANK_GROUP_COMMIT": "false"})
    ctx = AppContext(settings, app_db)
    a, b, *fillers = [uuid.uuid4() for _ in range(42)]
    for account in (a, b, *fillers):
        opened = OpenAccount(
            actor=ADA, account_id=account, name="Many", currency="EUR", opened_at=datetime.now(UTC)
        )
        await ctx.write(submission(opened, f"open-{account}"))
        await ctx.write(submission(deposit(account, 1_000_000), f"fund-{account}"))
    deadlocks = "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
    before = await app_db.fetchval(deadlocks)
    meta = EventMetadata(actor_id=str(ADA.user_id))

    def item(source: uuid.UUID, target: uuid.UUID) -> BatchTransferItem:
        return BatchTransferItem(
            id=uuid.uuid4(), from_account_id=source, to_account_id=target, amount=1
        )

    overlapped = 0
    for turn in range(3):
        items = [item(a, fillers[0])]
        items += [item(fillers[i % 40], fillers[(i + 1) % 40]) for i in range(3_000)]
        items.append(item(fillers[5], b))
        batch = asyncio.create_task(ctx.runner.retrying(BatchPlan(ADA, items, meta, None)))
        while not batch.done() and not await app_db.fetchval(  # its statement is running
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active'"
            " AND usename = current_user AND pid <> pg_backend_pid()"
        ):
            await asyncio.sleep(0.001)
        await asyncio.sleep(0.03)  # past its keys, into its events (A's come first)
        overlapped += not batch.done()
        single = await ctx.runner.run(submission(transfer(b, a, 1), f"ba-{a}-{turn}"))
        answered = await batch

        assert single.status_code == 201 and answered.created == len(items)
    assert overlapped  # the single was sent while the batch was being written
    await asyncio.sleep(1.5)  # an idle backend reports its statistics within a second
    assert await app_db.fetchval(deadlocks) == before


async def test_a_large_write_is_copied_and_refused_by_the_same_constraints(
    stack: EmbeddedStack, app_db: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch of 700 transfers (2,100 events) goes by COPY (COPY_FROM_EVENTS): it commits
    whole; COPYed on a stale state it loses to UNIQUE (stream_id, version) and leaves
    nothing; sent again it loses to the keys' primary key and replays."""
    copies: list[int] = []
    copy = unit_of_work.copy_and_commit

    async def counted(conn: asyncpg.Connection, rows: unit_of_work.WriteRows) -> None:
        copies.append(len(rows.events))
        await copy(conn, rows)

    monkeypatch.setattr(unit_of_work, "copy_and_commit", counted)
    settings = Settings.from_env({**stack.env(), "BANK_GROUP_COMMIT": "false"})
    here, there = AppContext(settings, app_db), AppContext(settings, app_db)
    written_here, written_there = count_writes(here), count_writes(there)
    a, b = await open_two_funded(here, "Big")
    await there.write(submission(deposit(a, 1), f"there-{a}"))  # "there" now knows a and b
    await there.write(submission(deposit(b, 1), f"there-{b}"))

    first = copied_batch(a, b)
    done = await here.runner.retrying(BatchPlan(ADA, first, META, None))  # "here" is stale
    # "here" last saw a and b before "there" deposited: its COPY lost, then under lock.
    assert done.created == 700 and written_here[-1] == "ConcurrencyError"
    second = await here.runner.retrying(BatchPlan(ADA, copied_batch(b, a), META, None))
    assert second.created == 700 and written_here[-1] == "committed"
    again = await there.runner.retrying(BatchPlan(ADA, first, META, None))  # stale too

    # Its keys were taken: the COPY of the answers failed first, then the replay.
    assert written_there[-1] == "AnswerTakenError" and again.replayed == 700
    assert [r.transfer_id for r in again.results] == [r.transfer_id for r in done.results]
    assert copies == [2_100, 2_100, 2_100]  # "here" stale, "here" fresh, "there" replaying
    for account in (a, b):
        rows = await app_db.fetch(
            "SELECT version, event_id FROM events WHERE stream_id = $1 ORDER BY version",
            account,
        )
        assert [r["version"] for r in rows] == list(range(1, 1404))  # no gap, nothing twice
        assert len({r["event_id"] for r in rows}) == 1403  # each given its own id
    assert (
        await app_db.fetchval(
            "SELECT count(*) FROM idempotency_keys WHERE scope = $1 AND key = ANY($2::text[])",
            str(ADA.user_id),
            [str(i.id) for i in first],
        )
        == 700
    )


def unix_ms(event_id: uuid.UUID) -> int:
    """The Unix milliseconds a time-ordered (version 7) id starts with."""
    return event_id.int >> 80


async def test_every_write_gives_its_events_time_ordered_ids(
    stack: EmbeddedStack, app_db: asyncpg.Pool
) -> None:
    """Both ways a write reaches ``events`` (the one statement, and COPY for a large write)
    leave the id to PostgreSQL, which makes it time-ordered (migration 0018,
    docs/adr/0339): version 7, stamped with the time it was written, never older than an
    id written before it, so the unique index on ``event_id`` grows at its right edge."""
    settings = Settings.from_env({**stack.env(), "BANK_GROUP_COMMIT": "false"})
    ctx = AppContext(settings, app_db)
    started = int(datetime.now(UTC).timestamp() * 1000)
    a, b = await open_two_funded(ctx, "Ids")  # by the one statement
    done = await ctx.runner.retrying(BatchPlan(ADA, copied_batch(a, b), META, None))  # COPY
    assert done.created == 700
    ended = int(datetime.now(UTC).timestamp() * 1000)

    rows = await app_db.fetch(
        "SELECT event_id FROM events WHERE stream_id = ANY($1::uuid[]) OR"
        " stream_id = ANY($2::uuid[]) ORDER BY global_position",
        [a, b],
        [r.transfer_id for r in done.results],
    )
    ids = [r["event_id"] for r in rows]
    assert len(ids) == 4 + 3 * 700 == len(set(ids))
    assert {i.version for i in ids} == {7}
    stamps = [unix_ms(i) for i in ids]
    assert started - 5 <= stamps[0] and stamps[-1] <= ended + 5
    assert stamps == sorted(stamps)


async def test_an_opening_waits_for_its_owners_opening_before_it_and_counts_it(
    stack: EmbeddedStack, app_db: asyncpg.Pool
) -> None:
    """Two openings of one owner in two transactions (the cap of open accounts): the
    second's load waits at the owner's lock until the first commits, then counts the
    account the first opened. Another owner's opening does not wait."""
    settings = Settings.from_env({**stack.env(), "BANK_GROUP_COMMIT": "false"})
    uow = AppContext(settings, app_db).uow
    cy, dee = Actor(uuid.uuid4()), Actor(uuid.uuid4())

    async def counted_by_an_opening(owner: Actor) -> dict[uuid.UUID, int]:
        async with uow.transaction() as tx:
            return (await tx.load([uuid.uuid4()], [], [owner.user_id])).open_accounts

    async with uow.transaction() as first:
        assert (await first.load([uuid.uuid4()], [], [cy.user_id])).open_accounts == {cy.user_id: 0}
        second = asyncio.create_task(counted_by_an_opening(cy))
        assert await asyncio.wait_for(counted_by_an_opening(dee), 5) == {dee.user_id: 0}
        await asyncio.sleep(0.5)
        assert not second.done()  # held at Cy's lock while the first decides
        opening = OpenAccount(
            actor=cy,
            account_id=uuid.uuid4(),
            name="Pot",
            currency="EUR",
            opened_at=datetime.now(UTC),
            most_open_accounts=20,
        )
        changes = Changes()
        changes.accept(decide(State({}, 1_000_000, {cy.user_id: 0}), opening), META)
        await first.write(changes)
    assert await asyncio.wait_for(second, 5) == {cy.user_id: 1}
