#!/bin/sh
# Install the log pipeline's pieces into Elasticsearch and Kibana (idempotent):
# ILM policy, ingest pipeline, index template, saved objects; optionally the
# kibana_system password (compose). Used by the Helm setup Job and compose's elk-setup.
# Env: ES, KIBANA, ES_USER, ES_PASSWORD, [KIBANA_PASSWORD]; files in SETUP_DIR (/setup).
set -eu
DIR="${SETUP_DIR:-/setup}"

c() {
    curl -fsS --retry 60 --retry-all-errors --retry-delay 5 -u "$ES_USER:$ES_PASSWORD" "$@"
    echo
}

if [ -n "${KIBANA_PASSWORD:-}" ]; then
    c -X POST "$ES/_security/user/kibana_system/_password" -H 'Content-Type: application/json' \
        -d "{\"password\": \"$KIBANA_PASSWORD\"}"
fi
c -X PUT "$ES/_ilm/policy/bank-logs" -H 'Content-Type: application/json' --data "@$DIR/ilm-policy.json"
c -X PUT "$ES/_ingest/pipeline/bank-logs" -H 'Content-Type: application/json' --data "@$DIR/ingest-pipeline.json"
c -X PUT "$ES/_index_template/logs-bank" -H 'Content-Type: application/json' --data "@$DIR/index-template.json"
c -X POST "$KIBANA/api/saved_objects/_import?overwrite=true" -H 'kbn-xsrf: true' \
    --form "file=@$DIR/kibana-saved-objects.ndjson"
