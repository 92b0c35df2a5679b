"""Companion checks run on every file after its format's scanner; inline waivers become suppressions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from mlsec_dagster.engine.artifact import Artifact
from mlsec_dagster.engine.context import UNRECOGNISED, Companion, ScanContext
from mlsec_dagster.engine.findings import Finding
from mlsec_dagster.engine.policy import Policy
from mlsec_dagster.scanners import SCANNERS

PROBE = UNRECOGNISED  # any catalogued rule will do (defining a test-only rule would leak into the catalogue)


def _probe(seen: list[tuple[str, str | None]], waiver: str = "") -> Companion:
    def wants(artifact: Artifact, claimed: str | None) -> bool:
        seen.append((artifact.name, claimed))
        return claimed != "parquet"

    def scan(artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
        if artifact.name == "boom.txt":
            raise RuntimeError("companion crashed")
        yield PROBE.finding(
            artifact.path, f"probe on {artifact.name}", key="probe:" + artifact.name, waiver=waiver
        )

    return Companion("probe", wants, scan)


def _scan(tmp_path: Path, companion: Companion) -> list[Finding]:
    ctx = ScanContext(Policy(), SCANNERS, (companion,))
    out: list[Finding] = []
    for path in sorted(tmp_path.iterdir()):
        ctx.start_file()
        out.extend(ctx.scan(Artifact.from_file(str(path), path.name)))
    return out


def test_companions_see_claimed_and_unclaimed_files_and_fail_closed(tmp_path: Path) -> None:
    (tmp_path / "settings.py").write_text("DEBUG = True\n")
    (tmp_path / "requirements.txt").write_text("numpy==2.1.3\n")
    (tmp_path / "boom.txt").write_text("x\n")
    seen: list[tuple[str, str | None]] = []
    findings = _scan(tmp_path, _probe(seen))
    assert ("settings.py", None) in seen and ("requirements.txt", "dependencies") in seen
    probes = sorted(f.key for f in findings if f.key.startswith("probe:"))
    assert probes == ["probe:requirements.txt", "probe:settings.py"]
    crashed = [f for f in findings if f.rule_id == "MLS-SCN-001"]
    assert len(crashed) == 1 and "probe" in crashed[0].message and crashed[0].path == "boom.txt"


def test_an_inline_waiver_is_reported_as_suppressed_with_its_reason(tmp_path: Path) -> None:
    (tmp_path / "settings.py").write_text("DEBUG = True\n")
    findings = _scan(tmp_path, _probe([], waiver="rotated test key"))
    kept, suppressed = Policy().apply(findings)
    assert not [f for f in kept if f.key.startswith("probe:")]
    assert [s.reason for s in suppressed] == ["inline waiver: rotated test key"]
