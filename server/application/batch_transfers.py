"""Many transfers in one PostgreSQL transaction, appended with COPY (binary).

Each item is decided in request order on the state left by the items before it,
with the same rules as a single transfer, and keeps its own outcome. Items
chained by ``linked: true`` succeed or fail together. Each item's id is its
idempotency key, in the same key space and with the same request hash as
POST /api/v1/transfers, so a batch item and a single transfer replay each other.

One transaction: lock every account involved (account_owners rows, id order),
look up stored answers, load the states (one query), decide in memory, reserve
global positions (the identity sequence), then COPY the events, their outbox
rows (the RecordedEvent envelope, as event_store's CTE builds it) and the
idempotency records. A lost race (UNIQUE (stream_id, version) or an idempotency
key taken meanwhile) rolls back and re-runs the batch on fresh state.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import msgspec

from server.adapters import audit as audit_log
from server.adapters import idempotency
from server.adapters.audit import AuditRecord
from server.application.access import check_account_access
from server.application.context import Actor, AppContext
from server.application.errors import (
    ConflictRetriesExhaustedError,
    DestinationNotFoundError,
)
from server.domain import account as domain
from server.domain.account import Account
from server.domain.errors import BusinessRuleError, ConcurrencyError, DomainError
from server.observability import commands as observe
from shared.api import (
    BatchTransferItem,
    BatchTransferRequest,
    BatchTransferResponse,
    BatchTransferResult,
    TransferRequest,
    TransferResponse,
)
from shared.events import (
    STREAM_TYPE_ACCOUNT,
    STREAM_TYPE_TRANSFER,
    Event,
    EventMetadata,
    RecordedEvent,
    event_type_name,
)
from shared.money import Money
from shared.topics import topic_for_stream_type

_enc = msgspec.json.Encoder()
_stored_transfer = msgspec.json.Decoder(TransferResponse)

EVENT_COLUMNS = (
    "global_position",
    "event_id",
    "stream_id",
    "stream_type",
    "version",
    "event_type",
    "payload",
    "metadata",
    "recorded_at",
)
OUTBOX_COLUMNS = (
    "event_id",
    "aggregate_type",
    "aggregate_id",
    "topic",
    "key",
    "event_type",
    "payload",
    "headers",
)
IDEMPOTENCY_COLUMNS = ("scope", "key", "request_hash", "status_code", "response_body")
LINKED_FAILED = "linked_transfer_failed"
CHAIN_OPEN = "linked_chain_open"


def _uuid4s(n: int) -> list[UUID]:
    """n random (version 4) UUIDs from one read of the OS's randomness (uuid4() reads n times)."""
    raw = os.urandom(16 * n)
    return [UUID(bytes=raw[i : i + 16], version=4) for i in range(0, 16 * n, 16)]


def request_hash(item: BatchTransferItem) -> bytes:
    """What POST /api/v1/transfers hashes for the same transfer, so the two replay each other."""
    body = TransferRequest(
        from_account_id=item.from_account_id,
        to_account_id=item.to_account_id,
        amount=item.amount,
        description=item.description,
    )
    return idempotency.request_hash("transfer", body)


@dataclass(slots=True)
class _Plan:
    """What one attempt decided: results per item, rows to append, states to cache."""

    results: list[BatchTransferResult | None]
    events: list[tuple[UUID, str, int, Event, EventMetadata]] = field(default_factory=list)
    stored: list[tuple[str, bytes, int, bytes]] = field(
        default_factory=list
    )  # key, hash, status, body
    states: dict[UUID, Account] = field(default_factory=dict)


class _Decider:
    def __init__(
        self,
        ctx: AppContext,
        actor: Actor,
        owners: dict[UUID, UUID],
        states: dict[UUID, Account],
        metadata: EventMetadata,
    ) -> None:
        self.ctx = ctx
        self.actor = actor
        self.owners = owners
        self.states = states
        self.metadata = metadata
        self.limit = ctx.settings.max_transaction_amount
        self.undo: dict[UUID, Account] | None = None  # states before the current chain

    def one(
        self, item: BatchTransferItem, transfer_id: UUID
    ) -> tuple[BatchTransferResult, list[Any], bytes]:
        """Decide one transfer on the current states (raises DomainError); the states move on."""
        check_account_access(self.actor, self.owners.get(item.from_account_id), "transfer")
        source = self.states.get(item.from_account_id)
        if source is None:  # an owner row without events cannot happen; be explicit anyway
            raise DestinationNotFoundError("The source account does not exist.")
        target = self.states.get(item.to_account_id)
        if item.to_account_id not in self.owners or target is None:
            raise DestinationNotFoundError("The destination account does not exist.")
        out, into, completed = domain.transfer(
            source=source,
            target=target,
            amount=item.amount,
            transfer_id=transfer_id,
            description=item.description,
            limit=self.limit,
        )
        source_after, target_after = source.apply(out), target.apply(into)
        if self.undo is not None:
            self.undo.setdefault(source.id, source)
            self.undo.setdefault(target.id, target)
        self.states[source.id] = source_after
        self.states[target.id] = target_after
        meta = msgspec.structs.replace(self.metadata, idempotency_key=str(item.id))
        events = [
            (source.id, STREAM_TYPE_ACCOUNT, source_after.version, out, meta),
            (target.id, STREAM_TYPE_ACCOUNT, target_after.version, into, meta),
            (transfer_id, STREAM_TYPE_TRANSFER, 1, completed, meta),
        ]
        balance = Money(amount=source_after.balance, currency=source_after.currency)
        body = _enc.encode(
            TransferResponse(transfer_id=transfer_id, balance=balance, version=source_after.version)
        )
        result = BatchTransferResult(
            id=item.id,
            status="created",
            transfer_id=transfer_id,
            balance=balance,
            version=source_after.version,
        )
        return result, events, body


def _rejected(item: BatchTransferItem, code: str, detail: str) -> BatchTransferResult:
    return BatchTransferResult(id=item.id, status="rejected", code=code, detail=detail)


def _replay(item: BatchTransferItem, digest: bytes, stored: asyncpg.Record) -> BatchTransferResult:
    if stored["request_hash"] != digest:
        return _rejected(
            item,
            "idempotency_key_reused",
            "This id was already used for a different transfer; use a new id.",
        )
    if stored["status_code"] == idempotency.REJECTED_STATUS:
        r = idempotency.decode_rejection(stored["response_body"])
        return _rejected(item, r.code, r.message)
    t = _stored_transfer.decode(stored["response_body"])
    return BatchTransferResult(
        id=item.id,
        status="replayed",
        transfer_id=t.transfer_id,
        balance=t.balance,
        version=t.version,
    )


def _chains(items: Sequence[BatchTransferItem]) -> list[range]:
    """Index ranges: an item with ``linked`` joins the next one into one chain."""
    chains, start = [], 0
    for i, item in enumerate(items):
        if not item.linked:
            chains.append(range(start, i + 1))
            start = i + 1
    if start < len(items):
        chains.append(range(start, len(items)))  # open chain: the last item is linked
    return chains


def decide_all(
    ctx: AppContext,
    actor: Actor,
    items: Sequence[BatchTransferItem],
    hashes: Sequence[bytes],
    stored: dict[str, asyncpg.Record],
    owners: dict[UUID, UUID],
    states: dict[UUID, Account],
    metadata: EventMetadata,
) -> _Plan:
    plan = _Plan(results=[None] * len(items))
    decider = _Decider(ctx, actor, owners, states, metadata)
    transfer_ids = _uuid4s(len(items))
    seen: set[UUID] = set()
    for chain in _chains(items):
        open_chain = items[chain[-1]].linked
        linked = len(chain) > 1 or open_chain
        decider.undo = {} if linked else None
        staged: list[tuple[int, BatchTransferResult, list[Any], bytes | None]] = []
        failure: tuple[int, str, str, bool] | None = None  # index, code, detail, a rule?
        for i in chain:
            item = items[i]
            if item.id in seen:
                failure = (i, "duplicate_id", "This id appears twice in the batch.", False)
                break
            seen.add(item.id)
            key = str(item.id)
            if key in stored:
                result = _replay(item, hashes[i], stored[key])
                if result.status == "rejected":
                    failure = (i, result.code or "", result.detail or "", False)
                    break
                staged.append((i, result, [], None))
                continue
            try:
                result, events, body = decider.one(item, transfer_ids[i])
            except DomainError as err:
                failure = (i, err.code, err.message, isinstance(err, BusinessRuleError))
                break
            staged.append((i, result, events, body))
        if failure is None and open_chain:
            failure = (chain[-1], CHAIN_OPEN, "The last item is linked to nothing.", False)
        if failure is not None and linked:
            assert decider.undo is not None
            states.update(decider.undo)  # undo the chain's effect on the states
            fi, code, detail, _ = failure
            for i in chain:
                plan.results[i] = (
                    _rejected(items[i], code, detail)
                    if i == fi
                    else _rejected(
                        items[i], LINKED_FAILED, "Another transfer of its linked chain failed."
                    )
                )
            continue
        if failure is not None:  # a single item: its own outcome; a rule rejection is stored
            fi, code, detail, is_rule = failure
            plan.results[fi] = _rejected(items[fi], code, detail)
            if is_rule:
                plan.stored.append(
                    (
                        str(items[fi].id),
                        hashes[fi],
                        idempotency.REJECTED_STATUS,
                        idempotency.encode_rejection(code, detail),
                    )
                )
            continue
        for i, result, events, body in staged:
            plan.results[i] = result
            plan.events.extend(events)
            if body is not None:
                plan.stored.append((str(items[i].id), hashes[i], 201, body))
    plan.states = states
    return plan


def _audit_records(
    audit: AuditRecord, items: Sequence[BatchTransferItem], plan: _Plan
) -> list[AuditRecord]:
    """One audit record per item, as POST /transfers writes one per command."""
    records = []
    for item, result in zip(items, plan.results):
        assert result is not None
        r = audit.about_account(item.from_account_id)
        if result.status == "created":
            r = r.accepted()
        elif result.status == "replayed":
            r = r.replayed()
        else:
            r = r.refused(result.code or "rejected")
        records.append(
            dataclasses.replace(
                r,
                details={
                    "amount": item.amount,
                    "to_account_id": str(item.to_account_id),
                    "batch_item_id": str(item.id),
                },
            )
        )
    return records


async def _append(conn: asyncpg.Connection, scope: str, plan: _Plan) -> None:
    n = len(plan.events)
    if n:
        row = await conn.fetchrow(
            "SELECT clock_timestamp() AS now, array(SELECT nextval("
            "pg_get_serial_sequence('events', 'global_position')) FROM generate_series(1, $1))"
            " AS positions",
            n,
        )
        now: datetime = row["now"]
        positions: list[int] = row["positions"]
        event_rows, outbox_rows = [], []
        keys: dict[UUID, str] = {}
        last_meta, meta_json = None, ""
        for pos, eid, (stream, stream_type, version, event, meta) in zip(
            positions, _uuid4s(n), plan.events
        ):
            name = event_type_name(event)
            key = keys.get(stream)
            if key is None:
                key = keys[stream] = str(stream)
            if meta is not last_meta:  # the 3 events of a transfer share their metadata
                last_meta, meta_json = meta, _enc.encode(meta).decode()
            event_rows.append(
                (
                    pos,
                    eid,
                    stream,
                    stream_type,
                    version,
                    name,
                    _enc.encode(event).decode(),
                    meta_json,
                    now,
                )
            )
            envelope = RecordedEvent(
                event_id=eid,
                stream_id=stream,
                stream_type=stream_type,
                version=version,
                position=pos,
                recorded_at=now,
                metadata=meta,
                event=event,
            )  # type: ignore[arg-type]
            headers = {"event_id": str(eid), "event_type": name, "version": str(version)}
            if meta.trace_id is not None:
                headers["trace_id"] = meta.trace_id
            outbox_rows.append(
                (
                    eid,
                    stream_type,
                    stream,
                    topic_for_stream_type(stream_type),
                    key,
                    name,
                    _enc.encode(envelope).decode(),
                    _enc.encode(headers).decode(),
                )
            )
        try:
            await conn.copy_records_to_table("events", records=event_rows, columns=EVENT_COLUMNS)
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name == "events_stream_version_key":
                raise ConcurrencyError("another command appended to a stream first") from exc
            raise
        await conn.copy_records_to_table("outbox", records=outbox_rows, columns=OUTBOX_COLUMNS)
    if plan.stored:
        await conn.copy_records_to_table(
            "idempotency_keys",
            columns=IDEMPOTENCY_COLUMNS,
            records=[
                (scope, key, digest, status, body) for key, digest, status, body in plan.stored
            ],
        )


async def transfer_batch(
    ctx: AppContext,
    actor: Actor,
    req: BatchTransferRequest,
    metadata: EventMetadata,
    audit: AuditRecord | None = None,
) -> BatchTransferResponse:
    items = req.transfers
    hashes = [request_hash(item) for item in items]
    scope = str(actor.user_id)
    keys = [str(item.id) for item in items]
    accounts = {a for item in items for a in (item.from_account_id, item.to_account_id)}
    for attempt in range(ctx.settings.command_retries):
        try:
            async with ctx.pool.acquire() as conn, conn.transaction():
                owners = await ctx.accounts.lock(conn, accounts)
                stored = {
                    r["key"]: r
                    for r in await conn.fetch(
                        "SELECT key, request_hash, status_code, response_body"
                        " FROM idempotency_keys WHERE scope = $1 AND key = ANY($2::text[])",
                        scope,
                        keys,
                    )
                }
                states = await ctx.accounts.get_many(conn, owners)
                plan = decide_all(ctx, actor, items, hashes, stored, owners, states, metadata)
                await _append(conn, scope, plan)
                if audit is not None:  # in the same transaction as the transfers
                    await audit_log.write_many(conn, _audit_records(audit, items, plan))
        except ConcurrencyError:
            observe.retried()
            for account_id in accounts:
                ctx.accounts.forget(account_id)
            continue
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name != "idempotency_keys_pkey":
                raise
            continue  # a key was taken by a concurrent command: its answer is replayed next time
        for state in plan.states.values():
            ctx.accounts.remember(state)
        results = [r for r in plan.results if r is not None]
        counts = {s: 0 for s in ("created", "replayed", "rejected")}
        for r in results:
            counts[r.status] += 1
        return BatchTransferResponse(results=results, **counts)
    raise ConflictRetriesExhaustedError(
        "The accounts changed too often while this batch was decided; try again."
    )
