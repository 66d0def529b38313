-- Payees (issue #17): the beneficiaries a customer saved by account number, with a
-- nickname and the confirmation-of-payee answer given when they were added (never
-- the holder's real name). One row per customer and account: adding the same
-- account again renames it (the natural key makes adding idempotent).
CREATE TABLE payees (
    owner_id    uuid        NOT NULL,
    account_id  uuid        NOT NULL,
    nickname    text        NOT NULL,
    name_match  text        NOT NULL CHECK (name_match IN ('match', 'close_match', 'no_match')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (owner_id, account_id)
);
