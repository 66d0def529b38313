-- A new event's id is time-ordered (the layout of a version 7 UUID, RFC 9562: 48 bits
-- of Unix milliseconds, then 74 random bits), so the unique index on events.event_id
-- grows at its right edge like the one on global_position. A random (version 4) id put
-- each new entry on a random leaf of an index as large as the store: every insert
-- dirtied another page, and after each checkpoint each of them was written to the WAL
-- whole (docs/adr/0339-time-ordered-event-ids.md). Ids already stored keep their value;
-- nothing reads the layout of an id, only its equality.
CREATE OR REPLACE FUNCTION uuid_v7() RETURNS uuid
LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
    SELECT (lpad(to_hex(floor(date_part('epoch', clock_timestamp()) * 1000)::bigint), 12, '0')
            || '7' || substr(replace(gen_random_uuid()::text, '-', ''), 14))::uuid
$$;

ALTER TABLE events ALTER COLUMN event_id SET DEFAULT uuid_v7();
