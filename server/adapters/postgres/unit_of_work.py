"""The unit of work over asyncpg: per transaction, one statement to lock and load,
one statement to write, then COMMIT; or, on the states this process has cached,
one statement that writes and commits by itself (``write_and_commit``).

``load`` calls ``write_path_load`` (migration 0004): it locks the accounts'
ownership rows in id order (writers to one account queue there instead of racing),
then reads the events after each account's cached version and the stored answers
of the keys, each with a fresh snapshot taken after the locks were granted. An
opening first locks its owner's openings and counts their open accounts
(``lock_and_count_open_accounts``, migration 0031).
``write`` inserts the events, the new accounts' ownership rows, the answers under
their keys and the audit rows in ONE statement (data-modifying CTEs). UNIQUE
(stream_id, version) turns a lost race into ConcurrencyError; a key answered
meanwhile (ON CONFLICT DO NOTHING inserted fewer rows) into AnswerTakenError.
``write_and_commit`` runs the same statement outside a transaction (it commits by
itself) with the answers inserted plainly: a key stored before violates the primary
key, so the whole statement, events included, is rolled back (AnswerTakenError).
A large write (a batch: COPY_FROM_EVENTS) is COPYed instead, table by table in one
transaction, refused by the same constraints. PostgreSQL gives each event its id
(the column's default, migration 0017).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg
import msgspec

from server.adapters.account_repository import AccountRepository
from server.adapters.audit import COLUMNS as AUDIT_COLUMNS
from server.adapters.audit import row as audit_row
from server.adapters.postgres.columns import unnest_columns
from server.application.audit import AuditRecord
from server.application.idempotency import IdempotencyKey, StoredResponse
from server.application.unit_of_work import (
    Answer,
    AnswerTakenError,
    Changes,
    Loaded,
    Transaction,
    UnitOfWork,
)
from server.domain.account import Account
from server.domain.errors import ConcurrencyError
from shared.events import event_encoder, event_type_name

_LOAD = (
    "SELECT kind, id, payload, key_scope, key_name, request_hash, status_code, response_body"
    " FROM write_path_load($1::uuid[], $2::int[], $3::text[], $4::text[])"
)
# Lock the owners' openings, then count their open accounts (migration 0031).
_COUNT_OPEN = "SELECT owner_id, open_accounts FROM lock_and_count_open_accounts($1::uuid[])"

_WRITE_TEMPLATE = """
WITH ev AS (
    INSERT INTO events (stream_id, stream_type, version, event_type, payload, metadata)
    SELECT x.s, x.t, x.v, x.n, x.p::json, x.m::json
    FROM unnest($1::uuid[], $2::text[], $3::int[], $4::text[], $5::text[], $6::text[])
        AS x(s, t, v, n, p, m)
    RETURNING 1
), own AS (
    INSERT INTO account_owners (account_id, owner_id, currency, opened_at)
    SELECT * FROM unnest($7::uuid[], $8::uuid[], $9::text[], $10::timestamptz[])
    RETURNING 1
), ans AS (
    INSERT INTO idempotency_keys (scope, key, request_hash, status_code, response_body)
    SELECT * FROM unnest($11::text[], $12::text[], $13::bytea[], $14::int[], $15::bytea[])
    {on_conflict}
    RETURNING 1
), aud AS (
    INSERT INTO audit_log (actor_id, actor_role, session_id, action, target_type, target_id,
                           account_id, outcome, reason_code, client_ip, user_agent, trace_id,
                           details)
    SELECT y.a, y.r, y.s, y.act, y.tt, y.ti, y.acc, y.o, y.rc, y.ip, y.ua, y.tr, y.d::json
    FROM unnest($16::uuid[], $17::text[], $18::text[], $19::text[], $20::text[], $21::text[],
                $22::uuid[], $23::text[], $24::text[], $25::text[], $26::text[], $27::text[],
                $28::text[])
        AS y(a, r, s, act, tt, ti, acc, o, rc, ip, ua, tr, d)
    RETURNING 1
)
SELECT (SELECT count(*) FROM ans) AS answers
"""
# In a transaction: a key answered meanwhile inserts no row (checked by the count).
_WRITE = _WRITE_TEMPLATE.format(on_conflict="ON CONFLICT DO NOTHING")
# Committing by itself: a key answered before fails the whole statement.
_WRITE_NEW_ANSWERS = _WRITE_TEMPLATE.format(on_conflict="")
# A write of at least this many events (a batch) is COPYed in a transaction instead:
# PostgreSQL took 0.54-0.79 s for a batch of 8,190 transfers against 1.12-1.70 s for
# the statement (docs/adr/0331-large-writes-are-copied.md). A group of the committer
# (at most 256 commands of at most 4 events: 1,024) stays under it: one round trip.
COPY_FROM_EVENTS = 2_000
EVENT_COLUMNS = ("stream_id", "stream_type", "version", "event_type", "payload", "metadata")
OWNER_COLUMNS = ("account_id", "owner_id", "currency", "opened_at")
ANSWER_COLUMNS = ("scope", "key", "request_hash", "status_code", "response_body")
_STREAM_VERSION_TAKEN = "events_stream_version_key"
_ANSWER_TAKEN = "idempotency_keys_pkey"

_json = msgspec.json.Encoder()


def _stream_and_version(row: tuple[Any, ...]) -> tuple[int, int]:
    return row[0].int, row[2]  # UUIDs' own order, compared as ints in C (not UUID.__lt__)


def _scope_and_key(row: tuple[Any, ...]) -> tuple[str, str]:
    return row[0], row[1]


@contextmanager
def lost_races() -> Iterator[None]:
    """A write PostgreSQL refused, as the port names it: another writer appended to a
    stream first, or deadlocked with this one (ConcurrencyError); a key answered before
    (AnswerTakenError; only a write that inserts answers without ON CONFLICT meets it).
    The statement was rolled back either way; anything else is raised as it is."""
    try:
        yield
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == _STREAM_VERSION_TAKEN:
            raise ConcurrencyError("another command appended to a stream first") from exc
        if exc.constraint_name == _ANSWER_TAKEN:
            raise AnswerTakenError("an idempotency key was answered before") from exc
        raise
    except asyncpg.DeadlockDetectedError as exc:  # not with write_args' order; kept safe
        raise ConcurrencyError("a concurrent write deadlocked with this one") from exc


@dataclass(slots=True)
class WriteRows:
    """What one write inserts, table by table, each in the one insertion order."""

    events: list[tuple[Any, ...]]  # EVENT_COLUMNS
    opened: list[tuple[Any, ...]]  # OWNER_COLUMNS
    answers: list[tuple[Any, ...]]  # ANSWER_COLUMNS
    audits: list[tuple[Any, ...]]  # audit COLUMNS

    def args(self) -> list[Any]:
        """The parameters of _WRITE, column by column."""
        return [
            *unnest_columns(self.events, len(EVENT_COLUMNS)),
            *unnest_columns(self.opened, len(OWNER_COLUMNS)),
            *unnest_columns(self.answers, len(ANSWER_COLUMNS)),
            *unnest_columns(self.audits, len(AUDIT_COLUMNS)),
        ]


def write_rows(changes: Changes) -> WriteRows:
    """The rows of ``changes``.

    Answers in (scope, key) order, events in (stream, version) order: every write, in a
    transaction or not, inserts in one global order, so two writes that touch the same
    keys or streams wait for each other at most one way (the one that comes second in
    that order waits, then finds it lost), never in a cycle. The one-statement write
    takes no row locks first, so without this order two opposite transfers, or a
    batch and a single command, could deadlock (and wait a second for PostgreSQL to
    find it)."""
    events: list[tuple[Any, ...]] = []
    last_meta: object = None
    meta_json = ""
    for append, meta in changes.appends:
        if meta is not last_meta:  # the events of one command (or a batch) share it
            last_meta, meta_json = meta, _json.encode(meta).decode()
        for offset, event in enumerate(append.events, start=1):
            events.append(
                (
                    append.stream_id,
                    append.stream_type,
                    append.expected_version + offset,
                    event_type_name(event),
                    event_encoder.encode(event).decode(),
                    meta_json,
                )
            )
    events.sort(key=_stream_and_version)
    opened = [(o.account_id, o.owner_id, o.currency, o.opened_at) for o in changes.opened]
    answers = [(k.scope, k.key, k.request_hash, s, b) for k, s, b in changes.answers]
    answers.sort(key=_scope_and_key)
    audits = [audit_row(r) for r in changes.audits]
    return WriteRows(events, opened, answers, audits)


def write_args(changes: Changes) -> list[Any]:
    """The parameters of _WRITE, column by column (see write_rows for their order)."""
    return write_rows(changes).args()


async def copy_and_commit(conn: asyncpg.Connection, rows: WriteRows) -> None:
    """The rows COPYed in one transaction, in _WRITE's order (answers, then events):
    the same constraints refuse the same lost races, and the whole write rolls back."""
    async with conn.transaction():
        for table, columns, records in (
            ("idempotency_keys", ANSWER_COLUMNS, rows.answers),
            ("events", EVENT_COLUMNS, rows.events),
            ("account_owners", OWNER_COLUMNS, rows.opened),
            ("audit_log", AUDIT_COLUMNS, rows.audits),
        ):
            if records:
                await conn.copy_records_to_table(table, records=records, columns=columns)


class PostgresTransaction(Transaction):
    def __init__(self, conn: asyncpg.Connection, accounts: AccountRepository) -> None:
        self.conn = conn
        self.accounts = accounts
        self.locked: list[UUID] = []
        self.loaded: dict[UUID, Account] = {}
        self.written: Changes | None = None

    async def load(
        self,
        account_ids: Collection[UUID],
        keys: Sequence[IdempotencyKey],
        owners: Collection[UUID] = (),
    ) -> Loaded:
        counted: dict[UUID, int] = {}
        if owners:  # an opening: before anything else, as every opening of theirs does
            rows = await self.conn.fetch(_COUNT_OPEN, sorted(set(owners)))
            counted = {r["owner_id"]: r["open_accounts"] for r in rows}
        ids = sorted(set(account_ids))
        cached = [self.accounts.cached(a) for a in ids]
        rows = await self.conn.fetch(
            _LOAD,
            ids,
            [c.version if c else 0 for c in cached],
            [k.scope for k in keys],
            [k.key for k in keys],
        )
        self.locked = [r["id"] for r in rows if r["kind"] == "a"]
        events: dict[UUID, list[str]] = {a: [] for a in self.locked}
        answers: dict[tuple[str, str], StoredResponse] = {}
        for r in rows:
            kind = r["kind"]
            if kind == "e":
                events.setdefault(r["id"], []).append(r["payload"])
            elif kind == "k":
                answers[(r["key_scope"], r["key_name"])] = StoredResponse(
                    r["request_hash"], r["status_code"], r["response_body"]
                )
        by_id = dict(zip(ids, cached, strict=True))
        self.loaded = {a: self.accounts.fold(a, by_id.get(a), events[a]) for a in self.locked}
        return Loaded(accounts=dict(self.loaded), answers=answers, open_accounts=counted)

    async def write(self, changes: Changes) -> None:
        with lost_races():
            saved = await self.conn.fetchval(_WRITE, *write_args(changes))
        if saved != len(changes.answers):
            raise AnswerTakenError("an idempotency key was answered meanwhile")
        self.written = changes


class PostgresUnitOfWork(UnitOfWork):
    def __init__(self, pool: asyncpg.Pool, accounts: AccountRepository) -> None:
        self.pool = pool
        self.accounts = accounts

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgresTransaction]:
        async with self.pool.acquire() as conn:
            tx = PostgresTransaction(conn, self.accounts)
            try:
                async with conn.transaction():
                    yield tx
            except ConcurrencyError:
                for account_id in tx.locked:
                    self.accounts.forget(account_id)
                raise
        # Committed: later loads read only what comes after these states.
        for state in tx.loaded.values():
            self.accounts.remember(state)
        if tx.written is not None:
            for state in tx.written.states.values():
                self.accounts.remember(state)

    def known_states(self, account_ids: Collection[UUID]) -> dict[UUID, Account] | None:
        known: dict[UUID, Account] = {}
        for account_id in account_ids:
            state = self.accounts.cached(account_id)
            if state is None:
                return None
            known[account_id] = state
        return known

    async def write_and_commit(self, changes: Changes) -> None:
        rows = write_rows(changes)
        with lost_races():
            if len(rows.events) >= COPY_FROM_EVENTS:
                async with self.pool.acquire() as conn:
                    await copy_and_commit(conn, rows)
            else:
                await self.pool.fetchval(_WRITE_NEW_ANSWERS, *rows.args())
        for state in changes.states.values():
            self.accounts.remember(state)

    async def record(self, audits: Sequence[AuditRecord], answers: Sequence[Answer] = ()) -> None:
        if audits or answers:
            changes = Changes(audits=list(audits), answers=list(answers))
            await self.pool.fetchval(_WRITE, *write_args(changes))
