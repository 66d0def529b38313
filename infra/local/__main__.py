"""CLI: python -m infra.local up [--tls] | down | status | env | exec -- CMD | run-migrations
| backup [--out DIR] | restore FILE --yes"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import time
from pathlib import Path
from types import FrameType

import psutil

from infra.local.apps import APPS, start_api
from infra.local.backup_schedule import (
    BackupSchedule,
    BackupScheduleError,
    Schedule,
    read_status,
)
from infra.local.ports import APP_PORTS
from infra.local.procs import PidRecord, ProcessFailedError
from infra.local.stack import EmbeddedStack, StackError, module_exists
from infra.local.supervisor import Supervisor


class _Shutdown(Exception):
    pass


def _on_signal(signum: int, frame: FrameType | None) -> None:
    raise _Shutdown(signal.Signals(signum).name)


def _say(msg: str) -> None:
    try:
        print(f"[infra.local] {msg}", flush=True)
    except OSError:  # the terminal went away (SIGHUP) or a closed pipe: keep stopping cleanly
        pass


def cmd_up(args: argparse.Namespace) -> int:
    stack = EmbeddedStack()
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)  # the terminal closed
    t0 = time.monotonic()
    try:
        stack.check_not_running()
        if not args.no_apps:  # a clear error now rather than a crashed app later
            stack.check_ports(
                [APP_PORTS[n] for n, (m, _) in APPS.items() if module_exists(m) and n in APP_PORTS]
            )
        schedule = Schedule.from_env(os.environ)
    except (StackError, BackupScheduleError) as exc:
        _say(f"error: {exc}")  # nothing of ours was started: leave everything as it is
        return 1
    except _Shutdown:
        return 1
    code = 0
    try:
        stack.start()
        launcher = stack.pid_path("launcher")
        PidRecord("launcher", os.getpid(), psutil.Process().create_time(), sys.argv).save(launcher)
        ours = [
            n
            for n, ext in (
                ("postgres", stack.external_db),
                ("redis", stack.external_redis),
                ("kafka", stack.external_kafka),
            )
            if not ext
        ]
        _say(
            f"servers up in {time.monotonic() - t0:.1f}s: "
            + (", ".join(f"{n} :{getattr(stack.ports, n)}" for n in ours) or "all external")
        )
        applied = stack.migrate()
        _say("migrations applied: " + (", ".join(applied) if applied else "none pending"))
        started = [] if args.no_apps else _start_apps(stack, tls=args.tls)
        stack.save_state()  # now with the API's scheme
        _banner(stack, started, time.monotonic() - t0)
        _supervise(stack, schedule)
    except _Shutdown as exc:
        _say(f"{exc}: stopping")
    except Exception as exc:  # noqa: BLE001 - say it plainly, then stop what we started
        _say(f"error: {type(exc).__name__}: {exc}")
        code = 1
    finally:
        _stop(stack)
    return code


def _stop(stack: EmbeddedStack) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    stack.stop()
    stack.pid_path("launcher").unlink(missing_ok=True)
    _say("stopped")


def _start_apps(stack: EmbeddedStack, *, tls: bool) -> list[str]:
    started = []
    for name, (module, starter) in APPS.items():
        if not module_exists(module):
            _say(f"{name}: skipped ({module} does not exist yet)")
            continue
        t = time.monotonic()
        started.append(name)
        if name == "api":
            start_api(stack, tls=tls)  # the platform is no use without it: failing is fatal
        else:
            try:
                starter(stack, timeout=20.0)  # type: ignore[operator]
            except ProcessFailedError as exc:
                if stack.processes[name].alive:
                    _say(
                        f"{name}: running, but not answering yet on port "
                        f"{stack.processes[name].port}"
                    )
                else:
                    _say(f"{name}: failed to start, will retry: {exc}")
                continue
        _say(f"{name}: started in {time.monotonic() - t:.1f}s")
    return started


def _banner(stack: EmbeddedStack, started: list[str], elapsed: float) -> None:
    lines = [f"stack is up in {elapsed:.1f}s"]
    if "api" in started:
        lines += [f"  API         {stack.api_url}", f"  OpenAPI     {stack.api_url}/schema"]
    if "client" in started:
        lines.append(f"  client      {stack.client_url}")
    lines += _admin_lines(stack, since=time.time() - elapsed)
    lines += [
        f"  PostgreSQL  {stack.database_url}  (admin {stack.admin_database_url})",
        f"  Redis       {stack.redis_url}",
        f"  Kafka       {stack.kafka_bootstrap}",
        f"  logs        {stack.logs_dir}/<name>.log",
        "  Ctrl-C stops everything; `./task status` shows what runs.",
    ]
    try:
        print("\n".join(lines), flush=True)
    except OSError:
        pass


def _admin_lines(stack: EmbeddedStack, since: float) -> list[str]:
    """The dev bootstrap admin: the API writes a generated password to
    <data_dir>/secrets/admin_password; it is shown in full only on the run that created it."""
    path = stack.data_dir / "secrets" / "admin_password"
    if not path.exists():
        return []
    email = os.environ.get("BANK_BOOTSTRAP_ADMIN_EMAIL", "admin@bank.local")
    if path.stat().st_mtime >= since:
        return [f"  admin       {email}  password {path.read_text().strip()}  (kept in {path})"]
    return [f"  admin       {email}  (password in {path})"]


def _supervise(stack: EmbeddedStack, schedule: Schedule) -> None:
    """Restart what dies (with backoff), PostgreSQL included, and what is alive but stuck;
    back the database up on a schedule beside it (the embedded one only)."""
    scheduled = None
    if not stack.external_db:
        scheduled = BackupSchedule(stack, schedule, say=_say).start()
        _say(scheduled.status.line())
    try:
        Supervisor(stack, say=_say).run()
    finally:
        if scheduled is not None:
            scheduled.stop()


def cmd_down(args: argparse.Namespace) -> int:
    stack = EmbeddedStack()
    stopped = stack.down()
    _say("stopped: " + ", ".join(stopped) if stopped else f"nothing running in {stack.data_dir}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    stack = EmbeddedStack()
    print(f"stack data dir {stack.data_dir}")
    rows = stack.status()
    for row in rows:
        print("  " + row.line())
    scheduled = read_status(stack)
    if scheduled is not None and any(r.name == "launcher" and r.running for r in rows):
        print("  " + scheduled.line())  # the schedule runs under `./task up`
    print(f"logs in {stack.logs_dir}")
    return 0


def _env_for(stack: EmbeddedStack) -> dict[str, str]:
    state = stack.saved_state()
    return dict(state["env"]) if state else stack.env()


def cmd_env(args: argparse.Namespace) -> int:
    for key, value in _env_for(EmbeddedStack()).items():
        print(f"export {key}={shlex.quote(value)}")
    return 0


def cmd_exec(args: argparse.Namespace) -> int:
    command = [c for c in args.command if c != "--"] if args.command[:1] == ["--"] else args.command
    if not command:
        _say("usage: python -m infra.local exec -- CMD [ARGS...]")
        return 2
    stack = EmbeddedStack()
    env = stack.process_env(_env_for(stack))
    if command[0] == "python":
        command[0] = sys.executable
    os.execvpe(command[0], command, env)


def cmd_migrate(args: argparse.Namespace) -> int:
    stack = EmbeddedStack()
    if not stack.external_db and stack.postgres.running_pid() is None:
        _say("PostgreSQL is not running: start the stack with `./task up` first")
        return 1
    state = stack.saved_state()
    url = state["env"]["BANK_ADMIN_DATABASE_URL"] if state else stack.admin_database_url
    import asyncio

    from server.adapters.migrations import migrate

    applied = asyncio.run(migrate(url))
    _say("migrations applied: " + (", ".join(applied) if applied else "none pending"))
    return 0


def _failed(exc: Exception) -> int:
    """Say why a command failed, in a line (ours plainly, another with its type)."""
    _say(f"error: {exc}" if isinstance(exc, StackError) else f"error: {type(exc).__name__}: {exc}")
    return 1


def cmd_backup(args: argparse.Namespace) -> int:
    from infra.local import backups

    try:
        path, held = backups.backup(EmbeddedStack(), Path(args.out) if args.out else None)
    except Exception as exc:  # noqa: BLE001 - said plainly
        return _failed(exc)
    _say(f"backup {path} ({path.stat().st_size:,} bytes): {held.line()}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from infra.local import backups

    stack = EmbeddedStack()
    if not args.yes:
        _say(
            f"restore {args.file} would replace every account, payment and user of"
            f" {stack.data_dir} with the backup's, and end every session (what is there now"
            " is backed up first). Run again with --yes to do it."
        )
        return 2
    try:
        now, before = backups.restore(stack, Path(args.file))
    except Exception as exc:  # noqa: BLE001 - said plainly
        return _failed(exc)
    _say(f"restored {args.file}: {now.line()}")
    _say(f"what was there before is in {before}")
    _say("start the stack (./task up): the read side catches up from the restored events")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.local", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="start the whole platform in the foreground")
    up.add_argument("--tls", action="store_true", help="serve the API over HTTPS (self-signed)")
    up.add_argument(
        "--no-apps",
        action="store_true",
        help="only the servers and migrations (run the apps yourself)",
    )
    up.set_defaults(func=cmd_up)
    sub.add_parser("down", help="stop a stack left running").set_defaults(func=cmd_down)
    sub.add_parser("status", help="what runs where").set_defaults(func=cmd_status)
    sub.add_parser("env", help="print the stack's BANK_* env as export lines").set_defaults(
        func=cmd_env
    )
    ex = sub.add_parser("exec", help="run a command with the stack's env")
    ex.add_argument("command", nargs=argparse.REMAINDER)
    ex.set_defaults(func=cmd_exec)
    sub.add_parser("run-migrations", help="apply pending migrations").set_defaults(func=cmd_migrate)
    bk = sub.add_parser("backup", help="a consistent copy of the database (running or not)")
    bk.add_argument("--out", help="the directory (default: <data dir>/backups)")
    bk.set_defaults(func=cmd_backup)
    rs = sub.add_parser("restore", help="the database as in a backup (the stack stopped)")
    rs.add_argument("file", help="a backup written by `backup`")
    rs.add_argument("--yes", action="store_true", help="do it (it replaces what is there)")
    rs.set_defaults(func=cmd_restore)
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
