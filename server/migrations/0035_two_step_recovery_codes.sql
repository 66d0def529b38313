-- Recovery codes of two-step sign-in (server/application/two_step.py): ten are given when
-- it is turned on, each signs in once instead of a code from the authenticator app (a
-- lost phone). Only keyed digests are kept (HMAC-SHA256 under a key derived from a
-- sealing key, with the user's id): a copy of the table alone gives nobody a code. A
-- used code keeps its row (used_at), so that it is refused as used, and how many are
-- left can be told; a new set, or turning two-step sign-in off, removes the old ones.
CREATE TABLE two_step_recovery_codes (
    user_id uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    digest  bytea       NOT NULL,
    used_at timestamptz,
    PRIMARY KEY (user_id, digest)
);
