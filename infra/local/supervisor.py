"""Keep a stack's processes running AND progressing.

- A process that exits is restarted at once the first time, then with backoff (1 s
  doubling up to 30 s), back to "at once" after a minute of good health. Its exit is
  seen at the next pass (every 0.25 s): a SIGKILLed child needs no probe strikes.
- PostgreSQL (started by pg_ctl, not one of our children) is restarted when its
  postmaster is gone (checked every 0.5 s), and killed (a crash: it restarts with
  crash recovery) when it does not answer within its deadline several probes in a row
  (``health.LIVENESS``: an SSLRequest; docs/adr/0713).
- A pipeline process (``health.PIPELINE``: CDC connector, projection worker,
  notification consumer, scheduler) that is alive but stuck is killed (SIGKILL: a
  frozen process does not handle SIGTERM) and so restarted: its ``GET /health`` says
  "stalled", or does not answer within the deadline, several probes in a row. A port
  without the endpoint (no progress info) is watched for liveness only.
- The API, the web client, the embedded Redis and the embedded broker
  (``health.LIVENESS``) are killed and so restarted when they do not answer within
  their deadline several probes in a row: the API on its own liveness path (``GET
  /health/live``, answered by its event loop), the web client ``GET /``, Redis a PING,
  the broker an ApiVersions request. A frozen or wedged server serves no one
  (docs/adr/0712).

``./task up`` runs it in the foreground (``run()``); tests and the chaos suite run it
in a thread over their own stack (``start()`` / ``stop()``) and read ``restarts``.
"""

from __future__ import annotations

import concurrent.futures
import signal
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

import psutil

from infra.local import health
from infra.local.procs import ManagedProcess
from infra.local.stack import EmbeddedStack

TICK_SECONDS = 0.25  # one pass: exits seen, probes sent and read
POSTGRES_CHECK_SECONDS = 0.5
# Delay before restarting a process that exited: at once the first time (a crash or a
# kill -9 is one incident; waiting helps nothing), then 1 s doubling up to 30 s for a
# process that keeps exiting (docs/adr/0703-restart-an-exited-process-at-once.md).
FIRST_RESTART_DELAY = 0.0
BACKOFF_START = 1.0
BACKOFF_MAX = 30.0
HEALTHY_RUN_SECONDS = 60.0
ANSWER_TIMEOUT_SECONDS = 3.0
POSTGRES = "postgres"
# After its postmaster is killed, how long a backend may take to exit by itself (each
# notices its postmaster's death) before it is killed too: a frozen one never notices.
POSTGRES_KILL_GRACE_SECONDS = 3.0


@dataclass(frozen=True)
class Restart:
    """One intervention: what, when (time.time()), and why."""

    at: float
    name: str
    reason: str


@dataclass
class ProgressWatch:
    """Thresholds of the progress check (seconds)."""

    interval: float = 1.0  # between probes of one process
    timeout: float = 1.0  # a probe not answered by then counts as "no answer"
    strikes: int = 3  # consecutive stuck probes before a restart
    startup_grace: float = 30.0  # a process that never answered yet: no-answer is "starting"


# The API answers its liveness path from the event loop that serves requests, not from a
# thread of its own as the pipeline health is, and the servers answer between the
# requests they serve: the deadline is measured under load (docs/adr/0712).
ANSWER = ProgressWatch(interval=1.0, timeout=ANSWER_TIMEOUT_SECONDS, strikes=3)


class Supervisor:
    def __init__(
        self,
        stack: EmbeddedStack,
        *,
        say: Callable[[str], None] = print,
        names: Collection[str] | None = None,
        watch_progress: Collection[str] = health.PIPELINE,
        progress: ProgressWatch | None = None,
        watch_answer: Mapping[str, health.Ask] = health.LIVENESS,
        answer: ProgressWatch = ANSWER,
        watch_postgres: bool = True,
        tick: float = TICK_SECONDS,
    ) -> None:
        self.stack = stack
        self.say = say
        self.names = set(names) if names is not None else None  # None: every process
        self.watch_progress = set(watch_progress)
        self.progress = progress or ProgressWatch()
        self.watch_answer = dict(watch_answer)  # name -> how it is asked
        self.answer = answer
        self.watch_postgres = watch_postgres and not stack.external_db
        self.tick_seconds = tick
        self.restarts: list[Restart] = []
        self.last_health: dict[str, health.PipelineHealth] = {}
        # Per process, the slowest probe that was answered in time: how close a healthy
        # process comes to the deadline on this machine (read by the chaos suite).
        self.slowest_answer: dict[str, float] = {}
        self._backoff: dict[str, float] = {}
        self._due: dict[str, float] = {}
        self._since: dict[str, float] = {}
        self._pid: dict[str, int | None] = {}
        self._strikes: dict[str, int] = {}
        self._answered: set[str] = set()
        self._probes: dict[str, concurrent.futures.Future[tuple[health.PipelineHealth, float]]] = {}
        self._next_probe: dict[str, float] = {}
        self._next_pg_check = 0.0
        self._pool = concurrent.futures.ThreadPoolExecutor(4, thread_name_prefix="probe")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- running -----------------------------------------------------------
    def run(self) -> None:
        """Supervise until ``stop()`` (or an exception from a signal handler)."""
        try:
            while not self._stop.wait(self.tick_seconds):
                self.tick(time.monotonic())
        finally:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def start(self) -> Supervisor:
        self._thread = threading.Thread(target=self.run, name="supervisor", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=70)  # a PostgreSQL restart in progress may take a while

    def restarts_of(self, name: str) -> list[Restart]:
        return [r for r in self.restarts if r.name == name]

    # -- one pass ----------------------------------------------------------
    def tick(self, now: float) -> None:
        if self.watch_postgres and now >= self._next_pg_check:
            self._next_pg_check = now + POSTGRES_CHECK_SECONDS
            self._check_postgres(now)
        for name, proc in list(self.stack.processes.items()):
            if self.names is not None and name not in self.names:
                continue
            self._seen(name, proc.pid, now)
            if not proc.alive:
                self._restart_exited(name, proc, now)
            elif proc.port is not None and (
                name in self.watch_progress or name in self.watch_answer
            ):
                self._check_progress(name, proc, now)

    def _note(self, name: str, reason: str) -> None:
        self.restarts.append(Restart(time.time(), name, reason))

    def _check_postgres(self, now: float) -> None:
        pg = self.stack.postgres
        pid = pg.running_pid()
        if pid is None:
            self.say(f"postgres is not running; restarting it (log {pg.log_path})")
            self._note(POSTGRES, "not running")
            self._restart_postgres()
            return
        if POSTGRES not in self.watch_answer:
            return
        self._seen(POSTGRES, pid, now)
        reason = self._stuck(POSTGRES, pg.port, "http", now)
        if reason is None:
            return
        self.say(f"postgres (pid {pid}) is {reason}; killing it to restart it (log {pg.log_path})")
        self._note(POSTGRES, reason)
        # SIGKILL, as a crash: committed work is in the WAL, and crash recovery replays it.
        pg.kill(grace=POSTGRES_KILL_GRACE_SECONDS)
        self._restart_postgres()

    def _restart_postgres(self) -> None:
        pg = self.stack.postgres
        t0 = time.monotonic()
        _wait_gone(_stale_postmaster(pg.pgdata / "postmaster.pid"), 5.0)
        t1 = time.monotonic()
        try:
            pg.start()
            self.say(
                f"postgres restarted (old postmaster gone after {t1 - t0:.1f}s, "
                f"started in {time.monotonic() - t1:.1f}s)"
            )
        except RuntimeError as exc:
            self.say(f"postgres failed to restart: {exc}")

    def _restart_exited(self, name: str, proc: ManagedProcess, now: float) -> None:
        if name not in self._due:
            if now - self._since.get(name, now) > HEALTHY_RUN_SECONDS:
                self._backoff.pop(name, None)
            delay = self._backoff.get(name, FIRST_RESTART_DELAY)
            self.say(
                f"{name} exited with code {proc.returncode}; restarting "
                + (f"in {delay:.0f}s" if delay else "now")
                + f" (log {proc.log_path})"
            )
            self._note(name, f"exited with code {proc.returncode}")
            self._due[name] = now + delay
            self._backoff[name] = min(max(delay * 2, BACKOFF_START), BACKOFF_MAX)
        if now >= self._due[name]:
            del self._due[name]
            proc.start()
            self._seen(name, proc.pid, now)
            self.say(f"{name} restarted (pid {proc.pid})")

    # -- progress ----------------------------------------------------------
    def _seen(self, name: str, pid: int | None, now: float) -> None:
        """A pid not seen before is a (re)started process, here or by someone else: it
        starts with its startup grace and no strikes, and a probe of the previous
        process is ignored."""
        if self._pid.get(name) == pid:
            return
        self._pid[name] = pid
        self._since[name] = now
        self._strikes[name] = 0
        self._answered.discard(name)
        self._probes.pop(name, None)
        self._next_probe[name] = 0.0

    def _how_asked(self, name: str) -> tuple[health.Ask, ProgressWatch]:
        """A process with no progress document is asked whether it answers (LIVENESS);
        a pipeline process for its progress."""
        ask = self.watch_answer.get(name)
        return (ask, self.answer) if ask is not None else (health.ask_progress, self.progress)

    def _check_progress(self, name: str, proc: ManagedProcess, now: float) -> None:
        assert proc.port is not None
        reason = self._stuck(name, proc.port, health.scheme_of(proc.url), now)
        if reason is None:
            return
        self.say(f"{name} (pid {proc.pid}) is {reason}; killing it to restart it")
        self._note(name, reason)
        proc.kill(signal.SIGKILL, timeout=5.0)
        self._due[name] = now  # restart at the next pass, no backoff for a stuck process

    def _stuck(self, name: str, port: int, scheme: str, now: float) -> str | None:
        """Send the next probe when it is due, or read the one sent: why ``name`` is to
        be restarted once it has been stuck that many probes in a row, else None."""
        ask, watch = self._how_asked(name)
        pending = self._probes.get(name)
        if pending is None:
            if now >= self._next_probe.get(name, 0.0):
                self._probes[name] = self._pool.submit(
                    _timed_probe, ask, port, watch.timeout, scheme
                )
                self._next_probe[name] = now + watch.interval
            return None
        if not pending.done():
            return None
        del self._probes[name]
        result, took = pending.result()
        self.last_health[name] = result
        if result.state != health.NO_ANSWER:
            self.slowest_answer[name] = max(self.slowest_answer.get(name, 0.0), took)
        if not result.stuck:
            self._answered.add(name)
            self._strikes[name] = 0
            return None
        starting = name not in self._answered and now - self._since[name] < watch.startup_grace
        if result.state == health.NO_ANSWER and starting:
            return None
        self._strikes[name] = self._strikes.get(name, 0) + 1
        if self._strikes[name] < watch.strikes:
            return None
        why = result.error or result.summary()
        return f"alive but stuck: {result.state} {self._strikes[name]}x in a row ({why})"


def _timed_probe(
    ask: health.Ask, port: int, timeout: float, scheme: str
) -> tuple[health.PipelineHealth, float]:
    t0 = time.monotonic()
    result = ask(port, timeout, scheme)
    return result, time.monotonic() - t0


def _stale_postmaster(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None


def _wait_gone(pid: int | None, timeout: float) -> None:
    """A killed postmaster stays a zombie until reaped; PostgreSQL refuses to start while
    the pid in its lock file exists, so give the reaper a moment."""
    deadline = time.monotonic() + timeout
    while pid is not None and psutil.pid_exists(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
