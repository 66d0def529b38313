"""Backups on a schedule while ``./task up`` runs (docs/adr/0720).

Every ``BANK_BACKUP_EVERY_HOURS`` (24 by default; 0 turns it off) the running database
is backed up (``backups.dump``: it starts nothing, so a PostgreSQL the supervisor is
restarting is a failure, tried again) as ``auto-bank-<UTC time>.dump`` beside the backups made
by hand. The newest ``BANK_BACKUPS_KEPT`` (7) automatic ones are kept and older
automatic ones removed; a backup made by hand, or before a restore, is never removed.

The period counts from the newest backup of either kind, so a bank that runs an hour a
day still gets one a day: when that is older than the period (or there is none), the
first is made ``START_DELAY_SECONDS`` after start (the stack is serving by then). A
failed backup (the database is restarting, the disk is full) is said and tried again
after ``RETRY_SECONDS``. What happened is kept in ``<data dir>/run/backups.json`` for
``./task status``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from infra.local import backups
from infra.local.stack import EmbeddedStack

EVERY_HOURS_VAR = "BANK_BACKUP_EVERY_HOURS"
KEPT_VAR = "BANK_BACKUPS_KEPT"
DEFAULT_EVERY_HOURS = 24.0
DEFAULT_KEPT = 7
AUTO_PREFIX = "auto-"
START_DELAY_SECONDS = 60.0
RETRY_SECONDS = 600.0
CHECK_SECONDS = 30.0  # how often the thread looks at the clock
STATUS_FILE = "backups.json"


class BackupScheduleError(ValueError):
    """A setting of the schedule that is not a number it can use."""


@dataclass(frozen=True)
class Schedule:
    every: timedelta | None  # None: no automatic backups
    kept: int

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Schedule:
        try:
            hours = float(environ.get(EVERY_HOURS_VAR, DEFAULT_EVERY_HOURS))
            kept = int(environ.get(KEPT_VAR, DEFAULT_KEPT))
        except ValueError as exc:
            raise BackupScheduleError(
                f"{EVERY_HOURS_VAR} takes hours (0: no automatic backups) and {KEPT_VAR} a"
                f" whole number of backups: {exc}"
            ) from None
        if hours < 0 or kept < 1:
            raise BackupScheduleError(
                f"{EVERY_HOURS_VAR} must be 0 or more and {KEPT_VAR} 1 or more"
            )
        return cls(every=timedelta(hours=hours) if hours else None, kept=kept)


def newest_backup_at(directory: Path) -> datetime | None:
    """When the newest backup of either kind (by hand, automatic) was made."""
    times = [t for prefix in ("", AUTO_PREFIX) for t, _ in backups.made(directory, prefix)]
    return max(times, default=None)


def first_due(newest: datetime | None, started: datetime, every: timedelta) -> datetime:
    """When the first automatic backup of a run is due."""
    soon = started + timedelta(seconds=START_DELAY_SECONDS)
    return soon if newest is None else max(soon, newest + every)


def prune(directory: Path, kept: int) -> list[Path]:
    """Remove the automatic backups older than the newest ``kept``; what was removed."""
    autos = [p for _, p in backups.made(directory, AUTO_PREFIX)]
    old = autos[:-kept]
    for path in old:
        path.unlink(missing_ok=True)
    return old


@dataclass
class Status:
    """What ``./task status`` says of the schedule."""

    every_hours: float | None
    next_at: str | None = None
    newest: str | None = None
    newest_at: str | None = None
    last_failure: str | None = None
    last_failure_at: str | None = None

    def line(self) -> str:
        if self.every_hours is None:
            return f"backups: automatic ones off ({EVERY_HOURS_VAR}=0)"
        text = f"backups: every {self.every_hours:g} h, newest {self.newest_at or 'none yet'}"
        text += f", next {self.next_at}" if self.next_at else ""
        if self.last_failure:
            text += f"; FAILED at {self.last_failure_at}: {self.last_failure}"
        return text


def read_status(stack: EmbeddedStack) -> Status | None:
    path = stack.run_dir / STATUS_FILE
    try:
        return Status(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


class BackupSchedule:
    def __init__(
        self,
        stack: EmbeddedStack,
        schedule: Schedule,
        *,
        say: Callable[[str], None] = print,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.stack = stack
        self.schedule = schedule
        self.say = say
        self.clock = clock
        self.directory = backups.default_dir(stack)
        every = schedule.every
        hours = every.total_seconds() / 3600 if every else None
        self.status = Status(every_hours=hours)
        self.due: datetime | None = None
        if every is not None:
            newest = newest_backup_at(self.directory)
            self.status.newest_at = newest.isoformat() if newest else None
            self.due = first_due(newest, clock(), every)
            self.status.next_at = self.due.isoformat()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._write_status()

    def tick(self) -> Path | None:
        """Back up if it is due; the backup made, if one was."""
        now, every = self.clock(), self.schedule.every
        if self.due is None or now < self.due:  # due is None exactly when every is
            return None
        assert every is not None
        stamp = now.isoformat()
        try:
            path, held = backups.dump(self.stack, prefix=AUTO_PREFIX)
        except Exception as exc:  # noqa: BLE001 - said, kept for status, tried again
            self.due = now + timedelta(seconds=RETRY_SECONDS)
            self.status.last_failure = f"{type(exc).__name__}: {exc}"[:500]
            self.status.last_failure_at = stamp
            self.say(f"automatic backup failed, trying again at {self.due:%H:%M}: {exc}")
            path = None
        else:
            self.due = now + every
            self.status.newest, self.status.newest_at = str(path), stamp
            self.status.last_failure = self.status.last_failure_at = None
            removed = prune(self.directory, self.schedule.kept)
            gone = f"; removed {len(removed)} older automatic one(s)" if removed else ""
            self.say(f"automatic backup {path}: {held.line()}{gone}")
        self.status.next_at = self.due.isoformat()
        self._write_status()
        return path

    def _write_status(self) -> None:
        path = self.stack.run_dir / STATUS_FILE
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(asdict(self.status)))
            tmp.replace(path)
        except OSError as exc:
            self.say(f"backup status not written: {exc}")

    # -- in a thread beside the supervisor ------------------------------------------
    def start(self) -> BackupSchedule:
        if self.schedule.every is not None:
            self._thread = threading.Thread(target=self._run, name="backups", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(CHECK_SECONDS):
            self.tick()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
