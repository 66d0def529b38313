-- PostgreSQL 18 makes version 7 UUIDs itself (uuidv7(), in C): the SQL function of
-- migration 0018 builds each one from text (clock_timestamp, to_hex, lpad, replace,
-- substr) and cost about 2.6 µs more a row, three rows a transfer
-- (docs/adr/0341-event-ids-from-the-servers-uuidv7.md). An older server keeps
-- uuid_v7(): the two make ids of the same layout, so ids stay time-ordered across an
-- upgrade of the server.
DO $$
BEGIN
    IF current_setting('server_version_num')::int >= 180000 THEN
        EXECUTE 'ALTER TABLE events ALTER COLUMN event_id SET DEFAULT uuidv7()';
    END IF;
END
$$;
