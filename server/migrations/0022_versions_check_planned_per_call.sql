-- The projection batch's version check (0016) runs its query through EXECUTE: planned
-- on each call, for the arrays it is given and account_view as it is then. As a static
-- PL/pgSQL query it was planned once per connection, and the plan cached while
-- account_view held a few hundred rows (a hash join over a sequential scan) stayed
-- for the life of the connection, reading the whole table on every lock-free batch
-- once it had grown (docs/adr/0344-random-page-cost-for-data-in-memory.md). The
-- query is small: planning it costs less than one scan of a grown table.
CREATE OR REPLACE FUNCTION projection_versions_match(p_accounts uuid[], p_versions integer[])
RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
DECLARE
    moved boolean;
BEGIN
    EXECUTE 'SELECT EXISTS (
                 SELECT 1
                 FROM unnest($1, $2) AS e(account_id, version)
                 LEFT JOIN account_view v ON v.account_id = e.account_id
                 WHERE v.version IS DISTINCT FROM e.version)'
        INTO moved
        USING p_accounts, p_versions;
    IF moved THEN
        RAISE EXCEPTION 'account_view moved since this projection batch was planned'
            USING ERRCODE = 'serialization_failure';
    END IF;
    RETURN true;
END
$$;
