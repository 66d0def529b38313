"""The embedded stack really runs: PostgreSQL, Redis and Kafka answer as the platform needs."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from infra.local import EmbeddedStack, PortInUseError, StackAlreadyRunningError, StackPorts
from infra.local.ports import port_bindable
from infra.local.procs import tcp_ready
from infra.local.stack import REPO_ROOT, STATUS_ANSWER_SECONDS


def _cli_env(data_dir: Path, ports: StackPorts) -> dict[str, str]:
    env = dict(os.environ)
    env["BANK_DATA_DIR"] = str(data_dir)
    # Every port the stack takes (the notification consumer's was missing: it took 9103).
    env.update(ports.env())
    for var in (
        "BANK_DATABASE_URL",
        "BANK_ADMIN_DATABASE_URL",
        "BANK_REDIS_URL",
        "BANK_KAFKA_BOOTSTRAP",
    ):
        env.pop(var, None)
    return env


def _cli(stack: EmbeddedStack, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return _run_cli(stack.data_dir, stack.ports, *args, timeout=timeout)


def _run_cli(
    data_dir: Path, ports: StackPorts, *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "infra.local", *args],
        cwd=REPO_ROOT,
        env=_cli_env(data_dir, ports),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _wait_for_text(path: Path, text: str, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        content = path.read_text() if path.exists() else ""
        if text in content:
            return content
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not printed within {timeout}s:\n{content}")


async def test_postgres_runs_with_logical_wal_level(db: asyncpg.Pool) -> None:
    assert await db.fetchval("SHOW wal_level") == "logical"
    assert int(await db.fetchval("SHOW max_replication_slots")) >= 10
    assert await db.fetchval("SHOW fsync") == "on"
    assert await db.fetchval("SHOW listen_addresses") == "127.0.0.1"


async def test_postgres_commits_durably_without_zero_filling_new_wal_segments(
    db: asyncpg.Pool,
) -> None:
    """ADR 0363: a new segment is not zero-filled under the WAL write lock; every commit
    is still flushed to disk before it is acknowledged. The setting is given at start,
    not only written into a new cluster's postgresql.conf, so an older cluster has it."""
    setting, source = await db.fetchrow(
        "SELECT setting, source FROM pg_settings WHERE name = 'wal_init_zero'"
    )
    assert (setting, source) == ("off", "command line")
    assert await db.fetchval("SHOW synchronous_commit") == "on"


async def test_owner_and_app_roles_exist_with_the_right_powers(db: asyncpg.Pool) -> None:
    rows = await db.fetch(
        "SELECT rolname, rolsuper, rolreplication, rolcreatedb FROM pg_roles"
        " WHERE rolname IN ('bank', 'bank_app') ORDER BY rolname"
    )
    roles = {r["rolname"]: r for r in rows}
    assert set(roles) == {"bank", "bank_app"}
    assert roles["bank"]["rolreplication"] and not roles["bank"]["rolsuper"]
    assert not roles["bank_app"]["rolsuper"] and not roles["bank_app"]["rolreplication"]
    owner = await db.fetchval(
        "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'bank'"
    )
    assert owner == "bank"


async def test_migrations_ran_and_the_app_role_can_use_the_tables(
    db: asyncpg.Pool, app_db: asyncpg.Pool
) -> None:
    applied = await db.fetch("SELECT name FROM schema_migrations ORDER BY name")
    assert [r["name"] for r in applied][0] == "0001_event_store.sql"
    # DML through the app role works on a migrated table.
    assert await app_db.fetchval("SELECT count(*) FROM events") >= 0


async def test_the_app_role_cannot_create_tables(app_db: asyncpg.Pool) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await app_db.execute("CREATE TABLE sneaky (id int)")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await app_db.execute("DROP TABLE events")


async def test_the_owner_can_create_a_logical_replication_slot(db: asyncpg.Pool) -> None:
    slot = f"test_slot_{uuid.uuid4().hex[:8]}"
    await db.execute("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", slot)
    try:
        assert (
            await db.fetchval("SELECT plugin FROM pg_replication_slots WHERE slot_name = $1", slot)
            == "pgoutput"
        )
    finally:
        await db.execute("SELECT pg_drop_replication_slot($1)", slot)


async def test_redis_answers(redis_client) -> None:  # type: ignore[no-untyped-def]
    assert await redis_client.ping() is True
    key = f"test:{uuid.uuid4()}"
    await redis_client.set(key, "42", ex=30)
    assert await redis_client.get(key) == b"42"


async def test_kafka_round_trip_create_topic_produce_consume(stack: EmbeddedStack) -> None:
    topic = f"stack-test-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    finally:
        await admin.close()

    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        sent = {f"k{i}".encode(): f"v{i}".encode() for i in range(10)}
        for key, value in sent.items():
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()

    # No consumer group here (its join takes seconds); the workers' own tests cover groups.
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=stack.kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    received: dict[bytes, bytes] = {}
    try:
        while len(received) < len(sent):
            batch = await consumer.getmany(timeout_ms=10_000)
            assert batch, f"no records within 10 s; got {len(received)} of {len(sent)}"
            for records in batch.values():
                for rec in records:
                    received[rec.key] = rec.value
    finally:
        await consumer.stop()
    assert received == sent


def test_status_reports_every_server_up(stack: EmbeddedStack) -> None:
    result = _cli(stack, "status")
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines()[1:] if line.strip()}
    for name, port in (
        ("postgres", stack.ports.postgres),
        ("redis", stack.ports.redis),
        ("kafka", stack.ports.kafka),
    ):
        assert " up " in lines[name], result.stdout
        assert str(port) in lines[name], result.stdout


def test_status_says_no_answer_for_a_frozen_server(own_stack: EmbeddedStack) -> None:
    """A frozen server's port still accepts connections: status asks each server what
    the supervisor asks it (docs/adr/0713), on a stack of its own."""
    own = own_stack
    frozen = {
        "postgres": own.postgres.running_pid(),
        "redis": own.processes["redis"].pid,
        "kafka": own.processes["kafka"].pid,
    }
    try:

        def states() -> dict[str, str]:
            return {row.name: row.line().split()[1] for row in own.status() if row.name in frozen}

        assert states() == dict.fromkeys(frozen, "up")
        for pid in frozen.values():
            assert pid is not None
            os.kill(pid, signal.SIGSTOP)
        started = time.monotonic()
        assert states() == dict.fromkeys(frozen, "no-answer")
        # Asked at once, not one after another: three silences cost one deadline.
        assert time.monotonic() - started < 2 * STATUS_ANSWER_SECONDS
    finally:
        for pid in frozen.values():
            if pid is not None:
                os.kill(pid, signal.SIGCONT)


def test_up_refuses_a_data_dir_whose_stack_is_running(stack: EmbeddedStack) -> None:
    result = _cli(stack, "up")
    assert result.returncode == 1
    assert "already running" in result.stdout
    assert "./task down" in result.stdout
    # ...and it did not disturb the running stack.
    assert tcp_ready(stack.ports.postgres)() and tcp_ready(stack.ports.kafka)()


def test_starting_the_same_stack_object_twice_is_refused(stack: EmbeddedStack) -> None:
    twin = EmbeddedStack(stack.data_dir, stack.ports, environ={})
    with pytest.raises(StackAlreadyRunningError):
        twin.start()


def test_supervised_process_can_be_killed_and_restarted(stack: EmbeddedStack) -> None:
    code = "import time\nprint('ready', flush=True)\ntime.sleep(600)"
    proc = stack.spawn("sleeper", ["-c", code], wait=True)
    try:
        first = proc.pid
        assert proc.alive and (stack.run_dir / "sleeper.pid").exists()
        assert proc.kill(signal.SIGKILL) == -signal.SIGKILL
        assert not proc.alive
        proc.restart()
        assert proc.alive and proc.pid != first
        assert "ready" in proc.log_tail()
    finally:
        proc.stop()
        stack.processes.pop("sleeper", None)
    assert not (stack.run_dir / "sleeper.pid").exists()


def test_spawned_processes_get_the_stack_env(stack: EmbeddedStack) -> None:
    code = "import os; print(os.environ['BANK_DATABASE_URL'], os.environ['BANK_DATA_DIR'])"
    proc = stack.spawn("envcheck", ["-c", code], wait=False)
    try:
        assert proc.wait(30) == 0
        assert f"{stack.database_url} {stack.data_dir}" in proc.log_tail()
    finally:
        stack.processes.pop("envcheck", None)


def test_a_port_taken_by_a_foreign_process_is_a_clear_error(fresh_dir: Path) -> None:
    ports = StackPorts.free()
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", ports.kafka))
    squatter.listen()
    try:
        with pytest.raises(PortInUseError, match=str(ports.kafka)):
            EmbeddedStack(fresh_dir, ports, environ={}).start()
    finally:
        squatter.close()
    # Nothing was left running by the failed start.
    assert port_bindable(ports.postgres) and port_bindable(ports.redis)
    assert EmbeddedStack(fresh_dir, ports, environ={}).running_records() == []


def test_up_recovers_from_a_killed_launcher_with_down(fresh_dir: Path) -> None:
    ports = StackPorts.free()
    log = fresh_dir / "up.out"

    def up() -> subprocess.Popen[bytes]:
        with open(log, "wb") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "infra.local", "up", "--no-apps"],
                cwd=REPO_ROOT,
                env=_cli_env(fresh_dir, ports),
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    first = up()
    try:
        _wait_for_text(log, "stack is up")
        first.kill()  # the launcher crashes; its servers live on
        first.wait(10)
        assert tcp_ready(ports.postgres)() and tcp_ready(ports.redis)()

        again = _run_cli(fresh_dir, ports, "up", "--no-apps")
        assert again.returncode == 1 and "already running" in again.stdout

        down = _run_cli(fresh_dir, ports, "down")
        assert down.returncode == 0 and "postgres" in down.stdout, down.stdout
        assert port_bindable(ports.postgres) and port_bindable(ports.redis)
        assert port_bindable(ports.kafka)
        status = _run_cli(fresh_dir, ports, "status")
        assert " up " not in status.stdout, status.stdout

        second = up()  # a clean start on the same data dir, data kept
        _wait_for_text(log, "migrations applied: none pending")
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0
        assert port_bindable(ports.postgres) and port_bindable(ports.kafka)
        assert "stopped" in log.read_text()
    finally:
        for proc in (first,):
            if proc.poll() is None:
                proc.kill()


def test_task_up_stops_everything_on_sigterm_to_its_pid(fresh_dir: Path) -> None:
    """`kill PID` of a `./task up` stops the stack, as Ctrl-C does (go-task itself does
    not pass SIGTERM on to the command it runs)."""
    ports = StackPorts.free()
    log = fresh_dir / "up.out"
    with open(log, "wb") as out:
        up = subprocess.Popen(
            [str(REPO_ROOT / "task"), "up", "--", "--no-apps"],
            cwd=REPO_ROOT,
            env=_cli_env(fresh_dir, ports),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for_text(log, "stack is up")
        up.send_signal(signal.SIGTERM)
        assert up.wait(30) == 0, log.read_text()
        assert "stopped" in log.read_text()
        assert port_bindable(ports.postgres) and port_bindable(ports.redis)
        assert port_bindable(ports.kafka)
    finally:
        if up.poll() is None:
            up.kill()


@pytest.mark.parametrize("name", ["cdc", "projections"])
def test_app_processes_can_be_killed_and_restarted(
    stack: EmbeddedStack, request: pytest.FixtureRequest, name: str
) -> None:
    was_running = name in stack.processes and stack.processes[name].alive
    proc = request.getfixturevalue(name)  # skips until the module exists
    try:
        first = proc.pid
        assert proc.kill(signal.SIGKILL) == -signal.SIGKILL
        assert not proc.alive and not tcp_ready(proc.port)()
        proc.restart(timeout=60)
        assert proc.alive and proc.pid != first
        assert tcp_ready(proc.port)()  # metrics answer again
    finally:
        if not was_running:  # leave the session stack as this test found it
            proc.stop()
            stack.processes.pop(name, None)


async def test_extra_api_instances_run_beside_the_main_one(api_url: str, api_factory) -> None:  # type: ignore[no-untyped-def]
    import httpx

    second = api_factory()
    assert second.url != api_url
    async with httpx.AsyncClient(timeout=10) as client:
        for base in (api_url, second.url):
            assert (await client.get(f"{base}/health/live")).status_code == 200
    second.stop()
    assert not tcp_ready(second.port)()


def test_external_services_replace_the_embedded_ones(stack: EmbeddedStack, fresh_dir: Path) -> None:
    environ = {"BANK_REDIS_URL": stack.redis_url, "BANK_KAFKA_BOOTSTRAP": stack.kafka_bootstrap}
    ports = StackPorts.free()
    other = EmbeddedStack(fresh_dir, ports, environ=environ, ephemeral=True, shared_buffers="32MB")
    other.start()
    try:
        assert set(other.processes) == set()  # no redis, no kafka of its own
        assert port_bindable(ports.redis) and port_bindable(ports.kafka)
        assert tcp_ready(ports.postgres)()
        env = other.env()
        assert env["BANK_REDIS_URL"] == stack.redis_url
        assert env["BANK_KAFKA_BOOTSTRAP"] == stack.kafka_bootstrap
        assert str(ports.postgres) in env["BANK_DATABASE_URL"]
    finally:
        other.stop()
    assert port_bindable(ports.postgres)


def test_stale_pid_files_naming_foreign_processes_are_ignored(fresh_dir: Path) -> None:
    from infra.local.procs import PidRecord

    run = fresh_dir / "run"
    # A crash left pid files; meanwhile the pids were reused by other programs (here: us).
    PidRecord("redis", os.getpid(), 12345.0, ["redis-server"]).save(run / "redis.pid")
    PidRecord("launcher", os.getppid(), 12345.0, ["python"]).save(run / "launcher.pid")
    other = EmbeddedStack(
        fresh_dir, StackPorts.free(), environ={}, ephemeral=True, shared_buffers="32MB"
    )
    other.start()  # not refused: neither pid is ours
    try:
        assert redis_ping_ok(other)
        assert not (run / "launcher.pid").exists()
    finally:
        other.stop()


def redis_ping_ok(stack: EmbeddedStack) -> bool:
    from infra.local.services import redis_ping

    return redis_ping(stack.ports.redis)
