-- The accounts that are closed, straight from the event store: opening an account
-- counts its owner's accounts that are not (the cap of max_open_accounts_per_customer,
-- server/application/handlers.py), with one probe of this index per account instead
-- of a walk of the account's stream. It holds one entry per closed account; every
-- other event only tests the predicate.
CREATE INDEX events_account_closed_idx ON events (stream_id) WHERE event_type = 'AccountClosed';
