"""Placeholder: the jsonl reader lands in this module."""

from __future__ import annotations

from collections.abc import Iterator

from mlsec_dagster.engine.artifact import Artifact
from mlsec_dagster.engine.context import ScanContext, Scanner
from mlsec_dagster.engine.findings import Finding


def sniff(artifact: Artifact) -> bool:
    return False


def scan(artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
    return iter(())


SCANNER = Scanner("jsonl", sniff, scan)
