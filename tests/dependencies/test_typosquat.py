"""Typosquatting judge: each technique on realistic names, benign look-alike popular pairs, the policy
guards (allowlist, internal prefixes), the renamed-names table, and the vendored list's integrity.

Manifests are built directly (the parsers have their own tests); one end-to-end test goes through a
real requirements.txt to check rule, severity and line as a user sees them.
"""

from __future__ import annotations

import hashlib
import io
import re
from importlib.resources import files
from pathlib import Path

import pytest

from mlsec_dagster import scan_path
from mlsec_dagster.engine.artifact import Artifact
from mlsec_dagster.engine.findings import Finding, Severity
from mlsec_dagster.engine.policy import DependencyRules
from mlsec_dagster.scanners.dependencies import typosquat
from mlsec_dagster.scanners.dependencies.model import Dependency, DependencyKind, Manifest

DATA = files("mlsec_dagster.scanners.dependencies").joinpath("data")


def _artifact(name: str = "requirements.txt") -> Artifact:
    return Artifact(path=name, member=(), size=0, head=b"", open=lambda: io.BytesIO(b""))


def _judge(
    *names: str, rules: DependencyRules | None = None, kind: DependencyKind = "registry"
) -> list[Finding]:
    deps = [Dependency(n, line, "==1.0", pinned=True, kind=kind) for line, n in enumerate(names, 1)]
    return list(typosquat.check(Manifest("requirements", deps), _artifact(), rules or DependencyRules()))


def _one(name: str, rules: DependencyRules | None = None) -> Finding:
    findings = _judge(name, rules=rules)
    assert len(findings) == 1, [f.message for f in findings]
    return findings[0]


@pytest.mark.parametrize(
    ("name", "target", "technique"),
    [
        ("reqeusts", "requests", "swapped letters 'eu' for 'ue'"),
        ("pandsa", "pandas", "swapped letters"),
        ("numpyy", "numpy", "doubled letter 'y'"),
        ("urlib3", "urllib3", "missing doubled letter 'l'"),
        ("tensorfow", "tensorflow", "missing letter 'l'"),
        ("torchvison", "torchvision", "missing letter 'i'"),
        ("colourama", "colorama", "extra letter 'u'"),
        ("djanga", "django", "mistyped letter 'a' for 'o'"),
        ("diango", "django", "mistyped letter 'i' for 'j'"),
        ("nunpy", "numpy", "mistyped letter 'n' for 'm'"),
        ("request", "requests", "missing letter 's'"),
        ("crypt0graphy", "cryptography", "look-alike character '0' for 'o'"),
        ("setup-tools", "setuptools", "separators added or removed"),
        ("scikitlearn", "scikit-learn", "separators added or removed"),
        ("python3-dateutil", "python-dateutil", "affix game ('python3-' instead of 'python-')"),
        ("dateutil-python", "python-dateutil", "affix game"),
        ("py-requests", "requests", "affix game (adds 'py-')"),
        ("boto3-python", "boto3", "affix game (adds '-python')"),
        ("scipy-dev", "scipy", "affix game (adds '-dev')"),
        ("urllib", "urllib3", "affix game (drops '3')"),
    ],
)
def test_each_technique_is_reported_high_with_the_popular_name(
    name: str, target: str, technique: str
) -> None:
    finding = _one(name)
    assert finding.rule_id == "MLS-DEP-001"
    assert finding.severity is Severity.HIGH
    assert finding.location.line == 1
    assert finding.key == name
    rank = typosquat.popular_names().ranks[target]
    assert finding.evidence.startswith(f"{name} -> {target} (rank {rank}, ")
    assert technique in finding.evidence
    assert f"`{target}`" in finding.message and "allowlist" in finding.message


def test_capital_i_posing_as_l() -> None:
    finding = _one("jeIlyfish")
    assert finding.rule_id == "MLS-DEP-001"
    assert "jellyfish" in finding.evidence and "capital 'I' posing as 'l'" in finding.evidence
    assert finding.key == "jeilyfish"


@pytest.mark.parametrize(
    "name",
    [
        # popular packages close to each other: all in the list, so never reported
        "requests",
        "requests-oauthlib",
        "requests-toolbelt",
        "pytest-cov",
        "pytest-xdist",
        "scipy",
        "scapy",
        "boto3",
        "botocore",
        "torch",
        "torchvision",
        "torchaudio",
        "opencv-python",
        "opencv-python-headless",
        "tensorflow",
        "tensorboard",
        "jwt",
        "pyjwt",
        "attrs",
        "attr",
        "bs4",
        "six",
        "dask",
        # PEP 503 variants of popular names
        "Django",
        "scikit_learn",
        "Scikit-Learn",
        "ruamel.yaml",
        "zope.interface",
        "PyYAML",
        "python_dateutil",
        "Pillow",
        "typing_extensions",
    ],
)
def test_popular_names_and_their_pep503_variants_are_never_reported(name: str) -> None:
    assert _judge(name) == []


@pytest.mark.parametrize(
    "name",
    [
        "acme-data-tools",  # unrelated private-looking name
        "mlsec-dagster",  # this project
        "slack",  # first letter changed (black): too weak a signal
        "httpx2",  # a fork adds a digit
        "torchx",  # a new name built on a popular one
        "sns",  # too short to judge
        "types-boto3-sns",  # a product word inside a family name
    ],
)
def test_names_outside_the_list_that_are_not_squats_pass(name: str) -> None:
    assert _judge(name) == []


def test_allowlist_and_internal_prefixes_are_never_reported() -> None:
    rules = DependencyRules(allowlist=frozenset({"reqeusts", "sklearn"}), internal_prefixes=("numpyy",))
    assert _judge("Reqeusts", "sklearn", "numpyy-utils", "numpyy", rules=rules) == []
    assert [f.key for f in _judge("reqeusts", "numpyy")] == ["reqeusts", "numpyy"]


def test_hostile_long_names_are_judged_quickly() -> None:
    import time

    start = time.perf_counter()
    assert _judge("requests" * 20_000, "r\u0435" * 20_000) != []  # the homoglyph one is still reported
    assert time.perf_counter() - start < 1.0


def test_url_vcs_and_path_dependencies_are_left_to_the_confusion_judge() -> None:
    for kind in ("url", "vcs", "path"):
        assert _judge("reqeusts", kind=kind) == []


@pytest.mark.parametrize(
    ("name", "imitated"),
    [
        ("r\u0435quests", "requests"),  # Cyrillic e
        ("t\u03bfrch", "torch"),  # Greek omicron
        ("n\u057dmpy", "numpy"),  # Armenian seh
        ("\uff52equests", "requests"),  # full-width r (NFKC)
    ],
)
def test_homoglyph_names_name_the_package_they_imitate(name: str, imitated: str) -> None:
    finding = _one(name)
    assert finding.rule_id == "MLS-DEP-002"
    assert finding.severity is Severity.HIGH
    assert finding.key == imitated
    assert f"{imitated} (rank {typosquat.popular_names().ranks[imitated]}" in finding.evidence
    assert "ASCII" in finding.message


def test_homoglyph_plus_typo_and_mixed_scripts() -> None:
    finding = _one("r\u0435qeusts")  # Cyrillic e and a swap
    assert finding.rule_id == "MLS-DEP-002"
    assert "requests" in finding.evidence and "swapped letters" in finding.evidence
    assert "mixes scripts (Latin, Cyrillic)" in finding.message
    assert "retype the name in ASCII (`requests`)" in finding.message


@pytest.mark.parametrize(
    ("name", "replacement"),
    [
        ("sklearn", "scikit-learn"),
        ("tensorflow-gpu", "tensorflow"),
        ("beautifulsoup", "beautifulsoup4"),
        ("BeautifulSoup", "beautifulsoup4"),
        ("opencv", "opencv-python"),
        ("cv2", "opencv-python"),
        ("dateutil", "python-dateutil"),
        ("PIL", "pillow"),
        ("pytorch", "torch"),
        ("msgpack-python", "msgpack"),
        ("pep8", "pycodestyle"),
        ("enum34", "(standard library)"),
    ],
)
def test_renamed_and_deprecated_names_are_low_with_the_current_name(name: str, replacement: str) -> None:
    finding = _one(name)
    assert finding.rule_id == "MLS-DEP-003"
    assert finding.severity is Severity.LOW
    assert finding.evidence == f"{name} -> {replacement}"
    assert "allowlist" in finding.message


def test_renamed_table_only_names_real_projects_or_import_names() -> None:
    names = typosquat.popular_names()
    for old, (new, why) in typosquat.RENAMES.items():
        assert old == typosquat.normalise(old) and why
        assert not new or new in names, f"{old} -> {new}: replacement is not a popular package"


def test_index_is_fast_enough_for_a_500_entry_lock_file() -> None:
    import time

    ranked = list(typosquat.popular_names().ranks)
    names = ranked[:400] + [n + "x" for n in ranked[:100]]
    start = time.perf_counter()
    _judge(*names)
    assert time.perf_counter() - start < 0.5


def test_end_to_end_requirements_file_reports_the_line(tmp_path: Path) -> None:
    req = tmp_path / "requirements.txt"
    req.write_text("numpy==1.26.4\n# comment\nreqeusts==2.31.0\nsklearn==0.0.post12\nrequests==2.31.0\n")
    findings = [f for f in scan_path(req, root=tmp_path).findings if f.rule_id.startswith("MLS-DEP-00")]
    got = sorted((f.rule_id, f.severity, f.location.line, f.key) for f in findings)
    assert got == [
        ("MLS-DEP-001", Severity.HIGH, 3, "reqeusts"),
        ("MLS-DEP-003", Severity.LOW, 4, "sklearn"),
    ]


def test_vendored_list_matches_source_md_and_is_clean() -> None:
    raw = DATA.joinpath("top_pypi_packages.txt").read_bytes()
    source = DATA.joinpath("SOURCE.md").read_text(encoding="utf-8")
    recorded = re.search(r"Our file sha256: `([0-9a-f]{64})`", source)
    assert recorded is not None and recorded.group(1) == hashlib.sha256(raw).hexdigest()
    assert re.search(r"List timestamp: \d{4}-\d\d-\d\d", source)
    lines = raw.decode("ascii").splitlines()
    assert lines[0].startswith("# ")
    names = lines[1:]
    assert len(names) >= 5_000
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?", n) and "--" not in n for n in names)
    assert names[:3] == list(typosquat.popular_names().ranks)[:3]
