"""The notification consumer: a Kafka consumer group on account-events and
audit-events, in the projection worker's pattern (manual commits, batches).

Delivery (at-least-once in, exactly once in the inbox):
1. a batch of records is turned into drafts (rules.py) and inserted; the
   UNIQUE source key makes a redelivered record insert nothing;
2. only then its Kafka offsets are due for a commit: at once while it keeps up
   (each partition read to its end) and when idle, at most once a second while
   it is behind (``OffsetCommits``: a crash before re-reads what was not
   committed, which inserts nothing new);
3. the rows that were new are PUBLISHed on their owner's live channel (every
   API instance forwards them to that customer's WebSockets) and handed to
   the push provider, then marked pushed. Rows a crash left unpushed are
   pushed by the sweep that runs whenever the topics are quiet.
4. the new security alerts (rules.MAILED_KINDS) are emailed; one the mail provider
   refused, or a crash left unsent, is sent by the sweep, later after each failure
   (inbox.mails_failed): at least once, never lost (mail.py).

A topic recreated under the consumer (the embedded broker restarted, or the CDC
connector recycled the topics: cdc/recycle.py) is read again from offset 0, and
the consumer commits where each newly assigned or restarted partition starts,
which is what a recycle waits for before it sends to the new topics.

Progress (a stored batch, or idle with every partition read to its end) is served
as ``GET /health`` on ``notifications_metrics_port``, as the projection worker's
(runtime/consumer_progress.py): neither a batch stored nor an idle round at every
partition's end for ``pipeline_stall_seconds`` is "stalled", and the supervisor
restarts it (ADR 0710).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from datetime import UTC, datetime
from uuid import UUID

import asyncpg
import msgspec
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord
from redis.asyncio import Redis

from runtime import consumer_health
from runtime.consumer_group import OffsetCommits, Rebalances, StartCommits, ask_at_once
from runtime.consumer_progress import Progress
from runtime.kafka import (
    GROUP_MEMBER_TIMING,
    IDLE_ROUND_MS,
    NOTIFICATION_FETCH,
    consumer_kwargs,
    create_missing_topics,
)
from runtime.settings import Settings
from server.adapters.mail import Mailer, mailer_from_settings
from server.adapters.postgres.pool import create_pool
from server.adapters.postgres.retry import RetryPolicy
from server.notifications import inbox
from server.notifications.mail import alert_mail
from server.notifications.push import PushProvider
from server.notifications.rules import (
    AUDIT_KINDS,
    MAILED_KINDS,
    NOTIFYING_EVENT_TYPES,
    Draft,
    audit_row_decoder,
    from_audit,
    from_event,
    owners_needed,
)
from server.readmodel.cache import LivePublisher, live_channel, pipeline_redis
from shared.events import RecordedEvent, recorded_event_decoder
from shared.messages import NotificationReceived
from shared.notifications import Notification
from shared.topics import (
    AUDIT_ACTION_HEADER,
    AUDIT_EVENTS,
    AUDIT_OUTCOME_HEADER,
    EVENT_TYPE_HEADER,
    NOTIFICATIONS_GROUP,
    READERS,
    header,
)

log = logging.getLogger("bank.notifications")

CONSUMER_NAME = NOTIFICATIONS_GROUP
PROCESS = "notifications"  # its name in GET /health and the pipeline metrics
SOURCE_TOPICS = READERS[NOTIFICATIONS_GROUP]
BATCH_MAX_RECORDS = 500
SWEEP_EVERY_SECONDS = 5.0
# The longest one security alert's email may take to hand to the provider.
MAIL_SEND_SECONDS = 10.0
OWNER_CACHE_SIZE = 50_000

_encoder = msgspec.json.Encoder()
DATABASE_ERRORS = (asyncpg.PostgresError, OSError, asyncpg.InterfaceError)
_NOTIFYING_TYPE_HEADERS = frozenset(t.encode() for t in NOTIFYING_EVENT_TYPES)
_NOTIFYING_AUDIT_HEADERS = frozenset((a.encode(), o.encode()) for a, o in AUDIT_KINDS)


def never_notifies(record: ConsumerRecord) -> bool:
    """True when the record's headers say it cannot notify, so its value need not be
    decoded: an account event whose type header names a type that cannot, an audit row
    whose action and outcome headers name a pair that cannot. A record without those
    headers is decoded."""
    if record.topic == AUDIT_EVENTS:
        action = header(record.headers, AUDIT_ACTION_HEADER)
        outcome = header(record.headers, AUDIT_OUTCOME_HEADER)
        if action is None or outcome is None:
            return False
        return (action, outcome) not in _NOTIFYING_AUDIT_HEADERS
    event_type = header(record.headers, EVENT_TYPE_HEADER)
    return event_type is not None and event_type not in _NOTIFYING_TYPE_HEADERS


class NotificationConsumer:
    def __init__(
        self,
        settings: Settings,
        pool: asyncpg.Pool,
        redis: Redis,
        provider: PushProvider,
        progress: Progress | None = None,
        mailer: Mailer | None = None,
    ) -> None:
        self.settings = settings
        self.progress = progress or Progress(PROCESS, settings.pipeline_stall_seconds)
        self.pool = pool
        # A batch waits for PostgreSQL instead of ending the process: what is not
        # stored is not committed either. No error skips a batch (attempts=None).
        self.retry = RetryPolicy(lambda: self.pool.expire_connections(), attempts=None)
        self.live = LivePublisher(redis)
        self.provider = provider
        self.mailer = mailer or mailer_from_settings(settings)
        self.large_withdrawal = settings.notifications.large_withdrawal
        self.consumer = AIOKafkaConsumer(
            **consumer_kwargs(settings.kafka),
            group_id=CONSUMER_NAME,
            client_id=CONSUMER_NAME,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=BATCH_MAX_RECORDS,
            metadata_max_age_ms=5000,
            **NOTIFICATION_FETCH,
            **GROUP_MEMBER_TIMING,
        )
        self._owners: OrderedDict[UUID, UUID] = OrderedDict()
        # Of the batches stored; at the end of what it reads at once, as a recycle
        # waits for that and this consumer's idle round comes late (ADR 0359).
        self._commits = OffsetCommits(at_end_at_once=True, clock=self.progress.clock)
        self._starting: set[TopicPartition] = set()  # where they start is to be committed
        self._start_commits = StartCommits()  # and then, that the group keeps it
        self._stopping = asyncio.Event()
        self.stored = 0

    async def ensure_topics(self) -> None:
        """Create the source topics if the broker has none yet (whoever comes first wins)."""
        await create_missing_topics(self.settings.kafka, SOURCE_TOPICS)

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        await self.ensure_topics()
        self.consumer.subscribe(list(SOURCE_TOPICS), listener=Rebalances(self))
        await self.consumer.start()
        self.progress.record_started()
        log.info("notification consumer reading %s", ", ".join(SOURCE_TOPICS))
        last_sweep = 0.0
        try:
            while not self._stopping.is_set():
                got = await self.consumer.getmany(
                    timeout_ms=IDLE_ROUND_MS, max_records=BATCH_MAX_RECORDS
                )
                records = [r for rs in got.values() for r in rs]
                if records:
                    await self.process(records)
                    continue
                await self.look_while_idle()
                if time.monotonic() - last_sweep > SWEEP_EVERY_SECONDS:
                    last_sweep = time.monotonic()
                    await self.sweep()
        finally:
            await self.consumer.stop()

    # --- one batch ------------------------------------------------------------------

    async def process(self, records: list[ConsumerRecord]) -> None:
        self.progress.record_batch_started()
        drafts = await self.drafts(records)
        new = await self.retry.run(lambda: inbox.store(self.pool, drafts), "storing notifications")
        self._commits.done(records)
        await self._commits.commit(self.consumer, idle=False)
        self.progress.record_batch_done()
        self.stored += len(new)
        await self.deliver(new)
        alerts = [n.id for _, n in new if n.kind in MAILED_KINDS]
        if alerts:  # whatever became of the push: the mail does not need Redis
            await self.mail(alerts)

    async def drafts(self, records: list[ConsumerRecord]) -> list[Draft]:
        now = datetime.now(UTC)
        events: list[RecordedEvent] = []
        wanted: set[UUID] = set()  # accounts whose owners the events' rules need
        drafts: list[Draft] = []
        for r in records:
            if never_notifies(r):
                continue
            try:
                if r.topic == AUDIT_EVENTS:
                    draft = from_audit(audit_row_decoder.decode(r.value), now)
                    if draft is not None:
                        drafts.append(draft)
                else:
                    rec = recorded_event_decoder.decode(r.value)
                    accounts = owners_needed(rec, self.large_withdrawal)
                    if accounts:
                        events.append(rec)
                        wanted.update(accounts)
            except (msgspec.DecodeError, msgspec.ValidationError, TypeError) as exc:
                # Not ours to judge: the projection worker and the DLQ see it too.
                log.warning(
                    "skipping undecodable %s[%d]@%d: %s", r.topic, r.partition, r.offset, exc
                )
        owners = await self._owners_of(wanted)
        for rec in events:
            draft = from_event(rec, owners, self.large_withdrawal, now)
            if draft is not None:
                drafts.append(draft)
        return drafts

    async def _owners_of(self, account_ids: set[UUID]) -> dict[UUID, UUID]:
        missing = [a for a in account_ids if a not in self._owners]
        if missing:
            found = await self.retry.run(lambda: inbox.owners(self.pool, missing), "reading owners")
            for account, owner in found.items():
                self._owners[account] = owner
            while len(self._owners) > OWNER_CACHE_SIZE:
                self._owners.popitem(last=False)
        return {a: self._owners[a] for a in account_ids if a in self._owners}

    async def sweep(self) -> None:
        """Push what a crash or a failed push left unpushed, and email the alerts left
        unsent that are due again; PostgreSQL down: next time."""
        try:
            due = await inbox.unpushed(self.pool)
        except DATABASE_ERRORS as exc:
            log.warning("reading the notifications still to push failed (%s)", exc)
            return
        await self.deliver(due)
        await self.mail()

    async def partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self._starting |= assigned

    def partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self._starting -= revoked
        self._commits.forget(revoked)

    async def look_while_idle(self) -> None:
        """Idle (the last fetch brought nothing): one look at the assigned partitions.

        - A position past its partition's end means the topic was recreated (this
          broker answers such a fetch with nothing, not OffsetOutOfRange): it is read
          from offset 0.
        - The lag, records behind each partition's end as of the last fetch, is
          recorded; none behind anywhere counts as progress.
        - What the stored batches left uncommitted is committed (a topic recycle
          waits for the end of what each group read).
        - Where each such or newly assigned partition starts is committed (a topic
          recycle waits for that: cdc/recycle.py), and committed again if the group
          loses it within a few seconds (``StartCommits``: the topic was replaced
          under the commit).

        A position aiokafka is still looking up (after a rebalance or a broker
        restart) is not waited for (``_known_positions``). Such a partition counts as
        all of it waiting, so a look-up that never ends is a stall."""
        consumer = self.consumer
        assigned = consumer.assignment()
        lag: dict[tuple[str, int], int] = {}
        try:
            positions = await self._known_positions(assigned)
            for tp, position in positions.items():
                end = consumer.highwater(tp)  # from the last fetch: no request of its own
                if end is None:
                    continue
                if position is not None and position > end:
                    log.warning("%s[%d] was recreated: reading it from offset 0", *tp)
                    consumer.seek(tp, 0)
                    self._commits.forget([tp])  # positions on the old topic
                    self._starting.add(tp)
                    position = positions[tp] = 0
                lag[(tp.topic, tp.partition)] = end if position is None else end - position
        except KafkaError as exc:  # e.g. a rebalance began: the next round measures again
            log.info("measuring the lag: %s", exc)
            return
        self.progress.record_lag(lag)  # replaces the last one: revoked partitions drop out
        await self._commits.commit(consumer, idle=True)  # before the starts: they come after
        self._starting |= await self._start_commits.lost(consumer)
        self._starting &= assigned
        starts = {tp: positions[tp] for tp in self._starting if positions.get(tp) is not None}
        if not starts:
            return
        try:
            await consumer.commit(starts)
            self._starting -= starts.keys()
            self._start_commits.committed(starts)
        except KafkaError as exc:  # e.g. a rebalance began: the next round tries again
            log.info("committing where partitions start: %s", exc)

    async def _known_positions(self, tps: set[TopicPartition]) -> dict[TopicPartition, int | None]:
        """Where the consumer reads each of ``tps`` next, None for one aiokafka is still
        looking up (``ask_at_once``: a round waits at most IDLE_ASK_SECONDS for them).
        A look-up's KafkaError is raised."""
        found, errors = await ask_at_once(tps, self.consumer.position)
        if errors:
            raise next(iter(errors.values()))
        return {tp: found.get(tp) for tp in tps}

    # --- push -------------------------------------------------------------------------

    async def deliver(self, new: list[tuple[UUID, Notification]]) -> None:
        """Live push and push provider; rows that fail stay unpushed for the sweep.

        The live pushes of a batch go to Redis in one command (one round trip, not one
        per notification); if Redis fails, none of the batch is marked pushed."""
        if not new:
            return
        try:
            await self.live.publish_all(
                [
                    (live_channel(user_id), _encoder.encode(NotificationReceived(notification=n)))
                    for user_id, n in new
                ]
            )
        except Exception as exc:  # noqa: BLE001 - Redis down: the sweep retries the batch
            log.warning("live push of %d notification(s) failed: %s", len(new), exc)
            return
        pushed: list[int] = []
        for user_id, n in new:
            try:
                await self.provider.send(user_id, n)
            except Exception as exc:  # noqa: BLE001 - any provider failure: retry later
                log.warning("push of notification %d failed: %s", n.id, exc)
                continue
            pushed.append(n.id)
        try:
            await inbox.mark_pushed(self.pool, pushed)
        except DATABASE_ERRORS as exc:
            log.warning("could not mark notifications pushed (%s): they may be pushed again", exc)

    async def mail(self, ids: list[int] | None = None) -> None:
        """Email the security alerts due now (of ``ids`` only, when given). The first
        that the provider refuses, or does not take within MAIL_SEND_SECONDS, waits its
        turn to be tried again (inbox.mails_failed) and ends the round: the rest stay due
        for the next sweep rather than each waiting on a provider that is away. PostgreSQL
        away: the next sweep."""
        try:
            due = await inbox.mails_due(self.pool, ids)
            sent: list[int] = []
            failed: list[int] = []
            for alert in due:
                if alert.address is None:  # the customer is gone: no one to tell
                    sent.append(alert.notification_id)
                    continue
                subject, text = alert_mail(alert)
                try:
                    async with asyncio.timeout(MAIL_SEND_SECONDS):
                        await self.mailer.send(alert.address, subject, text)
                except Exception as exc:  # noqa: BLE001 - any provider failure: retry later
                    log.warning("email of notification %d failed: %r", alert.notification_id, exc)
                    failed.append(alert.notification_id)
                    break
                sent.append(alert.notification_id)
            await inbox.mails_sent(self.pool, sent)
            await inbox.mails_failed(self.pool, failed)
        except DATABASE_ERRORS as exc:
            log.warning("emailing security alerts: %s; the sweep tries again", exc)


async def run_consumer(settings: Settings, provider: PushProvider) -> None:
    progress = Progress(PROCESS, settings.pipeline_stall_seconds)
    consumer_health.serve(progress, settings.notifications_metrics_port, settings.metrics_host)
    pool = await create_pool(
        settings.database_url,
        min_size=1,
        max_size=2,
        server_settings={"application_name": CONSUMER_NAME},
    )
    redis = pipeline_redis(settings)
    try:
        await NotificationConsumer(settings, pool, redis, provider, progress).run()
    finally:
        await provider.close()
        await redis.aclose()
        await pool.close()
