-- The projection worker's lock-free batches (docs/adr/0314) are planned from the
-- versions the worker remembers, not from rows it locked. Its connection commits
-- asynchronously (synchronous_commit off: the read models are rebuilt from the
-- event store), so a PostgreSQL crash can take back a batch the worker saw commit,
-- and what it remembers can then be ahead of account_view. The write statement
-- calls this check (joined into every write it makes): if any account's version is
-- not the one the batch was planned from, the whole statement fails with
-- serialization_failure and the worker plans the batch again under lock.
CREATE OR REPLACE FUNCTION projection_versions_match(p_accounts uuid[], p_versions integer[])
RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF EXISTS (
        SELECT 1
        FROM unnest(p_accounts, p_versions) AS e(account_id, version)
        LEFT JOIN account_view v ON v.account_id = e.account_id
        WHERE v.version IS DISTINCT FROM e.version
    ) THEN
        RAISE EXCEPTION 'account_view moved since this projection batch was planned'
            USING ERRCODE = 'serialization_failure';
    END IF;
    RETURN true;
END
$$;
