"""Dagster definitions: the example ML pipeline gated by mlsec checks, plus the CI jobs.

    dagster dev                                              # UI (reads workspace.yaml)
    dagster job execute -f definitions.py -j ml_pipeline     # model and data pipelines, each gated
    dagster job execute -f definitions.py -j mlsec_ci_scan   # "." -> mlsec-report.sarif; exit 1 on policy
    dagster job execute -f definitions.py -j mlsec_rescan    # re-run the file checks, materialize nothing

``MLSEC_LANDING_FILE`` selects the checkpoint that lands (default: a clean generated one);
``MLSEC_POISON_DATASET=1`` lands the poisoned vendor export; ``MLSEC_DEMO_DIR`` where the demo
writes (default ``./demo``).
"""

from __future__ import annotations

import dagster as dg

from mlsec_dagster.example.assets import ml_pipeline_job, mlsec_checks_job, pipeline_assets, pipeline_checks
from mlsec_dagster.example.frames_io import PolarsParquetIOManager
from mlsec_dagster.jobs import mlsec_ci_scan
from mlsec_dagster.resources import MlsecResource

defs = dg.Definitions(
    assets=pipeline_assets,
    asset_checks=pipeline_checks,
    jobs=[ml_pipeline_job, mlsec_ci_scan, mlsec_checks_job],
    resources={"mlsec": MlsecResource(root="."), "frames_io": PolarsParquetIOManager()},
)
