-- A customer moving their account to a new email address (server/application/
-- email_change.py): the change waits here, with a keyed digest of the code emailed to the
-- new address, until that code comes back; then the users row takes the address and this
-- row goes. One change per customer at a time: a new request replaces it. Not in the CDC
-- publication (nothing downstream reads it).
CREATE TABLE email_changes (
    user_id     uuid        PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    new_email   text        NOT NULL,
    code_digest bytea       NOT NULL,
    sent_at     timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);

-- A changed email address is notified (server/notifications/rules.py, email_changed).
ALTER TABLE notifications DROP CONSTRAINT notifications_kind_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_kind_check
    CHECK (kind IN ('money_received', 'payment_refused', 'large_withdrawal', 'new_sign_in',
                    'password_changed', 'transfer_cancelled', 'two_step_on', 'two_step_off',
                    'email_changed'));
