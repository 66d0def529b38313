"""One chaos run: an isolated stack under the `./task up` supervisor, a mixed money load
from retrying clients, each customer's live screen open throughout, every process killed
in turn, settling, then the checks."""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable
from dataclasses import asdict, dataclass, field
from typing import Any

import asyncpg
import httpx

from bench.chaos import checks
from bench.chaos.faults import SCHEDULE, Fault, inflict, is_back, thaw
from bench.chaos.ledger import PENDING, Command, Ledger, RetryingClient, Session
from bench.chaos.probe import LAG_TARGET, ReadLagProbe
from bench.chaos.screens import Screen
from bench.stack import start_stack, stop_stack
from infra.local import health
from infra.local.apps import start_api, start_cdc, start_notifications, start_projections
from infra.local.stack import EmbeddedStack
from infra.local.supervisor import Supervisor

PASSWORD = "chaos horse battery staple"
FUNDING = 1_000_000
API_ENV = {"BANK_MONEY_RATE_PER_SECOND": "100000", "BANK_MONEY_RATE_BURST": "100000"}


@dataclass(frozen=True)
class Profile:
    customers: int  # one retrying client each, two accounts each
    rate_per_client: float  # commands per second
    warmup: float  # seconds of load before the first fault
    window: float  # at most this long after a fault before the next one
    gap: float  # calm after a recovery, before the next fault
    settle: float  # at most this long after the load stops


# The window only bounds how long a recovery is watched (it ends as soon as the victim is
# back and the read side is on time): 20 s, so that an API that needs 12-15 s to start
# on a loaded machine is seen coming back instead of being reported as "never".
SHORT = Profile(customers=6, rate_per_client=5.0, warmup=3.0, window=20.0, gap=1.0, settle=30.0)
FULL = Profile(customers=12, rate_per_client=7.5, warmup=10.0, window=45.0, gap=5.0, settle=30.0)


# A window lasts at least this long even when the victim is back and the probes are on
# time at once: some damage shows only later (a broker back in 0.2 s, empty; the
# connector notices its topics are gone ~2 s on), and a window closed before it would
# charge that read lag to the next fault.
MIN_WINDOW_SECONDS = 5.0


@dataclass
class Recovery:
    fault: str
    at: float
    victim_pid: int
    process_back_s: float | None = None
    writes_back_s: float | None = None
    read_back_s: float | None = None  # read-side lag under LAG_TARGET again
    max_read_lag_s: float | None = None
    window_end: float = 0.0  # time.time() the window closed (probes accepted before it count)
    answers: dict[str, int] = field(default_factory=dict)
    supervisor: list[str] = field(default_factory=list)


@dataclass
class ChaosResult:
    profile: str
    started_at: float
    seconds: float = 0.0
    settle_s: float | None = None
    commands: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    recoveries: list[Recovery] = field(default_factory=list)
    checks: list[checks.Check] = field(default_factory=list)
    supervisor_log: list[str] = field(default_factory=list)
    # Every read-lag probe, seconds since started_at: sent, accepted, seen, attempts.
    probes: list[dict[str, float | int | None]] = field(default_factory=list)
    probe_watch_errors: dict[str, int] = field(default_factory=dict)
    # The supervisor's slowest health probe answered in time, per pipeline process.
    slowest_health_answer_s: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ok"] = self.ok
        return d


class _Customers:
    def __init__(self) -> None:
        self.sessions: list[Session] = []
        self.accounts: list[list[str]] = []

    @property
    def all_accounts(self) -> list[str]:
        return [a for accs in self.accounts for a in accs]


async def _sign_up(http: httpx.AsyncClient, name: str) -> Session:
    email = f"{name}.{random.getrandbits(48):x}@chaos.example.com"
    r = await http.post(
        "/api/v1/auth/register", json={"email": email, "password": PASSWORD, "full_name": name}
    )
    r.raise_for_status()
    session = Session(email, PASSWORD)
    await session.sign_in(http)
    return session


async def _open(http: httpx.AsyncClient, who: Session, n: int) -> list[str]:
    out = []
    for i in range(n):
        r = await http.post(
            "/api/v1/accounts", json={"currency": "EUR", "name": f"chaos {i}"}, headers=who.auth
        )
        r.raise_for_status()
        out.append(str(r.json()["id"]))
    return out


def _deposit(who: Session, account: str, amount: int) -> Command:
    return Command(
        "deposit",
        f"/api/v1/accounts/{account}/deposits",
        {"amount": amount},
        who,
        (account,),
        amount,
    )


def _random_command(rnd: random.Random, me: int, people: _Customers) -> Command:
    who, mine = people.sessions[me], people.accounts[me]
    roll = rnd.random()
    if roll < 0.4:
        return _deposit(who, rnd.choice(mine), rnd.randint(1, 5_000))
    if roll < 0.65:
        account = rnd.choice(mine)
        # One in ten asks for more than any account holds: the bank must refuse it.
        amount = 5 * FUNDING if rnd.random() < 0.1 else rnd.randint(1, 5_000)
        return Command(
            "withdrawal",
            f"/api/v1/accounts/{account}/withdrawals",
            {"amount": amount},
            who,
            (account,),
            amount,
        )
    src = rnd.choice(mine)
    dst = rnd.choice([a for a in people.all_accounts if a != src])
    amount = rnd.randint(1, 5_000)
    body = {"from_account_id": src, "to_account_id": dst, "amount": amount}
    return Command("transfer", "/api/v1/transfers", body, who, (src, dst), amount)


class ChaosRun:
    def __init__(
        self,
        profile: Profile,
        name: str,
        schedule: tuple[Fault, ...] = SCHEDULE,
        *,
        keep_data: bool = False,
    ) -> None:
        self.keep_data = keep_data
        self.profile = profile
        self.schedule = schedule
        self.result = ChaosResult(profile=name, started_at=time.time())
        self.ledger = Ledger()
        self.give_up_at = [math.inf]
        self.stop_load = asyncio.Event()

    def say(self, msg: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} {msg}"
        self.result.supervisor_log.append(line)
        print(f"[chaos] {line}", flush=True)

    # -- the whole run -------------------------------------------------------
    def run(self) -> ChaosResult:
        t0 = time.monotonic()
        # Redis with its append-only file, as `./task up` runs it: sessions survive its restart.
        stack = start_stack(prefix="bank-test-chaos-", ephemeral=False)
        supervisor: Supervisor | None = None
        try:
            start_api(stack, extra_env=API_ENV)
            start_cdc(stack)
            start_projections(stack)
            start_notifications(stack)
            supervisor = Supervisor(stack, say=lambda m: self.say(f"supervisor: {m}")).start()
            asyncio.run(self._drive(stack, supervisor))
        finally:
            if supervisor is not None:
                supervisor.stop()
                self.result.slowest_health_answer_s = {
                    name: round(took, 3) for name, took in supervisor.slowest_answer.items()
                }
            thaw(stack)  # never leave a frozen process behind
            stop_stack(stack, keep=self.keep_data)
            if self.keep_data:
                print(f"[chaos] logs kept in {stack.logs_dir}", flush=True)
        self.result.seconds = round(time.monotonic() - t0, 1)
        return self.result

    async def _drive(self, stack: EmbeddedStack, supervisor: Supervisor) -> None:
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=32)
        timeout = httpx.Timeout(5.0, connect=2.0)
        async with httpx.AsyncClient(
            base_url=stack.api_url, timeout=timeout, limits=limits
        ) as http:
            people = await self._customers(http)
            screens = [
                Screen(stack.api_url, http, who, accounts)
                for who, accounts in zip(people.sessions, people.accounts, strict=True)
            ]
            showing = [asyncio.create_task(screen.run_forever()) for screen in screens]
            client = RetryingClient(http, self.ledger, give_up_at=self.give_up_at)
            await self._fund(client, people)
            prober = await _sign_up(http, "probe")
            probe = ReadLagProbe(
                client, prober, await _open(http, prober, 4), stack.admin_database_url
            )
            background = [
                asyncio.create_task(probe.send_forever()),
                asyncio.create_task(probe.watch_forever()),
            ]
            load = [
                asyncio.create_task(self._customer_loop(client, i, people))
                for i in range(len(people.sessions))
            ]
            await asyncio.sleep(self.profile.warmup)
            for fault in self.schedule:
                await self._fault(stack, supervisor, probe, fault)
            self.stop_load.set()
            background[0].cancel()  # no new probes; the watcher keeps watching
            await self._settle(stack, load)
            await asyncio.sleep(0.5)  # the watcher sees the last probes
            background[1].cancel()
            for rec in self.result.recoveries:
                self._read_recovery(rec, probe)
            self.result.probes = probe.timeline(self.result.started_at)
            self.result.probe_watch_errors = dict(probe.watch_errors)
            self._count()
            try:
                await self._check(stack, http, screens)
            finally:
                for task in showing:
                    task.cancel()
                await asyncio.gather(*showing, return_exceptions=True)

    async def _customers(self, http: httpx.AsyncClient) -> _Customers:
        people = _Customers()
        for i in range(self.profile.customers):
            who = await _sign_up(http, f"customer{i}")
            people.sessions.append(who)
            people.accounts.append(await _open(http, who, 2))
        return people

    async def _fund(self, client: RetryingClient, people: _Customers) -> None:
        await asyncio.gather(
            *(
                client.send(_deposit(people.sessions[i], a, FUNDING))
                for i, accs in enumerate(people.accounts)
                for a in accs
            )
        )

    async def _customer_loop(self, client: RetryingClient, me: int, people: _Customers) -> None:
        rnd = random.Random(me)
        interval = 1.0 / self.profile.rate_per_client
        while not self.stop_load.is_set():
            t = time.monotonic()
            await client.send(_random_command(rnd, me, people))
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - t)))

    # -- one fault -------------------------------------------------------------
    async def _fault(
        self, stack: EmbeddedStack, supervisor: Supervisor, probe: ReadLagProbe, fault: Fault
    ) -> None:
        known = len(supervisor.restarts)
        at = time.time()
        pid = await asyncio.to_thread(inflict, stack, fault)
        self.say(f"{fault.label} (pid {pid})")
        rec = Recovery(fault.label, at, pid)
        self.result.recoveries.append(rec)
        started = time.monotonic()
        deadline = started + self.profile.window
        back_at: float | None = None
        while time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            if back_at is None and await asyncio.to_thread(is_back, stack, fault.target, pid):
                back_at = time.time()
                rec.process_back_s = round(back_at - at, 2)
            settled = time.monotonic() - started >= MIN_WINDOW_SECONDS
            if settled and back_at is not None and probe.healthy_since(back_at):
                break
        # Probes sent until here count for this fault; the gap (>= the lag target) lets
        # the last of them be seen before the next fault can delay them.
        end = rec.window_end = time.time()
        await asyncio.sleep(self.profile.gap)
        self._read_recovery(rec, probe)
        rec.writes_back_s = self._writes_back(at, end)
        rec.answers = dict(_statuses(self.ledger, at, end))
        rec.supervisor = [f"{r.name}: {r.reason}" for r in supervisor.restarts[known:]]
        self.say(
            f"{fault.label}: back {rec.process_back_s}s, writes {rec.writes_back_s}s, "
            f"read lag < {LAG_TARGET:.0f}s at {rec.read_back_s}s, answers {rec.answers}"
        )

    @staticmethod
    def _read_recovery(rec: Recovery, probe: ReadLagProbe) -> None:
        """Read-side recovery within the fault's window (again after settling, when every
        probe of the window has been seen or never will be)."""
        read_back = probe.back_at(rec.at, rec.window_end)
        rec.read_back_s = None if read_back is None else round(read_back - rec.at, 2)
        rec.max_read_lag_s = _finite(probe.max_lag(rec.at, rec.window_end))

    def _writes_back(self, start: float, end: float) -> float | None:
        """Seconds from the fault to the first 2xx after the last failed answer."""
        answers = [a for a in self.ledger.answers if start <= a.at < end]
        failed = [a.at for a in answers if a.status is None or a.status >= 500]
        if not failed:
            return 0.0
        ok = [
            a.at for a in answers if a.status is not None and a.status < 300 and a.at > failed[-1]
        ]
        return round(ok[0] - start, 2) if ok else None

    # -- settling and checks ------------------------------------------------------
    async def _settle(self, stack: EmbeddedStack, load: list[asyncio.Task[None]]) -> None:
        t0 = time.monotonic()
        self.give_up_at[0] = t0 + self.profile.settle
        await asyncio.gather(*load, return_exceptions=True)
        while time.monotonic() < self.give_up_at[0]:
            pending = self.ledger.by_outcome(PENDING)
            if not pending and await _read_side_caught_up(stack):
                self.result.settle_s = round(time.monotonic() - t0, 1)
                self.say(f"settled in {self.result.settle_s}s")
                return
            await asyncio.sleep(0.5)
        self.give_up_at[0] = 0.0  # clients still retrying give up now
        self.say(f"not settled after {self.profile.settle:.0f}s")

    def _count(self) -> None:
        self.result.commands = dict(
            _counter(c.outcome for c in self.ledger.commands), total=len(self.ledger.commands)
        )
        self.result.statuses = dict(self.ledger.statuses())

    async def _check(
        self, stack: EmbeddedStack, http: httpx.AsyncClient, screens: list[Screen]
    ) -> None:
        found: list[checks.Check] = []
        conn = await asyncpg.connect(stack.admin_database_url)
        try:
            found += await _guarded("write side", checks.write_side(conn, self.ledger))
            found += await _guarded("read side", checks.read_side(conn, self.ledger))
            found += await _guarded("notifications", checks.notifications(conn, self.ledger))
            found += await _guarded("live screens", checks.screens(screens, self.ledger))
            found += await _guarded(
                "replays identical", _one(checks.replays(http, conn, self.ledger))
            )
        finally:
            await conn.close()
        found.append(await asyncio.to_thread(checks.consistency, stack.process_env()))
        ports = {
            "cdc": stack.ports.cdc_metrics,
            "projections": stack.ports.projections_metrics,
            "notifications": stack.ports.notifications_metrics,
        }
        found.append(await asyncio.to_thread(checks.pipeline_health, ports))
        found += checks.edge(self.ledger)
        found.append(self._recovery_check())
        self.result.checks = found

    def _recovery_check(self) -> checks.Check:
        late = [
            f"{r.fault}: {r.read_back_s if r.read_back_s is not None else 'never'}"
            for r in self.result.recoveries
            if r.fault.startswith("SIGKILL") and (r.read_back_s is None or r.read_back_s > 10.0)
        ]
        return checks.Check(
            f"read lag < {LAG_TARGET:.0f}s within 10s of each kill",
            checks.READ,
            not late,
            f"{len(late)} kills recovered later or never",
            late,
        )


async def _one(check: Awaitable[checks.Check]) -> list[checks.Check]:
    return [await check]


async def _guarded(name: str, found: Awaitable[list[checks.Check]]) -> list[checks.Check]:
    """A check that could not finish is a failed check, not a crashed run."""
    try:
        return await found
    except Exception as exc:  # noqa: BLE001 - reported in the table
        return [checks.Check(name, checks.WRITE, False, f"could not check: {exc!r}")]


async def _read_side_caught_up(stack: EmbeddedStack) -> bool:
    """Every account's view at its stream's head; the notification consumer at the end
    of every partition it reads, and every notification in the inbox pushed."""
    inbox = await asyncio.to_thread(health.probe, stack.ports.notifications_metrics, timeout=2.0)
    if inbox.state != health.OK or health.total_lag(inbox.document.get("lag")) != 0:
        return False
    try:
        conn = await asyncpg.connect(stack.admin_database_url, timeout=2)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    try:
        behind = await conn.fetchval(
            "SELECT count(*) FROM (SELECT stream_id, max(version) AS v FROM events"
            " WHERE stream_type = 'account' GROUP BY stream_id) e"
            " LEFT JOIN account_view a ON a.account_id = e.stream_id"
            " WHERE a.version IS DISTINCT FROM e.v"
        )
        if behind:
            return False
        return not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM notification_pushes_due)")
    finally:
        await conn.close()


def _statuses(ledger: Ledger, start: float, end: float) -> dict[str, int]:
    """Answers in the window by status and by what was asked (deposit, token, ...)."""
    return dict(
        _counter(
            f"{a.status or 'no_answer'} {_what(a.path)}"
            for a in ledger.answers
            if start <= a.at < end
        )
    )


def _what(path: str) -> str:
    for part, name in (
        ("/auth/token", "sign-in"),
        ("/deposits", "deposit"),
        ("/withdrawals", "withdrawal"),
        ("/transfers", "transfer"),
    ):
        if part in path:
            return name
    return path


def _counter(items: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for x in items:
        out[x] = out.get(x, 0) + 1
    return out


def _finite(x: float) -> float | None:
    return None if math.isinf(x) else round(x, 2)
