"""``scan_path``: the engine's front door, shared by the CLI, the Dagster checks and the CI job."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlsec_dagster.engine.artifact import Artifact
from mlsec_dagster.engine.context import UNREADABLE, ArtifactRecord, ScanContext
from mlsec_dagster.engine.discovery import discover
from mlsec_dagster.engine.findings import Finding, Severity
from mlsec_dagster.engine.policy import Decision, Policy, Suppressed
from mlsec_dagster.engine.safetensors_policy import pickle_weight_findings

Progress = Callable[[int, int, str], None]
"""Called as ``progress(done, total, current_rel_path)`` before each file."""


@dataclass
class ScanResult:
    root: str
    policy: Policy
    findings: list[Finding]
    suppressed: list[Suppressed] = field(default_factory=list)
    artifacts: list[ArtifactRecord] = field(default_factory=list)
    files_scanned: int = 0
    files_excluded: int = 0
    duration_seconds: float = 0.0

    @property
    def decision(self) -> Decision:
        return self.policy.decide(self.findings)

    def counts(self) -> dict[str, int]:
        counts = {s.name: 0 for s in sorted(Severity, reverse=True)}
        for f in self.findings:
            counts[f.severity.name] += 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        decision = self.decision
        return {
            "root": self.root,
            "policy": self.policy.source,
            "passed": decision.passed,
            "fail_on_severity": decision.fail_on.name,
            "counts": self.counts(),
            "files_scanned": self.files_scanned,
            "files_excluded": self.files_excluded,
            "duration_seconds": round(self.duration_seconds, 3),
            "findings": [{**f.to_dict(), "blocking": self.policy.is_blocking(f)} for f in self.findings],
            "suppressed": [{**s.finding.to_dict(), "reason": s.reason} for s in self.suppressed],
            "artifacts": [
                {"path": a.path, "member": list(a.member), "format": a.format, "size": a.size}
                for a in self.artifacts
            ],
        }


def scan_dataframe(frame: Any, name: str = "dataframe", policy: Policy | None = None) -> ScanResult:
    """Scan an in-memory table (polars/pandas DataFrame, Arrow table) with the dataset detectors.

    ``name`` stands in for the file path in findings and reports (e.g. the asset key).
    """
    from mlsec_dagster.scanners import SCANNERS
    from mlsec_dagster.scanners.datasets.cells import scan_dataset
    from mlsec_dagster.scanners.datasets.frames import as_arrow, frame_source

    started = time.monotonic()
    policy = policy or Policy()
    table = as_arrow(frame)
    artifact = Artifact(path=name, member=(), size=table.nbytes, head=b"", open=_no_stream(name))
    ctx = ScanContext(policy, SCANNERS)
    ctx.start_file()
    ctx.records.append(ArtifactRecord(name, (), "dataframe", table.nbytes))
    kept, suppressed = policy.apply(scan_dataset(artifact, ctx, "dataframe", frame_source(table)))
    kept.sort(key=_sort_key)
    return ScanResult(
        root=name,
        policy=policy,
        findings=kept,
        suppressed=suppressed,
        artifacts=ctx.records,
        files_scanned=1,
        duration_seconds=time.monotonic() - started,
    )


def _no_stream(name: str) -> Callable[[], Any]:
    def refuse() -> Any:
        raise OSError(f"{name} is an in-memory table; it has no byte stream")

    return refuse


def default_root(targets: Sequence[Path]) -> Path:
    """The current directory when every target lies inside it (so paths are repo-relative)."""
    cwd = Path.cwd().resolve()
    resolved = [Path(os.path.abspath(t)) for t in targets]
    if all(p == cwd or cwd in p.parents for p in resolved):
        return cwd
    first = resolved[0]
    return first if first.is_dir() else first.parent


def _sort_key(f: Finding) -> tuple[str, tuple[str, ...], int, str]:
    return (f.path, f.location.member, -int(f.severity), f.rule_id)


def scan_path(
    *targets: str | os.PathLike[str],
    policy: Policy | None = None,
    root: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
) -> ScanResult:
    """Scan files and folders statically; nothing found in them is ever imported or executed.

    ``policy`` defaults to the policy file in ``root`` (``mlsec.yaml``, else ``veritensor.yaml``),
    else built-in defaults. Findings come back after the policy's overrides and waivers.
    """
    from mlsec_dagster.engine.policy_file import load_policy_for_root
    from mlsec_dagster.scanners import COMPANIONS, PICKLE_FORMATS, SCANNERS
    from mlsec_dagster.scanners.datasets.drift import schema_drift_findings
    from mlsec_dagster.scanners.licenses import license_findings

    started = time.monotonic()
    paths = [Path(t) for t in (targets or (".",))]
    root_path = Path(root).resolve() if root is not None else default_root(paths)
    if policy is None:
        policy = load_policy_for_root(root_path)
    found = discover(root_path, paths, policy.exclude)
    ctx = ScanContext(policy, SCANNERS, COMPANIONS)
    raw: list[Finding] = list(found.findings)
    total = len(found.files)
    for index, file in enumerate(found.files):
        if progress is not None:
            progress(index, total, file.rel_path)
            ctx.on_progress = lambda note, i=index, path=file.rel_path: progress(i, total, f"{path} ({note})")
        ctx.start_file()
        try:
            artifact = Artifact.from_file(file.os_path, file.rel_path)
        except OSError as exc:
            raw.append(
                UNREADABLE.finding(
                    file.rel_path,
                    f"{file.rel_path} could not be read ({exc.strerror or exc}); it was not scanned.",
                    evidence=str(exc),
                    key=type(exc).__name__,
                )
            )
            continue
        first_record = len(ctx.records)
        raw.extend(ctx.scan(artifact))
        if policy.artifact_rules.require_safetensors_format:
            raw.extend(pickle_weight_findings(file.rel_path, ctx.records[first_record:], PICKLE_FORMATS))
    raw.extend(schema_drift_findings(ctx.schemas))
    raw.extend(
        license_findings(
            ctx.licenses, ctx.records, policy, root=root_path, scanned=[f.rel_path for f in found.files]
        )
    )
    if progress is not None:
        progress(total, total, "")
    kept, suppressed = policy.apply(raw)
    kept.sort(key=_sort_key)
    return ScanResult(
        root=str(root_path),
        policy=policy,
        findings=kept,
        suppressed=suppressed,
        artifacts=ctx.records,
        files_scanned=total,
        files_excluded=found.excluded,
        duration_seconds=time.monotonic() - started,
    )
