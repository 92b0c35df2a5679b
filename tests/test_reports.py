"""Text and JSON reports: grouped, honest about the gate, inert against hostile strings."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from mlsec_dagster import scan_path
from mlsec_dagster.engine.context import LIMIT_REACHED, UNRECOGNISED
from mlsec_dagster.engine.discovery import SYMLINK_ESCAPE
from mlsec_dagster.engine.findings import Location, Severity
from mlsec_dagster.engine.policy import Policy, Suppressed
from mlsec_dagster.engine.rules import get_rule
from mlsec_dagster.engine.safetensors_policy import PICKLE_WEIGHTS
from mlsec_dagster.engine.scan import ScanResult
from mlsec_dagster.reports.json_report import (
    SCHEMA_VERSION,
    TOOL_NAME,
    render_json,
    report_dict,
    tool_version,
)
from mlsec_dagster.reports.text import printable, render_text, summary_line, use_color

ESC = "\x1b"


def sample_result() -> ScanResult:
    pickle_rule = get_rule("MLS-PKL-001")
    evidence = "\n".join(f"opcode line {i}" for i in range(30)) + "\nfrom posix import system"
    findings = [
        pickle_rule.finding(
            "models/evil.pt",
            "models/evil.pt: the pickle imports posix.system. Do not load it.",
            location=Location(member=("archive/data.pkl",), offset=28),
            evidence=evidence,
            key="posix.system",
        ),
        UNRECOGNISED.finding("models/evil.pt", "unrecognised member", location=Location(offset=0), key=".pt"),
        LIMIT_REACHED.finding("data/big.npz", "limit hit", evidence="limit max_nesting_depth=6", key="depth"),
        SYMLINK_ESCAPE.finding("link", "link points outside", evidence="-> /etc/passwd", key="/etc/passwd"),
    ]
    waived = PICKLE_WEIGHTS.finding("legacy/old.pt", "pickle weights", key="require_safetensors_format")
    return ScanResult(
        root="/repo",
        policy=Policy(fail_on_severity=Severity.HIGH, source="mlsec.yaml"),
        findings=findings,
        suppressed=[Suppressed(waived, "frozen baseline, JIRA-123")],
        files_scanned=7,
        files_excluded=2,
        duration_seconds=1.234,
    )


def test_text_groups_by_file_and_marks_blocking_and_warnings() -> None:
    out = render_text(sample_result())
    lines = out.splitlines()
    assert lines[0] == f"{TOOL_NAME} {tool_version()}: scan of /repo"
    assert "policy: mlsec.yaml (fail on HIGH and above)" in lines[1]
    evil = lines.index("models/evil.pt")
    assert lines[evil + 1] == "  CRITICAL  MLS-PKL-001  BLOCKING  member archive/data.pkl, byte 28"
    assert "    models/evil.pt: the pickle imports posix.system. Do not load it." in lines
    assert "  MEDIUM    MLS-SCN-003  warning   byte 0" in lines
    assert lines.index("data/big.npz") > evil and "  HIGH      MLS-SCN-002  BLOCKING  whole file" in lines
    assert out.count("models/evil.pt\n") == 1  # one heading per file


def test_text_truncates_evidence_keeping_head_and_tail() -> None:
    out = render_text(sample_result())
    assert "    | opcode line 0" in out
    assert "    | ... 20 lines omitted (see --format json) ..." in out
    assert "    | from posix import system" in out  # the tail (decompiled payload) survives
    assert "opcode line 12" not in out


def test_text_lists_suppressed_with_reasons_and_summary_verdict() -> None:
    out = render_text(sample_result())
    assert "Suppressed by policy waivers (1):" in out
    assert "  HIGH      MLS-POL-001  legacy/old.pt\n    reason: frozen baseline, JIRA-123" in out
    last = out.splitlines()[-1]
    assert last == (
        "CRITICAL 1, HIGH 1, MEDIUM 2, LOW 0, INFO 0 | 7 files scanned, 2 excluded, 1 finding waived | "
        "1.23 s | FAIL (2 blocking at or above HIGH)"
    )
    assert ESC not in out


def test_quiet_text_keeps_blocking_findings_and_summary_only() -> None:
    out = render_text(sample_result(), quiet=True)
    assert "MLS-PKL-001" in out and "MLS-SCN-002" in out
    assert "MLS-SCN-003" not in out and "MLS-SCN-004" not in out and "Suppressed" not in out
    assert out.splitlines()[-1].endswith("FAIL (2 blocking at or above HIGH)")


def test_pass_summary_and_colours_only_when_asked() -> None:
    result = sample_result()
    result.policy = Policy(fail_on_severity=Severity.CRITICAL)
    result.findings = result.findings[1:]  # drop the CRITICAL one
    assert summary_line(result).endswith("PASS (nothing blocking at or above CRITICAL)")
    coloured = render_text(result, color=True)
    assert f"{ESC}[1;32mPASS{ESC}[0m" in coloured and f"{ESC}[31mHIGH" in coloured


def test_use_color_needs_a_tty_and_no_NO_COLOR(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    assert use_color(Tty()) and not use_color(io.StringIO()) and not use_color(Tty(), disabled=True)
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_color(Tty())


def test_hostile_strings_cannot_drive_the_terminal() -> None:
    result = sample_result()
    nasty = f"evil{ESC}[2J{ESC}]0;title\x07\u202enoitpircsed\rPASS"
    result.findings = [
        UNRECOGNISED.finding(f"m/{nasty}.pt", nasty, evidence=f"line1\n{nasty}\n\udc80", key="x"),
    ]
    out = render_text(result)
    assert ESC not in out and "\x07" not in out and "\u202e" not in out and "\r" not in out
    assert "\\x1b[2J" in out and "\\u202e" in out and "\\udc80" in out
    assert printable("a\tb\nc\u2028d") == "a\\tb\\nc\\u2028d"
    assert "m/evil\\x1b[2J\\x1b]0;title\\x07\\u202enoitpircsed\\rPASS.pt" in out.splitlines()


def test_json_report_fields() -> None:
    doc = json.loads(render_json(sample_result()))
    assert doc["schema_version"] == SCHEMA_VERSION
    assert doc["tool"] == {"name": "mlsec-dagster", "version": tool_version()}
    assert (doc["root"], doc["policy"], doc["passed"], doc["fail_on_severity"]) == (
        "/repo",
        "mlsec.yaml",
        False,
        "HIGH",
    )
    assert doc["counts"] == {"CRITICAL": 1, "HIGH": 1, "MEDIUM": 2, "LOW": 0, "INFO": 0}
    first = doc["findings"][0]
    assert first["rule_id"] == "MLS-PKL-001" and first["severity"] == "CRITICAL" and first["blocking"] is True
    assert first["path"] == "models/evil.pt"
    assert first["location"] == {"member": ["archive/data.pkl"], "offset": 28}
    assert first["title"] == get_rule("MLS-PKL-001").title
    assert first["evidence"].endswith("from posix import system") and len(first["fingerprint"]) == 32
    assert doc["findings"][1]["blocking"] is False
    assert doc["suppressed"] == [
        {**report_dict(sample_result())["suppressed"][0], "reason": "frozen baseline, JIRA-123"}
    ]
    assert doc["suppressed"][0]["rule_id"] == "MLS-POL-001"
    assert (doc["files_scanned"], doc["files_excluded"], doc["duration_seconds"]) == (7, 2, 1.234)


def test_json_survives_undecodable_evidence(tmp_path: Path) -> None:
    result = sample_result()
    result.findings = [UNRECOGNISED.finding("x.pt", "m", evidence="raw \udc80\udcff bytes", key="x")]
    text = render_json(result)
    (tmp_path / "r.json").write_text(text, encoding="utf-8")  # would raise on a lone surrogate
    assert json.loads(text)["findings"][0]["evidence"] == "raw \\udc80\\udcff bytes"


def test_reports_of_a_real_scan_use_root_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "w.pt").write_bytes(os.urandom(128))
    os.symlink("/etc/hostname", tmp_path / "models" / "escape")
    result = scan_path(tmp_path, root=tmp_path)
    doc = json.loads(render_json(result))
    assert {(f["rule_id"], f["path"]) for f in doc["findings"]} == {
        ("MLS-SCN-003", "models/w.pt"),
        ("MLS-SCN-004", "models/escape"),
    }
    assert doc["passed"] is True
    assert doc["artifacts"] == [{"path": "models/w.pt", "member": [], "format": "unknown", "size": 128}]
    text = render_text(result)
    assert "models/w.pt\n  MEDIUM    MLS-SCN-003  warning   byte 0" in text
    assert text.splitlines()[-1].endswith("PASS (nothing blocking at or above HIGH)")
