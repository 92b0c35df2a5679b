"""``MlsecResource``: the one place a Dagster deployment configures the gate.

Checks and jobs ask this resource for the policy and for scans, so a team sets the policy file
and its overrides once (per code location or per environment) instead of on every check. It only
ever hands the engine a *path*: scanning never goes through an IO manager, which for model files
would mean unpickling them.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from mlsec_dagster.engine.findings import Severity
from mlsec_dagster.engine.policy import Policy, with_sampling
from mlsec_dagster.engine.policy_file import load_policy, load_policy_for_root
from mlsec_dagster.engine.scan import ScanResult, scan_dataframe, scan_path


class MlsecResource(dg.ConfigurableResource):
    """Policy and scanning for the mlsec asset checks and CI job."""

    policy_file: str | None = Field(
        default=None,
        description="Policy file (mlsec.yaml / veritensor.yaml). Unset: the one found in `root`, "
        "else built-in defaults.",
    )
    root: str = Field(
        default=".",
        description="Repository root: where the policy file and `.mlsecignore` are looked up and what "
        "finding paths are relative to.",
    )
    fail_on_severity: str | None = Field(
        default=None,
        description="Override the policy's fail_on_severity (INFO, LOW, MEDIUM, HIGH, CRITICAL).",
    )
    enforce_safetensors: bool | None = Field(
        default=None,
        description="Override artifact_rules.require_safetensors_format (every pickle weight file is HIGH).",
    )

    sample_rows: int | None = Field(
        default=None,
        description="Opt-in sampling: check only the first N rows of each dataset file (reported). "
        "Unset: the policy's dataset_rules.sample_rows (default: every row).",
    )
    full_scan: bool = Field(
        default=False, description="Check every dataset row even if the policy sets sample_rows."
    )

    def get_policy(self) -> Policy:
        """The policy file (explicit or found in ``root``) with this resource's overrides applied."""
        policy = load_policy(self.policy_file) if self.policy_file else load_policy_for_root(self.root)
        if self.fail_on_severity is not None:
            policy = dataclasses.replace(policy, fail_on_severity=Severity.parse(self.fail_on_severity))
        if self.enforce_safetensors is not None:
            rules = dataclasses.replace(
                policy.artifact_rules, require_safetensors_format=self.enforce_safetensors
            )
            policy = dataclasses.replace(policy, artifact_rules=rules)
        return with_sampling(policy, sample_rows=self.sample_rows, full_scan=self.full_scan)

    def scan(self, path: str | os.PathLike[str], policy: Policy | None = None) -> ScanResult:
        """Scan one file or folder statically.

        A relative ``path`` is taken relative to ``root``. Findings inside ``root`` are reported
        relative to it (so policy waivers written for the repository match); anything else
        relative to its own folder.
        """
        root = Path(self.root).resolve()
        target = (root / path).resolve()
        if target != root and root not in target.parents:
            root = target if target.is_dir() else target.parent
        return scan_path(target, policy=policy or self.get_policy(), root=root)

    def scan_frame(self, frame: Any, name: str, policy: Policy | None = None) -> ScanResult:
        """Scan an in-memory polars/pandas DataFrame or Arrow table; ``name`` stands for its path."""
        return scan_dataframe(frame, name, policy or self.get_policy())
