"""Dagster definitions: the example ML pipeline gated by mlsec checks, plus the CI jobs.

    dagster dev                                              # UI (reads workspace.yaml)
    dagster job execute -f definitions.py -j ml_pipeline     # land, scan, fine-tune, scan, release
    dagster job execute -f definitions.py -j mlsec_ci_scan   # "." -> mlsec-report.sarif; exit 1 on policy
    dagster job execute -f definitions.py -j mlsec_model_checks  # re-scan the model files only

``MLSEC_LANDING_FILE`` selects the checkpoint that lands (default: a clean generated one);
``MLSEC_DEMO_DIR`` where the demo writes (default ``./demo``).
"""

from __future__ import annotations

import dagster as dg

from mlsec_dagster.example.assets import ml_pipeline_job, mlsec_checks_job, model_checks, pipeline_assets
from mlsec_dagster.jobs import mlsec_ci_scan
from mlsec_dagster.resources import MlsecResource

defs = dg.Definitions(
    assets=pipeline_assets,
    asset_checks=model_checks,
    jobs=[ml_pipeline_job, mlsec_ci_scan, mlsec_checks_job],
    resources={"mlsec": MlsecResource(root=".")},
)
