#!/usr/bin/env bash
# Creates .venv with the project and its test extras; cheap to re-run (pip skips what is there).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.installed-$(cat pyproject.toml | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  .venv/bin/pip install --quiet --disable-pip-version-check -e ".[test]" 2>&1 | grep -v "is ignored: it is neither" || true
  .venv/bin/python -c "import ray, ray.serve, ocpp, websockets, msgspec, duckdb, polars, pytest" 
  rm -f .venv/.installed-* && touch "$stamp"
fi
