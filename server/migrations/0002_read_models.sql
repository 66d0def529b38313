-- Read models built by the projection worker (server/projections) from the
-- account-events / transaction-events topics. They can be dropped and rebuilt
-- from the event store at any time (python -m server.projections rebuild).
-- Default privileges from 0001 give bank_app plain DML on these tables.

-- One row per account: its current state and the last applied stream version.
-- version is the idempotency guard: an event with version <= version is a
-- redelivery and changes nothing.
CREATE TABLE account_view (
    account_id      uuid PRIMARY KEY,
    owner_id        uuid        NOT NULL,
    name            text        NOT NULL,
    currency        text        NOT NULL,
    status          text        NOT NULL DEFAULT 'active'
                    CHECK (status IN ('active', 'frozen', 'closed')),
    balance         bigint      NOT NULL DEFAULT 0,
    version         integer     NOT NULL CHECK (version > 0),
    opened_at       timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX account_view_owner_idx ON account_view (owner_id);

-- One row per posting (balance-changing event). The primary key is the event's
-- place in its account stream, so a posting can never be stored twice.
-- Pagination walks version downwards (newest first) and is stable while new
-- postings (higher versions) arrive.
CREATE TABLE transaction_view (
    account_id              uuid        NOT NULL,
    version                 integer     NOT NULL,
    transaction_id          uuid        NOT NULL,
    kind                    text        NOT NULL
                            CHECK (kind IN ('deposit', 'withdrawal', 'transfer_out', 'transfer_in')),
    amount                  bigint      NOT NULL CHECK (amount > 0),
    balance_after           bigint      NOT NULL,
    currency                text        NOT NULL,
    counterparty_account_id uuid,
    description             text        NOT NULL DEFAULT '',
    occurred_at             timestamptz NOT NULL,
    event_id                uuid        NOT NULL,
    PRIMARY KEY (account_id, version)
);
CREATE INDEX transaction_view_account_time_idx ON transaction_view (account_id, occurred_at);

-- Per account per UTC day: money in, money out, number of postings and the
-- balance after the day's last posting (closing_version says which one).
CREATE TABLE analytics_view (
    account_id      uuid    NOT NULL,
    day             date    NOT NULL,
    money_in        bigint  NOT NULL DEFAULT 0,
    money_out       bigint  NOT NULL DEFAULT 0,
    count           integer NOT NULL DEFAULT 0,
    closing_balance bigint  NOT NULL,
    closing_version integer NOT NULL,
    PRIMARY KEY (account_id, day)
);

-- The projection's position per Kafka partition, written in the same
-- transaction as the read-model rows. event_id identifies the record at that
-- offset, so a topic that restarted at offset 0 (embedded broker) is detected.
CREATE TABLE projection_checkpoints (
    consumer        text        NOT NULL,
    topic           text        NOT NULL,
    partition       integer     NOT NULL,
    "offset"        bigint      NOT NULL,
    event_id        uuid,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, topic, partition)
);
