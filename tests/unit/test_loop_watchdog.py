"""An event loop that stops coming round is reported with where it is stuck, and the
process then ends with its own exit code (runtime/loop_watchdog.py, docs/adr/0714)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
import time

from runtime.loop_watchdog import EXIT_CODE, LoopWatchdog, loop_watched


def _watched(body, stall: float) -> list[str]:  # type: ignore[no-untyped-def]
    """Run ``body`` on a loop watched with a ``stall`` threshold; what was reported."""
    reported: list[str] = []
    done = threading.Event()

    def on_stall(message: str) -> None:
        reported.append(message)
        done.set()

    async def main() -> None:
        watchdog = LoopWatchdog(stall, on_stall=on_stall).start()
        try:
            await body()
        finally:
            watchdog.stop()

    asyncio.run(main())
    return reported


def test_a_loop_that_keeps_coming_round_is_not_reported() -> None:
    async def busy_but_turning() -> None:
        for _ in range(20):
            time.sleep(0.05)  # blocking, but never for long
            await asyncio.sleep(0)

    assert _watched(busy_but_turning, stall=0.4) == []


def test_a_wedged_loop_is_reported_once_with_where_it_is() -> None:
    async def a_call_that_does_not_return() -> None:
        time.sleep(1.2)

    reported = _watched(a_call_that_does_not_return, stall=0.3)
    assert len(reported) == 1, reported
    assert "has not come round" in reported[0]
    assert "a_call_that_does_not_return" in reported[0]  # the loop's stack


def test_a_threshold_of_zero_watches_nothing() -> None:
    async def main() -> None:
        before = set(threading.enumerate())
        with loop_watched(0):
            started = set(threading.enumerate()) - before
        assert [t.name for t in started] == []
        with loop_watched(5.0):  # and the test can tell
            started = set(threading.enumerate()) - before
        assert [t.name for t in started] == ["loop-watchdog"]

    asyncio.run(main())


def test_a_beat_is_never_as_long_as_a_stall() -> None:
    assert LoopWatchdog(0.4).beat <= 0.1
    assert LoopWatchdog(10.0).beat == 1.0


def _wedged_process(before_the_wedge: str, wedge_seconds: int) -> tuple[str, str, float]:
    """A process whose loop is watched (0.3 s) and then blocked for ``wedge_seconds``
    after ``before_the_wedge`` (a line of Python); its stdout, stderr and how long it
    lived. It must end with the watchdog's code."""
    program = textwrap.dedent(
        f"""
        import asyncio, logging, time
        from runtime.loop_watchdog import LoopWatchdog
        logging.basicConfig(level=logging.INFO)

        async def main():
            LoopWatchdog(0.3).start()
            {before_the_wedge}
            time.sleep({wedge_seconds})
            print("never here")

        asyncio.run(main())
        """
    )
    t0 = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=2 * wedge_seconds
    )
    assert done.returncode == EXIT_CODE, done.stderr
    return done.stdout, done.stderr, time.monotonic() - t0


def test_by_default_the_process_logs_why_and_ends_with_its_own_code() -> None:
    stdout, stderr, lived = _wedged_process("pass", wedge_seconds=10)
    assert lived < 8, "it waited for the blocking call to return"
    assert "never here" not in stdout
    assert "has not come round" in stderr and "in main" in stderr


def test_a_loop_stuck_holding_the_log_lock_still_ends_the_process_and_says_why() -> None:
    """The loop's thread stopped in the middle of a log line holds the handler's lock:
    the watchdog's own log line must not wait for it (it waited until the wedge ended)."""
    # As if stopped inside emit():
    stdout, stderr, lived = _wedged_process(
        "logging.getLogger().handlers[0].acquire()", wedge_seconds=20
    )
    assert lived < 10, "it waited for the lock the stuck loop held"
    assert "never here" not in stdout
    assert "has not come round" in stderr and "in main" in stderr
