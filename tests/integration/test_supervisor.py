"""Progress, not only liveness: the supervisor restarts a pipeline process that is alive
but stuck, and the read side then catches up by itself."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from infra.local import EmbeddedStack, ManagedProcess, health
from infra.local.procs import tcp_ready
from infra.local.stack import REPO_ROOT
from infra.local.supervisor import ProgressWatch, Supervisor
from tests.integration.test_notifications import wait_inbox
from tests.integration.test_standing_orders import events_of, one_payment_due, order
from tests.support.customers import sign_up


async def _wait_for(check, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f}s: {what}")
        await asyncio.sleep(0.2)


async def _frozen_until_restarted(
    proc: ManagedProcess, supervisor: Supervisor, meanwhile: Callable[[], Awaitable[None]]
) -> None:
    """Freeze ``proc`` (alive: its pid exists, its port accepts, but stuck), do
    ``meanwhile``, and see the supervisor restart it as stuck within 30 s."""

    def running_pid() -> int | None:
        return proc.pid if proc.alive else None

    await _frozen_until_replaced(proc.name, running_pid, supervisor, meanwhile)


async def _frozen_until_replaced(
    name: str,
    running_pid: Callable[[], int | None],
    supervisor: Supervisor,
    meanwhile: Callable[[], Awaitable[None]],
) -> None:
    """Freeze the process ``running_pid()`` names, do ``meanwhile``, and see the
    supervisor replace it as stuck within 30 s."""
    frozen = running_pid()
    assert frozen is not None
    os.kill(frozen, signal.SIGSTOP)
    t0 = time.monotonic()
    try:
        await meanwhile()

        async def replaced() -> bool:
            return running_pid() not in (None, frozen)

        await _wait_for(replaced, 45, f"the supervisor restarts the frozen {name}")
        detected = time.monotonic() - t0
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(frozen, signal.SIGCONT)  # a failed test must not leave it frozen
    why = supervisor.restarts_of(name)
    assert why and "stuck" in why[0].reason, why
    assert detected < 30, f"took {detected:.1f}s to notice"


# Probe every second, 1 s deadline, 3 strikes: for progress and for an answer alike.
QUICK = ProgressWatch(interval=1.0, timeout=1.0, strikes=3, startup_grace=30.0)


def _supervising(stack: EmbeddedStack, names: tuple[str, ...], **how: Any) -> Supervisor:
    """The `./task up` supervisor over ``names`` of ``stack`` only (and not its
    PostgreSQL, unless ``watch_postgres=True``), with quick checks."""
    return Supervisor(
        stack,
        say=lambda msg: print(f"[supervisor] {msg}"),
        names=names,
        progress=QUICK,
        answer=QUICK,
        **{"watch_postgres": False, **how},
    ).start()


async def _seen_by(sup: Supervisor, name: str, what: str) -> None:
    """Wait until ``sup`` has seen ``name`` answer and not stuck."""

    async def seen() -> bool:
        last = sup.last_health.get(name)
        return last is not None and not last.stuck

    await _wait_for(seen, 45, f"the supervisor sees {what}")


@pytest.fixture
def supervisor(stack: EmbeddedStack) -> Iterator[Supervisor]:
    sup = _supervising(stack, ("cdc", "projections", "notifications"))
    try:
        yield sup
    finally:
        sup.stop()


@pytest.fixture
def scheduler_on_a_clock(
    stack: EmbeddedStack, tmp_path: Path
) -> Iterator[tuple[ManagedProcess, Path]]:
    """The stack's scheduler as `./task up` runs it, but on a file clock (today: 1 January
    2027) and ticking every half second; stopped at the end of the test."""
    clock = tmp_path / "today"
    clock.write_text("2027-01-01")
    port = stack.ports.scheduler_metrics
    proc = stack.spawn(
        "scheduler",
        ["-m", "server.scheduler", "--clock-file", str(clock), "--interval", "0.5"],
        ready=tcp_ready(port),
        port=port,
    )
    try:
        yield proc, clock
    finally:
        proc.stop()
        stack.processes.pop("scheduler", None)


async def test_a_frozen_connector_is_detected_restarted_and_the_read_side_catches_up(
    http: httpx.AsyncClient,
    db: asyncpg.Pool,
    cdc: ManagedProcess,
    projections: ManagedProcess,
    supervisor: Supervisor,
) -> None:
    ada = await sign_up(http)
    account = (await ada.open_account())["id"]
    r = await ada.deposit(account, 100)
    assert r.status_code == 201, r.text

    await _seen_by(supervisor, "cdc", "the connector's health")
    version = 0

    async def deposit() -> None:  # the write side does not need the connector
        nonlocal version
        r = await ada.deposit(account, 250)
        assert r.status_code == 201, r.text
        version = r.json()["version"]

    await _frozen_until_restarted(cdc, supervisor, deposit)

    async def caught_up() -> bool:
        row = await db.fetchrow(
            "SELECT version, balance FROM account_view WHERE account_id = $1", account
        )
        return row is not None and row["version"] >= version

    await _wait_for(caught_up, 60, "account_view shows the deposit made while frozen")
    row = await db.fetchrow("SELECT balance FROM account_view WHERE account_id = $1", account)
    assert row["balance"] == 350


async def test_a_frozen_notification_consumer_is_restarted_and_the_customer_is_still_told(
    http: httpx.AsyncClient,
    stack: EmbeddedStack,
    cdc: ManagedProcess,
    projections: ManagedProcess,
    notifications: ManagedProcess,
    supervisor: Supervisor,
) -> None:
    ada = await sign_up(http, "Ada Waiting")
    bob = await sign_up(http, "Bob Sending")
    ada_acc = (await ada.open_account())["id"]
    bob_acc = (await bob.open_account())["id"]
    assert (await bob.deposit(bob_acc, 100_00)).status_code == 201
    # The consumer is up and has joined its group once it has told Ada of her sign-in.
    assert len(await wait_inbox(ada, "new_sign_in")) == 1

    # Its progress, as the supervisor and `./task status` read it: the lag of each
    # partition it reads, once a fetch has told it where each one ends.
    url = f"http://127.0.0.1:{stack.ports.notifications_metrics}/health"
    doc: dict[str, Any] = {}

    async def lag_shown() -> bool:
        nonlocal doc
        async with httpx.AsyncClient(timeout=5) as probe:
            r = await probe.get(url)
        assert r.status_code == 200, r.text
        doc = r.json()
        return bool(doc["lag"])

    await _wait_for(lag_shown, 30, "the consumer's health shows its lag")
    assert doc["process"] == "notifications" and doc["status"] == "ok", doc
    assert doc["last_progress_age_seconds"] < doc["stall_threshold_seconds"], doc
    assert {"account-events", "audit-events"} <= set(doc["lag"]), doc

    await _seen_by(supervisor, "notifications", "the consumer's health")

    async def transfer() -> None:
        r = await bob.transfer(bob_acc, ada_acc, 25_00, description="sent while frozen")
        assert r.status_code == 201, r.text

    await _frozen_until_restarted(notifications, supervisor, transfer)
    got = await wait_inbox(ada, "money_received", timeout=60)
    assert len(got) == 1 and "sent while frozen" in got[0]["body"], got


async def test_a_frozen_scheduler_is_restarted_and_pays_what_fell_due(
    http: httpx.AsyncClient,
    stack: EmbeddedStack,
    db: asyncpg.Pool,
    scheduler_on_a_clock: tuple[ManagedProcess, Path],
) -> None:
    scheduler, clock = scheduler_on_a_clock
    payer, o, transfer_id = await one_payment_due(http)  # due on 1 February 2027
    url = f"http://127.0.0.1:{stack.ports.scheduler_metrics}/health"

    async def ticking() -> bool:
        async with httpx.AsyncClient(timeout=5) as probe:
            doc = (await probe.get(url)).json()
        return bool(doc["status"] == "ok" and doc["last_progress_age_seconds"] < 1.5)

    await _wait_for(ticking, 30, "the scheduler's health says it ticks")
    sup = _supervising(stack, ("scheduler",))
    try:
        await _seen_by(sup, "scheduler", "the scheduler's health")

        async def payment_falls_due() -> None:
            clock.write_text("2027-02-01")

        await _frozen_until_restarted(scheduler, sup, payment_falls_due)

        async def paid() -> bool:
            return await events_of(db, transfer_id) == 1

        await _wait_for(paid, 30, "the restarted scheduler pays the occurrence")
        got = await order(payer, o["id"])
        assert [(x["outcome"], x["transfer_id"]) for x in got["occurrences"]] == [
            ("paid", str(transfer_id))
        ]
    finally:
        sup.stop()


async def _nothing() -> None:
    pass


async def test_a_frozen_api_is_restarted_and_serves_again(
    stack: EmbeddedStack,
    api_factory,  # type: ignore[no-untyped-def]
) -> None:
    # Over https, as `./task up -- --tls` runs it: the probe must read that answer too.
    api = api_factory(tls=True)
    sup = _supervising(stack, (api.name,), watch_answer={api.name: health.LIVENESS["api"]})
    try:
        await _seen_by(sup, api.name, "the API answer")
        await _frozen_until_restarted(api, sup, _nothing)
        await asyncio.to_thread(api.wait_ready, 30)  # the new process starts up
        async with httpx.AsyncClient(base_url=api.url, timeout=10, verify=False) as http:
            ada = await sign_up(http, "Ada Afterwards")
            account = (await ada.open_account())["id"]
            assert (await ada.deposit(account, 5_00)).status_code == 201
    finally:
        sup.stop()


async def test_a_frozen_web_client_is_restarted_and_serves_the_app_again(
    stack: EmbeddedStack, client_url: str
) -> None:
    client = stack.processes["client"]
    sup = _supervising(stack, ("client",))
    try:
        await _seen_by(sup, "client", "the web client answer")
        await _frozen_until_restarted(client, sup, _nothing)
        await asyncio.to_thread(client.wait_ready, 60)
        async with httpx.AsyncClient(timeout=10) as http:
            page = await http.get(client_url)
        assert page.status_code == 200 and "<!DOCTYPE html>" in page.text
        # `./task status` asks it the same question: a page is an answer.
        assert {row.name: row.answering for row in stack.status()}["client"]
    finally:
        sup.stop()


@pytest.mark.parametrize("name", ["redis", "kafka"])
async def test_a_frozen_embedded_server_is_restarted_and_answers_again(
    name: str, own_stack: EmbeddedStack
) -> None:
    """On a stack of its own (the session's servers hold the other tests' state): the
    server is frozen, the supervisor sees it not answer and restarts it."""
    sup = _supervising(own_stack, (name,))
    try:
        proc = own_stack.processes[name]
        await _seen_by(sup, name, f"{name} answer")
        await _frozen_until_restarted(proc, sup, _nothing)
        await asyncio.to_thread(proc.wait_ready, 30)
        assert health.LIVENESS[name](proc.port or 0, 1.0, "http").state == health.OK
    finally:
        sup.stop()


async def test_a_frozen_postgres_is_restarted_and_keeps_what_was_committed(
    own_stack: EmbeddedStack,
) -> None:
    """On a stack of its own: the postmaster is frozen (its port accepts, no backend
    starts, no new connection is served). The supervisor sees it not answer, kills it
    as a crash and starts it again; crash recovery keeps every committed row."""
    stack = own_stack
    sup = _supervising(stack, (), watch_postgres=True)  # PostgreSQL only
    try:
        conn = await asyncpg.connect(stack.admin_database_url)
        try:
            await conn.execute("CREATE TABLE committed (n int)")
            await conn.execute("INSERT INTO committed SELECT generate_series(1, 1000)")
        finally:
            await conn.close()
        await _seen_by(sup, "postgres", "PostgreSQL answer")
        await _frozen_until_replaced("postgres", stack.postgres.running_pid, sup, _nothing)
        count: list[int] = []

        async def counted() -> bool:  # once crash recovery is done and connections are served
            with contextlib.suppress(OSError, asyncpg.PostgresError):
                conn = await asyncpg.connect(stack.admin_database_url, timeout=5)
                try:
                    count.append(await conn.fetchval("SELECT count(*) FROM committed"))
                finally:
                    await conn.close()
            return bool(count)

        await _wait_for(counted, 30, "PostgreSQL serves connections again")
        assert count == [1000]
        assert health.LIVENESS["postgres"](stack.ports.postgres, 1.0, "http").state == health.OK
    finally:
        sup.stop()


def test_status_shows_the_pipeline_processes_progress(
    stack: EmbeddedStack,
    cdc: ManagedProcess,
    projections: ManagedProcess,
    notifications: ManagedProcess,
) -> None:
    env = {**os.environ, **stack.env(), **stack.ports.env()}
    deadline = time.monotonic() + 45  # a connector restarted by a previous test starts up
    while True:
        result = subprocess.run(
            [sys.executable, "-m", "infra.local", "status"],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        rows = {
            name: next(i for i, line in enumerate(lines) if line.split()[:1] == [name])
            for name in ("cdc", "projections", "notifications")
        }
        if all(" up " in lines[at] for at in rows.values()) or time.monotonic() > deadline:
            break
        time.sleep(1)
    for at in rows.values():
        assert " up " in lines[at], result.stdout
        assert lines[at + 1].strip().startswith("health: "), result.stdout
