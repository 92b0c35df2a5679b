"""Fixtures shared by the container scanner tests: a canary pickle and the pickle verdict at a member."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

from mlsec_dagster import ScanResult, Severity


class CanaryPayload:
    """Pickles to ``os.system("touch <canary>")``: harmless, and proof of execution if it ever runs."""

    def __init__(self, canary: Path) -> None:
        self.canary = canary

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.canary}",))


def canary_pickle(canary: Path, protocol: int = 2) -> bytes:
    return pickle.dumps(CanaryPayload(canary), protocol=protocol)


def assert_pickle_payload(result: ScanResult, path: str, member: tuple[str, ...]) -> None:
    """The pickle scanner's verdict at the end of the member chain, and its inventory record."""
    assert any(
        f.rule_id.startswith("MLS-PKL-") and f.severity >= Severity.HIGH and f.path == path
        and f.location.member == member
        for f in result.findings
    ), [(f.rule_id, f.location.member) for f in result.findings]  # fmt: skip
    assert any(a.path == path and a.member == member and a.format == "pickle" for a in result.artifacts)
