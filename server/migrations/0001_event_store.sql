-- The application connects as bank_app (created by the embedded stack); objects
-- created by the migrating role grant it plain DML. Where no such role exists
-- (one external database URL for everything) this does nothing.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bank_app') THEN
        EXECUTE 'GRANT USAGE ON SCHEMA public TO bank_app';
        EXECUTE 'ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO bank_app';
        EXECUTE 'ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO bank_app';
    END IF;
END
$$;

-- Event store: the source of truth. Every change is an immutable row.
CREATE TABLE events (
    global_position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id        uuid        NOT NULL UNIQUE,
    stream_id       uuid        NOT NULL,
    stream_type     text        NOT NULL,
    version         integer     NOT NULL CHECK (version > 0),
    event_type      text        NOT NULL,
    payload         jsonb       NOT NULL,
    metadata        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    recorded_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT events_stream_version_key UNIQUE (stream_id, version)
);

-- Transactional outbox, written in the same transaction as the events. The CDC
-- connector routes each row to its domain topic (key = aggregate id).
-- payload is the RecordedEvent envelope (shared.events.RecordedEvent) as JSON.
CREATE TABLE outbox (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id        uuid        NOT NULL,
    aggregate_type  text        NOT NULL,
    aggregate_id    uuid        NOT NULL,
    topic           text        NOT NULL,
    key             text        NOT NULL,
    event_type      text        NOT NULL,
    payload         jsonb       NOT NULL,
    headers         jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- A command's idempotency key, scoped by the caller, with the first answer.
CREATE TABLE idempotency_keys (
    scope           text        NOT NULL,
    key             text        NOT NULL,
    request_hash    bytea       NOT NULL,
    status_code     integer     NOT NULL,
    response_body   bytea       NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);

-- Who an account belongs to, known at open time; the write side's lookup for
-- ownership checks (immutable, derived from AccountOpened in the same transaction).
CREATE TABLE account_owners (
    account_id      uuid PRIMARY KEY,
    owner_id        uuid        NOT NULL,
    currency        text        NOT NULL,
    opened_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX account_owners_owner_idx ON account_owners (owner_id);

CREATE TABLE users (
    id              uuid PRIMARY KEY,
    email           text        NOT NULL,
    password_hash   text        NOT NULL,
    full_name       text        NOT NULL,
    role            text        NOT NULL DEFAULT 'customer'
                    CHECK (role IN ('customer', 'teller', 'admin', 'auditor')),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

-- Let the CDC connector see whole rows on UPDATE/DELETE (Debezium's "before").
ALTER TABLE events REPLICA IDENTITY FULL;
ALTER TABLE outbox REPLICA IDENTITY FULL;
