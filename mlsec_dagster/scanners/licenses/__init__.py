"""PLACEHOLDER: licence declarations (cards, LICENSE files, metadata) and the policy pass over them."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from mlsec_dagster.engine.context import ArtifactRecord, Companion, LicenseRecord
from mlsec_dagster.engine.findings import Finding
from mlsec_dagster.engine.policy import Policy

COMPANIONS: tuple[Companion, ...] = ()


def license_findings(
    licenses: Sequence[LicenseRecord], artifacts: Sequence[ArtifactRecord], policy: Policy
) -> Iterator[Finding]:
    return iter(())


__all__ = ["COMPANIONS", "license_findings"]
