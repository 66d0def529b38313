-- An account can be renamed (AccountRenamed). A statement is headed with the name the
-- account had at the end of its month: the last rename up to that version, found with
-- one probe of this index instead of a walk of the account's stream. It holds one
-- entry per rename; every other event only tests the predicate.
CREATE INDEX events_account_renamed_idx ON events (stream_id, version)
    WHERE event_type = 'AccountRenamed';
