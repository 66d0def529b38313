-- Opening an account counts its owner's accounts that are not closed, against the cap
-- of max_open_accounts_per_customer. The count was read before the opening's write,
-- so two openings at the same instant could both pass at the cap less one. It is now
-- read in the opening's transaction, after a lock per owner that every counted
-- opening takes (held until the transaction ends): a second opening waits for the
-- first to commit, then counts it. Only openings take these locks, and an opening
-- locks no account row of its owner's, so no wait can run in a circle.
--
-- pg_advisory_xact_lock(int, int): class 1 is "an owner's openings" (the two-key form
-- shares no key with the migrations' one-key lock); owners whose ids hash alike
-- only queue behind each other. Locked in the order given (the caller sorts), then
-- counted by a statement of its own, whose snapshot is taken after the locks.
CREATE FUNCTION lock_and_count_open_accounts(p_owners uuid[])
RETURNS TABLE (owner_id uuid, open_accounts bigint)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
    o uuid;
BEGIN
    FOREACH o IN ARRAY p_owners LOOP
        PERFORM pg_advisory_xact_lock(1, hashtext(o::text));
    END LOOP;
    RETURN QUERY
        SELECT w.owner_id,
               (SELECT count(*) FROM account_owners a
                 WHERE a.owner_id = w.owner_id
                   AND NOT EXISTS (SELECT 1 FROM events e
                                    WHERE e.stream_id = a.account_id
                                      AND e.event_type = 'AccountClosed'))
        FROM unnest(p_owners) AS w(owner_id);
END
$$;
