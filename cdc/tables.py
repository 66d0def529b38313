"""The tables the connector's publication captures (audit_log once a migration creates it).

``outbox`` is retired: its rows repeated the events rows, which the connector now
routes itself; it is taken out of an existing publication (migration 0004 drops
the table).
"""

CAPTURED_TABLES = ["events", "audit_log"]
RETIRED_TABLES = ["outbox"]
