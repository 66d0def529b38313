-- Creating a standing order is idempotent by the caller's Idempotency-Key (issue #17:
-- every new command is): the order's id is derived from (caller, key), and the request
-- it was created for is kept, so a retry answers the same order and a reused key with
-- another request is refused. Orders created before this have no key (NULL).
ALTER TABLE standing_orders ADD COLUMN request_hash bytea;
