"""Piccolo tables of the read models (schema: server/migrations/0002_read_models.sql,
0011_holds.sql).

The query side reads through these; the worker's batch path writes with
asyncpg COPY and set-based SQL (server/projections/writer.py). Tables are bound
to an engine by the process's composition root with ``bind(engine)``; nothing
connects at import time.
"""

from __future__ import annotations

from piccolo.columns import UUID, BigInt, Date, Integer, Text, Timestamptz, Varchar
from piccolo.engine.postgres import PostgresEngine
from piccolo.table import Table


class AccountView(Table, tablename="account_view"):
    account_id = UUID(primary_key=True)
    owner_id = UUID(index=True)
    name = Text()
    currency = Varchar(length=3)
    status = Text(default="active")
    balance = BigInt(default=0)
    version = Integer()
    opened_at = Timestamptz()
    updated_at = Timestamptz()
    held = BigInt(default=0)  # pending holds (migration 0011): available = balance - held


class TransactionView(Table, tablename="transaction_view"):
    # The real primary key is (account_id, version); Piccolo needs one column.
    account_id = UUID(primary_key=True)
    version = Integer()
    transaction_id = UUID()
    kind = Text()
    amount = BigInt()
    balance_after = BigInt()
    currency = Varchar(length=3)
    counterparty_account_id = UUID(null=True, default=None)
    description = Text(default="")
    occurred_at = Timestamptz()
    event_id = UUID()


class AnalyticsView(Table, tablename="analytics_view"):
    account_id = UUID(primary_key=True)  # with day: see TransactionView
    day = Date()
    money_in = BigInt(default=0)
    money_out = BigInt(default=0)
    # "count" would shadow Table.count(); the column keeps its SQL name.
    posting_count = Integer(default=0, db_column_name="count")
    closing_balance = BigInt()
    closing_version = Integer()


class HoldView(Table, tablename="hold_view"):
    """Pending holds (migration 0011); a row goes when its hold is released."""

    hold_id = UUID(primary_key=True)
    account_id = UUID(index=True)
    version = Integer()
    amount = BigInt()
    currency = Varchar(length=3)
    description = Text(default="")
    to_account_id = UUID(null=True, default=None)
    expires_at = Timestamptz()
    placed_at = Timestamptz()


class ProjectionCheckpoint(Table, tablename="projection_checkpoints"):
    consumer = Text(primary_key=True)
    topic = Text()
    partition = Integer()
    offset = BigInt(db_column_name="offset")
    event_id = UUID(null=True, default=None)
    updated_at = Timestamptz()


READ_MODEL_TABLES: tuple[type[Table], ...] = (
    AccountView,
    TransactionView,
    AnalyticsView,
    HoldView,
    ProjectionCheckpoint,
)


def make_engine(database_url: str) -> PostgresEngine:
    return PostgresEngine(config={"dsn": database_url}, extensions=())


def bind(engine: PostgresEngine) -> None:
    for table in READ_MODEL_TABLES:
        table._meta.db = engine
