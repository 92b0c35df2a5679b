"""The ``mlsec`` CLI: exit codes are the CI contract, stdout carries only the report."""

from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from shared_fixtures import DESIGN_NOTE

from mlsec_dagster.cli import ProgressPrinter, main
from mlsec_dagster.engine.rules import all_rules


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A checkout with one benign torch checkpoint and one file of unknown content."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NO_COLOR", raising=False)
    (tmp_path / "models").mkdir()
    torch.save({"w": torch.zeros(2)}, tmp_path / "models" / "model.pt")
    (tmp_path / "models" / "odd.pt").write_bytes(os.urandom(64))
    return tmp_path


def test_clean_tree_passes_with_text_report(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "scan", ".")
    assert code == 0
    assert "models/odd.pt\n  MEDIUM    MLS-SCN-003  warning   byte 0" in out
    assert out.splitlines()[-1].endswith("PASS (nothing blocking at or above HIGH)")
    assert "\x1b" not in out and err == ""


def test_fail_on_override_fails_the_gate(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "scan", "models", "--fail-on", "medium")
    assert code == 1
    assert "MLS-SCN-003  BLOCKING" in out and out.splitlines()[-1].endswith(
        "FAIL (1 blocking at or above MEDIUM)"
    )


def test_malicious_pickle_fails_with_exit_1(
    repo: Path, capsys: pytest.CaptureFixture[str], canary: Path
) -> None:
    class Payload:
        def __reduce__(self) -> tuple[object, ...]:
            return (os.system, (f"touch {canary}",))

    (repo / "evil.pkl").write_bytes(pickle.dumps(Payload()))
    code, out, _ = run(capsys, "scan", "--format", "json")
    assert code == 1
    doc = json.loads(out)
    assert ("MLS-PKL-001", "evil.pkl", True) in {
        (f["rule_id"], f["path"], f["blocking"]) for f in doc["findings"]
    }


def test_design_note_command_line(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "veritensor.yaml").write_text(DESIGN_NOTE)
    code, out, err = run(
        capsys, "scan", ".", "--full-scan", "--enforce-safetensors", "--sarif", "--output", "report.sarif"
    )
    assert code == 1  # the benign torch checkpoint is pickle-based: require_safetensors_format
    assert out == ""
    # HIGH: the pickle-based checkpoint (require_safetensors_format) and its missing licence
    # (fail_on_missing_license: no card, LICENSE file or metadata declares one)
    assert err.count("\n") == 1 and err.startswith("mlsec: CRITICAL 0, HIGH 2, MEDIUM 1")
    assert err.rstrip().endswith("FAIL (2 blocking at or above HIGH); sarif report: report.sarif")
    run_doc = json.loads((repo / "report.sarif").read_text())["runs"][0]
    assert [(r["ruleId"], r["level"]) for r in run_doc["results"]] == [
        ("MLS-POL-001", "error"),
        ("MLS-LIC-005", "error"),
        ("MLS-SCN-003", "warning"),
    ]
    assert run_doc["properties"]["policy"] == str(repo / "veritensor.yaml")


def test_enforce_safetensors_and_fail_on_apply_over_the_policy_file(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "strict.yaml").write_text("policy:\n  fail_on_severity: INFO\n")
    code, out, _ = run(capsys, "scan", "models", "--policy", "strict.yaml", "--format", "json")
    assert code == 1 and json.loads(out)["fail_on_severity"] == "INFO"
    code, out, _ = run(capsys, "scan", "models", "--policy", "strict.yaml", "--fail-on", "CRITICAL", "-q")
    assert code == 0 and "MLS-POL-001" not in out
    code, out, _ = run(capsys, "scan", "models", "--enforce-safetensors", "--fail-on", "HIGH", "-q")
    assert code == 1 and "MLS-POL-001  BLOCKING" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["scan", "nope/"], "mlsec: error: no such file or directory: nope\n"),
        (
            ["scan", ".", "--root", "models/model.pt"],
            "mlsec: error: --root models/model.pt is not a directory\n",
        ),
        (["scan", ".", "--output", "models"], "mlsec: error: --output models is a directory\n"),
        (
            ["scan", ".", "--output", "models/model.pt/r.sarif"],
            "mlsec: error: cannot create the folder of --output models/model.pt/r.sarif: File exists\n",
        ),
        (["scan", ".", "--policy", "missing.yaml"], "mlsec: error: missing.yaml: cannot read policy file: "),
    ],
)
def test_tool_errors_exit_2_with_one_line(
    repo: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith(message) and err.count("\n") == 1 and "Traceback" not in err


def test_invalid_policy_file_exits_2_naming_file_key_and_line(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "mlsec.yaml").write_text(DESIGN_NOTE.replace("block_pickle_execution", "block_pickle_executon"))
    code, out, err = run(capsys, "scan", ".", "--sarif", "-o", "r.sarif")
    assert code == 2 and out == "" and not (repo / "r.sarif").exists()
    assert err.startswith(
        f"mlsec: error: {repo / 'mlsec.yaml'}:5:5: policy.artifact_rules.block_pickle_executon: "
    )
    assert "did you mean 'block_pickle_execution'?" in err


def test_bad_arguments_exit_2(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["scan", ".", "--fail-on", "severe"])
    assert info.value.code == 2
    assert "unknown severity 'severe'" in capsys.readouterr().err
    code, _, err = run(capsys)
    assert code == 2 and "usage: mlsec" in err


def test_rules_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "rules", "--format", "json")
    assert code == 0
    catalogue = json.loads(out)
    assert [r["id"] for r in catalogue] == [r.id for r in all_rules()]
    assert set(catalogue[0]) == {"id", "title", "severity", "family", "tags", "description", "remediation"}
    code, out, _ = run(capsys, "rules")
    assert code == 0 and out.startswith("| Rule | Severity | Title | What to do |") and "`MLS-POL-001`" in out


def test_policy_check(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "policy", "check")
    assert code == 0 and "built-in defaults apply" in err
    assert yaml.safe_load(out)["policy"]["fail_on_severity"] == "HIGH"

    (repo / "veritensor.yaml").write_text(DESIGN_NOTE)
    code, out, err = run(capsys, "policy", "check")
    assert code == 0 and err == "mlsec: veritensor.yaml is valid\n"
    effective = yaml.safe_load(out)["policy"]
    assert effective["artifact_rules"]["require_safetensors_format"] is True
    assert effective["license_rules"]["custom_restricted_licenses"] == ["cc-by-nc-4.0", "agpl-3.0"]
    assert effective["limits"]["max_nesting_depth"] == 6

    (repo / "bad.yaml").write_text("policy:\n  limits:\n    max_nesting_depth: -1\n")
    code, out, err = run(capsys, "policy", "check", "bad.yaml")
    assert (code, out) == (2, "")
    assert (
        err
        == "mlsec: error: bad.yaml:3:24: policy.limits.max_nesting_depth: must be a positive number, got -1\n"
    )

    code, out, _ = run(capsys, "policy", "reference")
    assert code == 0 and "| `policy.ignores[].reason` |" in out


def test_progress_goes_to_stderr_only(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "scan", "models", "--progress", "--format", "json")
    assert code == 0 and json.loads(out)["files_scanned"] == 2
    assert err.splitlines()[0] == "mlsec: scanning 2 files" and err.splitlines()[-1].startswith(
        "mlsec: scanned 2"
    )
    code, _, err = run(capsys, "scan", "models", "--progress", "--quiet")
    assert err == ""


def test_progress_printer_throttles() -> None:
    stream = io.StringIO()
    printer = ProgressPrinter(stream, announce=False, interval=3600)
    for done in range(5):
        printer(done, 5, f"f{done}")
    printer(5, 5, "")
    assert stream.getvalue() == ""  # a quick scan prints nothing
    printer = ProgressPrinter(stream, announce=False, interval=0)
    printer(1, 5, "a/\x1bb.pt")
    printer(5, 5, "")
    lines = stream.getvalue().splitlines()
    assert lines[0] == "mlsec: 1/5 files scanned; now a/\\x1bb.pt" and lines[1].startswith(
        "mlsec: scanned 5 files"
    )


def test_help_documents_examples_and_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["scan", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse re-wraps option help
    for needle in (
        "--full-scan",
        "always read completely",
        "--enforce-safetensors",
        "--sarif --output",
        "exit codes:",
    ):
        assert needle in text
    assert "1 the policy failed" in text and "2 usage or tool error" in text


def test_cli_does_not_import_dagster_and_runs_as_a_module(tmp_path: Path) -> None:
    probe = subprocess.run(
        [sys.executable, "-c", "import mlsec_dagster.cli, sys; print('dagster' in sys.modules)"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert probe.stdout.strip() == "False"
    (tmp_path / "w.pt").write_bytes(os.urandom(32))
    done = subprocess.run(
        [sys.executable, "-m", "mlsec_dagster", "scan", "w.pt", "--format", "json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert [f["rule_id"] for f in json.loads(done.stdout)["findings"]] == ["MLS-SCN-003"]
    failed = subprocess.run(
        [sys.executable, "-m", "mlsec_dagster", "scan", "w.pt", "--fail-on", "MEDIUM", "-q"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert failed.returncode == 1 and failed.stderr == ""


def test_previous_report_in_the_tree_is_not_scanned(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for _ in range(2):
        code, _, _ = run(capsys, "scan", ".", "--format", "json", "--output", "out [1]/report*.json")
        report = json.loads((repo / "out [1]" / "report*.json").read_text())
        assert code == 0 and report["files_scanned"] == 2  # the two model files, never the report


def test_sampling_is_an_explicit_opt_in_reported_in_the_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import polars as pl

    monkeypatch.chdir(tmp_path)
    rows = [f"review {i}: fine" for i in range(30_000)]
    rows[25_000] = "review: ZZQ_POISON_1"
    pl.DataFrame({"text": rows}).write_parquet(tmp_path / "reviews.parquet")
    (tmp_path / "mlsec.yaml").write_text(
        "policy:\n  dataset_rules:\n    custom_patterns:\n"
        "      - {name: poison, pattern: 'ZZQ_POISON_[0-9]'}\n"
    )
    code, out, _ = run(capsys, "scan", ".", "--format", "json")
    found = json.loads(out)["findings"]
    assert code == 1 and [(f["rule_id"], f["location"]["row"]) for f in found] == [("MLS-DSC-001", 25_000)]
    code, out, _ = run(capsys, "scan", ".", "--format", "json", "--sample-rows", "10000")
    assert code == 0 and [f["rule_id"] for f in json.loads(out)["findings"]] == ["MLS-DAT-012"]
    code, _, err = run(capsys, "scan", ".", "--sample-rows", "10", "--full-scan")
    assert code == 2 and "not both" in err


def test_progress_inside_one_long_dataset_file(tmp_path: Path) -> None:
    """A multi-GB dataset is one file: progress reports the rows checked inside it, once per interval."""
    import polars as pl

    from mlsec_dagster import scan_path

    pl.DataFrame({"text": [f"row {i}" for i in range(200_000)]}).write_parquet(
        tmp_path / "big.parquet", row_group_size=50_000
    )
    stream = io.StringIO()
    printer = ProgressPrinter(stream, announce=True, interval=0)
    scan_path(tmp_path / "big.parquet", root=tmp_path, progress=printer)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "mlsec: scanning 1 files" and lines[-1].startswith("mlsec: scanned 1 files")
    assert "mlsec: 0/1 files scanned; now big.parquet (200,000 rows checked)" in lines
    assert sum(line.startswith("mlsec: scanning") for line in lines) == 1
