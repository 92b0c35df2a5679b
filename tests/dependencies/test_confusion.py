"""Dependency confusion, index hygiene, URL/VCS requirements, pinning and notebook shell pipes.

The judge reads the parsers' common ``Manifest`` shape, so these tests build manifests directly as
each format's parser reports them (the parsers have their own tests for reading the files).
"""

from __future__ import annotations

from mlsec_dagster.engine.artifact import Artifact
from mlsec_dagster.engine.findings import Finding, Severity
from mlsec_dagster.engine.policy import DependencyRules
from mlsec_dagster.scanners.dependencies import confusion
from mlsec_dagster.scanners.dependencies.model import Dependency, IndexSetting, Manifest, ShellCommand

ACME = DependencyRules(
    internal_prefixes=("acme-",),
    allowed_indexes=("https://pypi.acme.internal/simple",),
)
PRIVATE = "https://pypi.acme.internal/simple"


def _artifact(name: str = "requirements.txt") -> Artifact:
    return Artifact(path=name, member=(), size=0, head=b"", open=lambda: None)  # type: ignore[arg-type,return-value]


def _judge(
    manifest: Manifest, rules: DependencyRules = ACME, name: str = "requirements.txt"
) -> list[Finding]:
    return list(confusion.check(manifest, _artifact(name), rules))


def _ids(findings: list[Finding]) -> list[tuple[str, Severity, int | None]]:
    return sorted((f.rule_id, f.severity, f.location.line) for f in findings)


def _pinned(name: str, line: int, **kw: object) -> Dependency:
    return Dependency(name, line, "==1.0.0", pinned=True, **kw)  # type: ignore[arg-type]


def test_extra_index_url_is_dependency_confusion_and_internal_names_are_exposed() -> None:
    manifest = Manifest(
        "requirements",
        [_pinned("requests", 3), _pinned("acme-features", 4), _pinned("Acme_Core", 5)],
        [IndexSetting(PRIVATE, "extra", 1)],
    )
    found = _ids(_judge(manifest))
    assert found == [
        ("MLS-DEP-010", Severity.HIGH, 1),
        ("MLS-DEP-014", Severity.HIGH, 4),
        ("MLS-DEP-014", Severity.HIGH, 5),
    ]


def test_private_index_as_the_only_index_is_safe() -> None:
    manifest = Manifest(
        "requirements",
        [_pinned("acme-features", 2), _pinned("numpy", 3)],
        [IndexSetting(PRIVATE, "primary", 1)],
    )
    assert _judge(manifest) == []


def test_internal_name_with_no_index_settings_resolves_from_pypi() -> None:
    finding = _judge(Manifest("requirements", [_pinned("acme-auth", 7)]))
    assert _ids(finding) == [("MLS-DEP-014", Severity.HIGH, 7)]
    assert "acme-" in finding[0].message and "PyPI" in finding[0].message


def test_explicit_source_pinning_makes_an_allowed_extra_index_safe() -> None:
    """uv explicit index + [tool.uv.sources], Poetry explicit source + source =: the safe shape."""
    manifest = Manifest(
        "pyproject",
        [Dependency("acme-features", 12, ">=1.2", source="acme"), Dependency("torch", 11, ">=2")],
        [IndexSetting(PRIVATE, "extra", 20, name="acme")],
    )
    assert _judge(manifest, name="pyproject.toml") == []
    unpinned_internal = Manifest(
        "pyproject",
        [Dependency("acme-features", 12, ">=1.2")],
        [IndexSetting(PRIVATE, "extra", 20, name="acme")],
    )
    assert _ids(_judge(unpinned_internal, name="pyproject.toml")) == [
        ("MLS-DEP-010", Severity.HIGH, 20),
        ("MLS-DEP-014", Severity.HIGH, 12),
    ]


def test_lock_entry_resolved_from_pypi_is_reported_and_private_one_is_not() -> None:
    manifest = Manifest(
        "uv.lock",
        [
            Dependency("acme-features", 40, "==1.4.0", pinned=True, source="https://pypi.org/simple"),
            Dependency("acme-core", 52, "==2.0.0", pinned=True, source=PRIVATE),
        ],
        locked=True,
    )
    found = _judge(manifest, name="uv.lock")
    assert _ids(found) == [("MLS-DEP-014", Severity.HIGH, 40)]
    assert "pypi.org" in found[0].message


def test_unapproved_primary_index_plain_http_and_trusted_host() -> None:
    manifest = Manifest(
        "requirements",
        [_pinned("numpy", 4)],
        [
            IndexSetting("http://mirror.example.com/simple", "primary", 1),
            IndexSetting("mirror.example.com", "trusted-host", 2),
        ],
    )
    assert _ids(_judge(manifest)) == [
        ("MLS-DEP-011", Severity.HIGH, 1),
        ("MLS-DEP-012", Severity.MEDIUM, 2),
        ("MLS-DEP-013", Severity.MEDIUM, 1),
    ]


def test_credentials_in_index_urls_are_never_printed() -> None:
    manifest = Manifest(
        "requirements", [], [IndexSetting("https://ci:s3cr3t-t0ken@pypi.evil.example/simple", "extra", 1)]
    )
    (finding,) = _judge(manifest)
    assert finding.rule_id == "MLS-DEP-010"
    assert "s3cr3t" not in finding.message + finding.evidence
    assert "***@pypi.evil.example" in finding.evidence


def test_direct_urls_and_vcs_refs() -> None:
    sha = "9f2c1e0b6a4d3c2b1a09f8e7d6c5b4a39281706f"
    manifest = Manifest(
        "requirements",
        [
            Dependency("tool", 1, kind="url", url="https://files.example.com/tool-1.0-py3-none-any.whl"),
            Dependency(
                "hashed",
                2,
                kind="url",
                url="https://files.example.com/h-1.0.tar.gz",
                hashes=("sha256:" + "a" * 64,),
            ),
            Dependency("plain", 3, kind="url", url="http://files.example.com/plain-1.0.tar.gz"),
            Dependency("branch", 4, kind="vcs", url="git+https://github.com/org/branch@main#egg=branch"),
            Dependency("pinned", 5, kind="vcs", url=f"git+https://github.com/org/pinned@{sha}"),
            Dependency("bare", 6, kind="vcs", url="git+ssh://git@github.com/org/bare.git"),
            Dependency("local", 7, kind="path", url="./libs/local"),
        ],
    )
    assert _ids(_judge(manifest)) == [
        ("MLS-DEP-011", Severity.HIGH, 3),
        ("MLS-DEP-015", Severity.LOW, 2),
        ("MLS-DEP-015", Severity.MEDIUM, 1),
        ("MLS-DEP-015", Severity.MEDIUM, 3),
        ("MLS-DEP-016", Severity.LOW, 5),
        ("MLS-DEP-016", Severity.MEDIUM, 4),
        ("MLS-DEP-016", Severity.MEDIUM, 6),
    ]


def test_unpinned_is_reported_in_application_manifests_only_at_the_policy_severity() -> None:
    deps = [Dependency("numpy", 1, ">=1.26"), Dependency("pandas", 2), _pinned("scipy", 3)]
    assert _ids(_judge(Manifest("requirements", deps))) == [
        ("MLS-DEP-017", Severity.LOW, 1),
        ("MLS-DEP-017", Severity.LOW, 2),
    ]
    assert _judge(Manifest("pyproject", deps), name="pyproject.toml") == []
    strict = DependencyRules(unpinned_severity=Severity.HIGH)
    assert {f.severity for f in _judge(Manifest("requirements", deps), strict)} == {Severity.HIGH}
    assert _judge(Manifest("requirements", deps), DependencyRules(unpinned_severity=None)) == []


def test_missing_hashes_when_the_policy_asks_or_the_file_hashes_other_entries() -> None:
    unhashed = [_pinned("numpy", 1), _pinned("scipy", 2)]
    assert _judge(Manifest("requirements", unhashed)) == []
    deps = [_pinned("numpy", 1), _pinned("scipy", 2, hashes=("sha256:" + "b" * 64,))]
    assert _ids(_judge(Manifest("requirements", deps))) == [("MLS-DEP-018", Severity.LOW, 1)]
    rules = DependencyRules(missing_hashes_severity=Severity.MEDIUM)
    assert _ids(_judge(Manifest("requirements", deps), rules)) == [("MLS-DEP-018", Severity.MEDIUM, 1)]
    locked = Manifest("poetry.lock", [Dependency("numpy", 9, "==1.0")], locked=True)
    assert _ids(_judge(locked, rules, "poetry.lock")) == [("MLS-DEP-018", Severity.MEDIUM, 9)]


def test_lock_entries_fetched_over_plain_http_are_reported_once_per_index() -> None:
    http = "http://pypi.mirror.example/simple"
    manifest = Manifest(
        "uv.lock",
        [Dependency(n, i, "==1.0", pinned=True, source=http) for i, n in ((6, "numpy"), (14, "scipy"))]
        + [Dependency("torch", 20, "==2.13.0", pinned=True, source="https://pypi.org/simple")],
        locked=True,
    )
    found = _judge(manifest, DependencyRules(), "uv.lock")
    assert _ids(found) == [("MLS-DEP-011", Severity.HIGH, 6)]
    assert "2 package(s)" in found[0].message


def test_shell_pipes_in_notebooks() -> None:
    manifest = Manifest(
        "notebook",
        commands=[
            ShellCommand("!curl -sSL https://install.example.sh | bash", 31, "cell 2"),
            ShellCommand("!wget -qO- https://x.example/setup.py | sudo python3", 44, "cell 3"),
            ShellCommand("!ls -la data/", 50, "cell 4"),
            ShellCommand('!python3 -c "$(curl -fsSL https://get.example-tools.sh/py)"', 47, "cell 3"),
            ShellCommand('!echo "$(date)" > stamp.txt', 52, "cell 4"),
            ShellCommand("!curl -o data.csv https://example.com/data.csv", 51, "cell 4"),
        ],
    )
    found = _judge(manifest, name="train.ipynb")
    assert _ids(found) == [
        ("MLS-DEP-019", Severity.HIGH, 31),
        ("MLS-DEP-019", Severity.HIGH, 44),
        ("MLS-DEP-019", Severity.HIGH, 47),
    ]
    assert "cell 2" in found[0].message


def test_the_offline_guard_is_armed() -> None:
    """The autouse fixture in conftest.py must refuse connections, or the offline tests prove nothing."""
    import socket

    import pytest

    with pytest.raises(AssertionError, match="network access attempted"):
        socket.create_connection(("pypi.org", 443), timeout=1)
