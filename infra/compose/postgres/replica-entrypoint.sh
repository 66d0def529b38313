#!/bin/bash
# Streaming replica: on first start clone the primary with pg_basebackup
# (-R writes primary_conninfo + standby.signal), then run as a hot standby
# on the physical slot replica_1 that the primary created.
set -euo pipefail

PGDATA="${PGDATA:-/var/lib/postgresql/data}"
mkdir -p "$PGDATA"
chown -R postgres:postgres "$PGDATA"
chmod 700 "$PGDATA"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    until gosu postgres pg_isready -h "$PRIMARY_HOST" -U replicator -d postgres; do
        sleep 1
    done
    gosu postgres pg_basebackup -h "$PRIMARY_HOST" -U replicator -D "$PGDATA" \
        --wal-method=stream --slot=replica_1 --write-recovery-conf --progress
fi

exec gosu postgres postgres -D "$PGDATA" -c hot_standby=on -c hot_standby_feedback=on
