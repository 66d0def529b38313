"""A process whose event loop stops coming round ends itself, so that it is started again.

An API worker answers everything from one event loop, ``GET /health/live`` included.
With several workers (``BANK_API_WORKERS``) they share one listening socket, and a
probe (the supervisor of ``./task up``, Kubernetes) reaches whichever worker accepts
it. A worker whose loop is wedged (a call that never returns, a blocking call in a
coroutine) accepts nothing, so no probe ever reaches it; uvicorn's process manager
pings it from a thread of its own, which still answers. The requests it had accepted
wait for good.

So each worker watches its own loop: the loop stamps the time every ``BEAT_SECONDS``,
and a thread looks as often. When the last stamp is older than the stall threshold the
thread logs where the loop is stuck (its stack) and ends the process with
``EXIT_CODE``. Whoever started it starts another: uvicorn's manager a worker, the
supervisor of ``./task up`` the API process (one worker), Kubernetes the container.
Gunicorn's worker timeout does the same for its workers (docs/adr/0714).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager

log = logging.getLogger("bank.loop_watchdog")

BEAT_SECONDS = 1.0
# EX_SOFTWARE. Not uvicorn's 3 ("failed at start-up"), on which its manager gives up.
EXIT_CODE = 70
# How long the reason may take to be written before the process ends without it.
SAY_SECONDS = 2.0


class LoopWatchdog:
    """Started from the loop's own thread (``start()``); ``stop()`` before a shutdown."""

    def __init__(
        self,
        stall_seconds: float,
        *,
        beat: float = BEAT_SECONDS,
        on_stall: Callable[[str], None] | None = None,
    ) -> None:
        self.stall_seconds = stall_seconds
        self.beat = min(beat, stall_seconds / 4)  # a beat never looks like a stall
        self._on_stall = on_stall or end_process
        self._last = time.monotonic()
        self._stop = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._beat: asyncio.TimerHandle | None = None

    def start(self) -> LoopWatchdog:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._stamp()
        threading.Thread(target=self._watch, name="loop-watchdog", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._beat is not None:
            self._beat.cancel()

    def _stamp(self) -> None:
        self._last = time.monotonic()
        if not self._stop.is_set() and self._loop is not None:
            self._beat = self._loop.call_later(self.beat, self._stamp)

    def _watch(self) -> None:
        while not self._stop.wait(self.beat):
            late = time.monotonic() - self._last
            if late > self.stall_seconds:
                self._on_stall(
                    f"the event loop has not come round for {late:.1f}s (the limit is "
                    f"{self.stall_seconds:g}s); ending the process so that it is started "
                    f"again. The loop is in:\n{self._where()}"
                )
                return

    def _where(self) -> str:
        frame = sys._current_frames().get(self._loop_thread)
        return "".join(traceback.format_stack(frame)) if frame is not None else "(no stack)\n"


@contextmanager
def loop_watched(stall_seconds: float) -> Iterator[None]:
    """The running loop watched while inside; a threshold of 0 watches nothing."""
    watchdog = LoopWatchdog(stall_seconds).start() if stall_seconds else None
    try:
        yield
    finally:
        if watchdog is not None:
            watchdog.stop()


def end_process(message: str) -> None:
    """Log why, flush the logs, and end the process at once (no clean-up: the loop that
    would run it is the one that is stuck).

    The stuck thread may hold a lock the log needs: a handler's, or stderr's buffer
    (stopped in the middle of a log line, or in a write to a full pipe). So the log is
    given SAY_SECONDS in a thread of its own; if it does not get through, the words go
    to file descriptor 2 past Python's locks, given as long; the process ends either
    way. Without this a worker wedged in a log line was seen ending only when the wedge
    ended."""
    if not _within(SAY_SECONDS, _log_and_flush, message):
        line = f"CRITICAL {log.name}: {message}\n".encode(errors="replace")
        _within(SAY_SECONDS, os.write, 2, line)
    os._exit(EXIT_CODE)


def _log_and_flush(message: str) -> None:
    log.critical(message)
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stderr.flush()


def _within(seconds: float, call: Callable[..., object], *args: object) -> bool:
    """Whether ``call(*args)``, run in a daemon thread, returned within ``seconds``."""
    done = threading.Event()

    def run() -> None:
        call(*args)
        done.set()

    threading.Thread(target=run, name="loop-watchdog-say", daemon=True).start()
    return done.wait(seconds)
