"""Two ways to drive a system: open loop at a fixed offered rate, closed loop at saturation.

A call is ``async (i) -> None`` on success or an error label. Open-loop latency is
measured from the moment a call was *due*, not when it was sent, so a stalled
server cannot hide queueing (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

Call = Callable[[int], Awaitable[str | None]]


@dataclass
class Run:
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0


async def _timed(call: Call, i: int, due: float, run: Run) -> None:
    try:
        err = await call(i)
    except Exception as exc:  # noqa: BLE001 - a failed call is a data point, not a crash
        err = type(exc).__name__
    if err is None:
        run.latencies.append(time.perf_counter() - due)
    else:
        run.errors[err] += 1


async def closed_loop(call: Call, *, concurrency: int, duration: float, max_calls: int) -> Run:
    """``concurrency`` workers call back to back until ``duration`` or ``max_calls``."""
    run = Run()
    counter = iter(range(max_calls))
    start = time.perf_counter()
    deadline = start + duration

    async def worker() -> None:
        for i in counter:
            if time.perf_counter() >= deadline:
                return
            await _timed(call, i, time.perf_counter(), run)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    run.seconds = time.perf_counter() - start
    return run


async def open_loop(
    call: Call, *, rate: float, duration: float, max_inflight: int = 512, drain: float = 10.0
) -> Run:
    """Issue calls at ``rate`` per second for ``duration``; calls over ``max_inflight``
    are counted as 'client_overload' instead of piling up without bound."""
    run = Run()
    total = int(rate * duration)
    tasks: set[asyncio.Task[None]] = set()
    start = time.perf_counter()
    i = 0
    while i < total:
        now = time.perf_counter()
        due_count = min(total, int((now - start) * rate) + 1)
        while i < due_count:
            due = start + i / rate
            if len(tasks) >= max_inflight:
                run.errors["client_overload"] += 1
            else:
                t = asyncio.create_task(_timed(call, i, due, run))
                tasks.add(t)
                t.add_done_callback(tasks.discard)
            i += 1
        await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
    if tasks:
        done, pending = await asyncio.wait(set(tasks), timeout=drain)
        for t in pending:
            t.cancel()
            run.errors["timeout_at_end"] += 1
    run.seconds = time.perf_counter() - start
    return run
