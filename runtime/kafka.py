"""Every Kafka client is built from here, from ``settings.kafka``.

The bootstrap servers, security protocol (PLAINTEXT, SSL, SASL_PLAINTEXT,
SASL_SSL), SASL mechanism and credentials (PLAIN, SCRAM-SHA-256/512) and the CA
file come from settings; callers add only what is theirs (acks, group id,
timeouts), as keyword arguments that override nothing of the connection:

    producer = AIOKafkaProducer(**kafka.producer_kwargs(settings.kafka, acks="all"))
    consumer = AIOKafkaConsumer(*topics, **kafka.consumer_kwargs(settings.kafka, group_id=...))
    admin = AIOKafkaAdminClient(**kafka.admin_kwargs(settings.kafka))
    producer = confluent_kafka.Producer(kafka.librdkafka_config(settings.kafka, {"acks": "all"}))

Production (MSK): ``BANK_KAFKA_SECURITY_PROTOCOL=SASL_SSL``,
``BANK_KAFKA_SASL_MECHANISM=SCRAM-SHA-512``, ``BANK_KAFKA_SASL_USERNAME`` /
``BANK_KAFKA_SASL_PASSWORD`` from the secret, no CA file (Amazon's CAs are in
the system store).
"""

from __future__ import annotations

import functools
import logging
import ssl
from collections.abc import Iterable, Mapping
from typing import Any

from runtime.settings import KafkaSettings, SettingsError

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
# Every record batch our producers write is compressed with zstd: the embedded broker
# keeps every batch in memory as sent, and the CDC connector's batches of change
# envelopes shrink 4-5x (docs/adr/0316). Readers need the codec too: aiokafka loads
# cramjam (in the cdc and projections extras); librdkafka has zstd built in.
COMPRESSION = "zstd"
# ... at level 1, not aiokafka's fixed 3: on a batch of ten 600-byte envelopes 5x faster
# (21 vs 99 us) and no larger; on a thousand 1.7x faster and 15 % smaller (ADR 0316).
COMPRESSION_LEVEL = 1


def _uses_tls(kafka: KafkaSettings) -> bool:
    return kafka.security_protocol in ("SSL", "SASL_SSL")


def _uses_sasl(kafka: KafkaSettings) -> bool:
    return kafka.security_protocol.startswith("SASL_")


def check_kafka(kafka: KafkaSettings) -> None:
    """Raise SettingsError for a combination that cannot connect, naming the variable."""
    if kafka.security_protocol not in SECURITY_PROTOCOLS:
        raise SettingsError(
            f"BANK_KAFKA_SECURITY_PROTOCOL={kafka.security_protocol!r}: "
            f"use one of {', '.join(SECURITY_PROTOCOLS)}"
        )
    if _uses_sasl(kafka):
        if kafka.sasl_mechanism not in SASL_MECHANISMS:
            raise SettingsError(
                f"BANK_KAFKA_SASL_MECHANISM={kafka.sasl_mechanism!r} with "
                f"{kafka.security_protocol}: use one of {', '.join(SASL_MECHANISMS)}"
            )
        if not kafka.sasl_username or not kafka.sasl_password:
            raise SettingsError(
                f"{kafka.security_protocol} needs BANK_KAFKA_SASL_USERNAME and "
                "BANK_KAFKA_SASL_PASSWORD"
            )
    elif kafka.sasl_mechanism or kafka.sasl_username or kafka.sasl_password:
        raise SettingsError(
            f"SASL settings are given but BANK_KAFKA_SECURITY_PROTOCOL={kafka.security_protocol} "
            "does not use SASL: use SASL_SSL (or SASL_PLAINTEXT)"
        )
    if kafka.ca_file and not _uses_tls(kafka):
        raise SettingsError(
            f"BANK_KAFKA_CA_FILE is set but BANK_KAFKA_SECURITY_PROTOCOL="
            f"{kafka.security_protocol} does not use TLS: use SSL or SASL_SSL"
        )


def ssl_context(kafka: KafkaSettings) -> ssl.SSLContext | None:
    """A verifying TLS context (the CA file, else the system CAs), or None without TLS."""
    if not _uses_tls(kafka):
        return None
    return ssl.create_default_context(cafile=kafka.ca_file or None)


def _connection(kafka: KafkaSettings) -> dict[str, Any]:
    check_kafka(kafka)
    _no_topic_created_by_a_metadata_request()
    _a_missing_topic_keeps_its_partitions()
    kwargs: dict[str, Any] = {
        "bootstrap_servers": kafka.bootstrap,
        "security_protocol": kafka.security_protocol,
    }
    context = ssl_context(kafka)
    if context is not None:
        kwargs["ssl_context"] = context
    if _uses_sasl(kafka):
        kwargs["sasl_mechanism"] = kafka.sasl_mechanism
        kwargs["sasl_plain_username"] = kafka.sasl_username
        kwargs["sasl_plain_password"] = kafka.sasl_password
    return kwargs


def _merge(kafka: KafkaSettings, extra: dict[str, Any]) -> dict[str, Any]:
    kwargs = _connection(kafka)
    clash = sorted(set(extra) & set(kwargs))
    if clash:
        raise ValueError(f"connection settings come from settings.kafka, not the caller: {clash}")
    return {**kwargs, **extra}


@functools.cache
def _no_topic_created_by_a_metadata_request() -> None:
    """aiokafka 0.14 asks every metadata request to create the topics it names if they
    are missing (``allow_auto_topic_creation``: true unless given, and no setting), and
    the embedded broker does, with its default 4 partitions. Ours are created by us
    (``create_missing_topics``, the connector's ``ensure_topics``) with their own counts,
    so every client of ours asks without it: a topic deleted by a recycle
    (cdc/recycle.py) is not made again, wrong, by a consumer that asked in between
    (docs/adr/0365). Process-wide, like every client of ours; done once."""
    import aiokafka.admin.client as admin_client
    import aiokafka.client as client
    from aiokafka.protocol.metadata import MetadataRequest

    without = functools.partial(MetadataRequest, allow_auto_topic_creation=False)
    client.MetadataRequest = admin_client.MetadataRequest = without
    # While it is missing, aiokafka logs each metadata answer at ERROR. That is the
    # usual state of a topic between a recycle's delete and create. One that stays
    # missing is not hidden by this: the connector's sends to it are not acked, and
    # its health turns "stalled" with its slot lag growing (cdc/health.py).
    logging.getLogger("aiokafka.cluster").addFilter(_missing_topic_is_info)


def _missing_topic_is_info(record: logging.LogRecord) -> bool:
    if record.msg == "Topic %s not found in cluster metadata":
        record.levelno, record.levelname = logging.INFO, "INFO"
    return True


@functools.cache
def _a_missing_topic_keeps_its_partitions() -> None:
    """A group member rejoins its group whenever the partition count of a topic it
    subscribes changes in its metadata, and a missing topic counts as 0. The embedded
    broker answers a join only after a delay that grows with the session (2 s with
    our 3 s), so a member whose metadata request fell between a recycle's delete and create
    stood still for 2 s (docs/adr/0365). A subscribed topic missing from the metadata
    now keeps the count last seen: the member keeps its partitions, its fetches fail
    and ask for metadata again (every ``retry_backoff_ms``) until the topic is back,
    and a count that really changed still rebalances. Not while the group is being
    joined: an assignment made without the topic is remembered as made without it,
    so the topic's return rebalances again and it is assigned. Process-wide; once."""
    from aiokafka.consumer.group_coordinator import BaseCoordinator

    snapshot = BaseCoordinator._get_metadata_snapshot

    def keeping_missing(self: Any) -> dict[str, int]:
        counts: dict[str, int] = snapshot(self)
        if self._subscription.reassignment_in_progress:
            return counts
        last: dict[str, int] = self._metadata_snapshot
        return {t: n or last.get(t, 0) for t, n in counts.items()}

    BaseCoordinator._get_metadata_snapshot = keeping_missing


def producer_kwargs(kafka: KafkaSettings, **extra: Any) -> dict[str, Any]:
    """Keyword arguments for ``aiokafka.AIOKafkaProducer`` (batches compressed:
    COMPRESSION at COMPRESSION_LEVEL)."""
    _zstd_at_our_level()
    return _merge(kafka, {"compression_type": COMPRESSION, **extra})


@functools.cache
def _zstd_at_our_level() -> None:
    """aiokafka 0.14 has no compression level setting and encodes zstd at 3: its batch
    builders (the C one and its pure-Python twin) are given COMPRESSION_LEVEL instead.
    Process-wide, like every producer of ours; done once, when the first is built."""
    import aiokafka.codec
    import aiokafka.record._crecords.default_records as c_builder
    import aiokafka.record.default_records as py_builder

    encode = functools.partial(aiokafka.codec.zstd_encode, level=COMPRESSION_LEVEL)
    c_builder.zstd_encode = py_builder.zstd_encode = encode


def consumer_kwargs(kafka: KafkaSettings, **extra: Any) -> dict[str, Any]:
    """Keyword arguments for ``aiokafka.AIOKafkaConsumer`` (topics are positional)."""
    return _merge(kafka, extra)


def admin_kwargs(kafka: KafkaSettings, **extra: Any) -> dict[str, Any]:
    """Keyword arguments for ``aiokafka.admin.AIOKafkaAdminClient``."""
    return _merge(kafka, extra)


def topic_configs(replication_factor: int) -> dict[str, str]:
    """The configuration every topic of ours is created with: with three replicas or
    more, a write acked by ``acks=all`` is on two of them (one broker down loses
    nothing)."""
    return {"min.insync.replicas": "2"} if replication_factor >= 3 else {}


async def create_missing_topics(
    kafka: KafkaSettings, topics: Iterable[str], partitions: Mapping[str, int] | None = None
) -> list[str]:
    """Create those of ``topics`` the broker does not have, with their partition counts
    (shared/topics.py unless ``partitions`` says); returns those this call created. The
    consumers call it at start, the CDC connector does the same through ``create_topics``:
    whoever comes first creates a topic, and the others find it."""
    from aiokafka.admin import AIOKafkaAdminClient

    from shared.topics import partitions_by_topic

    counts = partitions if partitions is not None else partitions_by_topic(kafka.topic_partitions)
    admin = AIOKafkaAdminClient(**admin_kwargs(kafka))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = {t: counts[t] for t in topics if t not in existing}
        return await create_topics(admin, missing, kafka.replication_factor)
    finally:
        await admin.close()


async def create_topics(
    admin: Any, partitions: Mapping[str, int], replication_factor: int
) -> list[str]:
    """Create the topics of ``partitions`` (name -> partition count) through ``admin``,
    with ``topic_configs``; returns those the broker created. Refusals come back per
    topic in the response (aiokafka raises none of them): "already exists" (another
    process came first) is fine, and any other raises the broker's error, naming the
    topic (a consumer must not wait on a topic that will never exist)."""
    from aiokafka.admin import NewTopic
    from aiokafka.errors import TopicAlreadyExistsError, for_code

    if not partitions:
        return []
    configs = topic_configs(replication_factor)
    response = await admin.create_topics(
        [NewTopic(t, n, replication_factor, topic_configs=configs) for t, n in partitions.items()]
    )
    created = []
    for topic, code, *message in response.topic_errors:
        if code == 0:
            created.append(topic)
        elif code != TopicAlreadyExistsError.errno:
            detail = f": {message[0]}" if message and message[0] else ""
            raise for_code(code)(f"the broker would not create topic {topic!r}{detail}")
    return created


def librdkafka_config(kafka: KafkaSettings, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """A librdkafka configuration (``confluent_kafka.Producer/Consumer/AdminClient``)."""
    check_kafka(kafka)
    config: dict[str, Any] = {
        "bootstrap.servers": kafka.bootstrap,
        "security.protocol": kafka.security_protocol,
    }
    if _uses_tls(kafka):
        config["ssl.endpoint.identification.algorithm"] = "https"
        if kafka.ca_file:
            config["ssl.ca.location"] = kafka.ca_file
    if _uses_sasl(kafka):
        config["sasl.mechanism"] = kafka.sasl_mechanism
        config["sasl.username"] = kafka.sasl_username
        config["sasl.password"] = kafka.sasl_password
    extra = extra or {}
    clash = sorted(set(extra) & set(config))
    if clash:
        raise ValueError(f"connection settings come from settings.kafka, not the caller: {clash}")
    return {**config, **extra}


# Consumer-group timing of our pipeline consumers (projection worker, notification
# consumer). Their positions live in PostgreSQL, so a rebalance costs a pause, never
# correctness; what matters is how soon a member restarted after a SIGKILL reads again:
# the group waits for the dead member's session to expire. Measured against the embedded
# broker: rejoin after a crash 18.2 s with aiokafka's defaults (10 s session), 11.2 s at
# 6 s, 7.1 s at 3 s (docs/adr/0401-consumer-group-timing.md).
GROUP_MEMBER_TIMING: dict[str, int] = {"session_timeout_ms": 3000, "heartbeat_interval_ms": 1000}

# Fetch timing of the pipeline consumers. The embedded broker (Tansu 0.6) holds every
# fetch for its full max wait, records or not, and pays per fetch (a look-up of every
# assigned partition), so a consumer costs it 1000 / fetch_max_wait_ms fetches a second,
# busy or idle; a record waits up to that long before it is fetched. 10 ms cost the
# broker 75 ms of CPU a second and the projection worker 49 ms with no traffic at all;
# 25 ms and 50 ms cut the broker's CPU per deposit by ~1/3 and ~2/5 at the same load
# (docs/adr/0102-consumer-fetch-wait.md). The projection worker feeds the live push (a
# deposit's p99 to the socket is a target): 25 ms. The notification consumer's inbox
# is not a latency target, but a topic recycle holds the stream until every group is
# at the end and then on the new topics (cdc/recycle.py), and the notification
# consumer learns each only from a fetch: 100 ms. It reads two partitions
# (account-events and audit-events), and every fetch that finds records costs the broker a
# listing of every batch stored in each (docs/adr/0317). With 500 ms a recycle held
# the stream 0.71-0.85 s and the push p99 at 1,000 deposits/s sat in the holds; with
# 100 ms, 0.19 s, for about 40 µs more CPU per deposit at that rate
# (docs/adr/0352-a-recycle-holds-the-stream-a-fifth-as-long.md). A real Kafka answers a
# fetch as soon as fetch_min_bytes (1) are there, so these waits cost nothing there
# under load.
PROJECTION_FETCH: dict[str, int] = {"fetch_max_wait_ms": 25}
NOTIFICATION_FETCH: dict[str, int] = {"fetch_max_wait_ms": 100}
# How long a consumer's getmany waits for records before its loop does an idle round:
# commit what is uncommitted, measure the lag, notice a recreated topic. A topic
# recycle waits for the first and the last of these (ADR 0352).
IDLE_ROUND_MS = 50
