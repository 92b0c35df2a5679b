"""The engine's own behaviour: findings, dispatch, fail-closed paths, discovery and the policy decision."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlsec_dagster import Policy, Severity, scan_path
from mlsec_dagster.engine.artifact import Artifact
from mlsec_dagster.engine.context import SCANNER_ERROR, ScanContext, Scanner
from mlsec_dagster.engine.findings import Finding, Location
from mlsec_dagster.engine.limits import Limits
from mlsec_dagster.engine.policy import ArtifactRules, IgnoreRule
from mlsec_dagster.engine.rules import all_rules, define, get_rule


def test_severity_parse_is_case_insensitive_and_rejects_unknown() -> None:
    assert Severity.parse("high") is Severity.HIGH
    assert Severity.parse(" Critical ") is Severity.CRITICAL
    with pytest.raises(ValueError, match="expected one of"):
        Severity.parse("severe")


def test_fingerprint_ignores_offsets_but_not_member_or_key() -> None:
    base = Finding("MLS-SCN-001", Severity.HIGH, "m.pt", "msg", Location(("a",), offset=10), key="os.system")
    moved = Finding("MLS-SCN-001", Severity.HIGH, "m.pt", "msg", Location(("a",), offset=99), key="os.system")
    other_member = Finding(
        "MLS-SCN-001", Severity.HIGH, "m.pt", "msg", Location(("b",), offset=10), key="os.system"
    )
    assert base.fingerprint == moved.fingerprint
    assert base.fingerprint != other_member.fingerprint


def test_rule_ids_are_unique_well_formed_and_documented() -> None:
    rules = all_rules()
    assert len({r.id for r in rules}) == len(rules)
    for rule in rules:
        assert rule.title and rule.description and rule.remediation, rule.id
    with pytest.raises(ValueError):
        define("BAD-ID", "t", Severity.LOW, "d", "r", family="x")


def test_model_named_file_with_unknown_content_is_reported(tmp_path: Path) -> None:
    (tmp_path / "weights.pt").write_bytes(bytes(range(7, 256)) * 2)  # matches no format
    (tmp_path / "notes.txt").write_text("just text\n")
    result = scan_path(str(tmp_path), root=str(tmp_path))
    assert [(f.rule_id, f.path, f.severity) for f in result.findings] == [
        ("MLS-SCN-003", "weights.pt", Severity.MEDIUM)
    ]
    assert result.files_scanned == 2


def _exploding_scanner() -> Scanner:
    def sniff(artifact: Artifact) -> bool:
        return artifact.head.startswith(b"BOOM")

    def scan(artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
        raise RuntimeError("parser bug")
        yield  # pragma: no cover

    return Scanner("boom", sniff, scan)


def _artifact(data: bytes, depth: int = 0) -> Artifact:
    return Artifact("x.bin", (), len(data), data[:65536], lambda: io.BytesIO(data), depth=depth)


def test_scanner_crash_fails_closed() -> None:
    ctx = ScanContext(Policy(), [_exploding_scanner()])
    findings = list(ctx.scan(_artifact(b"BOOM payload")))
    assert [f.rule_id for f in findings] == [SCANNER_ERROR.id]
    assert findings[0].severity is Severity.HIGH
    assert "RuntimeError: parser bug" in findings[0].evidence


def test_nesting_limit_is_a_finding_not_a_silent_stop() -> None:
    ctx = ScanContext(Policy(limits=Limits(max_nesting_depth=1)), [_exploding_scanner()])
    parent = _artifact(b"outer", depth=1)
    findings = list(ctx.scan_child_bytes(parent, "inner.bin", b"BOOM"))
    assert [f.rule_id for f in findings] == ["MLS-SCN-002"]
    assert "max_nesting_depth" in findings[0].message


def test_discovery_excludes_defaults_and_ignore_file_and_reports_escaping_symlinks(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.pt").write_bytes(bytes(range(7, 71)))
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / ".git" / "junk.pt").write_bytes(bytes(range(7, 71)))
    (repo / "vendor").mkdir()
    (repo / "vendor" / "skip.pt").write_bytes(bytes(range(7, 71)))
    (repo / ".mlsecignore").write_text("vendor/\n")
    (repo / "model.pt").write_bytes(bytes(range(7, 71)))
    (repo / "link_out.pt").symlink_to(outside / "secret.pt")
    (repo / "link_in.pt").symlink_to(repo / "model.pt")

    result = scan_path(str(repo), root=str(repo))
    by_rule = {(f.rule_id, f.path) for f in result.findings}
    assert by_rule == {("MLS-SCN-003", "model.pt"), ("MLS-SCN-004", "link_out.pt")}
    assert result.files_excluded >= 3  # .git, vendor/, the in-tree symlink

    # A folder named explicitly is scanned even when ignored (a Dagster check points at it), but
    # tool/VCS folders inside it stay out.
    (repo / "vendor" / ".git").mkdir()
    (repo / "vendor" / ".git" / "junk.pt").write_bytes(bytes(range(7, 71)))
    named = scan_path(str(repo / "vendor"), root=str(repo))
    assert {(f.rule_id, f.path) for f in named.findings} == {("MLS-SCN-003", "vendor/skip.pt")}


def test_policy_overrides_waivers_and_block_pickle_execution() -> None:
    code_exec = get_rule("MLS-PKL-001")
    plain = get_rule("MLS-SCN-003")
    findings = [
        code_exec.finding("models/a.pt", "payload", key="os.system"),
        plain.finding("models/b.pt", "unknown"),
        plain.finding("vendor/c.pt", "unknown"),
    ]
    policy = Policy(
        severity_overrides={"MLS-SCN-003": Severity.HIGH},
        ignores=(IgnoreRule(path="vendor/**", reason="third-party test data", rules=("MLS-SCN-003",)),),
    )
    kept, suppressed = policy.apply(findings)
    assert [f.path for f in kept] == ["models/a.pt", "models/b.pt"]
    assert kept[1].severity is Severity.HIGH
    assert [(s.finding.path, s.reason) for s in suppressed] == [("vendor/c.pt", "third-party test data")]
    assert policy.decide(kept).passed is False

    lenient = Policy(artifact_rules=ArtifactRules(block_pickle_execution=False))
    decision = lenient.decide([kept[0]])
    assert decision.passed is True and decision.warnings == (kept[0],)


def test_trusted_globals_are_exact_unless_prefix_is_explicit() -> None:
    policy = Policy(artifact_rules=ArtifactRules(trusted_globals=frozenset({"mypkg.Model", "other.*"})))
    assert policy.trusts_global("mypkg.Model")
    assert not policy.trusts_global("mypkg.Model.evil")
    assert not policy.trusts_global("mypkg.Other")
    assert policy.trusts_global("other.anything")


def test_dataset_decoding_budget_scales_with_the_file_not_a_fixed_total() -> None:
    import io

    from mlsec_dagster.engine.artifact import Artifact
    from mlsec_dagster.engine.context import DECODED_GRACE_BYTES, ScanContext

    def artifact(size: int) -> Artifact:
        return Artifact("d.parquet", (), size, b"", lambda: io.BytesIO(b""))

    ctx = ScanContext(Policy(), ())
    ctx.start_file()
    big = artifact(2 * 1024**3)
    assert all(ctx.charge_decoded(big, 1024**3) for _ in range(6))  # a 2 GiB file decoding to 6 GiB
    ctx.start_file()
    small = artifact(1024 * 1024)
    assert ctx.charge_decoded(small, DECODED_GRACE_BYTES)
    assert not ctx.charge_decoded(small, 1)  # 1 MiB x 250 is below the grace: the grace is the limit
