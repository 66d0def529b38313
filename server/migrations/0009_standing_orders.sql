-- Standing orders (issue #17 item 4): what a customer asked to pay on a schedule, and
-- what happened on each due date. The scheduler (python -m server.scheduler) claims
-- due orders with FOR UPDATE SKIP LOCKED; each occurrence is paid through the normal
-- transfer command under the idempotency key (scope 'standing_order', key
-- '<order id>:<due date>'), so a re-run after a crash replays instead of paying twice.
CREATE TABLE standing_orders (
    id              uuid PRIMARY KEY,
    owner_id        uuid NOT NULL,
    from_account_id uuid NOT NULL REFERENCES account_owners (account_id),
    to_account_id   uuid NOT NULL,
    amount          bigint NOT NULL CHECK (amount > 0),
    currency        text,
    description     text NOT NULL DEFAULT '',
    frequency       text NOT NULL CHECK (frequency IN ('once', 'weekly', 'monthly')),
    start_date      date NOT NULL,
    end_date        date,
    max_count       int CHECK (max_count >= 1),
    status          text NOT NULL DEFAULT 'active'
                    CHECK (status IN ('active', 'finished', 'cancelled', 'suspended')),
    next_index      int NOT NULL DEFAULT 0,      -- the occurrence to pay next (0-based)
    next_due        date,                        -- its due date; NULL once not active
    refusals_in_row int NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX standing_orders_due ON standing_orders (next_due) WHERE status = 'active';
CREATE INDEX standing_orders_owner ON standing_orders (owner_id, created_at);

CREATE TABLE standing_order_occurrences (
    order_id    uuid NOT NULL REFERENCES standing_orders (id),
    index       int NOT NULL,
    due_date    date NOT NULL,
    outcome     text NOT NULL CHECK (outcome IN ('paid', 'refused')),
    transfer_id uuid,
    reason_code text,
    message     text,
    executed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (order_id, index)
);

