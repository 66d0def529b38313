"""The topics the connector writes, with their partition counts."""

from __future__ import annotations

import msgspec

CDC_ACCOUNTS = "cdc.accounts"
CDC_TRANSACTIONS = "cdc.transactions"
CDC_OUTBOX = "cdc.outbox"
CDC_AUDIT = "cdc.audit"
CDC_DLQ = "cdc.dlq"
# Debezium-style heartbeat topic. Only this connector writes or reads it, so its
# presence also proves the broker still holds what this connector wrote (the
# embedded broker forgets every topic when it restarts).
CDC_HEARTBEAT = "cdc.heartbeat"

ACCOUNT_EVENTS = "account-events"
TRANSACTION_EVENTS = "transaction-events"
AUDIT_EVENTS = "audit-events"

DOMAIN_TOPICS = frozenset({ACCOUNT_EVENTS, TRANSACTION_EVENTS, AUDIT_EVENTS})


class TopicSpec(msgspec.Struct, frozen=True):
    name: str
    partitions: int


TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(ACCOUNT_EVENTS, 8),
    TopicSpec(TRANSACTION_EVENTS, 8),
    TopicSpec(AUDIT_EVENTS, 4),
    TopicSpec(CDC_ACCOUNTS, 8),
    TopicSpec(CDC_TRANSACTIONS, 8),
    TopicSpec(CDC_OUTBOX, 8),
    TopicSpec(CDC_AUDIT, 4),
    TopicSpec(CDC_DLQ, 1),
    TopicSpec(CDC_HEARTBEAT, 1),
)

# Tables captured by the publication (audit_log once a migration creates it).
CAPTURED_TABLES = ["events", "outbox", "audit_log"]
