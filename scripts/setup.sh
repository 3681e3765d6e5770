#!/usr/bin/env bash
# Creates .venv with streamdb and its dependencies (idempotent). Needs Python >= 3.11.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "streamdb needs Python >= 3.11")'
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
# Third-party clients that tests/test_clients.py runs against the server: PyPI `ksql` with its
# own dependencies beside the venv (it pins h2 2.x; the server needs h2 4.x; its setup.py needs
# `wheel` and the venv's setuptools), and npm `ksqldb-client` under tests/clients.
if [ ! -d .venv/clients/pypi-ksql/ksql ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check wheel
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-build-isolation \
    --target .venv/clients/pypi-ksql ksql==0.10.2
fi
if [ ! -d tests/clients/node_modules/ksqldb-client ]; then
  (cd tests/clients && npm ci --no-audit --no-fund --silent)
fi
# The web console's browser tests (tests/test_console.py) drive Debian's Chromium through
# Playwright: no browser build can be downloaded, so the system package is installed (as root).
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "setup: tests/test_console.py needs Chromium: sudo apt-get install chromium" >&2
  fi
fi
# The JDBC connector tests (tests/test_connectors.py) start a real PostgreSQL from Debian's
# packages, as the user postgres (PostgreSQL refuses to run as root).
if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  else
    echo "setup: tests/test_connectors.py needs PostgreSQL: sudo apt-get install postgresql" >&2
  fi
fi
