-- Holds (issue #17 item 2: two-phase transfers). The events are FundsHeld and
-- HoldReleased on the account stream; the read models learn what is held:
--   account_view.held  the sum of the account's pending holds (available = balance - held);
--   hold_view          one row per pending hold (deleted when posted, voided or expired),
--                      what GET /accounts/{id}/holds lists and the scheduler's expiry sweep
--                      reads (by expires_at).
-- Existing accounts have no holds: held starts at 0, so their available balance is
-- their balance. Rebuilt from the event store like every read model.
ALTER TABLE account_view ADD COLUMN held bigint NOT NULL DEFAULT 0;

CREATE TABLE hold_view (
    hold_id         uuid PRIMARY KEY,
    account_id      uuid        NOT NULL,
    version         integer     NOT NULL,       -- the FundsHeld's place in its stream
    amount          bigint      NOT NULL CHECK (amount > 0),
    currency        text        NOT NULL,
    description     text        NOT NULL DEFAULT '',
    to_account_id   uuid,                       -- a pending transfer's destination
    expires_at      timestamptz NOT NULL,
    placed_at       timestamptz NOT NULL
);
CREATE INDEX hold_view_account_idx ON hold_view (account_id, version);
CREATE INDEX hold_view_expiry_idx ON hold_view (expires_at);
