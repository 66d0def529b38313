"""A small process supervisor: start, signal, restart and wait for local processes.

Every process gets its own session (so Ctrl-C in the terminal reaches only the
launcher, which then stops children in order), a log file, and a pid record
(JSON) that lets a later `down` or `up` tell a live process of ours from a
stale pid reused by something else.
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from infra.local.ports import port_open

ReadyCheck = Callable[[], bool]


class ProcessFailedError(RuntimeError):
    """A process exited or never became ready; the message carries its log tail."""


@dataclass
class PidRecord:
    name: str
    pid: int
    create_time: float
    argv: list[str]
    port: int | None = None

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self)))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> PidRecord | None:
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def is_alive_and_ours(self) -> bool:
        """The pid is alive AND is the process we started (same start time)."""
        try:
            proc = psutil.Process(self.pid)
            return abs(proc.create_time() - self.create_time) < 1.0 and proc.status() != "zombie"
        except psutil.Error:
            return False


def live_record(path: Path) -> PidRecord | None:
    """The record at path if its process still runs; a stale file is removed."""
    rec = PidRecord.load(path)
    if rec is not None and rec.is_alive_and_ours():
        return rec
    path.unlink(missing_ok=True)
    return None


def terminate_pid(rec: PidRecord, timeout: float = 10.0) -> None:
    """SIGTERM the record's process group, then SIGKILL after timeout."""
    if not rec.is_alive_and_ours():
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        _signal_group(rec.pid, sig)
        deadline = time.monotonic() + (timeout if sig == signal.SIGTERM else 5.0)
        while time.monotonic() < deadline:
            if not rec.is_alive_and_ours():
                return
            time.sleep(0.05)


def _signal_group(pid: int, sig: int, fallback: bool = True) -> None:
    try:
        os.killpg(pid, sig)  # each child leads its own session/group
    except (ProcessLookupError, PermissionError):
        if not fallback:
            return
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _rotate(path: Path, max_bytes: int = 50 * 1024 * 1024) -> None:
    """Keep one previous log (<name>.log.1) once a log passes max_bytes."""
    try:
        if path.stat().st_size > max_bytes:
            os.replace(path, path.with_name(path.name + ".1"))
    except OSError:
        pass


def tcp_ready(port: int, host: str = "127.0.0.1") -> ReadyCheck:
    return lambda: port_open(port, host)


def _self_signed_accepted() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


# For asking the stack's own servers over https: `./task up -- --tls` serves the API
# with a self-signed certificate (infra/local/tls.py).
SELF_SIGNED_ACCEPTED = _self_signed_accepted()


def http_ready(url: str) -> ReadyCheck:
    """Ready when GET url answers 2xx (self-signed TLS accepted)."""

    def check() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=1.0, context=SELF_SIGNED_ACCEPTED) as resp:
                return 200 <= resp.status < 300
        except (urllib.error.URLError, OSError, ValueError):
            return False

    return check


class ManagedProcess:
    """One supervised process: ``start``, ``wait_ready``, ``kill``, ``stop``, ``restart``."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        log_path: Path,
        pid_path: Path,
        ready: ReadyCheck | None = None,
        port: int | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.cwd = cwd
        self.log_path = log_path
        self.pid_path = pid_path
        self.ready = ready
        self.port = port
        self.url: str | None = None  # base URL, for HTTP servers
        self._popen: subprocess.Popen[bytes] | None = None

    # -- state -------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen is not None else None

    @property
    def alive(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return self._popen.poll() if self._popen is not None else None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # -- lifecycle ---------------------------------------------------------
    def start(self) -> ManagedProcess:
        if self.alive:
            raise RuntimeError(f"{self.name} already running (pid {self.pid})")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        _rotate(self.log_path)
        with open(self.log_path, "ab") as log:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            log.write(f"\n=== {stamp} start: {' '.join(self.argv)}\n".encode())
            log.flush()
            self._popen = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            created = psutil.Process(self._popen.pid).create_time()
        except psutil.Error:
            created = time.time()
        PidRecord(self.name, self._popen.pid, created, self.argv, self.port).save(self.pid_path)
        return self

    def wait_ready(self, timeout: float = 30.0) -> ManagedProcess:
        """Block until the ready check passes; raise with the log tail if it exits or times out."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.alive:
                raise ProcessFailedError(
                    f"{self.name} exited with code {self.returncode}; log {self.log_path}:\n"
                    + self.log_tail()
                )
            if self.ready is None or self.ready():
                return self
            if time.monotonic() > deadline:
                raise ProcessFailedError(
                    f"{self.name} not ready after {timeout:.0f}s; log {self.log_path}:\n"
                    + self.log_tail()
                )
            time.sleep(0.05)

    def kill(self, sig: int = signal.SIGKILL, timeout: float = 10.0) -> int | None:
        """Send sig to the process group. For SIGKILL/SIGTERM/SIGINT wait for the exit
        (up to timeout) and return the exit code; other signals return at once."""
        if not self.alive or self._popen is None:
            return self.returncode
        _signal_group(self._popen.pid, sig)
        if sig not in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT):
            return None
        try:
            code = self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self.pid_path.unlink(missing_ok=True)
        return code

    def stop(self, timeout: float = 10.0) -> int | None:
        """Graceful stop: SIGTERM, then SIGKILL after timeout."""
        if not self.alive:
            self.pid_path.unlink(missing_ok=True)
            return self.returncode
        code = self.kill(signal.SIGTERM, timeout)
        if code is None:
            code = self.kill(signal.SIGKILL, 5.0)
        # Grandchildren share the group; make sure none outlive the leader.
        if self._popen is not None:
            _signal_group(self._popen.pid, signal.SIGKILL, fallback=False)
        return code

    def restart(self, wait: bool = True, timeout: float = 30.0) -> ManagedProcess:
        self.stop()
        self.start()
        return self.wait_ready(timeout) if wait else self

    def wait(self, timeout: float | None = None) -> int:
        assert self._popen is not None
        return self._popen.wait(timeout)

    def __repr__(self) -> str:
        state = "running" if self.alive else f"exited({self.returncode})"
        return f"<ManagedProcess {self.name} pid={self.pid} {state}>"
