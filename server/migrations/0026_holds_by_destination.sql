-- The pending transfers into each account: the scheduler voids those whose
-- destination has been closed (server/application/holds.void_into_closed_due), every
-- tick. Card holds (no destination) are left out of the index.
CREATE INDEX hold_view_destination_idx ON hold_view (to_account_id)
    WHERE to_account_id IS NOT NULL;
