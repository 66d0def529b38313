-- Maker-checker (issue #17 item 6): a configured staff command is kept here as a
-- pending request and runs only when a different staff member approves it. Decided
-- and expired requests are kept (status), never deleted.
CREATE TABLE approval_requests (
    id            uuid PRIMARY KEY,
    action        text NOT NULL,            -- the audit action of the command asked for
    payload       jsonb NOT NULL,           -- what the command needs to run
    target_type   text,
    target_id     text,
    account_id    uuid,
    maker_id      uuid NOT NULL,
    maker_role    text NOT NULL,
    status        text NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'approved', 'rejected', 'expired')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    checker_id    uuid,
    decided_at    timestamptz,
    reason        text NOT NULL DEFAULT '',
    result_status int
);
CREATE INDEX approval_requests_pending ON approval_requests (created_at) WHERE status = 'pending';
