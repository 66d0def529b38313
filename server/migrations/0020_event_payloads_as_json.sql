-- An event's payload and metadata, and an audit row's details, are stored as the JSON
-- text the writer sent (json), not parsed into jsonb: the write path never looks
-- inside them, the CDC connector sends them on as text, and jsonb cost PostgreSQL a
-- parse on every insert and a print for the walsender on every decode - about 4 µs
-- and 1.5 µs a row more than json (docs/adr/0342-event-payloads-as-json-text.md).
-- json still checks that the text is JSON, and ->> still reads a field where SQL needs
-- one (the notification consumer's owner lookup). Rows already stored are rewritten as
-- jsonb printed them; nothing compares them as text.
ALTER TABLE events
    ALTER COLUMN payload TYPE json USING payload::json,
    ALTER COLUMN metadata DROP DEFAULT,
    ALTER COLUMN metadata TYPE json USING metadata::json,
    ALTER COLUMN metadata SET DEFAULT '{}'::json;

ALTER TABLE audit_log
    ALTER COLUMN details DROP DEFAULT,
    ALTER COLUMN details TYPE json USING details::json,
    ALTER COLUMN details SET DEFAULT '{}'::json;
