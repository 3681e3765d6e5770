#!/usr/bin/env bash
# Creates .venv-flink with PyFlink (PyPI apache-flink) for `python -m bench --vs flink`
# (idempotent). Its own virtualenv because apache-flink pins older pyarrow/numpy than streamdb.
# Needs Python >= 3.9 and a Java 11/17 runtime (`java` on PATH or JAVA_HOME). Large download.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
command -v java >/dev/null || [ -n "${JAVA_HOME:-}" ] || echo "warning: no java found; PyFlink needs Java 11 or 17" >&2
[ -x .venv-flink/bin/python ] || "$PYTHON" -m venv .venv-flink
echo "*" > .venv-flink/.gitignore  # keeps git status clean (the repo ignores only .venv/)
.venv-flink/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv-flink/bin/python -m pip install --disable-pip-version-check "${FLINK_PACKAGE:-apache-flink}"
.venv-flink/bin/python -c 'import pyflink, os; print("pyflink", os.path.dirname(pyflink.__file__))'
