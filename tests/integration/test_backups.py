"""A backup of the embedded stack, restored: the bank is as it was then, to every
customer and every read, and goes on from there by itself (``./task backup``,
``./task restore``; infra/local/backups.py, docs/adr/0720)."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from infra.local import EmbeddedStack, StackPorts, backups
from infra.local.apps import start_api, start_cdc, start_notifications, start_projections
from infra.local.backup_schedule import BackupSchedule, Schedule, read_status
from infra.local.stack import REPO_ROOT
from tests.support.customers import Customer, sign_in, sign_up


def _cli(
    stack: EmbeddedStack, *args: str, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = stack.process_env(stack.ports.env())  # every port of this stack's
    for var in (
        "BANK_DATABASE_URL",
        "BANK_ADMIN_DATABASE_URL",
        "BANK_REDIS_URL",
        "BANK_KAFKA_BOOTSTRAP",
    ):
        env.pop(var)  # the embedded ones, from the data dir and the ports
    env.update(extra_env or {})
    return subprocess.run(
        [sys.executable, "-m", "infra.local", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _up(data_dir: Path, ports: StackPorts) -> EmbeddedStack:
    # Not ephemeral: Redis keeps its data across a restart, as `./task up`'s does.
    stack = EmbeddedStack(data_dir, ports, environ={}).start()
    stack.migrate()
    start_api(stack)
    for start in (start_cdc, start_projections, start_notifications):
        start(stack)
    return stack


async def _history(c: Customer, account: str) -> list[dict[str, Any]]:
    r = await c.http.get(f"/api/v1/accounts/{account}/transactions", headers=c.auth)
    assert r.status_code == 200, r.text
    return r.json()["items"]  # type: ignore[no-any-return]


async def _projected(c: Customer, account: str, count: int, timeout: float = 30) -> list[Any]:
    """The account's history once the read side has ``count`` postings."""
    deadline = time.monotonic() + timeout
    while len(items := await _history(c, account)) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    return items


async def test_a_restored_backup_is_the_bank_of_its_time_and_the_read_side_follows(
    fresh_dir: Path,
) -> None:
    ports = StackPorts.free()
    stack = _up(fresh_dir, ports)
    try:
        async with httpx.AsyncClient(base_url=stack.api_url, timeout=30) as http:
            ada = await sign_up(http, "Ada Backed Up")
            account = (await ada.open_account())["id"]
            assert (await ada.deposit(account, 10_000)).status_code == 201
            assert len(await _projected(ada, account, 1)) == 1
            # The backup is made while the read side lags: its read models miss this one.
            stack.processes["projections"].stop()
            assert (await ada.deposit(account, 2_000)).status_code == 201

            made = _cli(stack, "backup")  # while the bank runs
            assert made.returncode == 0, made.stdout + made.stderr
            path = Path(re.search(r"backup (\S+\.dump) ", made.stdout).group(1))  # type: ignore[union-attr]
            assert path.parent == fresh_dir / "backups" and path.stat().st_size > 0
            assert "1 accounts" in made.stdout, made.stdout
            stack.processes["projections"].start().wait_ready(30)
            # A backup of a newer platform (a migration this code does not have).
            admin = await asyncpg.connect(stack.admin_database_url)
            try:
                await admin.execute(
                    "INSERT INTO schema_migrations (name) VALUES ('9999_from_the_future.sql')"
                )
                newer = _cli(stack, "backup")
                await admin.execute(
                    "DELETE FROM schema_migrations WHERE name = '9999_from_the_future.sql'"
                )
            finally:
                await admin.close()
            assert newer.returncode == 0, newer.stdout + newer.stderr
            future = re.search(r"backup (\S+\.dump) ", newer.stdout).group(1)  # type: ignore[union-attr]

            # After the backup: money moved, a customer joined, balances were read (cached).
            assert (await ada.deposit(account, 5_000)).status_code == 201
            assert len(await _projected(ada, account, 3)) == 3
            assert await ada.balance(account) == 17_000
            r = await http.get(f"/api/v1/accounts/{account}/balance", headers=ada.auth)
            assert r.json()["balance"]["amount"] == 17_000, r.text
            bob = await sign_up(http, "Bob After")

            refused = _cli(stack, "restore", str(path), "--yes")  # not under a running bank
            assert refused.returncode == 1 and "stop it first" in refused.stdout, refused.stdout
    finally:
        stack.stop()

    # Refused with an external Redis or broker: this command empties only embedded ones.
    outside = _cli(
        stack, "restore", str(path), "--yes", extra_env={"BANK_REDIS_URL": stack.redis_url}
    )
    assert outside.returncode == 1 and "external server" in outside.stdout, outside.stdout
    # Refused before anything changes: not a backup; a newer platform's.
    garbage = fresh_dir / "not-a-backup.dump"
    garbage.write_bytes(b"PGDMP but not really")
    for wrong, said in ((garbage, "is not a backup"), (Path(future), "newer version")):
        refused = _cli(stack, "restore", str(wrong), "--yes")
        assert refused.returncode == 1 and said in refused.stdout, refused.stdout
    assert sorted(p.name for p in (fresh_dir / "backups").glob("*.dump")) == sorted(
        [path.name, Path(future).name]
    )  # not even the backup a restore takes first
    asked = _cli(stack, "restore", str(path))  # it replaces everything: asked for --yes
    assert asked.returncode == 2 and "--yes" in asked.stdout, asked.stdout
    done = _cli(stack, "restore", str(path), "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "restored 3 events, 1 accounts" in done.stdout.replace(f"{path}: ", ""), done.stdout
    kept = re.search(r"what was there before is in (\S+\.dump)", done.stdout)
    assert kept and Path(kept.group(1)).stat().st_size > 0, done.stdout  # undo is possible

    stack = _up(fresh_dir, ports)
    try:
        async with httpx.AsyncClient(base_url=stack.api_url, timeout=30) as http:
            ada.http = http
            # Every session ended (it may be of a user the backup does not have).
            r = await http.get("/api/v1/me", headers=ada.auth)
            assert r.status_code == 401, r.text
            r = await sign_in(http, ada.email)
            assert r.status_code == 200, r.text
            ada.token = r.json()["access_token"]
            assert (await sign_in(http, bob.email)).status_code == 400  # joined after
            # The balance of the backup, not the cached one of after; its whole history,
            # the deposit its read models lacked too (the new slot's snapshot sent it).
            r = await http.get(f"/api/v1/accounts/{account}/balance", headers=ada.auth)
            assert r.json()["balance"]["amount"] == 12_000, r.text
            assert await ada.balance(account) == 12_000
            items = await _projected(ada, account, 2)
            assert [t["amount"]["amount"] for t in items] == [2_000, 10_000], items
            # The bank goes on from there, and the read side follows it by itself.
            assert (await ada.deposit(account, 2_500)).status_code == 201
            items = await _projected(ada, account, 3)
            assert [t["amount"]["amount"] for t in items] == [2_500, 2_000, 10_000], items
            assert await ada.balance(account) == 14_500
        check = subprocess.run(
            [sys.executable, "-m", "server.projections", "check"],
            env=stack.process_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert check.returncode == 0, check.stdout + check.stderr
    finally:
        stack.stop()


def test_automatic_backups_are_made_on_time_the_oldest_go_and_a_failure_is_retried(
    fresh_dir: Path,
) -> None:
    """The schedule `./task up` runs beside the supervisor, on a real database, with the
    clock moved by the test: the first backup a minute after start, then one per
    period; only the newest automatic ones are kept (one made by hand stays); a
    database that is away is a failure said, kept for `./task status` and retried."""
    stack = EmbeddedStack(fresh_dir, StackPorts.free(), environ={}).start()
    try:
        stack.migrate()
        now = [datetime.now(UTC)]
        said: list[str] = []
        schedule = BackupSchedule(
            stack,
            Schedule(every=timedelta(hours=6), kept=2),
            say=said.append,
            clock=lambda: now[0],
        )
        assert schedule.tick() is None  # not yet: the stack has just started
        now[0] += timedelta(seconds=61)
        first = schedule.tick()
        assert first is not None and first.name.startswith("auto-bank-") and first.stat().st_size
        assert "events" in said[-1]
        by_hand, _ = backups.backup(stack)
        made = [first]
        for _ in range(3):
            assert schedule.tick() is None  # within the period: nothing
            now[0] += timedelta(hours=6)
            made.append(schedule.tick())  # type: ignore[arg-type]
        on_disk = sorted(p.name for p in backups.default_dir(stack).glob("*.dump"))
        assert on_disk == sorted([made[-2].name, made[-1].name, by_hand.name])
        status = read_status(stack)
        assert status is not None and status.newest == str(made[-1])
        assert status.next_at == (now[0] + timedelta(hours=6)).isoformat()

        stack.postgres.stop()  # the database is away when the next one is due
        now[0] += timedelta(hours=6)
        assert schedule.tick() is None
        status = read_status(stack)
        assert status is not None and status.last_failure and "FAILED" in status.line()
        assert "automatic backup failed" in said[-1] and "PostgreSQL is not running" in said[-1]
        assert stack.postgres.running_pid() is None  # the schedule starts nothing
        assert status.next_at == (now[0] + timedelta(minutes=10)).isoformat()
        stack.postgres.start()
        now[0] += timedelta(minutes=10)
        assert schedule.tick() is not None  # tried again, and it worked
        status = read_status(stack)
        assert status is not None and status.last_failure is None
    finally:
        stack.stop()
