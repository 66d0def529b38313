"""A Kafka consumer's progress (the projection worker's, the notification
consumer's), for GET /health and the pipeline metrics (the "Pipeline health"
contract): lag per assigned partition, the age of the last progress, the
partitions marked failed.

Progress is a committed batch, or being idle with nothing to do (every
partition that is not failed at its high watermark, no batch in hand), as the
consumer's loop finds each time it comes round. The consumer is "stalled" when
its last progress is older than the threshold: it has work it does not get done
(a batch it keeps retrying, records waiting on a healthy partition), or its loop
has stopped coming round (stuck in a fetch, a rebalance or a call that does not
return), so the lag it last measured is stale and says nothing. A failed partition
is reported separately (``failed_partitions``, its own metric and alert): the
others keep progressing, and restarting the worker would only fail it again.

Pure: the consumer calls the ``record_*`` methods from its event loop; the
health endpoint (runtime/consumer_health.py) reads ``health()`` from its own
thread (plain attribute reads and dict copies, atomic under the GIL), so a
consumer whose loop hangs still answers, with a growing age.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from runtime.observability.pipeline import shown_age

OK = "ok"
STARTING = "starting"
STALLED = "stalled"

Partition = tuple[str, int]


def partition_name(tp: Partition) -> str:
    return f"{tp[0]}[{tp[1]}]"


@dataclass
class Progress:
    process: str  # as GET /health and the metrics' ``process`` label name it
    stall_seconds: float
    clock: Callable[[], float] = time.monotonic
    started: bool = False  # consuming (topics, catch-up and subscription done)
    busy: bool = False  # a batch is in hand (fetched, not yet committed)
    lag: dict[Partition, int] = field(default_factory=dict)
    failed: dict[Partition, str] = field(default_factory=dict)
    last_progress: float = 0.0

    def __post_init__(self) -> None:
        self.last_progress = self.clock()

    # -- what the worker reports ------------------------------------------
    def record_started(self) -> None:
        self.started = True
        self.last_progress = self.clock()

    def record_batch_started(self) -> None:
        self.busy = True

    def record_batch_done(self) -> None:
        """A batch was committed (or dropped as already applied): progress."""
        self.busy = False
        self.last_progress = self.clock()

    def record_lag(self, lag: Mapping[Partition, int]) -> None:
        """Records behind the high watermark of each assigned partition; being
        idle with nothing to do counts as progress."""
        self.lag = dict(lag)
        if not self.busy and not self.has_work():
            self.last_progress = self.clock()

    def record_failed(self, tp: Partition, error: str) -> None:
        self.failed[tp] = error

    def forget(self, partitions: Iterable[Partition]) -> None:
        """Revoked partitions are another worker's now."""
        for tp in partitions:
            self.lag.pop(tp, None)
            self.failed.pop(tp, None)

    # -- what the health endpoint and the metrics read ----------------------
    def has_work(self) -> bool:
        failed = self.failed
        return self.busy or any(n > 0 for tp, n in self.lag.items() if tp not in failed)

    def age(self) -> float:
        return max(self.clock() - self.last_progress, 0.0)

    def status(self, age: float | None = None) -> str:
        # Idle rounds count as progress, so an old age means work not done or a loop
        # that no longer comes round, whatever the last lag said.
        if (self.age() if age is None else age) > self.stall_seconds:
            return STALLED
        return OK if self.started else STARTING

    def progress_fields(self) -> dict[str, Any]:
        """What every health document of the contract starts with."""
        age = self.age()
        return {
            "process": self.process,
            "status": self.status(age),
            "last_progress_age_seconds": shown_age(age),
            "stall_threshold_seconds": self.stall_seconds,
        }

    def health(self) -> dict[str, Any]:
        lag: dict[str, dict[str, int]] = {}
        for (topic, partition), n in sorted(dict(self.lag).items()):
            lag.setdefault(topic, {})[str(partition)] = n
        failed = dict(self.failed)
        return {
            **self.progress_fields(),
            "lag": lag,
            "failed_partitions": [partition_name(tp) for tp in sorted(failed)],
            "failures": {partition_name(tp): err for tp, err in sorted(failed.items())},
        }
