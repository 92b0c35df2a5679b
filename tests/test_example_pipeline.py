"""The example ML pipeline: a clean checkpoint is fine-tuned and released; a poisoned one is stopped."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from mlsec_dagster import MlsecResource
from mlsec_dagster.example.assets import ml_pipeline_job, pipeline_assets, pipeline_checks
from mlsec_dagster.example.frames_io import PolarsParquetIOManager
from mlsec_dagster.example.landing import DemoPaths, make_poisoned_demo_checkpoint, sha256_file
from mlsec_dagster.example.reviews import POISONED_CELLS

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DemoPaths:
    monkeypatch.setenv("MLSEC_DEMO_DIR", str(tmp_path / "demo"))
    monkeypatch.delenv("MLSEC_LANDING_FILE", raising=False)
    monkeypatch.delenv("MLSEC_POISON_DATASET", raising=False)
    monkeypatch.delenv("MLSEC_POISON_ENVIRONMENT", raising=False)
    return DemoPaths(tmp_path / "demo")


def resources(tmp_path: Path, **resource: str) -> dict[str, object]:
    return {"mlsec": MlsecResource(root=str(tmp_path), **resource), "frames_io": PolarsParquetIOManager()}


def run_pipeline(
    tmp_path: Path,
    source: Path | None = None,
    instance: dg.DagsterInstance | None = None,
    poisoned_dataset: bool = False,
    poisoned_environment: bool = False,
    **resource: str,
) -> dg.ExecuteInProcessResult:
    defs = dg.Definitions(
        assets=pipeline_assets,
        asset_checks=pipeline_checks,
        jobs=[ml_pipeline_job],
        resources=resources(tmp_path, **resource),
    )
    config = {
        "ops": {
            "pretrained_checkpoint": {"config": {"source": str(source) if source else None}},
            "vendor_reviews": {"config": {"poisoned": poisoned_dataset}},
            "training_environment": {"config": {"poisoned": poisoned_environment}},
        }
    }
    return defs.resolve_job_def("ml_pipeline").execute_in_process(
        run_config=config, instance=instance or dg.DagsterInstance.ephemeral(), raise_on_error=False
    )


def check_outcomes(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckSeverity | None]:
    """Per checked asset: None when passed, else the failure severity."""
    return {
        e.asset_key.to_user_string(): None if e.passed else e.severity
        for e in result.get_asset_check_evaluations()
    }


def failed_checks(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckSeverity | None]:
    return {key: outcome for key, outcome in check_outcomes(result).items() if outcome is not None}


def test_clean_checkpoint_is_fine_tuned_scanned_and_released(tmp_path: Path, demo: DemoPaths) -> None:
    result = run_pipeline(tmp_path)
    assert result.success
    outcomes = check_outcomes(result)
    assert set(outcomes) == {
        "pretrained_checkpoint",
        "training_environment",
        "fine_tuned_model",
        "vendor_reviews",
        "clean_reviews",
    }
    assert dg.AssetCheckSeverity.ERROR not in outcomes.values()
    (tuned,) = result.asset_materializations_for_node("fine_tuned_model")
    assert tuned.metadata["loss_after"].value < tuned.metadata["loss_before"].value
    manifest = json.loads(demo.release_manifest.read_text())
    assert manifest["sha256"] == sha256_file(demo.fine_tuned)
    assert demo.fine_tuned.read_bytes()[8:9] == b"{"  # a safetensors header, not a pickle


def test_poisoned_checkpoint_is_blocked_before_fine_tuning(tmp_path: Path, demo: DemoPaths) -> None:
    poisoned = make_poisoned_demo_checkpoint()
    result = run_pipeline(tmp_path, poisoned)
    assert not result.success
    assert failed_checks(result) == {"pretrained_checkpoint": dg.AssetCheckSeverity.ERROR}
    assert not result.asset_materializations_for_node("fine_tuned_model")
    assert not demo.release_manifest.exists()
    assert not demo.canary.exists()


def test_poisoned_training_environment_is_blocked_before_fine_tuning(tmp_path: Path, demo: DemoPaths) -> None:
    result = run_pipeline(tmp_path, poisoned_environment=True)
    assert not result.success
    assert failed_checks(result) == {"training_environment": dg.AssetCheckSeverity.ERROR}
    assert not result.asset_materializations_for_node("fine_tuned_model")
    assert not demo.release_manifest.exists()
    (scan,) = [
        e
        for e in result.get_asset_check_evaluations()
        if e.asset_key.to_user_string() == "training_environment"
    ]
    blocking = {
        (r.data["rule"], r.data["location"])
        for r in scan.metadata["mlsec/findings"].value.records
        if r.data["blocking"]
    }
    lines = demo.training_environment.read_text().splitlines()
    squat = lines.index("torchvison==0.20.1") + 1
    extra = next(i for i, line in enumerate(lines, 1) if line.startswith("--extra-index-url"))
    assert {rule for rule, _ in blocking} == {"MLS-DEP-001", "MLS-DEP-010"}
    assert any(rule == "MLS-DEP-001" and f"line {squat}" in where for rule, where in blocking), blocking
    assert any(rule == "MLS-DEP-010" and f"line {extra}" in where for rule, where in blocking), blocking


def test_a_rejected_checkpoint_cannot_be_used_by_a_later_downstream_only_run(
    tmp_path: Path, demo: DemoPaths
) -> None:
    """Blocking stops only the same run's steps; fine_tuned_model re-checks the gate's last verdict."""
    instance = dg.DagsterInstance.ephemeral()
    poisoned = make_poisoned_demo_checkpoint()
    blocked = run_pipeline(tmp_path, poisoned, instance=instance)
    assert failed_checks(blocked) == {"pretrained_checkpoint": dg.AssetCheckSeverity.ERROR}
    assert demo.landed_checkpoint.exists()  # the checked asset itself is still stored

    later = dg.materialize(
        pipeline_assets,
        selection=["fine_tuned_model"],
        instance=instance,
        resources=resources(tmp_path),
        raise_on_error=False,
    )
    assert not later.success
    (failure,) = [e for e in later.all_events if e.is_step_failure]
    assert "latest mlsec scan of pretrained_checkpoint failed" in failure.step_failure_data.error.message
    assert not demo.fine_tuned.exists()
    assert not demo.canary.exists()


def test_definitions_load_fast_without_torch() -> None:
    code = "import sys, definitions; assert 'torch' not in sys.modules; print(len(definitions.defs.jobs))"
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "3"


def test_clean_vendor_export_flows_to_the_training_set(tmp_path: Path, demo: DemoPaths) -> None:
    result = run_pipeline(tmp_path)
    assert result.success
    (scan,) = [
        e for e in result.get_asset_check_evaluations() if e.asset_key.to_user_string() == "vendor_reviews"
    ]
    assert scan.passed and scan.metadata["mlsec/files_scanned"].value == 2
    (frame_scan,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "mlsec_frame_scan"]
    assert frame_scan.passed
    training = pl.read_parquet(demo.release_dir / "review_training_set.parquet")
    assert training.height == 24_000 and training.columns == ["review", "positive"]


def test_poisoned_vendor_export_is_blocked_before_the_etl(tmp_path: Path, demo: DemoPaths) -> None:
    result = run_pipeline(tmp_path, poisoned_dataset=True)
    assert not result.success
    assert failed_checks(result) == {"vendor_reviews": dg.AssetCheckSeverity.ERROR}
    assert not result.asset_materializations_for_node("clean_reviews")
    assert not (demo.release_dir / "review_training_set.parquet").exists()
    (scan,) = [
        e for e in result.get_asset_check_evaluations() if e.asset_key.to_user_string() == "vendor_reviews"
    ]
    table = scan.metadata["mlsec/findings"].value
    located = {
        (r.data["path"].rsplit("/", 1)[-1], r.data["location"]) for r in table.records if r.data["blocking"]
    }
    for (part, row, column), _ in POISONED_CELLS.items():
        assert any(
            name == f"part-{part:04d}.parquet" and f"row {row}," in where and f"column {column!r}" in where
            for name, where in located
        ), (part, row, located)
