"""A neutral marker policy shared by the reader tests: row/column mapping checked without any payload family.

``ZZQ_POISON_<n>`` cells are found by the custom-pattern detector (MLS-DSC-001), so a reader test
asserts where its rows land independently of how the payload detectors grade text.
"""

from __future__ import annotations

from pathlib import Path

from mlsec_dagster import Finding, Policy, Severity, scan_path
from mlsec_dagster.engine.policy import CustomPattern, DatasetRules

MARKER = CustomPattern(
    name="canary-marker", pattern="ZZQ_POISON_[0-9]+", severity=Severity.HIGH, description="test"
)
MARKER_POLICY = Policy(dataset_rules=DatasetRules(custom_patterns=(MARKER,)))


def scan_without_crash(path: Path, policy: Policy = MARKER_POLICY) -> list[Finding]:
    """Findings of one file; a scanner crash (MLS-SCN-001) fails the test instead of counting as a finding."""
    findings = scan_path(path, policy=policy).findings
    assert not [f for f in findings if f.rule_id == "MLS-SCN-001"], findings
    return findings


def by_rule(findings: list[Finding], rule: str) -> list[Finding]:
    return [f for f in findings if f.rule_id == rule]
