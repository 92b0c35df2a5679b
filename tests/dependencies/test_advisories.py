"""Offline OSV advisories: matched against pinned versions, skipped loudly without a database."""

from __future__ import annotations

import json
from pathlib import Path

from mlsec_dagster.engine.artifact import Artifact
from mlsec_dagster.engine.findings import Finding, Severity
from mlsec_dagster.engine.policy import DependencyRules
from mlsec_dagster.scanners.dependencies import advisories
from mlsec_dagster.scanners.dependencies.model import Dependency, Manifest


def _artifact() -> Artifact:
    return Artifact(path="requirements.txt", member=(), size=0, head=b"", open=lambda: None)  # type: ignore[arg-type,return-value]


def _osv(folder: Path, ident: str, name: str, events: list[dict[str, str]], **extra: object) -> None:
    record = {
        "id": ident,
        "summary": f"{name} does something bad",
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": name},
                "ranges": [{"type": "ECOSYSTEM", "events": events}],
            }
        ],
        **extra,
    }
    (folder / f"{ident}.json").write_text(json.dumps(record))


def _database(tmp_path: Path) -> Path:
    folder = tmp_path / "osv" / "PyPI"
    folder.mkdir(parents=True)
    _osv(folder, "PYSEC-2023-74", "Requests", [{"introduced": "2.3.0"}, {"fixed": "2.31.0"}])
    _osv(
        folder,
        "GHSA-jjg7-2v4v-x38h",
        "idna",
        [{"introduced": "0"}, {"fixed": "3.7"}],
        database_specific={"severity": "MODERATE"},
    )
    _osv(folder, "GHSA-last", "pillow", [{"introduced": "9.0.0"}, {"last_affected": "10.0.0"}])
    (folder / "npm-thing.json").write_text(
        json.dumps({"id": "X", "affected": [{"package": {"ecosystem": "npm", "name": "requests"}}]})
    )
    (folder / "broken.json").write_text("{not json")
    return tmp_path / "osv"


def _check(manifest: Manifest, rules: DependencyRules) -> list[Finding]:
    return list(advisories.check(manifest, _artifact(), rules))


def test_pinned_versions_are_matched_with_osv_ranges(tmp_path: Path) -> None:
    rules = DependencyRules(advisory_db=str(_database(tmp_path)))
    manifest = Manifest(
        "requirements",
        [
            Dependency("requests", 3, "==2.28.1", pinned=True),
            Dependency("requests-oauthlib", 4, "==1.3.1", pinned=True),
            Dependency("idna", 5, "==3.4", pinned=True),
            Dependency("pillow", 6, "==10.0.0", pinned=True),
            Dependency("Pillow", 7, "==10.0.1", pinned=True),
            Dependency("requests", 8, ">=2.0"),  # not pinned: no single version to judge
        ],
    )
    found = sorted(
        (f.rule_id, f.severity, f.location.line, f.key.split("\x1f")[1]) for f in _check(manifest, rules)
    )
    assert found == [
        ("MLS-DEP-040", Severity.MEDIUM, 5, "GHSA-jjg7-2v4v-x38h"),
        ("MLS-DEP-040", Severity.HIGH, 3, "PYSEC-2023-74"),
        ("MLS-DEP-040", Severity.HIGH, 6, "GHSA-last"),
    ]
    message = next(f.message for f in _check(manifest, rules) if f.location.line == 3)
    assert "2.31.0" in message


def test_fixed_version_is_clean(tmp_path: Path) -> None:
    rules = DependencyRules(advisory_db=str(_database(tmp_path)))
    manifest = Manifest("poetry.lock", [Dependency("requests", 10, "2.31.0")], locked=True)
    assert _check(manifest, rules) == []


def test_without_a_database_the_skip_is_reported(tmp_path: Path) -> None:
    manifest = Manifest("requirements", [Dependency("requests", 1, "==2.28.1", pinned=True)])
    (finding,) = _check(manifest, DependencyRules())
    assert (finding.rule_id, finding.severity) == ("MLS-DEP-041", Severity.INFO)
    assert _check(Manifest("requirements", [Dependency("requests", 1, ">=2")]), DependencyRules()) == []


def test_a_configured_but_missing_database_fails_closed(tmp_path: Path) -> None:
    manifest = Manifest("requirements", [Dependency("requests", 1, "==2.28.1", pinned=True)])
    (finding,) = _check(manifest, DependencyRules(advisory_db=str(tmp_path / "nowhere")))
    assert (finding.rule_id, finding.severity) == ("MLS-DEP-042", Severity.HIGH)
    (tmp_path / "empty").mkdir()
    (finding,) = _check(manifest, DependencyRules(advisory_db=str(tmp_path / "empty")))
    assert finding.rule_id == "MLS-DEP-042"
