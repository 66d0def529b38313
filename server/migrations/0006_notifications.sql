-- Notifications: each customer's inbox, written by the notification consumer
-- (python -m server.notifications) from account-events and cdc.audit, read by
-- GET /api/v1/notifications.
--
-- Exactly once per source event: source_key names the fact the notification
-- comes from ('event:<event_id>' for a domain event, 'audit:<audit_log.id>' for
-- an audit row), and it is UNIQUE, so a redelivered record inserts nothing.
-- pushed_at is set once the live push and the push provider have been handed
-- the notification; rows still NULL there are pushed again after a crash.
-- Default privileges from 0001 give bank_app plain DML on this table.
CREATE TABLE notifications (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     uuid        NOT NULL,
    source_key  text        NOT NULL UNIQUE,
    kind        text        NOT NULL
                CHECK (kind IN ('money_received', 'payment_refused',
                                'large_withdrawal', 'new_sign_in')),
    title       text        NOT NULL,
    body        text        NOT NULL,
    account_id  uuid,
    session_id  text,                   -- new_sign_in: the session that signed in

    occurred_at timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    read_at     timestamptz,
    pushed_at   timestamptz
);
CREATE INDEX notifications_user_idx ON notifications (user_id, id DESC);
CREATE INDEX notifications_unread_idx ON notifications (user_id) WHERE read_at IS NULL;
CREATE INDEX notifications_unpushed_idx ON notifications (id) WHERE pushed_at IS NULL;
