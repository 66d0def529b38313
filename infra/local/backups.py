"""Backups of the embedded stack's database, and a restore that the read side follows.

``backup`` writes one consistent copy of the ``bank`` database (``pg_dump`` in its
custom format: one snapshot, so the event store, the read models, the users and the
audit trail are of one moment) to ``<data dir>/backups/bank-<UTC time>.dump``; the stack
may be running (customers are not held up: a dump is a reading transaction).

``restore`` puts the database back as it was in a backup, on a stack that is stopped,
and leaves nothing that would show the later state:

- the replication slot goes with the old database, and ``cdc_snapshots`` forgets the
  slot's snapshot, so the connector starts a new slot with a full snapshot: every event
  of the restored store is sent again, and the consumers, idempotent per account
  version, apply what their restored read models lack (a read model of the dump may
  be behind its event store, never ahead: the same snapshot);
- ``projection_checkpoints`` forgets the old broker's offsets (the embedded broker
  keeps its topics in memory: they start empty);
- Redis is emptied: its cached reads and balances are of the later state (a cached
  read at a version the restored store has not reached would be served), and its
  sessions may belong to users the backup does not have: everyone signs in again;
- pending migrations run, so a backup made before a schema change comes up after it.

What the database held before is backed up first (a restore of the wrong file is
undone by restoring that one).

Then ``./task up`` serves the restored bank. Acknowledged changes made after the
backup are gone: that is what a restore is; the backup's time is printed before and
after. An external database (``BANK_DATABASE_URL``) is not ours to back up: its
provider's backups are (docs/adr/0720).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from infra.local.services import pg_bin, pg_connect
from infra.local.stack import EmbeddedStack, StackError
from server.adapters.migrations import MIGRATIONS_DIR

DATABASE = "bank"
# A backup's name: [prefix]bank-<UTC time>.dump, the time to the microsecond (two in a
# second: two names), so that the names sort and say when each was made.
_STAMP = "%Y%m%dT%H%M%S.%fZ"
_NAME = "bank-"
_SUFFIX = ".dump"
# The stack's tables whose rows describe the broker or the slot of before a restore.
_FORGOTTEN_AFTER_RESTORE = ("cdc_snapshots", "projection_checkpoints")


@dataclass(frozen=True)
class Contents:
    """What a database holds, said after a backup and a restore."""

    events: int
    accounts: int
    newest_event_at: datetime | None

    def line(self) -> str:
        newest = self.newest_event_at.isoformat() if self.newest_event_at else "none"
        return f"{self.events} events, {self.accounts} accounts, newest event {newest}"


def default_dir(stack: EmbeddedStack) -> Path:
    return stack.data_dir / "backups"


def made_at(path: Path, prefix: str = "") -> datetime | None:
    """When the backup at ``path`` was made, from its name; None for a file that is not
    a backup named with ``prefix``."""
    name = path.name
    if not (name.startswith(prefix + _NAME) and name.endswith(_SUFFIX)):
        return None
    stamp = name[len(prefix + _NAME) : -len(_SUFFIX)]
    try:
        return datetime.strptime(stamp, _STAMP).replace(tzinfo=UTC)
    except ValueError:
        return None


def made(directory: Path, prefix: str = "") -> list[tuple[datetime, Path]]:
    """The backups in ``directory`` named with ``prefix``, oldest first."""
    found = [
        (t, p) for p in directory.glob(f"{prefix}{_NAME}*{_SUFFIX}") if (t := made_at(p, prefix))
    ]
    return sorted(found)


def _refuse_external(stack: EmbeddedStack) -> None:
    if stack.external_db:
        raise StackError(
            "BANK_DATABASE_URL names an external database: back it up with its provider's"
            " tools (docs/adr/0720); this command backs up the embedded one."
        )


def _pg(exe: str, *args: str, timeout: float = 600.0) -> str:
    """A PostgreSQL client program (over TCP, as the server's superuser: trust on
    loopback, as every tool of the embedded stack); what it printed."""
    result = subprocess.run(
        [str(pg_bin(exe)), *args], capture_output=True, text=True, timeout=timeout, cwd="/"
    )
    if result.returncode != 0:
        raise StackError(f"{exe} failed ({result.returncode}): {result.stderr.strip()}")
    return result.stdout


def contents(stack: EmbeddedStack) -> Contents:
    conn = pg_connect(stack.postgres.superuser_url(DATABASE))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass('public.events')")
            if cur.fetchone()[0] is None:  # never migrated: an empty bank
                return Contents(0, 0, None)
            cur.execute(
                "SELECT count(*), count(DISTINCT stream_id) FILTER"
                " (WHERE stream_type = 'account'), max(recorded_at) FROM events"
            )
            events, accounts, newest = cur.fetchone()
    finally:
        conn.close()
    return Contents(int(events), int(accounts), newest)


class _ServersForAWhile:
    """The stack's servers (no apps) while a command needs them: already running, they
    are used as they are; else started, and stopped after."""

    def __init__(self, stack: EmbeddedStack) -> None:
        self.stack = stack
        self.started = False

    def __enter__(self) -> EmbeddedStack:
        if self.stack.postgres.running_pid() is None:
            self.stack.start()
            self.started = True
        return self.stack

    def __exit__(self, *exc: object) -> None:
        if self.started:
            self.stack.stop()


def backup(stack: EmbeddedStack, out_dir: Path | None = None) -> tuple[Path, Contents]:
    """One consistent copy of the database, its servers started for the while if they
    are not running; its path and what it holds."""
    _refuse_external(stack)
    with _ServersForAWhile(stack):
        return dump(stack, out_dir)


def dump(
    stack: EmbeddedStack, out_dir: Path | None = None, prefix: str = ""
) -> tuple[Path, Contents]:
    """One consistent copy of the running database (``StackError`` when it is not: this
    starts nothing); its path and what it holds. ``prefix``: ``auto-`` for the scheduled
    ones (infra/local/backup_schedule.py)."""
    _refuse_external(stack)
    if stack.postgres.running_pid() is None:
        raise StackError("PostgreSQL is not running (stopped, or restarting): no backup now")
    out = (out_dir or default_dir(stack)).resolve()
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{prefix}{_NAME}{datetime.now(UTC).strftime(_STAMP)}{_SUFFIX}"
    partial = path.with_name(path.name + ".partial")
    held = contents(stack)
    _pg("pg_dump", "-Fc", "-d", stack.postgres.superuser_url(DATABASE), "-f", str(partial))
    partial.rename(path)  # a backup is whole or absent
    return path, held


def restore(stack: EmbeddedStack, backup_file: Path) -> tuple[Contents, Path]:
    """The database as it was in ``backup_file``, on a stopped stack: what it holds now, and
    the backup of what it held before (a restore can be undone by restoring that)."""
    _refuse_external(stack)
    backup_file = backup_file.resolve()
    if not backup_file.is_file():
        raise StackError(f"no backup at {backup_file}")
    live = [r.name for r in stack.running_records()]
    if live:
        raise StackError(
            f"the stack of {stack.data_dir} is running ({', '.join(live)}): stop it first"
            " (Ctrl-C, or ./task down), then restore."
        )
    if stack.external_redis or stack.external_kafka:
        raise StackError(
            "BANK_REDIS_URL or BANK_KAFKA_BOOTSTRAP names an external server: its cache,"
            " sessions and topics hold the later state, and this command empties only the"
            " embedded ones. Follow infra/README.md ('After the event store is restored')."
        )
    _check_restorable(backup_file)  # before anything is dropped
    with _ServersForAWhile(stack):
        before, _ = dump(stack)
        _drop_database(stack)
        stack.postgres.bootstrap_roles()  # the database again, empty, with its grants
        _pg(
            "pg_restore",
            "--exit-on-error",
            "--single-transaction",
            "-d",
            stack.postgres.superuser_url(DATABASE),
            str(backup_file),
        )
        _forget_the_broker_and_slot(stack)
        stack.migrate()
        _empty_redis(stack)
        return contents(stack), before


def _check_restorable(dump: Path) -> None:
    """Refuse, before anything changes, a file that is not a backup, and a backup of a
    newer platform (a migration this code does not have: its tables would not be what
    the code reads, and migrating cannot take it back)."""
    try:
        listed = _pg("pg_restore", "--data-only", "--table=schema_migrations", "-f", "-", str(dump))
    except StackError as exc:
        raise StackError(f"{dump} is not a backup of this stack: {exc}") from None
    rows = listed.split("COPY public.schema_migrations", 1)[-1].split("\n\\.", 1)[0]
    names = {line.split("\t", 1)[0] for line in rows.splitlines()[1:] if "\t" in line}
    unknown = sorted(names - {p.name for p in MIGRATIONS_DIR.glob("*.sql")})
    if unknown:
        raise StackError(
            f"{dump} is of a newer version of the platform (migrations {', '.join(unknown)}"
            " are not in this one): restore it with the code it was made with."
        )


def _drop_database(stack: EmbeddedStack) -> None:
    conn = pg_connect(stack.postgres.superuser_url())
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (DATABASE,),
            )
            cur.execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
                " WHERE database = %s",
                (DATABASE,),
            )
            cur.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    finally:
        conn.close()


def _forget_the_broker_and_slot(stack: EmbeddedStack) -> None:
    conn = pg_connect(stack.postgres.superuser_url(DATABASE))
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            for table in _FORGOTTEN_AFTER_RESTORE:
                cur.execute("SELECT to_regclass(%s)", (f"public.{table}",))
                if cur.fetchone()[0] is not None:
                    cur.execute(f"DELETE FROM {table}")
    finally:
        conn.close()


def _empty_redis(stack: EmbeddedStack) -> None:
    import redis

    client = redis.Redis.from_url(stack.redis_url, socket_timeout=10)
    try:
        client.flushall()
    finally:
        client.close()
