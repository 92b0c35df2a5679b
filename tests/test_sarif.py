"""SARIF 2.1.0: valid against the official schema and shaped the way GitHub code scanning needs."""

from __future__ import annotations

import json
import os
import pickle
import zipfile
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from mlsec_dagster import scan_path
from mlsec_dagster.engine.context import UNRECOGNISED
from mlsec_dagster.engine.findings import Location, Severity
from mlsec_dagster.engine.policy import Policy, Suppressed
from mlsec_dagster.engine.rules import all_rules, get_rule
from mlsec_dagster.engine.safetensors_policy import PICKLE_WEIGHTS
from mlsec_dagster.engine.scan import ScanResult
from mlsec_dagster.reports.sarif import (
    FINGERPRINT_KEY,
    MAX_RESULTS,
    SARIF_SCHEMA_URI,
    build_sarif,
    render_sarif,
)

SCHEMA = Path(__file__).resolve().parent.parent / "mlsec_dagster" / "reports" / "schema" / "sarif-2.1.0.json"


@cache
def validator() -> jsonschema.Draft4Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert schema["$schema"] == "http://json-schema.org/draft-04/schema#"
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema)


def validate(doc: dict[str, Any]) -> None:
    errors = sorted(validator().iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]


def realistic_result() -> ScanResult:
    """Binary offsets, archive members, lines and columns, dataset rows, a waiver, odd file names."""
    pkl, hfc = get_rule("MLS-PKL-001"), get_rule("MLS-HFC-001")
    findings = [
        pkl.finding("evil.pkl", "imports posix.system", location=Location(offset=28), key="posix.system"),
        pkl.finding(
            "models/resnet.pt",
            "imports builtins.exec",
            location=Location(member=("resnet/data.pkl",), offset=91),
            evidence="from builtins import exec",
            key="builtins.exec",
        ),
        pkl.finding(
            "bundle.tar",
            "nested",
            location=Location(member=("inner.zip", "archive/data.pkl"), offset=3),
            key="os.system",
        ),
        hfc.finding(
            "hub/config.json", "auto_map needs remote code", location=Location(line=7, column=3), key="a"
        ),
        UNRECOGNISED.finding("data/rows.csv", "odd row", location=Location(row=12, field="text"), key="row"),
        UNRECOGNISED.finding("dir with space/ünï#1?.pt", "odd name", location=Location(offset=0), key=".pt"),
        UNRECOGNISED.finding("/elsewhere/abs.pt", "outside the root", key=".pt"),
    ]
    waived = PICKLE_WEIGHTS.finding("legacy/old.pt", "pickle weights", key="require_safetensors_format")
    return ScanResult(
        root="/repo",
        policy=Policy(source="mlsec.yaml"),
        findings=findings,
        suppressed=[Suppressed(waived, "frozen baseline, JIRA-123")],
        files_scanned=9,
        files_excluded=1,
        duration_seconds=0.5,
    )


def results_by_path(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]: r for r in doc["runs"][0]["results"]
    }


def test_realistic_report_is_schema_valid_and_github_shaped() -> None:
    doc = json.loads(render_sarif(realistic_result()))
    validate(doc)
    assert doc["$schema"] == SARIF_SCHEMA_URI and doc["version"] == "2.1.0" and len(doc["runs"]) == 1
    run = doc["runs"][0]
    assert run["automationDetails"] == {"id": "mlsecops-analysis/"}
    assert run["originalUriBaseIds"] == {"%SRCROOT%": {"uri": "file:///repo/"}}
    assert run["invocations"] == [{"executionSuccessful": True}]
    assert run["properties"]["counts"]["CRITICAL"] == 3 and run["properties"]["passed"] is False
    rules = run["tool"]["driver"]["rules"]
    for result in run["results"]:
        region = result["locations"][0]["physicalLocation"]["region"]
        assert region["startLine"] >= 1
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert len(result["partialFingerprints"][FINGERPRINT_KEY]) == 32
    run["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] = 0
    run["results"][0]["level"] = "fatal"
    assert len(list(validator().iter_errors(doc))) == 2  # the validator is not vacuous


def test_locations_carry_offsets_members_lines_and_encoded_uris() -> None:
    by_path = results_by_path(build_sarif(realistic_result()))
    top = by_path["evil.pkl"]["locations"][0]
    assert top["physicalLocation"]["region"] == {"startLine": 1, "byteOffset": 28}
    assert top["physicalLocation"]["artifactLocation"] == {"uri": "evil.pkl", "uriBaseId": "%SRCROOT%"}
    assert "logicalLocations" not in top

    member = by_path["models/resnet.pt"]
    assert member["locations"][0]["physicalLocation"]["region"] == {"startLine": 1}  # offset is in the member
    assert member["locations"][0]["logicalLocations"] == [
        {
            "name": "resnet/data.pkl",
            "fullyQualifiedName": "models/resnet.pt!resnet/data.pkl",
            "kind": "resource",
        }
    ]
    assert member["message"]["text"] == "imports builtins.exec [member resnet/data.pkl, byte 91]"
    assert member["properties"]["mlsecLocation"] == {"member": ["resnet/data.pkl"], "offset": 91}
    assert member["properties"]["evidence"] == "from builtins import exec"
    nested = by_path["bundle.tar"]["locations"][0]["logicalLocations"][0]
    assert nested["fullyQualifiedName"] == "bundle.tar!inner.zip!archive/data.pkl"

    assert by_path["hub/config.json"]["locations"][0]["physicalLocation"]["region"] == {
        "startLine": 7,
        "startColumn": 3,
    }
    assert by_path["data/rows.csv"]["message"]["text"] == "odd row [row 12, column 'text']"
    assert "dir%20with%20space/%C3%BCn%C3%AF%231%3F.pt" in by_path
    assert (
        "uriBaseId"
        not in by_path["file:///elsewhere/abs.pt"]["locations"][0]["physicalLocation"]["artifactLocation"]
    )


def test_levels_blocking_and_suppressions() -> None:
    by_path = results_by_path(build_sarif(realistic_result()))
    assert by_path["evil.pkl"]["level"] == "error" and by_path["evil.pkl"]["properties"]["blocking"] is True
    assert by_path["hub/config.json"]["level"] == "warning"
    assert by_path["data/rows.csv"]["properties"] == {
        "severity": "MEDIUM",
        "blocking": False,
        "mlsecLocation": {"member": [], "row": 12, "field": "text"},
        "evidence": "",
    }
    waived = by_path["legacy/old.pt"]
    assert waived["suppressions"] == [
        {"kind": "external", "status": "accepted", "justification": "frozen baseline, JIRA-123"}
    ]
    assert waived["properties"]["blocking"] is False
    assert sum("suppressions" in r for r in by_path.values()) == 1
    low = UNRECOGNISED.finding("x.pt", "m", key="k", severity=Severity.LOW)
    result = ScanResult(root="/r", policy=Policy(), findings=[low])
    assert build_sarif(result)["runs"][0]["results"][0]["level"] == "note"


def test_driver_lists_every_catalogued_rule_with_github_properties() -> None:
    driver = build_sarif(realistic_result())["runs"][0]["tool"]["driver"]
    assert driver["name"] == "mlsec-dagster" and driver["informationUri"].startswith("https://")
    assert [r["id"] for r in driver["rules"]] == [r.id for r in all_rules()]
    expected_band = {"CRITICAL": 9.5, "HIGH": 8.0, "MEDIUM": 5.5, "LOW": 3.0, "INFO": 1.0}
    for descriptor, rule in zip(driver["rules"], all_rules(), strict=True):
        assert descriptor["shortDescription"]["text"] == rule.title
        assert descriptor["fullDescription"]["text"] == rule.description
        assert (
            rule.remediation in descriptor["help"]["text"]
            and rule.remediation in descriptor["help"]["markdown"]
        )
        assert descriptor["name"].isalnum()
        props = descriptor["properties"]
        assert float(props["security-severity"]) == expected_band[rule.severity.name]
        assert props["tags"][0] == "security" and rule.family in props["tags"]
        level = descriptor["defaultConfiguration"]["level"]
        assert level == {"CRITICAL": "error", "HIGH": "error", "MEDIUM": "warning"}.get(
            rule.severity.name, "note"
        )


def test_truncates_to_the_github_limit_keeping_the_worst(monkeypatch: pytest.MonkeyPatch) -> None:
    pkl = get_rule("MLS-PKL-001")
    low = [UNRECOGNISED.finding(f"f{i}.pt", "m", key=str(i), severity=Severity.LOW) for i in range(20)]
    worst = [pkl.finding(f"evil{i}.pkl", "m", key=str(i)) for i in range(3)]
    result = ScanResult(root="/r", policy=Policy(), findings=[*low[:10], *worst, *low[10:]])
    doc = build_sarif(result, max_results=8)
    validate(doc)
    run = doc["runs"][0]
    assert len(run["results"]) == 8
    assert [r["ruleId"] for r in run["results"]].count("MLS-PKL-001") == 3
    note = run["invocations"][0]["toolExecutionNotifications"][0]
    assert note["level"] == "warning" and note["message"]["text"].startswith("15 of 23 results were left out")
    assert run["properties"]["resultsOmitted"] == 15


def test_long_evidence_is_clipped_for_the_upload_size_limit() -> None:
    finding = UNRECOGNISED.finding("x.pt", "m", evidence="A" * 5000, key="k")
    run = build_sarif(ScanResult(root="/r", policy=Policy(), findings=[finding]))["runs"][0]
    evidence = run["results"][0]["properties"]["evidence"]
    assert len(evidence) <= 1024 and evidence.endswith("... [5000 chars; full text in the JSON report]")


def test_default_limit_is_githubs_25000() -> None:
    findings = [UNRECOGNISED.finding(f"f{i}.pt", "m", key=str(i)) for i in range(MAX_RESULTS + 1)]
    run = build_sarif(ScanResult(root="/r", policy=Policy(), findings=findings))["runs"][0]
    assert (
        MAX_RESULTS == 25_000 and len(run["results"]) == 25_000 and run["properties"]["resultsOmitted"] == 1
    )


def test_real_scan_report_is_valid_with_stable_fingerprints(tmp_path: Path, canary: Path) -> None:
    class Payload:
        def __reduce__(self) -> tuple[object, ...]:
            return (os.system, (f"touch {canary}",))

    with zipfile.ZipFile(tmp_path / "model.pt", "w") as zf:  # PyTorch zip layout, malicious data.pkl
        zf.writestr("model/data.pkl", pickle.dumps(Payload(), protocol=2))
        zf.writestr("model/version", "3\n")
    (tmp_path / "odd.bin").write_bytes(os.urandom(256))
    os.symlink("/etc/hostname", tmp_path / "escape")

    first = build_sarif(scan_path(tmp_path, root=tmp_path), category="ml-models")
    validate(first)
    run = first["runs"][0]
    assert run["automationDetails"] == {"id": "ml-models/"}
    by_rule = {r["ruleId"]: r for r in run["results"]}
    assert {"MLS-PKL-001", "MLS-SCN-003", "MLS-SCN-004"} <= set(by_rule)
    pkl = by_rule["MLS-PKL-001"]["locations"][0]
    assert pkl["logicalLocations"][0]["name"] == "model/data.pkl"
    assert pkl["physicalLocation"]["artifactLocation"] == {"uri": "model.pt", "uriBaseId": "%SRCROOT%"}

    (tmp_path / "odd.bin").write_bytes(os.urandom(300))  # different bytes, same problem
    again = build_sarif(scan_path(tmp_path, root=tmp_path), category="ml-models")
    prints = [
        {r["ruleId"]: r["partialFingerprints"] for r in d["runs"][0]["results"]} for d in (first, again)
    ]
    assert prints[0] == prints[1]


def test_location_is_not_repeated_when_the_message_already_says_it() -> None:
    pkl = get_rule("MLS-PKL-001")
    findings = [
        pkl.finding("a.pkl", "a.pkl imports os.system (byte 5).", location=Location(offset=5), key="a"),
        pkl.finding("b.pkl", "b.pkl imports os.system.", location=Location(offset=5), key="b"),
    ]
    run = build_sarif(ScanResult(root="/r", policy=Policy(), findings=findings))["runs"][0]
    texts = [r["message"]["text"] for r in run["results"]]
    assert texts == ["a.pkl imports os.system (byte 5).", "b.pkl imports os.system. [byte 5]"]
