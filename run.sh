#!/usr/bin/env bash
# Set up, then run the main job: the engine on the embedded log with queries/ loaded,
# seeded with sample events, printing what the saved queries produced.
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup.sh
DATA_DIR="${STREAMDB_DATA_DIR:-$(mktemp -d -t streamdb-XXXXXX)}"
exec .venv/bin/streamdb run --data-dir "$DATA_DIR" \
    --queries queries --queries examples/seed.sql --queries examples/show.sql
