"""EmbeddedStack: PostgreSQL + Redis + Tansu for one data dir, and the app processes on top.

Used by `python -m infra.local up` (fixed ports, data in .data/) and by the test
fixtures (free ports, a temporary data dir). Where BANK_DATABASE_URL,
BANK_REDIS_URL or BANK_KAFKA_BOOTSTRAP is set, that external service is used and
the embedded one is not started.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from infra.local import health
from infra.local.ports import (
    APP_PORTS,
    HOST,
    PORT_ENV_VARS,
    StackPorts,
    port_bindable,
    port_open,
)
from infra.local.procs import (
    ManagedProcess,
    PidRecord,
    ReadyCheck,
    live_record,
    terminate_pid,
)
from infra.local.services import (
    Postgres,
    kafka_api_versions,
    redis_argv,
    redis_ping,
    tansu_argv,
)
from shared.topics import DEFAULT_TOPIC_PARTITIONS

REPO_ROOT = Path(__file__).resolve().parents[2]
# The embedded broker (Tansu 0.6, memory engine) lists every batch stored in a
# partition on each fetch from it: one partition per keyed topic keeps that list
# short (docs/adr/0311-one-partition-on-the-embedded-broker.md).
EMBEDDED_TOPIC_PARTITIONS = 1
# ... and it keeps every record in memory with no retention: the CDC connector
# recycles the topics after this many batches in one partition, or this many MiB in
# all, once every platform consumer group has read them
# (docs/adr/0320-recycled-topics-bound-the-embedded-broker.md); 2,500 batches since a recycle
# holds the stream 0.19 s (docs/adr/0353-recycle-after-2500-batches.md).
EMBEDDED_RECYCLE_AFTER_BATCHES = 2_500
EMBEDDED_RECYCLE_AFTER_MIB = 128
DEFAULT_DATA_DIR = REPO_ROOT / ".data"


class StackError(RuntimeError):
    """A stack cannot start; the message says why and what to do."""


class StackAlreadyRunningError(StackError):
    pass


class PortInUseError(StackError):
    pass


@dataclass
class ServiceStatus:
    name: str
    running: bool
    pid: int | None
    where: str
    answering: bool = True  # answers what the supervisor asks (health.LIVENESS) / port accepts
    detail: str = ""  # pipeline processes: progress and lag from GET /health

    def line(self) -> str:
        state = ("up" if self.answering else "no-answer") if self.running else "down"
        pid = str(self.pid) if self.pid else "-"
        line = f"{self.name:<13} {state:<9} pid {pid:<8} {self.where}"
        return f"{line}\n{'':<13} {self.detail}" if self.detail else line


STATUS_ANSWER_SECONDS = 2.0


def _answers(name: str, port: int, scheme: str) -> bool:
    """What `./task status` calls answering: an answer to what the supervisor asks the
    process (health.LIVENESS; a page without a health document is an answer too), else
    a port that accepts connections. A frozen server's port still accepts them."""
    ask = health.LIVENESS.get(name)
    if ask is None:
        return port_open(port)
    return not ask(port, STATUS_ANSWER_SECONDS, scheme).stuck


@dataclass(frozen=True, slots=True)
class _Question:
    """What `./task status` asks one process, and, of a pipeline process that answers,
    its progress (GET /health)."""

    name: str
    port: int
    scheme: str

    def ask(self) -> tuple[bool, str]:
        answering = _answers(self.name, self.port, self.scheme)
        detail = ""
        if answering and self.name in health.PIPELINE:
            detail = health.probe(self.port, timeout=STATUS_ANSWER_SECONDS).summary()
        return answering, detail


def default_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(env.get("BANK_DATA_DIR") or DEFAULT_DATA_DIR).resolve()


def module_exists(module: str) -> bool:
    """True when the repo has the module (`pkg` → pkg/__main__.py, `a.b:x` → a/b.py)."""
    path = REPO_ROOT / module.split(":")[0].replace(".", "/")
    if ":" in module:
        return path.with_suffix(".py").exists() or (path / "__init__.py").exists()
    return (path / "__main__.py").exists()


class EmbeddedStack:
    """The servers for one data dir; ``start()``, ``spawn()`` app processes, ``stop()``."""

    SERVERS = ("postgres", "redis", "kafka")

    def __init__(
        self,
        data_dir: Path | str | None = None,
        ports: StackPorts | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        ephemeral: bool = False,
        shared_buffers: str = "256MB",
        topic_partitions: int | None = None,
        recycle_topics: bool = True,
    ) -> None:
        env = dict(os.environ if environ is None else environ)
        self.data_dir = Path(data_dir).resolve() if data_dir else default_data_dir(env)
        self.ports = ports or StackPorts.from_env(env)
        self.logs_dir = self.data_dir / "logs"
        self.run_dir = self.data_dir / "run"
        self.ephemeral = ephemeral
        self.external_db = env.get("BANK_DATABASE_URL") or None
        self.external_admin_db = env.get("BANK_ADMIN_DATABASE_URL") or self.external_db
        self.external_redis = env.get("BANK_REDIS_URL") or None
        self.external_kafka = env.get("BANK_KAFKA_BOOTSTRAP") or None
        # Partitions of the keyed topics: what the caller or the environment says,
        # else one on the embedded broker and Kafka's usual default elsewhere.
        if topic_partitions is None:
            topic_partitions = int(
                env.get("BANK_KAFKA_TOPIC_PARTITIONS")
                or (DEFAULT_TOPIC_PARTITIONS if self.external_kafka else EMBEDDED_TOPIC_PARTITIONS)
            )
        self.topic_partitions = topic_partitions

        # Topic recycling bounds the embedded broker only; the environment may say
        # otherwise (BANK_KAFKA_RECYCLE_AFTER_*; 0 turns it off), the caller may forbid it.
        def recycle_after(variable: str, embedded: int) -> int:
            if not recycle_topics:
                return 0
            return int(env.get(variable) or (0 if self.external_kafka else embedded))

        self.recycle_after_batches = recycle_after(
            "BANK_KAFKA_RECYCLE_AFTER_BATCHES", EMBEDDED_RECYCLE_AFTER_BATCHES
        )
        self.recycle_after_mib = recycle_after(
            "BANK_KAFKA_RECYCLE_AFTER_MIB", EMBEDDED_RECYCLE_AFTER_MIB
        )
        self.postgres = Postgres(
            self.data_dir,
            self.ports.postgres,
            self.logs_dir / "postgres.log",
            shared_buffers=shared_buffers,
            ephemeral=ephemeral,
        )
        self.processes: dict[str, ManagedProcess] = {}
        self.api_scheme = "http"
        self._started_pg = False

    # -- URLs and env ------------------------------------------------------
    @property
    def database_url(self) -> str:
        return self.external_db or f"postgresql://bank_app@{HOST}:{self.ports.postgres}/bank"

    @property
    def admin_database_url(self) -> str:
        return self.external_admin_db or f"postgresql://bank@{HOST}:{self.ports.postgres}/bank"

    @property
    def redis_url(self) -> str:
        return self.external_redis or f"redis://{HOST}:{self.ports.redis}/0"

    @property
    def kafka_bootstrap(self) -> str:
        return self.external_kafka or f"{HOST}:{self.ports.kafka}"

    @property
    def api_url(self) -> str:
        return f"{self.api_scheme}://{HOST}:{self.ports.api}"

    @property
    def client_url(self) -> str:
        return f"http://{HOST}:{self.ports.client}"

    def env(self) -> dict[str, str]:
        """The BANK_* variables every app process of this stack gets."""
        return {
            "BANK_DATABASE_URL": self.database_url,
            "BANK_ADMIN_DATABASE_URL": self.admin_database_url,
            "BANK_REDIS_URL": self.redis_url,
            "BANK_KAFKA_BOOTSTRAP": self.kafka_bootstrap,
            "BANK_KAFKA_TOPIC_PARTITIONS": str(self.topic_partitions),
            "BANK_KAFKA_RECYCLE_AFTER_BATCHES": str(self.recycle_after_batches),
            "BANK_KAFKA_RECYCLE_AFTER_MIB": str(self.recycle_after_mib),
            "BANK_KAFKA_MEMORY_ONLY": "false" if self.external_kafka else "true",
            "BANK_DATA_DIR": str(self.data_dir),
            # Maker-checker off: a fresh stack has one admin (tests turn it on per API).
            "BANK_APPROVAL_REQUIRED": "",
            "BANK_API_HOST": HOST,
            "BANK_API_URL": self.api_url,
            **self.ports.env(APP_PORTS.values()),
            "BANK_DEV_TOP_UPS": "true",  # development stack: customers may top up (#17)
        }

    def process_env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.env())
        env["PYTHONUNBUFFERED"] = "1"
        # Make the repo importable even when the package is not installed in editable mode.
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p
        )
        if extra:
            env.update(extra)
        return env

    # -- pid records -------------------------------------------------------
    def pid_path(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def running_records(self) -> list[PidRecord]:
        """Processes of this data dir that are alive and ours (stale files are removed)."""
        records = []
        if self.run_dir.exists():
            for path in sorted(self.run_dir.glob("*.pid")):
                rec = live_record(path)
                if rec is not None:
                    records.append(rec)
        return records

    def check_not_running(self) -> None:
        live = [f"{r.name} (pid {r.pid})" for r in self.running_records()]
        pg_pid = None if self.external_db else self.postgres.running_pid()
        if pg_pid is not None:
            live.append(f"postgres (pid {pg_pid})")
        if live:
            raise StackAlreadyRunningError(
                f"a stack from {self.data_dir} is already running: {', '.join(live)}.\n"
                "Stop it with `./task down` (or Ctrl-C in the terminal running `./task up`)."
            )

    def check_ports(self, names: Sequence[str]) -> None:
        """Raise PortInUseError when a port (by StackPorts field name) is taken."""
        for name in names:
            port = getattr(self.ports, name)
            if not port_bindable(port):
                hint = (
                    ", or use an external service (BANK_DATABASE_URL / BANK_REDIS_URL / "
                    "BANK_KAFKA_BOOTSTRAP)"
                    if name in self.SERVERS
                    else ""
                )
                raise PortInUseError(
                    f"port {HOST}:{port} ({name}) is in use by another process. Stop that "
                    f"process, or choose another port with {PORT_ENV_VARS[name]}{hint}."
                )

    # -- servers -----------------------------------------------------------
    def start(self) -> EmbeddedStack:
        """Start the embedded servers (those not replaced by external ones) and wait for them."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.logs_dir.mkdir(exist_ok=True)
        self.run_dir.mkdir(exist_ok=True)
        self.check_not_running()
        wanted = [
            name
            for name, external in (
                ("postgres", self.external_db),
                ("redis", self.external_redis),
                ("kafka", self.external_kafka),
            )
            if not external
        ]
        self.check_ports(wanted)
        started: list[ManagedProcess] = []
        try:
            if "redis" in wanted:
                started.append(
                    self._spawn_server(
                        "redis",
                        redis_argv(
                            self.ports.redis, self.data_dir / "redis", persistent=not self.ephemeral
                        ),
                        lambda: redis_ping(self.ports.redis),
                        self.ports.redis,
                    )
                )
            if "kafka" in wanted:
                started.append(
                    self._spawn_server(
                        "kafka",
                        tansu_argv(self.ports.kafka),
                        lambda: kafka_api_versions(self.ports.kafka),
                        self.ports.kafka,
                    )
                )
            if "postgres" in wanted:
                self._started_pg = True  # so that stop() cleans up a half-done start
                self.postgres.start()
            for proc in started:
                proc.wait_ready(30)
        except BaseException:
            self.stop()
            raise
        self.save_state()
        return self

    def _spawn_server(
        self, name: str, argv: list[str], ready: ReadyCheck, port: int
    ) -> ManagedProcess:
        proc = ManagedProcess(
            name,
            argv,
            env=dict(os.environ),
            cwd=self.data_dir,
            log_path=self.logs_dir / f"{name}.log",
            pid_path=self.pid_path(name),
            ready=ready,
            port=port,
        )
        self.processes[name] = proc
        return proc.start()

    def save_state(self) -> None:
        """Record URLs and ports in run/stack.json for status/env/exec of other processes."""
        state = {"ports": self.ports.as_dict(), "env": self.env(), "pid": os.getpid()}
        (self.run_dir / "stack.json").write_text(json.dumps(state, indent=2))

    def migrate(self) -> list[str]:
        """Apply server/migrations as the owner role; return the names applied now."""
        from server.adapters.migrations import migrate

        with concurrent.futures.ThreadPoolExecutor(1) as pool:  # safe inside a running loop
            return pool.submit(asyncio.run, migrate(self.admin_database_url)).result()

    # -- app processes -----------------------------------------------------
    def spawn(
        self,
        name: str,
        args: Sequence[str],
        *,
        ready: ReadyCheck | None = None,
        port: int | None = None,
        extra_env: Mapping[str, str] | None = None,
        wait: bool = True,
        timeout: float = 60.0,
    ) -> ManagedProcess:
        """Start ``python <args>`` with the stack's env; e.g. ``spawn("cdc", ["-m", "cdc"])``.

        Logs go to <data_dir>/logs/<name>.log, the pid record to <data_dir>/run/<name>.pid.
        The handle has ``.pid``, ``.kill(signal.SIGKILL)``, ``.restart()``, ``.stop()``.
        """
        old = self.processes.get(name)
        if old is not None and old.alive:
            raise StackError(f"{name} is already running (pid {old.pid})")
        proc = ManagedProcess(
            name,
            [sys.executable, *args],
            env=self.process_env(extra_env),
            cwd=REPO_ROOT,
            log_path=self.logs_dir / f"{name}.log",
            pid_path=self.pid_path(name),
            ready=ready,
            port=port,
        )
        self.processes[name] = proc
        proc.start()
        if wait:
            proc.wait_ready(timeout)
        return proc

    def stop_apps(self) -> None:
        for name in reversed(list(self.processes)):
            if name not in ("redis", "kafka"):
                self.processes.pop(name).stop()

    def stop(self) -> None:
        """Stop app processes (newest first), then the servers this object started."""
        self.stop_apps()
        for name in ("kafka", "redis"):
            proc = self.processes.pop(name, None)
            if proc is not None:
                proc.stop()
        if self._started_pg:
            self.postgres.stop()
            self._started_pg = False
        (self.run_dir / "stack.json").unlink(missing_ok=True)

    def restart_postgres(self, mode: str = "fast") -> None:
        """Restart the embedded PostgreSQL under the running apps, for recovery tests:
        ``mode="kill"`` is a SIGKILL of the postmaster, ``"fast"`` a fast shutdown."""
        if mode not in ("kill", "fast"):
            raise ValueError(f"restart mode {mode!r}: 'kill' or 'fast'")
        if self.external_db or not self._started_pg:
            raise StackError("PostgreSQL is not the embedded one this stack started")
        if mode == "kill":
            self.postgres.kill()
        else:
            self.postgres.stop()
        self.postgres.start()

    # -- status / down for a stack started by another process -------------
    def status(self) -> list[ServiceStatus]:
        """Every process of the stack, each asked at once (a frozen one takes up to
        STATUS_ANSWER_SECONDS to say nothing, and several would add up)."""
        state = self.saved_state()
        ports = StackPorts(**state["ports"]) if state else self.ports
        env = state["env"] if state else self.env()
        records = {r.name: r for r in self.running_records()}
        rows: list[tuple[ServiceStatus, _Question | None]] = []
        if self.external_db:
            rows.append(
                (ServiceStatus("postgres", True, None, f"external {self.external_db}"), None)
            )
        else:
            pid = self.postgres.running_pid()
            port = self.postgres.running_port() or ports.postgres
            row = ServiceStatus("postgres", pid is not None, pid, f"{HOST}:{port}")
            rows.append((row, None if pid is None else _Question("postgres", port, "http")))
        for name, url, external in (
            ("redis", env["BANK_REDIS_URL"], self.external_redis),
            ("kafka", env["BANK_KAFKA_BOOTSTRAP"], self.external_kafka),
        ):
            rec = records.pop(name, None)
            where = f"external {external}" if external else url
            row = ServiceStatus(name, bool(rec) or bool(external), rec.pid if rec else None, where)
            own_port = rec.port if rec is not None else None
            rows.append((row, None if own_port is None else _Question(name, own_port, "http")))
        launcher = records.pop("launcher", None)
        api_url = env.get("BANK_API_URL", "")
        for name, rec in records.items():
            where = _APP_WHERE.get(name, "{port}").format(port=rec.port, api=api_url, host=HOST)
            scheme = health.scheme_of(api_url if name == "api" else None)
            row = ServiceStatus(name, True, rec.pid, where)
            rows.append((row, None if rec.port is None else _Question(name, rec.port, scheme)))
        if launcher:
            rows.append((ServiceStatus("launcher", True, launcher.pid, "`./task up`"), None))
        questions = [q for _, q in rows if q is not None]
        with concurrent.futures.ThreadPoolExecutor(max(1, len(questions))) as pool:
            answers = iter(pool.map(_Question.ask, questions))  # in the order asked
        for row, question in rows:
            if question is not None:
                row.answering, row.detail = next(answers)
        return [row for row, _ in rows]

    def saved_state(self) -> dict | None:  # type: ignore[type-arg]
        try:
            return json.loads((self.run_dir / "stack.json").read_text())  # type: ignore[no-any-return]
        except (OSError, ValueError):
            return None

    def down(self, timeout: float = 20.0) -> list[str]:
        """Stop whatever of this data dir still runs (by pid records); return what was stopped."""
        stopped: list[str] = []
        records = {r.name: r for r in self.running_records()}
        launcher = records.pop("launcher", None)
        if launcher is not None:
            terminate_pid(launcher, timeout)  # it stops its children itself, in order
            stopped.append(f"launcher (pid {launcher.pid})")
            records = {r.name: r for r in self.running_records()}
            records.pop("launcher", None)
        order = [n for n in records if n not in ("redis", "kafka")] + ["kafka", "redis"]
        for name in order:
            rec = records.get(name)
            if rec is not None:
                terminate_pid(rec)
                self.pid_path(name).unlink(missing_ok=True)
                stopped.append(f"{name} (pid {rec.pid})")
        pid = self.postgres.running_pid()
        if pid is not None:
            self.postgres.stop()
            stopped.append(f"postgres (pid {pid})")
        (self.run_dir / "stack.json").unlink(missing_ok=True)
        return stopped


_APP_WHERE = {
    "api": "{api}  (OpenAPI {api}/schema)",
    "client": "http://{host}:{port}",
    **{name: "metrics http://{host}:{port}/metrics" for name in health.PIPELINE},
}


def wait_until(check: ReadyCheck, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return check()
