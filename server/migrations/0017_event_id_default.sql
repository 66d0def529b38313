-- A new event's id is made by PostgreSQL as the row is inserted, whichever way it is
-- (the write statement, or COPY for a large write: docs/adr/0331-large-writes-are-copied.md).
ALTER TABLE events ALTER COLUMN event_id SET DEFAULT gen_random_uuid();
