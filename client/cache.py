"""The last known data on the device, for a cold start without the bank.

Per customer: the accounts with their balances and stream versions, the first
page of each account's history, the saved payees, and when it was all seen (``saved_at``: the app
shows "as of <time>"). Kept in the device store (SharedPreferences: localStorage
on web), wiped on sign-out. Reconciling with the bank never steps a balance
back: ``AppState.set_accounts`` / ``apply_balance`` keep the higher version.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime
from uuid import UUID

import msgspec

from client.history import with_pushed
from client.store import DeviceStore
from shared.api import AccountResponse, PayeeResponse, TransactionResponse

log = logging.getLogger(__name__)

CACHE_PREFIX = "bank.cache.v1."
HISTORY_ITEMS = 20


class Snapshot(msgspec.Struct, kw_only=True):
    saved_at: datetime
    full_name: str = ""
    can_deposit: bool = True  # GET /me's, so that a cold start offline offers what it did
    # GET /me's id, so that a payment queued on a cold start offline carries it (ADR 0905)
    user_id: UUID | None = None
    accounts: list[AccountResponse] = []
    history: dict[UUID, list[TransactionResponse]] = {}
    payees: list[PayeeResponse] = []


_decoder = msgspec.json.Decoder(Snapshot)
_encoder = msgspec.json.Encoder()


def cache_key(owner: str) -> str:
    return CACHE_PREFIX + hashlib.sha256(owner.strip().lower().encode()).hexdigest()[:24]


class OfflineCache:
    def __init__(self, store: DeviceStore) -> None:
        self.store = store
        self._snapshots: dict[str, Snapshot] = {}

    async def load(self, owner: str) -> Snapshot | None:
        if owner in self._snapshots:
            return self._snapshots[owner]
        raw = await self.store.get(cache_key(owner))
        if not raw:
            return None
        try:
            snap = _decoder.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None
        self._snapshots[owner] = snap
        return snap

    async def _write(self, owner: str, snap: Snapshot) -> None:
        self._snapshots[owner] = snap
        try:
            await self.store.set(cache_key(owner), _encoder.encode(snap).decode())
        except Exception as e:  # noqa: BLE001 - a cache: the next save catches up
            log.info("offline cache not saved: %s", e)

    async def save_accounts(
        self,
        owner: str,
        accounts: list[AccountResponse],
        full_name: str = "",
        can_deposit: bool | None = None,
        user_id: UUID | None = None,
    ) -> None:
        snap = await self.load(owner) or Snapshot(saved_at=datetime.now(UTC))
        known = {a.id: a for a in snap.accounts}
        for a in accounts:  # never store an older version over a newer one
            k = known.get(a.id)
            known[a.id] = k if k is not None and k.version > a.version else a
        snap = msgspec.structs.replace(
            snap,
            saved_at=datetime.now(UTC),
            accounts=list(known.values()),
            full_name=full_name or snap.full_name,
            can_deposit=snap.can_deposit if can_deposit is None else can_deposit,
            user_id=user_id or snap.user_id,
        )
        await self._write(owner, snap)

    async def save_history(
        self, owner: str, account_id: UUID, items: list[TransactionResponse]
    ) -> None:
        """The first page the bank answered, after the kept postings newer than all of it:
        pushed while the page was on its way (``add_transaction``), they are not in it."""
        snap = await self.load(owner) or Snapshot(saved_at=datetime.now(UTC))
        history = dict(snap.history)
        history[account_id] = with_pushed(items, snap.history.get(account_id, []))[:HISTORY_ITEMS]
        await self._write(owner, msgspec.structs.replace(snap, history=history))

    async def add_transaction(self, owner: str, tx: TransactionResponse) -> None:
        """A pushed posting joins the kept first page of its account (if one is kept)."""
        snap = await self.load(owner)
        if snap is None or tx.account_id not in snap.history:
            return
        items = [t for t in snap.history[tx.account_id] if t.version != tx.version]
        items = sorted([tx, *items], key=lambda t: t.version, reverse=True)[:HISTORY_ITEMS]
        history = dict(snap.history)
        history[tx.account_id] = items
        await self._write(owner, msgspec.structs.replace(snap, history=history))

    async def keep_recent(self, owner: str, items: list[TransactionResponse]) -> None:
        """Recent activity's postings become the kept first page of an account that has
        none: they are its newest (a shorter first page). A kept page stays as it is:
        pushes keep it current, and it may end before postings these skip."""
        snap = await self.load(owner) or Snapshot(saved_at=datetime.now(UTC))
        fresh: dict[UUID, list[TransactionResponse]] = {}
        for t in items:
            if t.account_id not in snap.history:
                fresh.setdefault(t.account_id, []).append(t)
        if fresh:
            history = {**snap.history, **fresh}
            await self._write(owner, msgspec.structs.replace(snap, history=history))

    async def recent(self, owner: str, limit: int) -> list[TransactionResponse] | None:
        """The newest ``limit`` postings of the kept histories, newest first; None if
        none is kept."""
        snap = await self.load(owner)
        if snap is None or not snap.history:
            return None
        kept = [t for items in snap.history.values() for t in items]
        return sorted(kept, key=lambda t: t.occurred_at, reverse=True)[:limit]

    async def save_payees(self, owner: str, payees: list[PayeeResponse]) -> None:
        snap = await self.load(owner) or Snapshot(saved_at=datetime.now(UTC))
        await self._write(owner, msgspec.structs.replace(snap, payees=list(payees)))

    async def payees(self, owner: str) -> list[PayeeResponse]:
        snap = await self.load(owner)
        return list(snap.payees) if snap is not None else []

    async def move(self, old: str, new: str) -> None:
        """The customer's email changed from ``old`` to ``new``: what was kept is theirs
        under the new one."""
        if cache_key(old) == cache_key(new):
            return
        snap = await self.load(old)
        if snap is not None:
            await self._write(new, snap)
        await self.forget(old)

    async def forget(self, owner: str) -> None:
        self._snapshots.pop(owner, None)
        await self.store.set(cache_key(owner), "")
