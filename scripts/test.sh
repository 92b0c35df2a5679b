#!/usr/bin/env bash
# The whole test suite: lint, type-check, tests. `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"
echo "== ruff"; ruff check mlsec_dagster tests benchmarks definitions.py
echo "== mypy"; mypy
echo "== pytest"; pytest "$@"
