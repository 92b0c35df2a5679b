"""Fixtures shared by the container scanner tests: a canary pickle and the pickle verdict at a member."""

from __future__ import annotations

from shared_fixtures import CanaryPayload, canary_pickle

from mlsec_dagster import ScanResult, Severity

__all__ = ["CanaryPayload", "assert_pickle_payload", "canary_pickle"]


def assert_pickle_payload(result: ScanResult, path: str, member: tuple[str, ...]) -> None:
    """The pickle scanner's verdict at the end of the member chain, and its inventory record."""
    assert any(
        f.rule_id.startswith("MLS-PKL-") and f.severity >= Severity.HIGH and f.path == path
        and f.location.member == member
        for f in result.findings
    ), [(f.rule_id, f.location.member) for f in result.findings]  # fmt: skip
    assert any(a.path == path and a.member == member and a.format == "pickle" for a in result.artifacts)
