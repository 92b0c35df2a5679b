"""Known vulnerabilities of pinned versions, from an offline OSV export the team provides.

No network at scan time, so there is no built-in database: the policy's ``advisory_db`` names a
folder of OSV JSON records (e.g. the ``PyPI`` folder of https://osv-vulnerabilities.storage.googleapis.com
/PyPI/all.zip, unzipped). Without one the check is skipped and every manifest with pinned
dependencies says so in an INFO finding, so nobody mistakes silence for a clean bill.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from mlsec_dagster.engine.artifact import Artifact
from mlsec_dagster.engine.findings import Finding, Severity
from mlsec_dagster.engine.policy import DependencyRules
from mlsec_dagster.engine.rules import define
from mlsec_dagster.scanners.dependencies.model import Dependency, Manifest

MAX_RECORDS = 500_000
"""The whole PyPI OSV export holds ~20,000 records; more than this is not an OSV export."""
MAX_RECORD_BYTES = 4 * 1024 * 1024

_FAMILY = "dependencies"

VULNERABLE = define(
    "MLS-DEP-040",
    "Pinned version has a known vulnerability",
    Severity.HIGH,
    "A pinned dependency version is affected by an advisory in the offline OSV database named by "
    "`dependency_rules.advisory_db`. Severity follows the advisory's own rating when it has one "
    "(CRITICAL/HIGH/MODERATE/LOW), else HIGH.",
    "Upgrade to a fixed version (the message names the first one the advisory lists), or waive the "
    "finding with a reason if the vulnerable code path is not used.",
    family=_FAMILY,
)
SKIPPED = define(
    "MLS-DEP-041",
    "Vulnerability check skipped: no advisory database",
    Severity.INFO,
    "The scanner never calls the network, and no offline advisory database is configured, so pinned "
    "versions were not checked against known vulnerabilities.",
    "Point `dependency_rules.advisory_db` at an unzipped OSV export (PyPI ecosystem) kept up to date by "
    "a scheduled job, or run pip-audit in a networked CI step.",
    family=_FAMILY,
)
DB_UNUSABLE = define(
    "MLS-DEP-042",
    "Advisory database unreadable",
    Severity.HIGH,
    "`dependency_rules.advisory_db` is set but the folder is missing, empty, or holds no readable OSV "
    "records for PyPI; the vulnerability check could not run (fail closed).",
    "Fix the path or refresh the export.",
    family=_FAMILY,
)

_SEVERITY_WORDS = {
    "CRITICAL": Severity.CRITICAL,
    "HIGH": Severity.HIGH,
    "MODERATE": Severity.MEDIUM,
    "MEDIUM": Severity.MEDIUM,
    "LOW": Severity.LOW,
}


@dataclass(frozen=True)
class Advisory:
    id: str
    summary: str
    severity: Severity
    ranges: tuple[tuple[tuple[str, str], ...], ...]
    """ECOSYSTEM ranges: each a sequence of (event, version) with event introduced/fixed/last_affected."""
    versions: frozenset[str]

    def affects(self, version: Version) -> bool:
        if str(version) in self.versions:
            return True
        return any(_in_range(version, events) for events in self.ranges)

    def first_fix(self) -> str | None:
        fixes = [v for events in self.ranges for e, v in events if e == "fixed"]
        return min(fixes, key=_sort_key) if fixes else None


@dataclass(frozen=True)
class Database:
    by_name: dict[str, tuple[Advisory, ...]]
    problem: str | None = None


def check(manifest: Manifest, artifact: Artifact, rules: DependencyRules) -> Iterator[Finding]:
    pinned = [(d, v) for d in manifest.dependencies if (v := pinned_version(d, manifest)) is not None]
    if not pinned:
        return
    if rules.advisory_db is None:
        yield SKIPPED.finding(
            artifact.path,
            f"{len(pinned)} pinned dependencies in {artifact.display} were not checked for known "
            "vulnerabilities: no offline advisory database is configured (`dependency_rules.advisory_db`).",
            location=artifact.location(),
            evidence=f"{len(pinned)} pinned",
            key="skipped",
        )
        return
    database = load(rules.advisory_db)
    if database.problem is not None:
        yield DB_UNUSABLE.finding(
            artifact.path,
            f"The advisory database {rules.advisory_db!r} could not be used ({database.problem}); pinned "
            f"dependencies of {artifact.display} were not checked. Fix the path or refresh the export.",
            location=artifact.location(),
            evidence=database.problem,
            key="db",
        )
        return
    for dep, version in pinned:
        for advisory in database.by_name.get(dep.normalized, ()):
            if not advisory.affects(version):
                continue
            fix = advisory.first_fix()
            advice = f"Upgrade to {fix} or later." if fix else "No fixed version is listed: replace or waive."
            yield VULNERABLE.finding(
                artifact.path,
                f"{dep.name}=={version} in {artifact.display} is affected by {advisory.id}: "
                f"{advisory.summary[:200]}. {advice}",
                location=artifact.location(line=dep.line),
                evidence=f"{dep.normalized}=={version}: {advisory.id}",
                key=f"{dep.normalized}\x1f{advisory.id}",
                severity=advisory.severity,
            )


def pinned_version(dep: Dependency, manifest: Manifest) -> Version | None:
    if dep.kind != "registry" or not (dep.pinned or manifest.locked):
        return None
    text = dep.specifier.strip().removeprefix("===").removeprefix("==").strip()
    if not text or "*" in text or "," in text:
        return None
    try:
        return Version(text)
    except InvalidVersion:
        return None


@lru_cache(maxsize=4)
def load(folder: str) -> Database:
    """Every ``*.json`` under ``folder`` that is a PyPI OSV record, indexed by PEP 503 name."""
    if not os.path.isdir(folder):
        return Database({}, f"{folder} is not a folder")
    found: dict[str, list[Advisory]] = {}
    records = 0
    for root, _dirs, files in os.walk(folder):
        for name in sorted(files):
            if not name.endswith(".json"):
                continue
            records += 1
            if records > MAX_RECORDS:
                return Database({}, f"more than {MAX_RECORDS:,} files; not an OSV export")
            for package, advisory in _read(os.path.join(root, name)):
                found.setdefault(package, []).append(advisory)
    if not found:
        return Database({}, "no PyPI OSV records found")
    return Database({k: tuple(v) for k, v in found.items()})


def _read(path: str) -> Iterator[tuple[str, Advisory]]:
    try:
        if os.path.getsize(path) > MAX_RECORD_BYTES:
            return
        with open(path, encoding="utf-8") as fh:
            record = json.load(fh)
    except (OSError, ValueError):
        return
    if not isinstance(record, dict) or record.get("withdrawn"):
        return
    severity = _severity(record)
    for affected in record.get("affected") or ():
        package = affected.get("package") or {}
        if str(package.get("ecosystem", "")).lower() != "pypi" or not package.get("name"):
            continue
        ranges = tuple(
            tuple((e, str(v)) for event in r.get("events") or () for e, v in event.items())
            for r in affected.get("ranges") or ()
            if r.get("type") == "ECOSYSTEM"
        )
        advisory = Advisory(
            id=str(record.get("id", "?")),
            summary=str(record.get("summary") or record.get("details") or "")[:500],
            severity=severity,
            ranges=ranges,
            versions=frozenset(str(v) for v in affected.get("versions") or ()),
        )
        yield canonicalize_name(str(package["name"]), validate=False), advisory


def _severity(record: dict[str, object]) -> Severity:
    specific = record.get("database_specific")
    word = specific.get("severity") if isinstance(specific, dict) else None
    return _SEVERITY_WORDS.get(str(word).upper(), Severity.HIGH)


def _sort_key(version: str) -> Version:
    try:
        return Version(version)
    except InvalidVersion:
        return Version("0")


def _in_range(version: Version, events: tuple[tuple[str, str], ...]) -> bool:
    """OSV's algorithm: walk the events in version order, toggling 'affected' at each boundary."""
    affected = False
    for event, value in sorted(events, key=lambda ev: _sort_key(ev[1]) if ev[1] != "0" else Version("0")):
        bound = Version("0") if value == "0" else _sort_key(value)
        if event == "introduced" and version >= bound:
            affected = True
        elif (event == "fixed" and version >= bound) or (event == "last_affected" and version > bound):
            affected = False
    return affected
