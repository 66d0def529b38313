-- Two-step sign-in (RFC 6238 codes from an authenticator app). Each secret is sealed
-- (AES-GCM, server/adapters/secret_box.py) before it is stored: a copy of the table alone
-- does not give anyone a customer's codes. totp_pending holds a secret shown to the
-- customer and not yet confirmed with a code from it; totp_last_step the time step of the
-- last code taken, so that no code signs in twice.
ALTER TABLE users
    ADD COLUMN totp_secret bytea,
    ADD COLUMN totp_pending bytea,
    ADD COLUMN totp_last_step bigint;

-- Turning it on or off is notified (server/notifications/rules.py): done by someone else
-- with the customer's password, either locks them out or weakens the account.
ALTER TABLE notifications DROP CONSTRAINT notifications_kind_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_kind_check
    CHECK (kind IN ('money_received', 'payment_refused', 'large_withdrawal', 'new_sign_in',
                    'password_changed', 'transfer_cancelled', 'two_step_on', 'two_step_off'));
