-- Maker-checker (issue #17): a request kept for approval remembers the maker's
-- Idempotency-Key, so a retry of the maker's call answers the same request (202 with
-- the same id) instead of filing a second one, and the key reused for another body
-- is refused. Requests made without a key (unfreeze, role changes) leave these NULL.
ALTER TABLE approval_requests
    ADD COLUMN request_scope text,
    ADD COLUMN request_key   text,
    ADD COLUMN request_hash  bytea;
CREATE UNIQUE INDEX approval_requests_by_key
    ON approval_requests (request_scope, request_key) WHERE request_key IS NOT NULL;
