"""The write path on the states a process has cached (server/application/command_runner.py),
against the stack's PostgreSQL: two API processes (two caches over one database) that
take turns on one account. Each one's cached state goes stale with every write of the
other; the one-statement write must lose (UNIQUE (stream_id, version)) and the
command be decided again on the stored state, never on the stale one, and a key
answered before must fail the statement (the key's primary key) and replay."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
import msgspec

from infra.local.stack import EmbeddedStack
from runtime.settings import Settings
from server.application.actor import Actor
from server.application.command_runner import CommandResult, Submission
from server.application.commands import Command, DepositMoney, OpenAccount, WithdrawMoney
from server.application.context import AppContext
from server.application.idempotency import IdempotencyKey
from server.application.unit_of_work import Changes
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
