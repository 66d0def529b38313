"""The Kafka topics of the platform: names, partition counts, and which stream
type goes to which domain topic. The writer, the CDC connector, the projection
worker and the tests all read them from here; nothing else defines a topic.

Each topic and its reader (why each exists: cdc/README.md):
- ``account-events`` / ``transaction-events``: the domain events (RecordedEvent
  JSON, key = stream id), routed by the CDC connector from the ``events`` table;
  account-events is read by the projection worker and the notification consumer,
  transaction-events (a transfer's completion) by any new consumer.
- ``audit-events``: the audit trail (audit_log rows as JSON), keyed by actor or account.
- ``cdc.accounts`` / ``cdc.transactions`` / ``cdc.audit``: Debezium-style change
  envelopes of ``events`` and ``audit_log``, for integrators and replays;
  ``cdc.dlq`` holds records the connector could not convert; ``cdc.heartbeat`` is
  the connector's own liveness and broker-reset probe. (``cdc.outbox`` is retired
  with the outbox table.)
- ``projections.dlq``: records the projection worker could not decode, with the
  original topic, partition, offset and error in headers; read by an operator
  (docs/runbooks/BankProjectionDeadLetters.md), never applied automatically.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from shared.events import STREAM_TYPE_ACCOUNT, STREAM_TYPE_TRANSFER

CDC_ACCOUNTS = "cdc.accounts"
CDC_TRANSACTIONS = "cdc.transactions"
CDC_AUDIT = "cdc.audit"
CDC_DLQ = "cdc.dlq"
# Debezium-style heartbeat topic. Only the connector writes or reads it, so its
# presence also proves the broker still holds what the connector wrote (the
# embedded broker forgets every topic when it restarts).
CDC_HEARTBEAT = "cdc.heartbeat"

# Records of the domain topics that the projection worker could not decode.
PROJECTIONS_DLQ = "projections.dlq"

ACCOUNT_EVENTS = "account-events"
TRANSACTION_EVENTS = "transaction-events"
AUDIT_EVENTS = "audit-events"

# Partitions of each keyed topic (key = stream id, so one stream keeps its order),
# unless the deployment sets BANK_KAFKA_TOPIC_PARTITIONS (docs/adr/0311).
DEFAULT_TOPIC_PARTITIONS = 8
# The audit topics carry a few records per command: at most this many partitions.
AUDIT_TOPIC_PARTITIONS = 4

DOMAIN_TOPICS = frozenset({ACCOUNT_EVENTS, TRANSACTION_EVENTS, AUDIT_EVENTS})

# Headers of every record on a domain topic of events (the CDC connector sets them):
# a consumer can tell which event a record carries, and of what type, without
# decoding its value.
EVENT_ID_HEADER = "event_id"
EVENT_TYPE_HEADER = "event_type"
# The API request's trace, on every record whose row carries one.
TRACE_ID_HEADER = "trace_id"
# Headers of every audit-events record (its row's columns of the same names): a
# consumer can tell what was done and how it ended without decoding the row.
AUDIT_ACTION_HEADER = "action"
AUDIT_OUTCOME_HEADER = "outcome"


def header(headers: Iterable[tuple[str, bytes]] | None, name: str) -> bytes | None:
    """The value of a record's first header called ``name``; None without one."""
    for key, value in headers or ():
        if key == name:
            return value
    return None


# Domain topic of each stream type. A stream type missing here is refused by
# ``topic_for_stream_type`` (and ``check_stream_types`` at start-up), never routed
# silently to another topic.
TOPIC_BY_STREAM_TYPE: dict[str, str] = {
    STREAM_TYPE_ACCOUNT: ACCOUNT_EVENTS,
    STREAM_TYPE_TRANSFER: TRANSACTION_EVENTS,
}
# Change-envelope topic of each stream type's events rows (the CDC connector).
CDC_TOPIC_BY_STREAM_TYPE: dict[str, str] = {
    STREAM_TYPE_ACCOUNT: CDC_ACCOUNTS,
    STREAM_TYPE_TRANSFER: CDC_TRANSACTIONS,
}
# The topics the projection worker consumes: the read models are built from account
# streams only (a transfer's two postings are events of its two accounts), so it does
# not fetch transaction-events just to drop every record of it (docs/adr/0315).
PROJECTED_TOPICS: tuple[str, ...] = (TOPIC_BY_STREAM_TYPE[STREAM_TYPE_ACCOUNT],)


# The platform's own consumer groups and the topics each reads. On a broker without
# retention (the embedded one) the CDC connector deletes and recreates the topics it
# writes only once every one of these groups has committed their end, and it resumes
# sending once each has committed a position on the new ones (docs/adr/0320).
PROJECTIONS_GROUP = "bank-projections"
NOTIFICATIONS_GROUP = "bank-notifications"
READERS: dict[str, tuple[str, ...]] = {
    PROJECTIONS_GROUP: PROJECTED_TOPICS,
    NOTIFICATIONS_GROUP: (ACCOUNT_EVENTS, AUDIT_EVENTS),
}
# Never recycled: the dead-letter topics are read by an operator, not by a group, and
# the heartbeat topic is the connector's proof that the broker kept what it wrote.
KEPT_TOPICS = frozenset({CDC_DLQ, CDC_HEARTBEAT, PROJECTIONS_DLQ})


class UnknownStreamTypeError(LookupError):
    pass


def topic_for_stream_type(stream_type: str) -> str:
    try:
        return TOPIC_BY_STREAM_TYPE[stream_type]
    except KeyError:
        raise UnknownStreamTypeError(
            f"stream type {stream_type!r} has no topic in shared/topics.py"
        ) from None


def check_stream_types(stream_types: frozenset[str] | set[str]) -> None:
    """Start-up check: every stream type the code writes has a topic."""
    for stream_type in stream_types:
        topic_for_stream_type(stream_type)


class TopicSpec(msgspec.Struct, frozen=True):
    name: str
    partitions: int


def topic_specs(partitions: int = DEFAULT_TOPIC_PARTITIONS) -> tuple[TopicSpec, ...]:
    """Every topic of the pipeline, with ``partitions`` for the keyed ones."""
    if partitions < 1:
        raise ValueError(f"a topic needs at least one partition, not {partitions}")
    audit = min(AUDIT_TOPIC_PARTITIONS, partitions)
    return (
        TopicSpec(ACCOUNT_EVENTS, partitions),
        TopicSpec(TRANSACTION_EVENTS, partitions),
        TopicSpec(AUDIT_EVENTS, audit),
        TopicSpec(CDC_ACCOUNTS, partitions),
        TopicSpec(CDC_TRANSACTIONS, partitions),
        TopicSpec(CDC_AUDIT, audit),
        TopicSpec(CDC_DLQ, 1),
        TopicSpec(CDC_HEARTBEAT, 1),
        TopicSpec(PROJECTIONS_DLQ, 1),
    )


def partitions_by_topic(partitions: int = DEFAULT_TOPIC_PARTITIONS) -> dict[str, int]:
    """``topic_specs`` as topic name -> partition count."""
    return {s.name: s.partitions for s in topic_specs(partitions)}
