#!/usr/bin/env bash
# Creates .venv (once) and installs the project with its dev/test extras. Idempotent and quick
# when nothing changed: the install is skipped while pyproject.toml is unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.mlsec-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  log=.venv/install.log
  echo "bootstrap: installing mlsec-dagster and its test dependencies into .venv (log: $log)" >&2
  # The dev extra pins torch==2.13.0 (CPU build on this platform) for the benign-artifact tests.
  if ! .venv/bin/python -m pip install --upgrade pip >"$log" 2>&1 \
     || ! .venv/bin/python -m pip install -e ".[dev]" >>"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "bootstrap: installation failed (full log: $log)" >&2
    exit 1
  fi
  echo "$want" > "$stamp"
fi
