"""Placeholder until the pickle scanner lands."""

from collections.abc import Iterator

from mlsec_dagster.engine.artifact import Artifact
from mlsec_dagster.engine.context import ScanContext, Scanner
from mlsec_dagster.engine.findings import Finding


def _sniff(artifact: Artifact) -> bool:
    return False


def _scan(artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
    return iter(())


SCANNER = Scanner("pickle", _sniff, _scan)
