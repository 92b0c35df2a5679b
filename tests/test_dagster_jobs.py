"""The CI job (SARIF, fail on policy, real CLI exit codes) and the checks-only replay job."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import dagster as dg
import jsonschema
import pytest
from test_dagster_checks import file_asset, write_malicious_checkpoint

from mlsec_dagster import MlsecResource, build_mlsec_checks, build_mlsec_checks_job, mlsec_ci_scan

REPO = Path(__file__).resolve().parents[1]
DAGSTER = Path(sys.executable).with_name("dagster")
CLI = [str(DAGSTER), "job", "execute", "-f", str(REPO / "definitions.py"), "-j", "mlsec_ci_scan"]
ENV = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}  # ephemeral instance


def ci_config(**config: Any) -> dict[str, Any]:
    return {"ops": {"mlsec_scan_tree": {"config": config}}}


SARIF_SCHEMA = json.loads((REPO / "mlsec_dagster" / "reports" / "schema" / "sarif-2.1.0.json").read_text())


def sarif_results(path: Path) -> list[dict[str, Any]]:
    doc = json.loads(path.read_text())
    jsonschema.validate(doc, SARIF_SCHEMA)
    assert doc["version"] == "2.1.0"
    (run,) = doc["runs"]
    return list(run["results"])


def clean_repo(root: Path) -> Path:
    root.mkdir()
    (root / "train.csv").write_text("x,y\n1,2\n")
    (root / "README.md").write_text("# a model repo\n")
    return root


def test_ci_scan_passes_on_a_clean_tree_and_writes_sarif_and_json(tmp_path: Path) -> None:
    root = clean_repo(tmp_path / "repo")
    sarif, report = tmp_path / "out" / "r.sarif", tmp_path / "out" / "r.json"
    result = mlsec_ci_scan.execute_in_process(
        run_config=ci_config(root=str(root), output=str(sarif), json_output=str(report)),
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    assert sarif_results(sarif) == []
    assert json.loads(report.read_text())["passed"] is True


def test_ci_scan_fails_on_policy_and_keeps_the_sarif(tmp_path: Path) -> None:
    root = clean_repo(tmp_path / "repo")
    (root / "weights.pt").write_bytes(os.urandom(256))
    sarif = tmp_path / "r.sarif"
    result = mlsec_ci_scan.execute_in_process(
        run_config=ci_config(root=str(root), output=str(sarif), fail_on="MEDIUM"),
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    assert "FAILED (1 blocking)" in failure.step_failure_data.error.message
    assert [(r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"])
            for r in sarif_results(sarif)] == [("MLS-SCN-003", "weights.pt")]  # fmt: skip


def test_ci_scan_fails_on_a_malicious_checkpoint_with_the_default_policy(
    tmp_path: Path, canary: Path
) -> None:
    root = clean_repo(tmp_path / "repo")
    write_malicious_checkpoint(root / "pytorch_model.bin", canary)
    sarif = tmp_path / "r.sarif"
    result = mlsec_ci_scan.execute_in_process(
        run_config=ci_config(root=str(root), output=str(sarif)),
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not result.success
    assert any(r["level"] == "error" for r in sarif_results(sarif))


def test_checks_only_job_scans_without_materializing(tmp_path: Path) -> None:
    """An external artifact (path in its AssetSpec) and a Dagster asset (path on its last materialization)."""
    external = tmp_path / "vendor.pt"
    external.write_bytes(os.urandom(128))
    produced = tmp_path / "data.csv"
    produced.write_text("a\n1\n")
    spec = dg.AssetSpec("vendor_model", metadata={"mlsec/path": dg.MetadataValue.path(str(external))})
    model = file_asset(produced)
    defs = dg.Definitions(
        assets=[spec, model],
        asset_checks=build_mlsec_checks(assets=[spec, model]),
        jobs=[build_mlsec_checks_job("rescan", [spec, model])],
        resources={"mlsec": MlsecResource(root=str(tmp_path), fail_on_severity="MEDIUM")},
    )
    instance = dg.DagsterInstance.ephemeral()
    dg.materialize([model], instance=instance, resources={"mlsec": MlsecResource(root=str(tmp_path))})

    result = defs.resolve_job_def("rescan").execute_in_process(instance=instance, raise_on_error=False)
    assert result.get_asset_materialization_events() == []
    outcomes = {
        e.asset_key.to_user_string(): (e.passed, e.severity) for e in result.get_asset_check_evaluations()
    }
    assert outcomes == {
        "vendor_model": (False, dg.AssetCheckSeverity.ERROR),
        "model": (True, dg.AssetCheckSeverity.ERROR),
    }
    assert not result.success  # a blocking check that fails makes the CI replay exit non-zero


def test_ci_scan_cli_exit_codes_and_sarif(tmp_path: Path, canary: Path) -> None:
    """The real `dagster job execute` command: 0 on a clean tree, 1 on policy failure; SARIF both times."""
    clean = clean_repo(tmp_path / "clean")
    proc = subprocess.run(CLI, cwd=clean, capture_output=True, text=True, timeout=120, env=ENV)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sarif_results(clean / "mlsec-report.sarif") == []

    poisoned = clean_repo(tmp_path / "poisoned")
    write_malicious_checkpoint(poisoned / "model.pt", canary)
    config = tmp_path / "ci.yaml"
    config.write_text(f"{json.dumps(ci_config(output=str(tmp_path / 'out.sarif')))}\n")  # JSON is YAML
    proc = subprocess.run(
        [*CLI, "-c", str(config)], cwd=poisoned, capture_output=True, text=True, timeout=120, env=ENV
    )
    assert proc.returncode == 1, proc.stderr[-2000:]
    results = sarif_results(tmp_path / "out.sarif")
    assert {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results} == {"model.pt"}
    assert any(r["level"] == "error" for r in results)


@pytest.mark.parametrize("bad", [{"fail_on": "SEVERE"}, {"policy": "does-not-exist.yaml"}])
def test_ci_scan_config_errors_fail_the_run(tmp_path: Path, bad: dict[str, str]) -> None:
    root = clean_repo(tmp_path / "repo")
    result = mlsec_ci_scan.execute_in_process(
        run_config=ci_config(root=str(root), output=str(tmp_path / "r.sarif"), **bad),
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not result.success
