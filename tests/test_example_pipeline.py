"""The example ML pipeline: a clean checkpoint is fine-tuned and released; a poisoned one is stopped."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from mlsec_dagster import MlsecResource
from mlsec_dagster.example.assets import ml_pipeline_job, model_checks, pipeline_assets
from mlsec_dagster.example.landing import DemoPaths, make_poisoned_demo_checkpoint, sha256_file

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DemoPaths:
    monkeypatch.setenv("MLSEC_DEMO_DIR", str(tmp_path / "demo"))
    monkeypatch.delenv("MLSEC_LANDING_FILE", raising=False)
    return DemoPaths(tmp_path / "demo")


def run_pipeline(
    tmp_path: Path, source: Path | None = None, instance: dg.DagsterInstance | None = None, **resource: str
) -> dg.ExecuteInProcessResult:
    defs = dg.Definitions(
        assets=pipeline_assets,
        asset_checks=model_checks,
        jobs=[ml_pipeline_job],
        resources={"mlsec": MlsecResource(root=str(tmp_path), **resource)},
    )
    config = {"ops": {"pretrained_checkpoint": {"config": {"source": str(source) if source else None}}}}
    return defs.resolve_job_def("ml_pipeline").execute_in_process(
        run_config=config, instance=instance or dg.DagsterInstance.ephemeral(), raise_on_error=False
    )


def check_outcomes(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckSeverity | None]:
    """Per checked asset: None when passed, else the failure severity."""
    return {
        e.asset_key.to_user_string(): None if e.passed else e.severity
        for e in result.get_asset_check_evaluations()
    }


def test_clean_checkpoint_is_fine_tuned_scanned_and_released(tmp_path: Path, demo: DemoPaths) -> None:
    result = run_pipeline(tmp_path)
    assert result.success
    outcomes = check_outcomes(result)
    assert set(outcomes) == {"pretrained_checkpoint", "fine_tuned_model"}
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
    assert check_outcomes(result) == {"pretrained_checkpoint": dg.AssetCheckSeverity.ERROR}
    assert not result.asset_materializations_for_node("fine_tuned_model")
    assert not demo.release_manifest.exists()
    assert not demo.canary.exists()


def test_a_rejected_checkpoint_cannot_be_used_by_a_later_downstream_only_run(
    tmp_path: Path, demo: DemoPaths
) -> None:
    """Blocking stops only the same run's steps; fine_tuned_model re-checks the gate's last verdict."""
    instance = dg.DagsterInstance.ephemeral()
    poisoned = make_poisoned_demo_checkpoint()
    blocked = run_pipeline(tmp_path, poisoned, instance=instance)
    assert check_outcomes(blocked) == {"pretrained_checkpoint": dg.AssetCheckSeverity.ERROR}
    assert demo.landed_checkpoint.exists()  # the checked asset itself is still stored

    later = dg.materialize(
        pipeline_assets,
        selection=["fine_tuned_model"],
        instance=instance,
        resources={"mlsec": MlsecResource(root=str(tmp_path))},
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
