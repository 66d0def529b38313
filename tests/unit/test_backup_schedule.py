"""When the embedded stack's automatic backups are due, which are kept, and what
`./task status` says of them (infra/local/backup_schedule.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from infra.local.backup_schedule import (
    BackupScheduleError,
    Schedule,
    Status,
    first_due,
    newest_backup_at,
    prune,
)
from infra.local.backups import made_at

T0 = datetime(2026, 12, 7, 21, 0, tzinfo=UTC)


def _name(when: datetime, auto: bool = True) -> str:
    return f"{'auto-' if auto else ''}bank-{when:%Y%m%dT%H%M%S.%f}Z.dump"


def test_the_schedule_is_read_from_the_environment_with_a_daily_default() -> None:
    assert Schedule.from_env({}) == Schedule(every=timedelta(hours=24), kept=7)
    got = Schedule.from_env({"BANK_BACKUP_EVERY_HOURS": "0.5", "BANK_BACKUPS_KEPT": "3"})
    assert got == Schedule(every=timedelta(minutes=30), kept=3)
    assert Schedule.from_env({"BANK_BACKUP_EVERY_HOURS": "0"}).every is None  # off
    for bad in ({"BANK_BACKUP_EVERY_HOURS": "daily"}, {"BANK_BACKUPS_KEPT": "0"}):
        with pytest.raises(BackupScheduleError, match="BANK_BACKUP"):
            Schedule.from_env(bad)


def test_the_first_backup_of_a_run_counts_from_the_newest_one_of_either_kind() -> None:
    day = timedelta(hours=24)
    assert first_due(None, T0, day) == T0 + timedelta(seconds=60)  # none yet: soon
    assert first_due(T0 - timedelta(hours=30), T0, day) == T0 + timedelta(seconds=60)
    assert first_due(T0 - timedelta(hours=2), T0, day) == T0 + timedelta(hours=22)


def test_only_the_oldest_automatic_backups_go(tmp_path: Path) -> None:
    autos = [T0 + timedelta(hours=h) for h in range(5)]
    for when in autos:
        (tmp_path / _name(when)).write_bytes(b"x")
    by_hand = tmp_path / _name(T0 - timedelta(days=30), auto=False)
    by_hand.write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("not a backup")
    assert made_at(by_hand) == T0 - timedelta(days=30)
    assert made_at(tmp_path / _name(T0), "auto-") == T0 and made_at(tmp_path / _name(T0)) is None
    assert newest_backup_at(tmp_path) == autos[-1]

    removed = prune(tmp_path, kept=2)

    assert sorted(p.name for p in removed) == [_name(w) for w in autos[:3]]
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted([_name(autos[3]), _name(autos[4]), by_hand.name, "notes.txt"])


def test_status_says_when_the_last_one_failed() -> None:
    ok = Status(every_hours=24, newest_at="2026-12-07T21:01:00+00:00", next_at="tomorrow")
    assert ok.line() == ("backups: every 24 h, newest 2026-12-07T21:01:00+00:00, next tomorrow")
    failed = Status(every_hours=24, last_failure="StackError: disk full", last_failure_at="t")
    assert "newest none yet" in failed.line() and "FAILED at t: StackError: disk full" in (
        failed.line()
    )
    assert "off" in Status(every_hours=None).line()
