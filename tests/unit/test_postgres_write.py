"""The PostgreSQL unit of work's write, without a database: the order ``write_args``
inserts in (one global order, so writes that take no row locks first cannot wait on
each other in a cycle) and how ``lost_races`` names what PostgreSQL refused (a lost
race is decided again, never a 500)."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from server.adapters.postgres.unit_of_work import lost_races, write_args
from server.application.decide import StreamAppend
from server.application.idempotency import IdempotencyKey
from server.application.unit_of_work import AnswerTakenError, Changes
from server.domain.errors import ConcurrencyError
from shared.events import EventMetadata, MoneyDeposited

META = EventMetadata(actor_id="someone")


def deposit(account: uuid.UUID) -> MoneyDeposited:
    return MoneyDeposited(
        account_id=account, transaction_id=uuid.uuid4(), amount=1, currency="EUR", balance_after=1
    )


def test_every_write_inserts_answers_by_key_and_events_by_stream_then_version() -> None:
    high, low = uuid.UUID(int=2**127), uuid.UUID(int=1)
    changes = Changes()
    # In decision order: the high stream first, then the low one (two events).
    changes.appends.append((StreamAppend(high, "account", 4, (deposit(high),)), META))
    changes.appends.append((StreamAppend(low, "account", 7, (deposit(low), deposit(low))), META))
    changes.answer(IdempotencyKey("scope", "b", b"h"), 201, b"{}")
    changes.answer(IdempotencyKey("scope", "a", b"h"), 201, b"{}")

    args = write_args(changes)

    streams, versions = args[0], args[2]
    assert list(zip(streams, versions, strict=True)) == [(low, 8), (low, 9), (high, 5)]
    assert args[11] == ["a", "b"]  # the keys' column


def unique_violation(constraint: str) -> asyncpg.UniqueViolationError:
    return asyncpg.UniqueViolationError.new({"C": "23505", "M": "duplicate", "n": constraint})


@pytest.mark.parametrize(
    ("refusal", "named"),
    [
        (unique_violation("events_stream_version_key"), ConcurrencyError),
        (asyncpg.DeadlockDetectedError("deadlock detected"), ConcurrencyError),
        (unique_violation("idempotency_keys_pkey"), AnswerTakenError),
    ],
    ids=["stream moved on", "deadlock", "key answered"],
)
def test_a_refused_write_is_a_lost_race(refusal: Exception, named: type[Exception]) -> None:
    with pytest.raises(named), lost_races():
        raise refusal


def test_any_other_refusal_is_raised_as_it_is() -> None:
    other = unique_violation("account_owners_pkey")
    with pytest.raises(asyncpg.UniqueViolationError) as raised, lost_races():
        raise other
    assert raised.value is other
