"""CI jobs: ``mlsec_ci_scan`` (scan a tree, write SARIF, fail on policy) and checks-only replays.

``mlsec_ci_scan`` is an op job, not an asset job: a CI scan of a checkout produces a report, not a
data asset. It writes the report *before* raising ``Failure``, so the SARIF file survives a failed
gate (upload it with ``if: always()``) and ``dagster job execute`` exits 1. Its defaults scan the
current directory; ``dagster job execute -f definitions.py -j mlsec_ci_scan -c ci.yaml`` with::

    ops:
      mlsec_scan_tree:
        config: {output: reports/mlsec.sarif, json_output: reports/mlsec.json, enforce_safetensors: true}
"""

# No `from __future__ import annotations` here: Dagster reads the annotations of ops, assets,
# checks and Config classes at runtime and cannot resolve them from strings.

from collections.abc import Sequence
from pathlib import Path

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition
from pydantic import Field

from mlsec_dagster.checks import AssetLike, asset_keys
from mlsec_dagster.engine.scan import ScanResult, scan_path
from mlsec_dagster.reports.json_report import render_json
from mlsec_dagster.reports.sarif import DEFAULT_CATEGORY, render_sarif
from mlsec_dagster.resources import MlsecResource


class MlsecCiScanConfig(dg.Config):
    root: str = Field(default=".", description="Folder to scan; its policy file and .mlsecignore apply.")
    output: str = Field(default="mlsec-report.sarif", description="SARIF 2.1.0 report path.")
    sarif_category: str = Field(
        default=DEFAULT_CATEGORY, description="SARIF automationDetails category (one per upload)."
    )
    json_output: str | None = Field(default=None, description="Also write the JSON report here.")
    policy: str | None = Field(default=None, description="Policy file; default: the one found in `root`.")
    fail_on: str | None = Field(default=None, description="Override fail_on_severity (e.g. MEDIUM).")
    enforce_safetensors: bool | None = Field(
        default=None,
        description="Override require_safetensors_format (true: every pickle weight file fails).",
    )


def _summary(result: ScanResult) -> str:
    decision = result.decision
    counts = ", ".join(f"{name}={n}" for name, n in result.counts().items() if n) or "no findings"
    verdict = "PASSED" if decision.passed else f"FAILED ({len(decision.blocking)} blocking)"
    return (
        f"mlsec scan of {result.root}: {verdict}; {result.files_scanned} file(s) scanned, "
        f"{result.files_excluded} excluded; {counts}; fail_on={decision.fail_on.name}; "
        f"policy={result.policy.source or 'built-in defaults'}"
    )


@dg.op(description="Scan a tree statically, write SARIF (and JSON), fail when the policy fails.")
def mlsec_scan_tree(context: dg.OpExecutionContext, config: MlsecCiScanConfig) -> None:
    resource = MlsecResource(
        root=config.root,
        policy_file=config.policy,
        fail_on_severity=config.fail_on,
        enforce_safetensors=config.enforce_safetensors,
    )
    scanned = scan_path(config.root, policy=resource.get_policy(), root=config.root)
    reports = {Path(config.output): render_sarif(scanned, category=config.sarif_category)}
    if config.json_output:
        reports[Path(config.json_output)] = render_json(scanned)
    for path, text in reports.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        context.log.info(f"mlsec: wrote {path}")
    summary = _summary(scanned)
    context.log.info(summary)
    for finding in scanned.decision.blocking:
        context.log.error(f"[{finding.severity.name}] {finding.rule_id} {finding.path}: {finding.message}")
    if not scanned.decision.passed:
        raise dg.Failure(
            description=summary,
            metadata={
                "report": dg.MetadataValue.path(str(Path(config.output))),
                "blocking": len(scanned.decision.blocking),
                **{name.lower(): n for name, n in scanned.counts().items()},
            },
            allow_retries=False,
        )


@dg.job(
    executor_def=dg.in_process_executor,
    description="Scan the repository (default: the current directory), write SARIF, fail on policy.",
)
def mlsec_ci_scan() -> None:
    mlsec_scan_tree()


def build_mlsec_checks_job(
    name: str, assets: Sequence[AssetLike], description: str | None = None
) -> UnresolvedAssetJobDefinition:
    """A job that runs only the ``mlsec_scan`` checks of ``assets``; it materializes nothing.

    For CI or scheduled re-scans of artifacts already on disk (e.g. after a scanner update).
    """
    return dg.define_asset_job(
        name,
        selection=dg.AssetSelection.checks_for_assets(*asset_keys(assets)),
        executor_def=dg.in_process_executor,
        description=description or "Re-run the mlsec scan checks without materializing anything.",
    )
