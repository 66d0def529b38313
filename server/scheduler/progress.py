"""The scheduler's progress, for GET /health and the pipeline gauges (the "Pipeline
health" contract, served by runtime/consumer_health.py as the consumers' is).

A tick done (the due standing orders paid, the due holds expired) is progress, and so is
each payment made within a tick. Between two ticks the scheduler sleeps its interval, so
it is "stalled" only when it has made no progress for the stall threshold plus that
interval: a tick that hangs, or ticks that fail every time (PostgreSQL refusing them). It
reads no Kafka partitions, so its health document has no lag.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from runtime.consumer_progress import Progress

PROCESS = "scheduler"  # as GET /health and the pipeline gauges name it


class TickProgress(Progress):
    def __init__(
        self, stall_seconds: float, interval: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(PROCESS, stall_seconds + interval, clock)
        self.interval = interval

    def record_tick_started(self) -> None:
        self.record_batch_started()

    def record_tick_done(self) -> None:
        self.record_batch_done()

    def record_step(self) -> None:
        """One due payment made (or refused) within a tick: progress, so a long tick
        is not taken for a stuck one."""
        self.last_progress = self.clock()

    def health(self) -> dict[str, Any]:
        return {**self.progress_fields(), "interval_seconds": self.interval}
