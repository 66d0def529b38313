"""A property-based model of the ledger (Hypothesis RuleBasedStateMachine).

Random sequences of open, deposit, withdraw, transfer, freeze, unfreeze, close,
holds placed, posted (in full or for less) and voided (issue #17), a stranger's
attempt, retries with the same key and concurrent conflicts (many withdrawals at
once from one account; one key sent several times at once) run through the real
write path (the application layer's handlers, group commit on, PostgreSQL from the
test stack) and against a plain in-memory model. After every step, every answer
and every account (balance, available balance, status, version, folded from the
events table) must agree with the model.

Bounded to run in well under a minute (a few dozen short programs).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, field

import asyncpg
import hypothesis.strategies as st
import msgspec
from hypothesis import HealthCheck, settings
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from infra.local.stack import EmbeddedStack
from runtime.settings import Settings
from server.application import handlers, holds
from server.application.actor import Actor
from server.application.command_runner import CommandResult
from server.application.context import AppContext
from server.application.idempotency import IdempotencyKey, request_hash
from server.domain.account import Account
from server.domain.errors import DomainError
from shared.api import (
    MoneyMovementRequest,
    OpenAccountRequest,
    PlaceHoldRequest,
    PostHoldRequest,
    TransferRequest,
)
from shared.events import EventMetadata, event_decoder

Outcome = tuple[str, object]  # ("ok", the answer's balance or status) or ("error", code)
AMOUNTS = st.integers(min_value=1, max_value=400)


@dataclass
class ModelAccount:
    owner: int
    currency: str
    balance: int = 0
    status: str = "active"
    version: int = 1
    holds: dict[uuid.UUID, int] = field(default_factory=dict)  # pending hold -> amount

    @property
    def available(self) -> int:
        return self.balance - sum(self.holds.values())


@dataclass
class Model:
    """The ledger as a plain Python model: the rules, written once more, naively."""

    accounts: dict[uuid.UUID, ModelAccount] = field(default_factory=dict)

    def deposit(self, a: uuid.UUID, amount: int, currency: str | None) -> Outcome:
        acc = self.accounts[a]
        if acc.status == "closed":
            return ("error", "account_closed")
        if currency not in (None, acc.currency):
            return ("error", "currency_mismatch")
        acc.balance += amount
        acc.version += 1
        return ("ok", acc.balance)

    def withdraw(self, a: uuid.UUID, amount: int) -> Outcome:
        acc = self.accounts[a]
        if acc.status != "active":
            return ("error", "account_closed" if acc.status == "closed" else "account_frozen")
        if amount > acc.available:
            return ("error", "insufficient_funds")
        acc.balance -= amount
        acc.version += 1
        return ("ok", acc.balance)

    def transfer(self, a: uuid.UUID, b: uuid.UUID, amount: int) -> Outcome:
        src, dst = self.accounts[a], self.accounts[b]
        if a == b:
            return ("error", "same_account")
        if src.status != "active":
            return ("error", "account_closed" if src.status == "closed" else "account_frozen")
        if dst.status == "closed":
            return ("error", "account_closed")
        if dst.currency != src.currency:
            return ("error", "currency_mismatch")
        if amount > src.available:
            return ("error", "insufficient_funds")
        src.balance -= amount
        dst.balance += amount
        src.version += 1
        dst.version += 1
        return ("ok", src.balance)

    def set_status(self, a: uuid.UUID, change: str) -> Outcome:
        acc = self.accounts[a]
        if acc.status == "closed":
            return ("error", "account_closed")
        if change == "freeze" and acc.status == "frozen":
            return ("error", "account_already_frozen")
        if change == "unfreeze" and acc.status != "frozen":
            return ("error", "account_not_frozen")
        if change == "close" and acc.holds:
            return ("error", "pending_holds")
        if change == "close" and acc.balance != 0:
            return ("error", "account_not_empty")
        acc.status = {"freeze": "frozen", "unfreeze": "active", "close": "closed"}[change]
        acc.version += 1
        return ("ok", acc.status)

    def place_hold(self, a: uuid.UUID, amount: int) -> Outcome:
        acc = self.accounts[a]
        if acc.status != "active":
            return ("error", "account_closed" if acc.status == "closed" else "account_frozen")
        if amount > acc.available:
            return ("error", "insufficient_funds")
        acc.version += 1
        return ("ok", acc.balance)

    def release_hold(self, a: uuid.UUID, hold: uuid.UUID, posted: int | None) -> Outcome:
        """``posted`` None: a void; otherwise a post of that much."""
        acc = self.accounts[a]
        if hold not in acc.holds:
            return ("error", "hold_not_pending")
        if posted is not None and acc.status == "frozen":
            return ("error", "account_frozen")
        del acc.holds[hold]
        acc.balance -= posted or 0
        acc.version += 1 if posted is None else 2
        return ("ok", acc.balance)


def answer_of(result: CommandResult | BaseException) -> Outcome:
    if isinstance(result, DomainError):
        return ("error", result.code)
    if isinstance(result, BaseException):
        raise result
    body = msgspec.json.decode(result.body)
    return ("ok", body["balance"]["amount"] if "balance" in body else body["status"])


class LedgerMachine(RuleBasedStateMachine):
    """Drives AppContext handlers on a private event loop (hypothesis steps are sync)."""

    loop: asyncio.AbstractEventLoop
    pool: asyncpg.Pool
    app_settings: Settings

    accounts = Bundle("accounts")

    def __init__(self) -> None:
        super().__init__()
        self.model = Model()
        self.ctx = AppContext(self.app_settings, self.pool)
        self.customers = [Actor(uuid.uuid4()), Actor(uuid.uuid4())]
        self.admin = Actor(uuid.uuid4(), role="admin")
        self.sent: list[tuple[str, tuple[object, ...], Outcome]] = []  # for retries
        self.held: list[tuple[uuid.UUID, uuid.UUID]] = []  # every hold placed (account, hold)

    async def _capture(self, coro: Awaitable[CommandResult]) -> CommandResult | BaseException:
        try:
            return await coro
        except DomainError as err:
            return err

    def run(self, coro: Awaitable[CommandResult]) -> Outcome:
        return answer_of(self.loop.run_until_complete(self._capture(coro)))

    def meta(self, actor: Actor, key: str | None) -> EventMetadata:
        return EventMetadata(actor_id=str(actor.user_id), idempotency_key=key)

    def idem(self, actor: Actor, command: str, body: msgspec.Struct, key: str) -> IdempotencyKey:
        return IdempotencyKey(str(actor.user_id), key, request_hash(command, body))

    def owner(self, a: uuid.UUID) -> Actor:
        return self.customers[self.model.accounts[a].owner]

    # --- commands -----------------------------------------------------------------

    def _deposit(self, a: uuid.UUID, amount: int, currency: str | None, key: str) -> Outcome:
        actor = self.owner(a)
        req = MoneyMovementRequest(amount=amount, currency=currency)
        idem = self.idem(actor, f"deposit:{a}", req, key)
        return self.run(
            handlers.deposit_money(self.ctx, actor, a, req, idem, self.meta(actor, key))
        )

    def _withdraw(self, a: uuid.UUID, amount: int, key: str) -> Awaitable[CommandResult]:
        actor = self.owner(a)
        req = MoneyMovementRequest(amount=amount)
        idem = self.idem(actor, f"withdraw:{a}", req, key)
        return handlers.withdraw_money(self.ctx, actor, a, req, idem, self.meta(actor, key))

    @initialize(target=accounts)
    def first_account(self) -> uuid.UUID:
        return self.open_account(0, "EUR")

    @rule(target=accounts, owner=st.sampled_from([0, 1]), currency=st.sampled_from(["EUR", "USD"]))
    def open_account(self, owner: int, currency: str) -> uuid.UUID:
        actor = self.customers[owner]
        req = OpenAccountRequest(currency=currency, name="Pot")
        result = self.loop.run_until_complete(
            handlers.open_account(self.ctx, actor, req, None, self.meta(actor, None))
        )
        account_id = uuid.UUID(msgspec.json.decode(result.body)["id"])
        self.model.accounts[account_id] = ModelAccount(owner=owner, currency=currency)
        return account_id

    @rule(a=accounts, amount=AMOUNTS, currency=st.sampled_from([None, None, "EUR", "USD"]))
    def deposit(self, a: uuid.UUID, amount: int, currency: str | None) -> None:
        key = str(uuid.uuid4())
        expected = self.model.deposit(a, amount, currency)
        assert self._deposit(a, amount, currency, key) == expected
        self.sent.append(("deposit", (a, amount, currency, key), expected))

    @rule(a=accounts, amount=AMOUNTS)
    def withdraw(self, a: uuid.UUID, amount: int) -> None:
        key = str(uuid.uuid4())
        expected = self.model.withdraw(a, amount)
        assert self.run(self._withdraw(a, amount, key)) == expected
        self.sent.append(("withdraw", (a, amount, key), expected))

    @rule(a=accounts, b=accounts, amount=AMOUNTS)
    def transfer(self, a: uuid.UUID, b: uuid.UUID, amount: int) -> None:
        actor = self.owner(a)
        req = TransferRequest(from_account_id=a, to_account_id=b, amount=amount)
        key = str(uuid.uuid4())
        expected = self.model.transfer(a, b, amount)
        idem = self.idem(actor, "transfer", req, key)
        got = self.run(handlers.transfer_money(self.ctx, actor, req, idem, self.meta(actor, key)))
        assert got == expected

    @rule(a=accounts, change=st.sampled_from(["freeze", "unfreeze", "freeze", "close"]))
    def change_status(self, a: uuid.UUID, change: str) -> None:
        actor = self.owner(a) if change == "close" else self.admin
        expected = self.model.set_status(a, change)
        got = self.run(
            handlers.change_account_status(
                self.ctx,
                actor,
                a,
                change,
                "",
                None,
                self.meta(actor, None),  # type: ignore[arg-type]
            )
        )
        assert got == expected

    @rule(a=accounts, amount=AMOUNTS)
    def a_stranger_cannot_touch_it(self, a: uuid.UUID, amount: int) -> None:
        stranger = self.customers[1 - self.model.accounts[a].owner]
        req = MoneyMovementRequest(amount=amount)
        idem = self.idem(stranger, f"withdraw:{a}", req, str(uuid.uuid4()))
        got = self.run(
            handlers.withdraw_money(self.ctx, stranger, a, req, idem, self.meta(stranger, None))
        )
        assert got == ("error", "account_not_found")

    @rule(data=st.data())
    def a_retry_with_the_same_key_gets_the_first_answer(self, data: st.DataObject) -> None:
        if not self.sent:
            return
        kind, args, first = data.draw(st.sampled_from(self.sent))
        if kind == "deposit":
            a, amount, currency, key = args
            got = self._deposit(a, amount, currency, key)  # type: ignore[arg-type]
        else:
            a, amount, key = args
            got = self.run(self._withdraw(a, amount, key))  # type: ignore[arg-type]
        assert got == first  # and the model does not move

    @rule(a=accounts, n=st.integers(min_value=2, max_value=8), amount=AMOUNTS)
    def concurrent_withdrawals_never_overdraw(self, a: uuid.UUID, n: int, amount: int) -> None:
        calls = [self._withdraw(a, amount, str(uuid.uuid4())) for _ in range(n)]
        results = self.loop.run_until_complete(asyncio.gather(*calls, return_exceptions=True))
        got = sorted((answer_of(r) for r in results), key=str)
        expected = sorted((self.model.withdraw(a, amount) for _ in range(n)), key=str)
        assert got == expected

    @rule(a=accounts, n=st.integers(min_value=2, max_value=6), amount=AMOUNTS)
    def one_key_sent_at_once_takes_effect_once(self, a: uuid.UUID, n: int, amount: int) -> None:
        key = str(uuid.uuid4())
        actor = self.owner(a)
        req = MoneyMovementRequest(amount=amount)
        idem = self.idem(actor, f"deposit:{a}", req, key)
        calls = [
            handlers.deposit_money(self.ctx, actor, a, req, idem, self.meta(actor, key))
            for _ in range(n)
        ]
        results = self.loop.run_until_complete(asyncio.gather(*calls, return_exceptions=True))
        expected = self.model.deposit(a, amount, None)
        assert {answer_of(r) for r in results} == {expected}

    @rule(a=accounts, amount=st.integers(min_value=1, max_value=150))
    def place_hold(self, a: uuid.UUID, amount: int) -> None:
        actor = self.owner(a)
        req = PlaceHoldRequest(amount=amount)
        key = str(uuid.uuid4())
        idem = self.idem(actor, f"place_hold:{a}", req, key)
        expected = self.model.place_hold(a, amount)
        result = self.loop.run_until_complete(
            self._capture(
                holds.place_hold_command(self.ctx, actor, a, req, None, idem, self.meta(actor, key))
            )
        )
        assert answer_of(result) == expected
        if isinstance(result, CommandResult):
            hold = uuid.UUID(msgspec.json.decode(result.body)["hold_id"])
            self.model.accounts[a].holds[hold] = amount
            self.held.append((a, hold))

    @rule(data=st.data(), post=st.booleans(), in_full=st.booleans())
    def release_hold(self, data: st.DataObject, post: bool, in_full: bool) -> None:
        if not self.held:
            return
        a, hold = data.draw(st.sampled_from(self.held))  # pending or not any more
        actor = self.owner(a)
        pending = self.model.accounts[a].holds.get(hold)
        amount = None if in_full or not pending else data.draw(st.integers(1, pending))
        key = str(uuid.uuid4())
        meta = self.meta(actor, key)
        if post:
            req = PostHoldRequest(amount=amount)
            idem = self.idem(actor, f"post_hold:{a}:{hold}", req, key)
            call = holds.post_hold_command(self.ctx, actor, a, hold, req, idem, meta)
            expected = self.model.release_hold(a, hold, amount or pending or 0)
        else:
            idem = self.idem(actor, f"void_hold:{a}:{hold}", PostHoldRequest(), key)
            call = holds.void_hold_command(self.ctx, actor, a, hold, idem, meta)
            expected = self.model.release_hold(a, hold, None)
        assert self.run(call) == expected

    # --- after every step ---------------------------------------------------------

    @invariant()
    def the_event_store_folds_to_the_model(self) -> None:
        if not self.model.accounts:
            return
        rows = self.loop.run_until_complete(
            self.pool.fetch(
                "SELECT stream_id, payload FROM events WHERE stream_id = ANY($1::uuid[])"
                " ORDER BY stream_id, version",
                list(self.model.accounts),
            )
        )
        streams: dict[uuid.UUID, list[object]] = {}
        for r in rows:
            streams.setdefault(r["stream_id"], []).append(event_decoder.decode(r["payload"]))
        for account_id, model in self.model.accounts.items():
            real = Account.from_events(streams[account_id])  # type: ignore[arg-type]
            assert (real.balance, real.available, real.status, real.version) == (
                model.balance,
                model.available,
                model.status,
                model.version,
            ), account_id


def test_the_write_path_agrees_with_a_plain_model_of_the_ledger(stack: EmbeddedStack) -> None:
    loop = asyncio.new_event_loop()
    try:
        before: asyncio.AbstractEventLoop | None = asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:  # none set (another test in this process set it to None)
        before = None
    asyncio.set_event_loop(loop)  # asyncpg and the group committer use the current loop
    pool = loop.run_until_complete(asyncpg.create_pool(stack.database_url, min_size=1, max_size=8))
    LedgerMachine.loop = loop
    LedgerMachine.pool = pool
    LedgerMachine.app_settings = Settings.from_env(
        {**stack.env(), "BANK_GROUP_COMMIT": "true", "BANK_GROUP_COMMIT_WINDOW_MS": "1"}
    )
    try:
        run_state_machine_as_test(
            LedgerMachine,
            settings=settings(
                max_examples=25,
                stateful_step_count=25,
                deadline=None,
                suppress_health_check=list(HealthCheck),
            ),
        )
    finally:
        loop.run_until_complete(pool.close())
        loop.close()
        asyncio.set_event_loop(before)
