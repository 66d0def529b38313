#!/bin/bash
# Runs once, on the primary's first start (docker-entrypoint-initdb.d).
# Creates the application role (no DDL), the replication role for the streaming
# replica, and lets the replica connect for replication. Passwords come from the
# environment; none is stored in the repository.
set -euo pipefail

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v app_password="$BANK_APP_DB_PASSWORD" \
    -v repl_password="$BANK_REPLICATION_PASSWORD" <<'SQL'
CREATE ROLE bank_app LOGIN PASSWORD :'app_password';
CREATE ROLE replicator LOGIN REPLICATION PASSWORD :'repl_password';
GRANT CONNECT ON DATABASE bank TO bank_app;
SELECT pg_create_physical_replication_slot('replica_1');
SQL

echo "host replication replicator all scram-sha-256" >> "$PGDATA/pg_hba.conf"
