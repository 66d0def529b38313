"""Topic recycling: the retention of a broker that has none (docs/adr/0320).

The embedded broker (Tansu 0.6, memory engine) keeps every record in memory, has no
retention and no DeleteRecords, and lists every batch stored in a partition on each
fetch that finds records there (ADR 0311): its memory and its CPU per fetch grow
with everything ever sent. Deleting a topic frees both. So once the connector has
sent ``recycle_after_batches`` batches to one partition, or ``recycle_after_mib``
MiB to all of them, it recycles the topics it writes, in a way that loses nothing:

0. it asks how far behind each platform consumer group (``shared.topics.READERS``)
   is; if one is more than ``MAX_LAG_RECORDS`` behind the end of what it reads,
   the recycle waits (nothing paused, nothing deleted) and asks again
   ``RECHECK_SECONDS`` later: a backlog is caught up between two bursts, and each
   minute the recycle waits, the broker holds a minute more of records;
1. it stops reading the WAL and waits until Kafka acked everything sent (the
   connector does this part; PostgreSQL keeps what follows in the slot);
2. it waits until every one of those groups has committed the end of every
   partition it reads: each has applied everything;
3. it deletes the topics it writes and creates them again, empty (not the
   dead-letter topics nor its heartbeat: ``shared.topics.KEPT_TOPICS``);
4. it waits until each of those groups has committed a position on the new
   topics. A consumer whose position is past its partition's new end seeks to
   offset 0 and commits it, and one that was reassigned commits where it starts
   (offset 0: the group's old offsets went with the topics), so no group reads
   the new topics from its old offsets. A consumer of ours that asked for metadata
   between the delete and the create keeps its partitions meanwhile and creates
   nothing (runtime/kafka.py, ADR 0365). A topic that another client auto-created
   meanwhile is replaced (``Publisher.ensure_topics``), and a start committed on
   it is committed again (runtime.consumer_group.StartCommits);
5. the connector reads the WAL again.

Step 2 has a deadline: a group that is not at the end in time postpones the
recycle (nothing is deleted; it is tried again later), so the stream is paused for
at most that long in vain. Step 4 has one too: a group
that does not acknowledge in time (it is stopped) is passed, because when it starts
again it has no committed offset and reads the new topics from offset 0.

Other consumers of the embedded broker are not waited for: they see the topics
start again at offset 0, as after a broker restart. A real Kafka deletes by
retention, and there this stays off (the settings' default, 0).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping

from aiokafka import TopicPartition

from cdc.group_offsets import GroupOffsets
from cdc.publisher import Publisher
from runtime.settings import KafkaSettings
from shared.topics import READERS

log = logging.getLogger(__name__)

# Step 0: a group further behind than this is not waited for with the stream paused
# (the projection worker commits its Kafka offset once a second under load).
MAX_LAG_RECORDS = 5_000
# After step 0 found a group behind (nothing was paused), ask again this soon.
RECHECK_SECONDS = 1.0
CATCH_UP_SECONDS = 2.0  # step 2: the groups apply what they fetched and commit it
ACKNOWLEDGE_SECONDS = 10.0  # step 4: each group notices the new topics
POLL_SECONDS = 0.02  # each poll asks the broker for two groups' offsets (ADR 0352)
# After a postponed recycle (the stream was paused in vain), do not pause it again sooner.
RETRY_AFTER_SECONDS = 30.0
# Logged after each recycle; bench.push_latency reads the hold from it.
RECYCLED_MESSAGE = (
    "recycled %s (%d batches in the fullest partition, %.1f MiB in all):"
    " readers at the end %.2f s after the pause, on the new topics %.2f s later%s%s"
)


class Recycler:
    def __init__(
        self,
        settings: KafkaSettings,
        publisher: Publisher,
        *,
        readers: Mapping[str, tuple[str, ...]] = READERS,
        catch_up_seconds: float = CATCH_UP_SECONDS,
        acknowledge_seconds: float = ACKNOWLEDGE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._pub = publisher
        self._readers = readers
        self._catch_up_seconds = catch_up_seconds
        self._acknowledge_seconds = acknowledge_seconds
        self._clock = clock
        self._not_before = 0.0
        self._rechecks = 0  # step 0 found a group behind this many times in a row
        self._after_bytes = settings.recycle_after_mib * 1024 * 1024

    @staticmethod
    def enabled(settings: KafkaSettings) -> bool:
        return settings.recycle_after_batches > 0 or settings.recycle_after_mib > 0

    def due(self) -> bool:
        s, pub = self._settings, self._pub
        if self._clock() < self._not_before:
            return False
        return (0 < s.recycle_after_batches <= pub.stored_batches) or (
            0 < self._after_bytes <= pub.stored_bytes
        )

    async def run(
        self,
        pause: Callable[[], Awaitable[None]],
        stopping: Callable[[], bool],
        keepalive: Callable[[], None],
    ) -> str:
        """Steps 0-4; ``pause`` is step 1 (the connector's). The outcome: ``recycled``,
        ``behind`` (step 0: a group was far behind; nothing paused, asked again soon),
        ``postponed`` (step 2: a group was not at the end; nothing deleted),
        ``unacknowledged`` (recycled, and a group did not commit on the new topics in
        time) or ``stopped``."""
        groups = {g: self._partitions(topics) for g, topics in self._readers.items()}
        watched = sorted({tp for tps in groups.values() for tp in tps})
        async with GroupOffsets(self._settings, list(groups)) as offsets:

            async def behind(ends: dict[TopicPartition, int]) -> dict[str, int]:
                lag = {}
                for group, tps in groups.items():
                    committed = await offsets.committed(group, tps)
                    lag[group] = sum(max(ends[tp] - (committed[tp] or 0), 0) for tp in tps)
                return lag

            lag = await behind(await offsets.ends(watched))
            if self._far_behind(lag):
                return "behind"
            rechecks, self._rechecks = self._rechecks, 0
            started = time.monotonic()
            await pause()
            ends = await offsets.ends(watched)

            async def at_end() -> bool:
                return not any((await behind(ends)).values())

            if not await _within(self._catch_up_seconds, at_end, stopping, keepalive):
                if stopping():
                    return "stopped"
                return self._postpone()
            names = self._pub.recyclable
            batches, mib = self._pub.stored_batches, self._pub.stored_bytes / 1024 / 1024
            caught_up = time.monotonic()
            await self._pub.recreate(names)
            # Only partitions that held records: a group reading an empty one is
            # already where the new topic starts.
            moved = {g: [tp for tp in tps if ends[tp] > 0] for g, tps in groups.items()}

            made = time.monotonic()
            on_new: dict[str, float] = {}  # group -> seconds after ``caught_up``
            done = await _within(
                self._acknowledge_seconds,
                lambda: groups_on_new_topics(offsets, moved, on_new, caught_up),
                stopping,
                keepalive,
            )
            log.info(
                RECYCLED_MESSAGE,
                names,
                batches,
                mib,
                caught_up - started,
                time.monotonic() - caught_up,
                new_topics_detail(made - caught_up, on_new, moved, done),
                f"; asked {rechecks + 1} times before a group was close enough" if rechecks else "",
            )
            return "recycled" if done else "unacknowledged"

    def _far_behind(self, lag: dict[str, int]) -> bool:
        """Step 0: with a group more than ``MAX_LAG_RECORDS`` behind, nothing is paused
        and the recycle is asked for again ``RECHECK_SECONDS`` later."""
        if max(lag.values(), default=0) <= MAX_LAG_RECORDS:
            return False
        if not self._rechecks:
            log.info("topic recycle waits: a consumer group is behind by %s records", lag)
        self._rechecks += 1
        self._not_before = self._clock() + RECHECK_SECONDS
        return True

    def _postpone(self) -> str:
        """Step 2 failed: the stream was paused in vain, so not again for a while."""
        self._not_before = self._clock() + RETRY_AFTER_SECONDS
        log.info(
            "topic recycle postponed %.0f s: a consumer group was not at the end within %s s",
            RETRY_AFTER_SECONDS,
            self._catch_up_seconds,
        )
        return "postponed"

    def _partitions(self, topics: tuple[str, ...]) -> list[TopicPartition]:
        parts = self._pub.partitions
        return [TopicPartition(t, p) for t in topics for p in range(parts[t])]


async def groups_on_new_topics(
    offsets: GroupOffsets,
    groups: Mapping[str, list[TopicPartition]],
    on_new: dict[str, float],
    since: float,
) -> bool:
    """Step 4: has each group committed a position on every partition it reads of the
    new topics? ``on_new`` gets when each first had (seconds after ``since``)."""
    for group, tps in groups.items():
        if group not in on_new:
            committed = await offsets.committed(group, tps)
            if all(committed[tp] is not None for tp in tps):
                on_new[group] = time.monotonic() - since
    return len(on_new) == len(groups)


def new_topics_detail(
    made: float, on_new: Mapping[str, float], groups: Mapping[str, object], done: bool
) -> str:
    """Where the wait for the new topics went: making them, then each group's first
    commit on them (a slow one is named, to be looked into)."""
    each = ", ".join(
        f"{g} {on_new[g]:.2f} s" if g in on_new else f"{g} not in time" for g in sorted(groups)
    )
    late = "" if done else "; a group did not acknowledge them in time"
    return f" (made in {made:.2f} s; on them: {each}{late})"


async def _within(
    seconds: float,
    check: Callable[[], Awaitable[bool]],
    stopping: Callable[[], bool],
    keepalive: Callable[[], None],
) -> bool:
    """Poll ``check`` until it is true (True), or ``seconds`` pass or a stop (False)."""
    deadline = time.monotonic() + seconds
    while not stopping():
        if await check():
            return True
        if time.monotonic() >= deadline:
            return False
        keepalive()  # the replication connection is not read meanwhile
        await asyncio.sleep(POLL_SECONDS)
    return False
