"""One finding per credential, worded the same wherever it was found; the value only ever redacted."""

from __future__ import annotations

from mlsec_dagster.engine.artifact import Artifact
from mlsec_dagster.engine.findings import Finding, Location, Severity
from mlsec_dagster.scanners.secret_patterns import redact
from mlsec_dagster.scanners.secrets.matcher import Hit


def shown(secret: str) -> str:
    """``redact`` for tokens; short values (passwords) show fewer leading characters."""
    if len(secret) >= 24 or secret.startswith("-----"):
        return redact(secret)
    return f"{secret[: len(secret) // 6]}… ({len(secret)} chars, redacted)"


def hit_finding(
    artifact: Artifact,
    hit: Hit,
    where: str,
    location: Location,
    *,
    severity: Severity | None = None,
    waiver: str = "",
    extra_evidence: str = "",
) -> Finding:
    """``where`` says where in the artifact, e.g. "line 12" or "notebook cell 3 (output), line 40"."""
    message = (
        f"{artifact.display} {where}: {hit.label}{hit.note} ({shown(hit.secret)}). Anyone who can read this "
        f"file can use it. {hit.rule.remediation}"
    )
    evidence = shown(hit.secret) + (f"; {extra_evidence}" if extra_evidence else "")
    return hit.rule.finding(
        artifact.path,
        message,
        location=location,
        evidence=evidence,
        key=hit.key,
        severity=severity if severity is not None else hit.severity,
        waiver=waiver,
    )
