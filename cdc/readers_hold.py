"""On a broker that forgets, the slot holds what a platform reader has not read yet.

The embedded broker keeps records in memory only: restarted, it has lost every record
it acked, and every group's offsets. The connector confirms a WAL position to
PostgreSQL once Kafka acked everything up to it, and PostgreSQL may then drop that WAL.
So a record acked and confirmed, but not yet read by a consumer group, was lost for
good when the broker restarted: the projection worker catches up from the event store
after such a loss (server/projections), the notification consumer has nothing to catch
up from, and the chaos suite saw notifications lost that way (its consumer was
restarting when the broker was killed; docs/adr/0360).

So on such a broker (``KafkaSettings.memory_only``) a position is confirmed only once
every platform consumer group (``shared.topics.READERS``) has committed, on every
partition it reads, an offset at or past what Kafka had acked there when that position
was acked, or ``HOLD_AT_MOST_SECONDS`` after its ack, whichever comes first. A broker
restart then loses only what every group had read, or what a group left unread for
longer than that; the rest is still in the slot, and the next session sends it again
(the consumers are idempotent).

- ``mark`` is called as positions are acked (at most every confirm period), with what
  Kafka acked per partition then; ``clear`` asks the groups' committed offsets (at most
  once a second) and returns the newest position that may be confirmed.
- A group with no committed offset on the partitions of the marks is not waited for if
  it was never seen reading (a stack without it). One seen reading before (the broker
  restarted under it: it commits where it starts when it rejoins) is waited for as a
  lagging one is.
- Marks taken before the topics were recreated by a recycle are cleared: a recycle
  deletes the topics only after every group committed their ends (cdc/recycle.py).
- Nothing is held while PostgreSQL is away (``away()``, the connector's word): a
  PostgreSQL shutting down waits for its walsender, and the walsender for the
  connector to confirm everything it sent, while the consumers cannot read on (they
  write to that PostgreSQL). The connector learns it from its side connection, which
  a shutdown ends first, and which connects again once PostgreSQL is back
  (cdc/metrics.py ``watch_slot``; docs/adr/0362).
- The bound is for a group stopped for good: it does not keep the WAL for longer.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from aiokafka import TopicPartition

from shared.topics import READERS

log = logging.getLogger(__name__)

# A position waits at most this long after its ack for the groups to read past it.
# A consumer SIGKILLed and restarted reads again ~9 s later on the embedded broker (the
# rejoin waits out the dead member: 7.1 s measured, plus the process's start), ~12 s
# when it was frozen first (docs/adr/0362).
HOLD_AT_MOST_SECONDS = 30.0
# The groups are asked at most this often (ADR 0360: asked at every confirmation, every
# 0.1 s, it cost 25-45 µs of CPU per deposit at saturation, in the broker and here). The
# projection worker commits once a second under load anyway.
ASK_EVERY_SECONDS = 1.0

Committed = Callable[[str, list[TopicPartition]], Awaitable[dict[TopicPartition, int | None]]]


@dataclass(frozen=True, slots=True)
class _Mark:
    lsn: int
    at: float  # when it was acked (the hold's clock)
    generation: int  # Publisher.generation: recreations of the topics
    ends: dict[tuple[str, int], int]  # what Kafka had acked, per partition read by a group


class ReadersHold:
    def __init__(
        self,
        readers: Mapping[str, tuple[str, ...]] = READERS,
        *,
        seen: set[str] | None = None,
        away: Callable[[], bool] = lambda: False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._readers = readers
        self._topics = frozenset(t for topics in readers.values() for t in topics)
        self._marks: deque[_Mark] = deque()
        self.cleared_lsn = 0
        self._away = away  # PostgreSQL is away: no position waits
        # Groups seen reading: kept by the connector across its sessions.
        self._seen = seen if seen is not None else set()
        self._clock = clock
        self._asked_at = -ASK_EVERY_SECONDS
        self._behind: list[str] = []  # groups waited for that have no offset at all
        self._warned_at = -HOLD_AT_MOST_SECONDS

    @property
    def holding(self) -> bool:
        """Some acked position waits for a group."""
        return bool(self._marks)

    def mark(self, lsn: int, generation: int, acked_ends: Mapping[tuple[str, int], int]) -> None:
        """Everything up to ``lsn`` is acked; ``acked_ends``: what Kafka acked so far."""
        if self._away():
            self._marks.clear()
            self.cleared_lsn = max(self.cleared_lsn, lsn)
            return
        if lsn <= self.cleared_lsn or (self._marks and self._marks[-1].lsn >= lsn):
            return
        ends = {tp: n for tp, n in acked_ends.items() if tp[0] in self._topics}
        self._marks.append(_Mark(lsn, self._clock(), generation, ends))

    async def clear(self, committed: Committed, generation: int, *, now: bool = False) -> int:
        """The newest position that may be confirmed: every group has read past it, or
        it waited ``HOLD_AT_MOST_SECONDS``. ``now``: ask the groups even if they were
        asked less than a period ago."""
        marks = self._marks
        while marks and marks[0].generation < generation:
            self.cleared_lsn = marks.popleft().lsn
        if marks and (now or self._clock() - self._asked_at >= ASK_EVERY_SECONDS):
            self._asked_at = self._clock()
            offsets = await self._offsets(committed, marks[-1].ends)
            while marks and all(
                have.get(tp, -1) >= end
                for group, have in offsets.items()
                for tp, end in marks[0].ends.items()
                if tp[0] in self._readers[group]
            ):
                self.cleared_lsn = marks.popleft().lsn
        self._give_up_on_old_marks()
        return self.cleared_lsn

    async def _offsets(
        self, committed: Committed, ends: Mapping[tuple[str, int], int]
    ) -> dict[str, dict[tuple[str, int], int]]:
        """Per group waited for, its committed offsets on the partitions of ``ends``."""
        offsets: dict[str, dict[tuple[str, int], int]] = {}
        for group, topics in self._readers.items():
            tps = [TopicPartition(*tp) for tp in ends if tp[0] in topics]
            if not tps:
                continue
            found = await committed(group, tps)
            have = {(tp.topic, tp.partition): n for tp, n in found.items() if n is not None}
            if have:
                self._seen.add(group)
            if have or group in self._seen:  # one never seen reading is not waited for
                offsets[group] = have
        self._behind = [g for g, have in offsets.items() if not have]
        return offsets

    def _give_up_on_old_marks(self) -> None:
        marks, oldest = self._marks, self._clock() - HOLD_AT_MOST_SECONDS
        if not marks or marks[0].at > oldest:
            return
        while marks and marks[0].at <= oldest:
            self.cleared_lsn = marks.popleft().lsn
        self._seen.difference_update(self._behind)  # not waited for again until they read
        if self._clock() - self._warned_at < HOLD_AT_MOST_SECONDS:
            return  # once per wait, not once per ask
        self._warned_at = self._clock()
        log.warning(
            "the slot waited %.0f s for the consumer groups to read what was acked;"
            " confirming it (groups with no offset at all: %s)",
            HOLD_AT_MOST_SECONDS,
            self._behind or "none",
        )
