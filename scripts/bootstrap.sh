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
# `--browser` (scripts/test): the back office's browser tests drive Debian's chromium through
# Playwright (tests/test_backoffice*.py); nothing downloads a browser of its own. Missing and
# not installable: fail here, loudly, rather than let the tests skip.
if [ "${1:-}" = "--browser" ] && [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null || true
  fi
  if [ ! -x /usr/bin/chromium ]; then
    echo "bootstrap: /usr/bin/chromium is missing and could not be installed; the back-office tests" \
         "need it (as root: apt-get update && apt-get install -y chromium)" >&2
    exit 1
  fi
fi
