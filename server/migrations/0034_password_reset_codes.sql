-- A forgotten password is reset with a code emailed to the customer
-- (server/application/password_reset.py). Only a keyed digest of the code is kept
-- (HMAC-SHA256 under a key derived from the API's signing key): a copy of the table
-- alone does not give anyone a working code. One code per customer at a time; a new
-- request replaces it, and a reset takes it (it works once).
ALTER TABLE users
    ADD COLUMN reset_code_digest bytea,
    ADD COLUMN reset_code_expires_at timestamptz;
