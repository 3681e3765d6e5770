#!/usr/bin/env bash
# Set up, then run the main job: the streamdb server (ksqlDB's REST API on port 8088) over the
# embedded log in ./data, with the saved queries of queries/ loaded. Ctrl-C stops it cleanly.
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup.sh
host="${STREAMDB_HOST:-127.0.0.1}"
port="${STREAMDB_PORT:-8088}"
# The CLI finds this server by its argument or STREAMDB_URL (its default is port 8088).
echo "streamdb serves ksqlDB's REST API and its web console at http://${host}:${port}/" \
    "(the CLI: STREAMDB_URL=http://${host}:${port} .venv/bin/streamdb cli)"
exec .venv/bin/streamdb server --host "$host" --port "$port" \
    --data-dir "${STREAMDB_DATA_DIR:-data}" --queries queries
