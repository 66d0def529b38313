"""The tables the connector's publication captures (audit_log once a migration creates it)."""

CAPTURED_TABLES = ["events", "outbox", "audit_log"]
