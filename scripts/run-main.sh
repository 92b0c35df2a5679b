#!/usr/bin/env bash
# The main job, end to end on a fresh clone:
#   1. the example pipelines, clean checkpoint and clean vendor export
#                                                           -> gates pass, model released, training set written
#   2. the same with a poisoned checkpoint                  -> blocking check fails, nothing released,
#                                                              the payload never runs
#   3. the same with a poisoned vendor export (dataset)     -> blocking dataset check fails, the ETL and
#                                                              the training set never run
#   4. the same with a poisoned training environment        -> blocking dependency check fails (typosquat,
#      (typosquat + extra index in its requirements)           extra index), no fine-tuning, no release
#   5. the mlsec_ci_scan job on this repository             -> reports/mlsec.sarif, policy passes
# Uses an ephemeral Dagster instance (no DAGSTER_HOME). Exits 0 only if all five behaved as expected.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"
unset DAGSTER_HOME MLSEC_LANDING_FILE MLSEC_POISON_DATASET MLSEC_POISON_ENVIRONMENT
export MLSEC_DEMO_DIR="$PWD/demo"
logs="reports/run-main"
rm -rf demo "$logs"
mkdir -p "$logs"
manifest="$MLSEC_DEMO_DIR/release/manifest.json"
training_set="$MLSEC_DEMO_DIR/release/review_training_set.parquet"
canary="$MLSEC_DEMO_DIR/CANARY_poisoned_checkpoint_executed"
failures=()
summary=()

run_job() { # run_job <log name> <dagster job execute args...>; prints the exit code
  local log="$logs/$1.log"
  shift
  set +e
  dagster job execute -f definitions.py "$@" >"$log" 2>&1
  local rc=$?
  set -e
  echo "$rc"
}

expect() { # expect <ok:0|1> <description> <log>
  if [ "$1" = 0 ]; then
    summary+=("  ok    $2")
  else
    summary+=("  FAIL  $2 (log: $3)")
    failures+=("$2")
  fi
}

echo "== 1/5 example pipelines, clean checkpoint and clean vendor export"
rc=$(run_job clean -j ml_pipeline)
if [ "$rc" = 0 ] && [ -f "$manifest" ] && [ -f "$training_set" ]; then ok=0; else ok=1; fi
expect $ok "clean run: pipeline exit 0 (got $rc), release manifest and training set written" "$logs/clean.log"

echo "== 2/5 example pipeline, poisoned checkpoint (expected to be blocked)"
rm -f "$manifest"
poisoned=$(python -c "from mlsec_dagster.example.landing import make_poisoned_demo_checkpoint as m; print(m())")
rc=$(MLSEC_LANDING_FILE="$poisoned" run_job poisoned -j ml_pipeline)
if [ "$rc" = 1 ] && grep -q "blocking asset check failed with ERROR severity" "$logs/poisoned.log" \
  && grep -q "Dependencies for step fine_tuned_model failed" "$logs/poisoned.log"; then ok=0; else ok=1; fi
expect $ok "poisoned checkpoint: exit 1 (got $rc), blocked by the mlsec check before fine-tuning" \
  "$logs/poisoned.log"
if [ ! -e "$manifest" ]; then ok=0; else ok=1; fi
expect $ok "poisoned checkpoint: no release manifest" "$logs/poisoned.log"
if [ ! -e "$canary" ]; then ok=0; else ok=1; fi
expect $ok "poisoned checkpoint: payload never executed (no canary file)" "$logs/poisoned.log"

echo "== 3/5 example pipeline, poisoned vendor export (expected to be blocked)"
rm -f "$training_set"
rc=$(MLSEC_POISON_DATASET=1 run_job poisoned_dataset -j ml_pipeline)
if [ "$rc" = 1 ] && grep -q "Asset check 'mlsec_scan' on 'vendor_reviews' did not pass" "$logs/poisoned_dataset.log" \
  && grep -q "Dependencies for step clean_reviews failed" "$logs/poisoned_dataset.log"; then ok=0; else ok=1; fi
expect $ok "poisoned vendor export: exit 1 (got $rc), blocked by the mlsec check before the ETL" \
  "$logs/poisoned_dataset.log"
if [ ! -e "$training_set" ]; then ok=0; else ok=1; fi
expect $ok "poisoned vendor export: no training set written" "$logs/poisoned_dataset.log"

echo "== 4/5 example pipeline, poisoned training environment (expected to be blocked)"
rm -f "$manifest"
rc=$(MLSEC_POISON_ENVIRONMENT=1 run_job poisoned_environment -j ml_pipeline)
if [ "$rc" = 1 ] \
  && grep -q "Asset check 'mlsec_scan' on 'training_environment' did not pass" "$logs/poisoned_environment.log" \
  && grep -q "Dependencies for step fine_tuned_model failed" "$logs/poisoned_environment.log"; then ok=0; else ok=1; fi
expect $ok "poisoned environment: exit 1 (got $rc), blocked by the mlsec check before fine-tuning" \
  "$logs/poisoned_environment.log"
if [ ! -e "$manifest" ]; then ok=0; else ok=1; fi
expect $ok "poisoned environment: no release manifest" "$logs/poisoned_environment.log"

echo "== 5/5 mlsec_ci_scan on the repository"
config="$logs/mlsec_ci_scan.yaml"
printf 'ops:\n  mlsec_scan_tree:\n    config:\n      output: reports/mlsec.sarif\n' >"$config"
rc=$(run_job ci_scan -j mlsec_ci_scan -c "$config")
if [ "$rc" = 0 ] && [ -s reports/mlsec.sarif ]; then ok=0; else ok=1; fi
expect $ok "repository scan: exit 0 (got $rc), reports/mlsec.sarif written" "$logs/ci_scan.log"

echo
echo "mlsec-dagster main job summary"
printf '%s\n' "${summary[@]}"
echo "  gate verdict on the poisoned checkpoint:"
grep -o "Asset check 'mlsec_scan' on 'pretrained_checkpoint' did not pass. Description: .*" "$logs/poisoned.log" \
  | head -n 1 | sed "s/.*Description: '//" | cut -c 1-240 | sed 's/^/    /' || true
echo "  gate verdict on the poisoned vendor export:"
grep -o "Asset check 'mlsec_scan' on 'vendor_reviews' did not pass. Description: .*" "$logs/poisoned_dataset.log" \
  | head -n 1 | sed "s/.*Description: '//" | cut -c 1-240 | sed 's/^/    /' || true
echo "  gate verdict on the poisoned training environment:"
grep -o "Asset check 'mlsec_scan' on 'training_environment' did not pass. Description: .*" \
  "$logs/poisoned_environment.log" | head -n 1 | sed "s/.*Description: '//" | cut -c 1-240 | sed 's/^/    /' || true
echo "  repository scan:"
grep -ho "mlsec scan of .*" "$logs/ci_scan.log" | tail -n 1 | sed 's/^/    /' || true
if [ "${#failures[@]}" -ne 0 ]; then
  echo "${#failures[@]} expectation(s) not met; see the logs under $logs/" >&2
  exit 1
fi
echo "all expectations met"
