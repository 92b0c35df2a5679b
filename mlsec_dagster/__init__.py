"""mlsec-dagster: a static MLSecOps gate for ML pipelines.

The scanning engine (``scan_path``, ``Policy``, ``Finding``...) imports no Dagster, so the CLI
starts fast; the Dagster pieces (``build_mlsec_checks``, ``MlsecResource``, jobs) load lazily on
first attribute access.
"""

from __future__ import annotations

import importlib
from typing import Any

from mlsec_dagster.engine.findings import Finding, Location, Severity
from mlsec_dagster.engine.policy import Decision, Policy
from mlsec_dagster.engine.policy_file import PolicyError, load_policy, load_policy_for_root
from mlsec_dagster.engine.scan import ScanResult, scan_dataframe, scan_path

_DAGSTER_EXPORTS = {
    "MlsecResource": "mlsec_dagster.resources",
    "build_mlsec_checks": "mlsec_dagster.checks",
    "build_mlsec_frame_checks": "mlsec_dagster.checks",
    "build_mlsec_checks_job": "mlsec_dagster.jobs",
    "mlsec_ci_scan": "mlsec_dagster.jobs",
}

__all__ = [
    "Decision",
    "Finding",
    "Location",
    "MlsecResource",
    "Policy",
    "PolicyError",
    "ScanResult",
    "Severity",
    "build_mlsec_checks",
    "build_mlsec_checks_job",
    "build_mlsec_frame_checks",
    "load_policy",
    "load_policy_for_root",
    "mlsec_ci_scan",
    "scan_dataframe",
    "scan_path",
]


def __getattr__(name: str) -> Any:
    module = _DAGSTER_EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mlsec_dagster' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
