-- A request kept for approval now stores its 202 under the maker's Idempotency-Key in
-- idempotency_keys, where the write path's load finds every stored answer, so a cash
-- deposit no longer looks up approval_requests before it runs (docs/adr/0206). The
-- requests kept before this get their answer here, the body a retry was answered with.
INSERT INTO idempotency_keys (scope, key, request_hash, status_code, response_body)
SELECT request_scope, request_key, request_hash, 202,
       convert_to(json_build_object(
           'approval_id', id,
           'status', 'pending',
           'action', action,
           'message', 'This change needs a second staff member''s approval before it takes effect.'
       )::text, 'UTF8')
FROM approval_requests
WHERE request_key IS NOT NULL
ON CONFLICT DO NOTHING;
