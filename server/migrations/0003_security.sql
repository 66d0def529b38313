-- Security: the audit trail.
--
-- One row per security-relevant act: every command (accepted, rejected by a
-- business rule, or refused by access control), every sign-in (success or
-- failure), token refresh, logout, session revocation and role change. A row
-- is written in the same transaction as the act's effect where it has one in
-- PostgreSQL; refusals that roll their transaction back get a row of their own.
-- The CDC connector sends each row to `audit-events` (key = actor, else account) and `cdc.audit`.
CREATE TABLE audit_log (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor_id        uuid,                   -- NULL when nobody is signed in (failed sign-in)
    actor_role      text,
    session_id      text,
    action          text        NOT NULL,   -- deposit_money, sign_in, change_role, ...
    target_type     text,                   -- account, user, session, transfer
    target_id       text,
    account_id      uuid,                   -- the account concerned, for ?account= queries
    outcome         text        NOT NULL
                    CHECK (outcome IN ('accepted', 'rejected', 'denied', 'replayed')),
    reason_code     text,                   -- the error code of a refusal
    client_ip       text,
    user_agent      text,
    trace_id        text,
    details         jsonb       NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_occurred_idx ON audit_log (occurred_at);
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, id);
CREATE INDEX audit_log_account_idx ON audit_log (account_id, id);

-- Append-only. The application's role may add and read rows, never change or
-- remove them (0001's default privileges granted it UPDATE and DELETE).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bank_app') THEN
        EXECUTE 'REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM bank_app';
        EXECUTE 'GRANT SELECT, INSERT ON audit_log TO bank_app';
    END IF;
END
$$;

-- Where one role does everything (an external database URL), the trigger still
-- refuses changes to recorded rows. The owner can drop it, deliberately.
CREATE FUNCTION audit_log_is_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_append_only
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();
CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only();
