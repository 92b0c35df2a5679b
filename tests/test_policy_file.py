"""The policy file: the design note's file loads verbatim, every key takes effect, mistakes are loud."""

from __future__ import annotations

import os
import pickle
import re
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import yaml
from shared_fixtures import DESIGN_NOTE

from mlsec_dagster import scan_path
from mlsec_dagster.engine.findings import Severity
from mlsec_dagster.engine.limits import Limits
from mlsec_dagster.engine.policy import Policy
from mlsec_dagster.engine.policy_file import (
    PolicyError,
    find_policy_file,
    load_policy,
    load_policy_for_root,
    parse_policy,
    policy_reference_markdown,
    policy_to_dict,
)

FULL = """\
version: 1.0
policy:
  fail_on_severity: medium
  artifact_rules:
    block_pickle_execution: false
    require_safetensors_format: false
    trusted_globals: [mypkg.models.Net, "mypkg.layers.*"]
    strict_unknown_classes: true
  license_rules:
    fail_on_missing_license: false
    custom_restricted_licenses: [CC-BY-NC-4.0]
    allowed_licenses: [apache-2.0, MIT]
  severity_overrides:
    MLS-SCN-003: low
    mls-scn-004: Critical
  ignores:
    - path: legacy/
      rules: [MLS-POL-001]
      reason: frozen baseline checkpoint, re-exported in JIRA-123
    - path: "*.tmp.pt"
      reason: scratch files of the export script
  exclude: ["build/", "*.log"]
  limits:
    max_nesting_depth: 3
    max_compression_ratio: 100
    timeout_seconds: 12.5
    max_pickle_opcodes: 1_000_000
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "mlsec.yaml")
    assert str(info.value) == "\n".join(info.value.errors)
    return list(info.value.errors)


def only_error(text: str) -> str:
    errors = errors_of(text)
    assert len(errors) == 1, errors
    return errors[0]


def test_design_note_file_loads_verbatim_with_every_key(tmp_path: Path) -> None:
    (tmp_path / "veritensor.yaml").write_text(DESIGN_NOTE)
    policy = load_policy_for_root(tmp_path)
    assert policy.source == str(tmp_path / "veritensor.yaml")
    assert policy.version == "1.0"
    assert policy.fail_on_severity is Severity.HIGH
    assert policy.artifact_rules.block_pickle_execution is True
    assert policy.artifact_rules.require_safetensors_format is True
    assert policy.license_rules.fail_on_missing_license is True
    assert policy.license_rules.custom_restricted_licenses == ("cc-by-nc-4.0", "agpl-3.0")


def test_design_note_policy_gates_a_real_scan(tmp_path: Path, canary: Path) -> None:
    """require_safetensors_format fails a benign torch checkpoint; block_pickle_execution a payload."""

    class Payload:
        def __reduce__(self) -> tuple[object, ...]:
            return (os.system, (f"touch {canary}",))

    (tmp_path / "veritensor.yaml").write_text(DESIGN_NOTE)
    torch.save({"w": torch.zeros(3)}, tmp_path / "model.pt")
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(Payload()))
    result = scan_path(tmp_path, root=tmp_path)
    assert result.policy.source == str(tmp_path / "veritensor.yaml")
    blocking = {(f.rule_id, f.path) for f in result.decision.blocking}
    assert ("MLS-POL-001", "model.pt") in blocking
    assert ("MLS-PKL-001", "evil.pkl") in blocking
    assert not result.decision.passed

    relaxed = DESIGN_NOTE.replace("block_pickle_execution: true", "block_pickle_execution: false")
    (tmp_path / "veritensor.yaml").write_text(relaxed)
    result = scan_path(tmp_path / "evil.pkl", root=tmp_path)
    assert [f.rule_id for f in result.findings] == ["MLS-PKL-001", "MLS-LIC-005", "MLS-POL-001"]
    # the code-execution one warns; the unlicensed model (fail_on_missing_license) blocks
    assert [f.rule_id for f in result.decision.blocking] == ["MLS-LIC-005", "MLS-POL-001"]


def test_every_extension_key_is_read(tmp_path: Path) -> None:
    policy = parse_policy(FULL, "mlsec.yaml")
    rules = policy.artifact_rules
    assert policy.fail_on_severity is Severity.MEDIUM
    assert (rules.block_pickle_execution, rules.require_safetensors_format, rules.strict_unknown_classes) == (
        False,
        False,
        True,
    )
    assert rules.trusted_globals == {"mypkg.models.Net", "mypkg.layers.*"}
    assert policy.trusts_global("mypkg.layers.conv.Conv") and not policy.trusts_global("mypkg.models.Other")
    assert policy.license_rules.custom_restricted_licenses == ("cc-by-nc-4.0",)
    assert policy.license_rules.allowed_licenses == ("apache-2.0", "mit")
    assert dict(policy.severity_overrides) == {"MLS-SCN-003": Severity.LOW, "MLS-SCN-004": Severity.CRITICAL}
    assert [(w.path, w.rules) for w in policy.ignores] == [("legacy/", ("MLS-POL-001",)), ("*.tmp.pt", ())]
    assert policy.ignores[0].reason.startswith("frozen baseline")
    assert policy.exclude == ("build/", "*.log")
    assert policy.limits == Limits().replace(
        max_nesting_depth=3, max_compression_ratio=100.0, timeout_seconds=12.5, max_pickle_opcodes=1_000_000
    )
    assert isinstance(policy.limits.max_compression_ratio, float)


def test_extensions_take_effect_in_a_scan(tmp_path: Path) -> None:
    (tmp_path / "mlsec.yaml").write_text(FULL)
    for rel in ("a.pt", "legacy/old.pt", "x.tmp.pt", "build/skip.pt"):
        (tmp_path / rel).parent.mkdir(exist_ok=True)
        (tmp_path / rel).write_bytes(os.urandom(64))
    torch.save({"w": torch.zeros(2)}, tmp_path / "legacy" / "ckpt.pt")
    policy = load_policy(tmp_path / "mlsec.yaml")
    policy = replace(policy, artifact_rules=replace(policy.artifact_rules, require_safetensors_format=True))
    result = scan_path(tmp_path, policy=policy, root=tmp_path)
    kept = {(f.rule_id, f.path, f.severity) for f in result.findings}
    # severity override: the unknown-content rule is LOW here, so it does not fail a MEDIUM gate
    assert ("MLS-SCN-003", "a.pt", Severity.LOW) in kept
    assert ("MLS-SCN-003", "legacy/old.pt", Severity.LOW) in kept  # waiver for legacy/ covers POL-001 only
    waived = {(s.finding.rule_id, s.finding.path): s.reason for s in result.suppressed}
    assert waived[("MLS-POL-001", "legacy/ckpt.pt")].startswith("frozen baseline")
    assert waived[("MLS-SCN-003", "x.tmp.pt")] == "scratch files of the export script"
    assert all(f.path != "build/skip.pt" for f in result.findings)  # excluded, never scanned
    assert result.files_excluded >= 1
    assert result.decision.passed


def test_find_policy_file_prefers_mlsec_yaml(tmp_path: Path) -> None:
    assert find_policy_file(tmp_path) is None
    assert load_policy_for_root(tmp_path) == Policy()
    (tmp_path / "veritensor.yaml").write_text("policy: {fail_on_severity: LOW}\n")
    assert find_policy_file(tmp_path) == tmp_path / "veritensor.yaml"
    (tmp_path / "mlsec.yaml").write_text("policy: {fail_on_severity: CRITICAL}\n")
    assert find_policy_file(tmp_path) == tmp_path / "mlsec.yaml"
    assert load_policy_for_root(tmp_path).fail_on_severity is Severity.CRITICAL
    assert find_policy_file(tmp_path / "mlsec.yaml") == tmp_path / "mlsec.yaml"  # a file: its folder


@pytest.mark.parametrize("text", ["", "# nothing yet\n", "policy:\n", "version: '1.0'\npolicy: {}\n"])
def test_empty_or_missing_parts_mean_safe_defaults(text: str) -> None:
    policy = parse_policy(text, "mlsec.yaml")
    assert policy == Policy(source="mlsec.yaml")
    assert policy.fail_on_severity is Severity.HIGH and policy.artifact_rules.block_pickle_execution


def test_typo_names_file_key_path_line_and_suggestion() -> None:
    text = DESIGN_NOTE.replace("block_pickle_execution", "block_pickle_executon")
    error = only_error(text)
    assert error.startswith("mlsec.yaml:5:5: policy.artifact_rules.block_pickle_executon: ")
    assert "did you mean 'block_pickle_execution'?" in error


def test_key_at_the_wrong_level_says_where_it_belongs() -> None:
    error = only_error("fail_on_severity: HIGH\n")
    assert error == (
        "mlsec.yaml:1:1: fail_on_severity: unknown key 'fail_on_severity' here; "
        "it belongs at 'policy.fail_on_severity'"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("policy:\n  fail_on_severity: hihg\n", r":2:21: policy\.fail_on_severity: .*did you mean 'HIGH'"),
        (
            "policy:\n  fail_on_severity: 3\n",
            r":2:21: policy\.fail_on_severity: expected a severity.*integer",
        ),
        (
            "policy:\n  artifact_rules:\n    require_safetensors_format: 'yes'\n",
            r":3:33: .*require_safetensors_format: expected true or false, got a string",
        ),
        (
            "policy:\n  artifact_rules: [a]\n",
            r":2:19: policy\.artifact_rules: expected a mapping, got a list",
        ),
        ("version: '2.0'\n", r":1:10: version: unsupported policy version '2\.0'"),
        (
            "policy:\n  severity_overrides:\n    MLS-SCN-03: LOW\n",
            r":3:5: policy\.severity_overrides\.MLS-SCN-03: unknown rule id .*did you mean 'MLS-SCN-003'",
        ),
        (
            "policy:\n  ignores:\n    - path: models/\n",
            r":3:7: policy\.ignores\[0\]\.reason: required key is missing",
        ),
        (
            "policy:\n  ignores:\n    - {path: models/, reason: '  '}\n",
            r"policy\.ignores\[0\]\.reason: must not be empty",
        ),
        (
            "policy:\n  ignores:\n    - {path: '**', reason: all of it}\n",
            r"policy\.ignores\[0\]\.path: '\*\*' waives every finding",
        ),
        (
            "policy:\n  ignores:\n    - {path: x, rules: [MLS-NOPE-001], reason: r}\n",
            r"policy\.ignores\[0\]\.rules\[0\]: unknown rule id 'MLS-NOPE-001'",
        ),
        ("policy:\n  exclude: build/\n", r"policy\.exclude: expected a list, got a string"),
        ("policy:\n  limits:\n    max_nesting_depth: 0\n", r"max_nesting_depth: must be a positive number"),
        ("policy:\n  limits:\n    max_nesting_depth: 2.5\n", r"max_nesting_depth: expected a whole number"),
        ("policy:\n  limits:\n    timeout_seconds: .inf\n", r"timeout_seconds: must be a positive number"),
        (
            "policy:\n  limits:\n    timeout_seconds: true\n",
            r"timeout_seconds: expected a number, got a boolean",
        ),
        (
            "policy:\n  limits:\n    max_pickle_byte: 9\n",
            r"max_pickle_byte: .*did you mean 'max_pickle_bytes'",
        ),
        (
            "policy:\n  artifact_rules:\n    trusted_globals: ['*']\n",
            r"trusted_globals\[0\]: '\*' is not a `module\.name`",
        ),
        (
            "policy:\n  license_rules:\n    allowed_licenses: [MIT]\n    custom_restricted_licenses: [mit]\n",
            r"policy\.license_rules: licences both allowed and restricted: mit",
        ),
        (
            "policy:\n  fail_on_severity: HIGH\n  fail_on_severity: LOW\n",
            r":3:3: policy\.fail_on_severity: duplicate key",
        ),
        ("policy: [\n", r"^mlsec\.yaml:2:1: not valid YAML"),
        ("- a\n", r":1:1: \(top level\): expected a mapping, got a list"),
    ],
)
def test_bad_values_are_errors_with_location(text: str, expected: str) -> None:
    error = only_error(text)
    assert error.startswith("mlsec.yaml:"), error
    assert re.search(expected, error), error


def test_all_errors_are_reported_in_file_order() -> None:
    text = "version: '9'\npolicy:\n  fail_on_severity: nope\n  limits: {max_nesting_depth: -1}\nextra: 1\n"
    errors = errors_of(text)
    assert [int(e.split(":")[1]) for e in errors] == [1, 3, 4, 5]


def test_yaml_tags_are_never_constructed(canary: Path) -> None:
    text = f'policy: !!python/object/apply:os.system ["touch {canary}"]\n'
    assert "YAML tags are not supported" in only_error(text)
    text = f'policy:\n  fail_on_severity: !!python/object/apply:os.system ["touch {canary}"]\n'
    assert "YAML tags are not supported" in only_error(text)


@pytest.mark.parametrize(
    "entry", ["os.system", "posix.*", "__builtin__.eval", "builtins.*", "torch.*", "numpy.*"]
)
def test_trust_cannot_silence_known_dangerous_callables(entry: str) -> None:
    error = only_error(f"policy:\n  artifact_rules:\n    trusted_globals: ['{entry}']\n")
    assert f"trusted_globals[0]: '{entry}' is or covers a known-dangerous callable" in error
    assert "waive it under `policy.ignores`" in error


def test_severities_are_case_insensitive() -> None:
    for spelling in ("critical", "Critical", " CRITICAL "):
        assert (
            parse_policy(f"policy: {{fail_on_severity: '{spelling}'}}").fail_on_severity is Severity.CRITICAL
        )


def test_unreadable_or_oversized_files_are_policy_errors(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read policy file"):
        load_policy(tmp_path / "missing.yaml")
    (tmp_path / "bin.yaml").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(PolicyError, match="not UTF-8"):
        load_policy(tmp_path / "bin.yaml")
    (tmp_path / "big.yaml").write_bytes(b"#" * (1024 * 1024 + 1))
    with pytest.raises(PolicyError, match="larger than"):
        load_policy(tmp_path / "big.yaml")


def test_effective_policy_round_trips_through_yaml() -> None:
    policy = parse_policy(FULL, "mlsec.yaml")
    dumped = yaml.safe_dump(policy_to_dict(policy), sort_keys=False)
    assert parse_policy(dumped, "mlsec.yaml") == policy
    assert parse_policy(yaml.safe_dump(policy_to_dict(Policy())), "x") == Policy(source="x")


def test_reference_table_documents_every_key() -> None:
    table = policy_reference_markdown()
    documented = set(re.findall(r"^\| `([^`]+)` \|", table, re.MULTILINE))
    limits = {f"policy.limits.{name}" for name in Limits.field_names()}
    expected = {
        "version",
        "policy.fail_on_severity",
        "policy.artifact_rules.block_pickle_execution",
        "policy.artifact_rules.require_safetensors_format",
        "policy.artifact_rules.trusted_globals",
        "policy.artifact_rules.strict_unknown_classes",
        "policy.license_rules.fail_on_missing_license",
        "policy.license_rules.custom_restricted_licenses",
        "policy.license_rules.allowed_licenses",
        "policy.license_rules.unknown_license_severity",
        "policy.severity_overrides",
        "policy.ignores",
        "policy.ignores[].path",
        "policy.ignores[].rules",
        "policy.ignores[].reason",
        "policy.exclude",
        "policy.baseline",
    } | limits
    dataset = {
        f"policy.dataset_rules.{key}"
        for key in (
            "enabled", "disabled_detectors", "columns", "custom_patterns", "sample_rows", "max_cell_bytes",
            "max_findings_per_column", "max_nesting_depth",
        )
    }  # fmt: skip
    items = {
        "policy.dataset_rules.columns[]": (
            "name",
            "allow",
            "html_allowed",
            "links_allowed",
            "code_allowed",
            "reason",
        ),
        "policy.dataset_rules.custom_patterns[]": ("name", "pattern", "severity", "description", "columns"),
    }
    dataset |= {f"{prefix}.{key}" for prefix, keys in items.items() for key in keys}
    dependency = {
        f"policy.dependency_rules.{key}"
        for key in (
            "enabled", "internal_prefixes", "allowed_indexes", "allowlist", "unpinned_severity",
            "missing_hashes_severity", "advisory_db",
        )
    }  # fmt: skip
    assert documented == expected | dataset | dependency
    assert all(row.count(" | ") >= 3 and not row.endswith("|  |") for row in table.splitlines()[2:])


def test_pickle_trust_keys_take_effect_in_a_scan(tmp_path: Path) -> None:
    """trusted_globals (exact, then explicit prefix) and strict_unknown_classes reach the pickle scanner."""
    (tmp_path / "inst.pkl").write_bytes(b"\x80\x02cmypkg.models\nNet\nq\x00)\x81q\x01}q\x02b.")  # NEWOBJ
    (tmp_path / "call.pkl").write_bytes(b"\x80\x02cmypkg.models\nbuild\n)R.")  # REDUCE

    def scan_with(artifact_rules: str) -> set[tuple[str, str, Severity]]:
        (tmp_path / "mlsec.yaml").write_text(f"policy:\n  artifact_rules:\n{artifact_rules}")
        return {(f.rule_id, f.path, f.severity) for f in scan_path(tmp_path, root=tmp_path).findings}

    default = {("MLS-PKL-003", "inst.pkl", Severity.LOW), ("MLS-PKL-002", "call.pkl", Severity.HIGH)}
    assert scan_with("    strict_unknown_classes: false\n") == default
    assert scan_with("    strict_unknown_classes: true\n") == {
        ("MLS-PKL-003", "inst.pkl", Severity.HIGH),
        ("MLS-PKL-002", "call.pkl", Severity.HIGH),
    }
    assert scan_with("    trusted_globals: [mypkg.models.Net]\n") == {
        ("MLS-PKL-002", "call.pkl", Severity.HIGH)
    }
    assert scan_with("    trusted_globals: ['mypkg.models.*']\n") == set()
