"""Adopting the gate on an existing repository: a baseline accepts today's findings, new ones fail."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlsec_dagster import scan_path
from mlsec_dagster.cli import main
from mlsec_dagster.engine.policy_file import PolicyError, load_policy

LEGACY = "numpy==2.1.3\nreqeusts==2.31.0\ntorch==2.13.0\n"


def _repo(tmp_path: Path) -> Path:
    (tmp_path / "requirements.txt").write_text(LEGACY)
    return tmp_path


def test_only_findings_missing_from_the_baseline_fail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = _repo(tmp_path)
    assert main(["scan", str(repo), "--root", str(repo), "-q"]) == 1
    assert main(["baseline", str(repo), "--root", str(repo), "-o", str(repo / ".mlsec-baseline.json")]) == 0
    assert "recorded" in capsys.readouterr().err
    document = json.loads((repo / ".mlsec-baseline.json").read_text())
    assert {e["rule_id"] for e in document["findings"]} >= {"MLS-DEP-001"}
    assert all(
        set(e) == {"fingerprint", "rule_id", "severity", "path", "location"} for e in document["findings"]
    )

    (repo / "mlsec.yaml").write_text("policy:\n  baseline: .mlsec-baseline.json\n")
    result = scan_path(repo, root=repo)
    assert result.decision.passed
    assert [s.finding.rule_id for s in result.suppressed if s.finding.rule_id == "MLS-DEP-001"] == [
        "MLS-DEP-001"
    ]
    assert all("accepted in the baseline" in s.reason for s in result.suppressed)

    # a line added above does not resurrect the accepted finding; a new squat fails alone
    (repo / "requirements.txt").write_text("# pinned for the GPU image\n" + LEGACY + "urlib3==2.2.3\n")
    result = scan_path(repo, root=repo)
    assert [(f.rule_id, f.location.line) for f in result.decision.blocking] == [("MLS-DEP-001", 5)]
    assert main(["scan", str(repo), "--root", str(repo), "-q", "--no-baseline"]) == 1


def test_a_broken_baseline_is_an_error_not_an_empty_baseline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = _repo(tmp_path)
    (repo / "bad.json").write_text('{"version": 1, "findings": [{"fingerprint": "short"}]}')
    assert main(["scan", str(repo), "--root", str(repo), "--baseline", str(repo / "bad.json")]) == 2
    assert "findings[0] has no valid `fingerprint`" in capsys.readouterr().err
    (repo / "mlsec.yaml").write_text("policy:\n  baseline: missing.json\n")
    with pytest.raises(PolicyError, match=r"mlsec.yaml:2:\d+: policy.baseline: .*cannot read"):
        load_policy(repo / "mlsec.yaml")
