"""Many transfers in one request, decided and written in one transaction.

Each item is decided in request order on the state left by the items before it,
by the same decider as POST /api/v1/transfers (``TransferMoney``), and keeps its
own outcome. Items chained by ``linked: true`` succeed or fail together. Each
item's id is its idempotency key, in the same key space and with the same request
hash as POST /api/v1/transfers, so a batch item and a single transfer replay each
other. The batch is one ``Plan`` for the command runner: one load, one write.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from uuid import UUID

import msgspec

from server.application.accounts_in_flight import AccountsInFlight
from server.application.actor import Actor
from server.application.audit import AuditRecord
from server.application.command_runner import CommandRunner
from server.application.commands import TransferMoney
from server.application.decide import Decision, State, decide
from server.application.idempotency import (
    REJECTED_STATUS,
    IdempotencyKey,
    StoredResponse,
    decode_rejection,
    encode_rejection,
    request_hash,
)
from server.application.unit_of_work import Changes, Loaded
from server.domain.account import Account
from server.domain.errors import BusinessRuleError, DomainError, LimitExceededError
from shared.api import (
    BatchTransferItem,
    BatchTransferRequest,
    BatchTransferResponse,
    BatchTransferResult,
    TransferRequest,
    TransferResponse,
)
from shared.events import EventMetadata

_enc = msgspec.json.Encoder()
_stored_transfer = msgspec.json.Decoder(TransferResponse)

LINKED_FAILED = "linked_transfer_failed"
CHAIN_OPEN = "linked_chain_open"


def _uuid4s(n: int) -> list[UUID]:
    """n random (version 4) UUIDs from one read of the OS's randomness (uuid4() reads n times)."""
    raw = os.urandom(16 * n)
    return [UUID(bytes=raw[i : i + 16], version=4) for i in range(0, 16 * n, 16)]


def item_hash(item: BatchTransferItem) -> bytes:
    """What POST /api/v1/transfers hashes for the same transfer, so the two replay each other."""
    body = TransferRequest(
        from_account_id=item.from_account_id,
        to_account_id=item.to_account_id,
        amount=item.amount,
        description=item.description,
    )
    return request_hash("transfer", body)


def chains(items: Sequence[BatchTransferItem]) -> list[range]:
    """Index ranges: an item with ``linked`` joins the next one into one chain."""
    found, start = [], 0
    for i, item in enumerate(items):
        if not item.linked:
            found.append(range(start, i + 1))
            start = i + 1
    if start < len(items):
        found.append(range(start, len(items)))  # open chain: the last item is linked
    return found


def _rejected(
    item: BatchTransferItem, code: str, detail: str, remaining_today: int | None = None
) -> BatchTransferResult:
    return BatchTransferResult(
        id=item.id, status="rejected", code=code, detail=detail, remaining_today=remaining_today
    )


def _replayed(
    item: BatchTransferItem, key: IdempotencyKey, stored: StoredResponse
) -> BatchTransferResult:
    if stored.request_hash != key.request_hash:
        return _rejected(
            item,
            "idempotency_key_reused",
            "This id was already used for a different transfer; use a new id.",
        )
    if stored.status_code == REJECTED_STATUS:
        r = decode_rejection(stored.body)
        return _rejected(item, r.code, r.message, r.remaining_today)
    t = _stored_transfer.decode(stored.body)
    return BatchTransferResult(
        id=item.id,
        status="replayed",
        transfer_id=t.transfer_id,
        balance=t.balance,
        version=t.version,
    )


def _created(item: BatchTransferItem, decision: Decision) -> BatchTransferResult:
    response = decision.response
    assert isinstance(response, TransferResponse)
    return BatchTransferResult(
        id=item.id,
        status="created",
        transfer_id=response.transfer_id,
        balance=response.balance,
        version=response.version,
    )


@dataclass(frozen=True, slots=True)
class _Failure:
    """Why a chain stopped: the item, its code and detail, whether the refusal is a
    business rule (stored under the item's key), and for a limit what is left today."""

    index: int
    code: str
    detail: str
    stored_rule: bool = False
    remaining_today: int | None = None


@dataclass(slots=True)
class _Chain:
    """One chain's staged outcomes, written only if the whole chain holds."""

    results: list[tuple[int, BatchTransferResult, Decision | None]] = field(default_factory=list)
    undo: dict[UUID, Account] = field(default_factory=dict)
    failure: _Failure | None = None


class BatchPlan:
    def __init__(
        self,
        actor: Actor,
        items: Sequence[BatchTransferItem],
        metadata: EventMetadata,
        audit: AuditRecord | None,
    ) -> None:
        self.items = items
        self.metadata = metadata
        self.audit = audit
        scope = str(actor.user_id)
        self.idems = [IdempotencyKey(scope, str(item.id), item_hash(item)) for item in items]
        self.commands = [
            TransferMoney(
                actor=actor,
                transfer_id=transfer_id,
                from_account_id=item.from_account_id,
                to_account_id=item.to_account_id,
                amount=item.amount,
                description=item.description,
            )
            for item, transfer_id in zip(items, _uuid4s(len(items)), strict=True)
        ]

    def accounts(self) -> set[UUID]:
        return {a for item in self.items for a in (item.from_account_id, item.to_account_id)}

    def keys(self) -> list[IdempotencyKey]:
        return self.idems

    def owners(self) -> set[UUID]:
        return set()  # a transfer counts no one's accounts

    def needs_locks(self) -> bool:
        return False  # a transfer appends to both accounts it reads

    def decide(self, loaded: Loaded, max_amount: int, changes: Changes) -> BatchTransferResponse:
        results: list[BatchTransferResult | None] = [None] * len(self.items)
        accounts = dict(loaded.accounts)
        seen: set[UUID] = set()
        for rng in chains(self.items):
            chain = self._decide_chain(rng, loaded, accounts, max_amount, seen)
            self._settle(rng, chain, accounts, results, changes)
        final = [r for r in results if r is not None]
        counts = {s: 0 for s in ("created", "replayed", "rejected")}
        for r in final:
            counts[r.status] += 1
        for item, result in zip(self.items, final, strict=True):
            self._audit(item, result, changes)
        return BatchTransferResponse(results=final, **counts)

    def _decide_chain(
        self,
        rng: range,
        loaded: Loaded,
        accounts: dict[UUID, Account],
        max_amount: int,
        seen: set[UUID],
    ) -> _Chain:
        chain = _Chain()
        for i in rng:
            item = self.items[i]
            if item.id in seen:
                chain.failure = _Failure(i, "duplicate_id", "This id appears twice in the batch.")
                return chain
            seen.add(item.id)
            stored = loaded.answers.get(self.idems[i].ident)
            if stored is not None:
                result = _replayed(item, self.idems[i], stored)
                if result.status == "rejected":
                    chain.failure = _Failure(
                        i, result.code or "", result.detail or "", False, result.remaining_today
                    )
                    return chain
                chain.results.append((i, result, None))
                continue
            try:
                decision = decide(State(accounts, max_amount), self.commands[i])
            except DomainError as err:
                left = err.remaining_today if isinstance(err, LimitExceededError) else None
                chain.failure = _Failure(
                    i, err.code, err.message, isinstance(err, BusinessRuleError), left
                )
                return chain
            for after in decision.states:
                chain.undo.setdefault(after.id, accounts[after.id])
                accounts[after.id] = after
            chain.results.append((i, _created(item, decision), decision))
        if self.items[rng[-1]].linked:
            chain.failure = _Failure(rng[-1], CHAIN_OPEN, "The last item is linked to nothing.")
        return chain

    def _settle(
        self,
        rng: range,
        chain: _Chain,
        accounts: dict[UUID, Account],
        results: list[BatchTransferResult | None],
        changes: Changes,
    ) -> None:
        linked = len(rng) > 1 or self.items[rng[-1]].linked
        if chain.failure is not None and linked:
            accounts.update(chain.undo)  # the chain leaves no trace on the states
            f = chain.failure
            for i in rng:
                results[i] = (
                    _rejected(self.items[i], f.code, f.detail, f.remaining_today)
                    if i == f.index
                    else _rejected(
                        self.items[i], LINKED_FAILED, "Another transfer of its linked chain failed."
                    )
                )
            return
        if chain.failure is not None:  # a single item: its own outcome; a rule refusal is stored
            f = chain.failure
            results[f.index] = _rejected(self.items[f.index], f.code, f.detail, f.remaining_today)
            if f.stored_rule:
                rejection = encode_rejection(f.code, f.detail, f.remaining_today)
                changes.answer(self.idems[f.index], REJECTED_STATUS, rejection)
            return
        for i, result, decision in chain.results:
            results[i] = result
            if decision is not None:
                meta = msgspec.structs.replace(self.metadata, idempotency_key=str(self.items[i].id))
                changes.accept(decision, meta)
                changes.answer(self.idems[i], 201, _enc.encode(decision.response))

    def _audit(
        self, item: BatchTransferItem, result: BatchTransferResult, changes: Changes
    ) -> None:
        """One audit record per item, as POST /transfers writes one per command."""
        if self.audit is None:
            return
        r = self.audit.about_account(item.from_account_id)
        if result.status == "created":
            r = r.accepted()
        elif result.status == "replayed":
            r = r.replayed()
        else:
            r = r.refused(result.code or "rejected")
        changes.audit(
            msgspec.structs.replace(
                r,
                details={
                    "amount": item.amount,
                    "to_account_id": str(item.to_account_id),
                    "batch_item_id": str(item.id),
                },
            )
        )


async def transfer_batch(
    runner: CommandRunner,
    actor: Actor,
    req: BatchTransferRequest,
    metadata: EventMetadata,
    audit: AuditRecord | None = None,
    in_flight: AccountsInFlight | None = None,
) -> BatchTransferResponse:
    """The batch on the one write path; with ``in_flight``, once no other write of this
    process touches its accounts (a batch that lost its one-statement write to another
    would be decided and written all over again under lock)."""
    plan = BatchPlan(actor, req.transfers, metadata, audit)
    if in_flight is None:
        return await runner.retrying(plan)
    async with in_flight.holding(plan.accounts()):
        return await runner.retrying(plan)
