-- The write path's load (0004) looked up the events after each account's cached
-- version and the stored answers of the keys with a join on unnest(): PL/pgSQL
-- caches a generic plan for it, which cannot see how long the arrays are (it
-- assumes 100 elements) and chose a hash join over a sequential scan of events and
-- of idempotency_keys. Every group commit read both tables whole: 11.8 ms and
-- ~2,900 buffers per call with 20,000 deposits stored, growing with every deposit
-- (pg_stat_statements under `python -m bench --only deposits`, docs/adr/0207).
-- Each lookup is now a LATERAL subquery that cannot be flattened into a join (ORDER
-- BY / LIMIT), so it is an index scan per account and per key, whatever is stored.
CREATE OR REPLACE FUNCTION write_path_load(
    p_accounts uuid[], p_after integer[], p_scopes text[], p_keys text[]
) RETURNS TABLE (
    kind text, id uuid, payload text,
    key_scope text, key_name text, request_hash bytea, status_code integer, response_body bytea
)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
        SELECT 'a'::text, o.account_id, NULL::text,
               NULL::text, NULL::text, NULL::bytea, NULL::integer, NULL::bytea
        FROM account_owners o
        WHERE o.account_id = ANY (p_accounts)
        ORDER BY o.account_id
        FOR UPDATE;
    RETURN QUERY
        SELECT 'e'::text, c.account_id, e.payload,
               NULL::text, NULL::text, NULL::bytea, NULL::integer, NULL::bytea
        FROM unnest(p_accounts, p_after) WITH ORDINALITY AS c(account_id, after_version, n)
        CROSS JOIN LATERAL (
            SELECT x.payload::text AS payload, x.version
            FROM events x
            WHERE x.stream_id = c.account_id AND x.version > c.after_version
            ORDER BY x.version
        ) e
        ORDER BY c.n, e.version;
    RETURN QUERY
        SELECT 'k'::text, NULL::uuid, NULL::text,
               k.scope, k.key, k.request_hash, k.status_code, k.response_body
        FROM unnest(p_scopes, p_keys) AS w(scope, key)
        CROSS JOIN LATERAL (
            SELECT x.scope, x.key, x.request_hash, x.status_code, x.response_body
            FROM idempotency_keys x
            WHERE x.scope = w.scope AND x.key = w.key
            LIMIT 1
        ) k;
END
$$;
