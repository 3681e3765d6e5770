#!/usr/bin/env bash
# Set up, then run the main job: the streamdb server (ksqlDB's REST API on port 8088) over the
# embedded log in ./data, with the saved queries of queries/ loaded. Ctrl-C stops it cleanly.
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup.sh
exec .venv/bin/streamdb server --host "${STREAMDB_HOST:-127.0.0.1}" --port "${STREAMDB_PORT:-8088}" \
    --data-dir "${STREAMDB_DATA_DIR:-data}" --queries queries
