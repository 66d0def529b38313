-- Two-step sign-in (RFC 6238 codes from an authenticator app). Each secret is sealed
-- (AES-GCM, server/adapters/secret_box.py) before it is stored: a copy of the table alone
-- does not give anyone a customer's codes. totp_pending holds a secret shown to the
-- customer and not yet confirmed with a code from it; totp_last_step the time step of the
-- last code taken, so that no code signs in twice.
ALTER TABLE users
    ADD COLUMN totp_secret bytea,
    ADD COLUMN totp_pending bytea,
    ADD COLUMN totp_last_step bigint;
