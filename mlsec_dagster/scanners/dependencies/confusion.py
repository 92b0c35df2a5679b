"""Where packages come from: extra indexes, untrusted hosts, internal names on the public index,
direct URL and VCS requirements, unpinned versions, missing hashes, and shell pipes in notebooks.

pip merges ``--extra-index-url`` with PyPI and installs the highest version found on any of them, so
anyone who publishes an organisation's internal package name on PyPI with a higher version number
wins (dependency confusion). The safe shapes are one index that proxies PyPI, or internal names
pinned to an explicit private source (uv ``explicit = true`` + ``[tool.uv.sources]``, Poetry
``priority = "explicit"`` + ``source =``, Pipfile ``index =``). The policy names the internal prefixes
and the indexes the team trusts (``dependency_rules``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

from mlsec_dagster.engine.artifact import Artifact
from mlsec_dagster.engine.findings import Finding, Severity
from mlsec_dagster.engine.policy import DependencyRules
from mlsec_dagster.engine.rules import define
from mlsec_dagster.scanners.datasets.detectors.links import DOWNLOAD_CRADLE_PATTERN, SHELL_PIPE_PATTERN
from mlsec_dagster.scanners.dependencies.model import Dependency, IndexSetting, Manifest

_FAMILY = "dependencies"
_CONFUSION_FIX = (
    "Install from one index that proxies PyPI (`--index-url`), or pin internal packages to an explicit "
    'private source (uv: `explicit = true` index + `[tool.uv.sources]`; Poetry: `priority = "explicit"` + '
    "`source = ...`; Pipfile: `index = ...`), and list that index in `dependency_rules.allowed_indexes`."
)

EXTRA_INDEX = define(
    "MLS-DEP-010",
    "Extra package index merged with PyPI (dependency confusion)",
    Severity.HIGH,
    "The manifest adds an index next to PyPI (`--extra-index-url`, a Poetry supplemental/secondary source, "
    "a PDM source, a second Pipfile source, a non-explicit uv index). Installers then pick a package from "
    "whichever index offers it (pip and PDM: the highest version anywhere), so a public package with an "
    "internal name takes over. Not reported when the index is allowed by the policy and every internal "
    "name (`internal_prefixes`) in the file is pinned to an explicit source.",
    _CONFUSION_FIX,
    family=_FAMILY,
)
PLAIN_HTTP = define(
    "MLS-DEP-011",
    "Packages fetched over plain HTTP",
    Severity.HIGH,
    "An index, find-links location or direct requirement URL uses `http://`: anyone on the network path "
    "can replace the packages (and their hashes, when they come from the same place).",
    "Use the `https://` URL of the index, or a local folder for offline installs.",
    family=_FAMILY,
)
TRUSTED_HOST = define(
    "MLS-DEP-012",
    "TLS verification turned off for a package host",
    Severity.MEDIUM,
    "`--trusted-host` (or an index marked `verify_ssl = false`) tells pip to accept any certificate, or "
    "none, from that host: a man-in-the-middle can serve any package.",
    "Remove `--trusted-host`; install the host's CA certificate (`--cert`, `PIP_CERT`) instead.",
    family=_FAMILY,
)
UNAPPROVED_INDEX = define(
    "MLS-DEP-013",
    "Package index not allowed by the policy",
    Severity.MEDIUM,
    "The manifest installs from an index (or find-links location) that is neither PyPI nor listed in "
    "`dependency_rules.allowed_indexes`: the team has not decided to trust whoever runs it.",
    "Use an approved index, or add this one to `dependency_rules.allowed_indexes` after review.",
    family=_FAMILY,
)
INTERNAL_PUBLIC = define(
    "MLS-DEP-014",
    "Internal package name resolved from the public index",
    Severity.HIGH,
    "A dependency whose name starts with one of the policy's `internal_prefixes` is not pinned to a "
    "private source, so an installer can take it from PyPI, or a lock file records that it already came "
    "from PyPI: the dependency-confusion attack itself. Anyone can register that name on PyPI.",
    _CONFUSION_FIX + " Also register the name on PyPI as a placeholder you own.",
    family=_FAMILY,
)
DIRECT_URL = define(
    "MLS-DEP-015",
    "Dependency installed from a direct URL",
    Severity.MEDIUM,
    "A requirement points at an archive URL instead of an index (`name @ https://...`, a bare URL, a "
    "lock entry with a URL source): no index policy applies, and without a hash the content at that URL "
    "can change under the same name. LOW when a hash pins the content.",
    "Publish the package to your private index, or keep the URL and pin its `--hash=sha256:...`.",
    family=_FAMILY,
)
VCS = define(
    "MLS-DEP-016",
    "Dependency installed from a VCS repository",
    Severity.MEDIUM,
    "A `git+`/`hg+`/`svn+`/`bzr+` requirement (or a lock entry with a VCS source) bypasses the index and "
    "its policy. MEDIUM when it names a branch, a tag or nothing: whoever can push to that repository "
    "(or move the tag) changes what you install. LOW when a full commit id pins it.",
    "Pin the full commit id (`git+https://...@<40-hex sha>`), or better, publish a release to your index.",
    family=_FAMILY,
)
UNPINNED = define(
    "MLS-DEP-017",
    "Requirement without an exact version",
    Severity.LOW,
    "An application manifest (requirements file, conda pip section, notebook install, Pipfile) lets the "
    "installer pick any version: a malicious release is installed on the next run without any change to "
    "the repository. Library metadata (pyproject, setup.cfg, setup.py) is not reported: ranges are "
    "correct there, and the lock file is where pins belong. Severity: `dependency_rules.unpinned_severity`.",
    "Pin exact versions (`==`) in a lock or compiled requirements file (pip-compile, uv pip compile, "
    "poetry lock).",
    family=_FAMILY,
)
MISSING_HASHES = define(
    "MLS-DEP-018",
    "Pinned requirement without a hash",
    Severity.LOW,
    "The version is pinned but no `--hash` (or lock-file hash) fixes the archive's content, so a "
    "compromised or confused index can serve different bytes under the same version. Reported at "
    "`dependency_rules.missing_hashes_severity` (off by default), and at least LOW for an unhashed entry in "
    "a file whose other entries carry hashes (an addition that skipped the hash-generating tool).",
    "Generate hashes (`pip-compile --generate-hashes`, `uv pip compile --generate-hashes`) and install with "
    "`--require-hashes`.",
    family=_FAMILY,
)
SHELL_PIPE = define(
    "MLS-DEP-019",
    "Download piped into a shell in a notebook or manifest",
    Severity.HIGH,
    "A notebook cell runs a downloaded script directly (`!curl ... | sh`, `!wget -qO- ... | python`, "
    '`bash <(curl ...)`, `python -c "$(curl ...)"`, a PowerShell download cradle): whatever the server '
    "returns runs with the user's rights, unreviewed and unpinned, on every run of the notebook.",
    "Download the script once, review it, commit or pin it by hash, and run the reviewed copy; or install "
    "the tool from a package index.",
    family=_FAMILY,
)

_APPLICATION_FORMATS = frozenset({"requirements", "conda", "notebook", "Pipfile"})
"""Formats that say what gets installed (unpinned is a finding there); library metadata only bounds."""
_HASHED_FORMATS = _APPLICATION_FORMATS | {"poetry.lock", "uv.lock", "Pipfile.lock", "pylock"}
_PUBLIC_HOSTS = ("pypi.org", "pythonhosted.org", "pypi.python.org")
_COMMIT = re.compile(r"@([0-9a-f]{40}|[0-9a-f]{64})(?:[#&]|$)", re.IGNORECASE)
_SHELL_RE = re.compile(SHELL_PIPE_PATTERN)
_SUBSTITUTED_RE = re.compile(
    r"(?i)\b(?:(?:ba|z|da|k)?sh|python[0-9.]*|perl|ruby|node|php)\b[^|\n;&]{0,60}?"
    r"(?:\$\(|`)[ \t]*(?:curl|wget)\b"
)
"""``python -c "$(curl ...)"``: a downloaded script handed to an interpreter as an argument."""
_CRADLE_RE = re.compile(DOWNLOAD_CRADLE_PATTERN)


def check(manifest: Manifest, artifact: Artifact, rules: DependencyRules) -> Iterator[Finding]:
    yield from _indexes(manifest, artifact, rules)
    yield from _plain_http_sources(manifest, artifact)
    for dep in manifest.dependencies:
        yield from _internal(dep, manifest, artifact, rules)
        yield from _url_or_vcs(dep, artifact)
        yield from _pinning(dep, manifest, artifact, rules)
    yield from _shell(manifest, artifact)


# -- indexes ---------------------------------------------------------------------------------------


def _indexes(manifest: Manifest, artifact: Artifact, rules: DependencyRules) -> Iterator[Finding]:
    for index in manifest.indexes:
        where = artifact.location(line=index.line)
        shown = _shown(index)
        if index.role == "trusted-host":
            yield TRUSTED_HOST.finding(
                artifact.path,
                f"{artifact.display} turns off TLS checks for {shown}: any server on the network path can "
                "answer for it. Remove the trusted-host setting and configure the CA certificate instead.",
                location=where,
                evidence=shown,
                key=f"trusted\x1f{index.url}",
            )
            continue
        if _is_plain_http(index.url):
            yield PLAIN_HTTP.finding(
                artifact.path,
                f"{artifact.display} fetches packages from {shown} over plain HTTP; switch it to https://.",
                location=where,
                evidence=shown,
                key=f"http\x1f{index.url}",
            )
        allowed = rules.index_allowed(index.url)
        if index.role == "extra" and not (allowed and _internal_names_pinned(manifest, rules)):
            why = (
                "it is not in `dependency_rules.allowed_indexes`"
                if not allowed
                else "internal names in this file are not all pinned to an explicit source"
            )
            yield EXTRA_INDEX.finding(
                artifact.path,
                f"{artifact.display} adds {shown} next to PyPI, and {why}: a package published on PyPI "
                f"under one of your names can be installed instead of yours. {_CONFUSION_FIX}",
                location=where,
                evidence=shown,
                key=f"extra\x1f{index.url}",
            )
        elif not allowed and index.role in ("primary", "source", "find-links"):
            yield UNAPPROVED_INDEX.finding(
                artifact.path,
                f"{artifact.display} installs from {shown}, which `dependency_rules.allowed_indexes` "
                "does not list. Use an approved index or add this one to the policy after review.",
                location=where,
                evidence=shown,
                key=f"index\x1f{index.url}",
            )


def _plain_http_sources(manifest: Manifest, artifact: Artifact) -> Iterator[Finding]:
    """Lock entries record the index each package came from: an ``http://`` one was fetched in clear
    text. Reported once per index, at its first entry."""
    declared = {i.url for i in manifest.indexes}
    seen: set[str] = set()
    for dep in manifest.dependencies:
        url = dep.source or ""
        if not _is_plain_http(url) or url in seen or url in declared:
            continue
        seen.add(url)
        count = sum(1 for d in manifest.dependencies if d.source == url)
        yield PLAIN_HTTP.finding(
            artifact.path,
            f"{count} package(s) in {artifact.display}, first {dep.name!r}, were resolved from "
            f"{_redact(url)} over plain HTTP; anyone on the network path could have replaced them. "
            "Switch the index to https:// and re-lock.",
            location=artifact.location(line=dep.line),
            evidence=_evidence(dep),
            key=f"http\x1f{url}",
        )


def _shown(index: IndexSetting) -> str:
    name = f" (source {index.name!r})" if index.name else ""
    return f"{index.role} {_redact(index.url)}{name}"


def _redact(url: str) -> str:
    """Index URLs often carry credentials (``https://user:token@host``); never print them."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return parts._replace(netloc=f"***@{host}").geturl()


def _is_plain_http(url: str) -> bool:
    return url.lower().startswith("http://")


def _internal_names_pinned(manifest: Manifest, rules: DependencyRules) -> bool:
    return all(d.source for d in manifest.dependencies if rules.is_internal(d.normalized))


# -- internal names --------------------------------------------------------------------------------


def _internal(
    dep: Dependency, manifest: Manifest, artifact: Artifact, rules: DependencyRules
) -> Iterator[Finding]:
    if dep.kind != "registry" or not rules.is_internal(dep.normalized):
        return
    public = _public_source(dep, manifest, rules)
    if public is None:
        return
    yield INTERNAL_PUBLIC.finding(
        artifact.path,
        f"{dep.name!r} in {artifact.display} looks internal (prefix "
        f"{_prefix(dep.normalized, rules)!r}) but {public}. {_CONFUSION_FIX}",
        location=artifact.location(line=dep.line),
        evidence=_evidence(dep),
        key=f"internal\x1f{dep.normalized}",
    )


def _public_source(dep: Dependency, manifest: Manifest, rules: DependencyRules) -> str | None:
    """Why this internal name can come from PyPI, or None when it cannot."""
    if dep.source is not None:
        url = (
            dep.source
            if "://" in dep.source
            else next((i.url for i in manifest.indexes if i.name == dep.source), "")
        )
        if _is_public(url):
            return f"it is pinned to, or was resolved from, the public index ({_redact(url)})"
        return None  # pinned to a private source (its URL is judged with the indexes)
    if manifest.locked:
        return None  # a lock entry without a recorded source: nothing says where it came from
    extras = [i for i in manifest.indexes if i.role == "extra"]
    if extras:
        return "the file merges extra indexes with PyPI and does not pin it to one"
    if any(i.role == "primary" and not _is_public(i.url) for i in manifest.indexes):
        return None  # the only index consulted is a private one
    return "nothing pins it to a private index, so it is resolved from PyPI"


def _is_public(url: str) -> bool:
    return any(host in url.lower() for host in _PUBLIC_HOSTS)


def _prefix(name: str, rules: DependencyRules) -> str:
    return next(p for p in rules.internal_prefixes if name.startswith(p))


# -- URL and VCS requirements ------------------------------------------------------------------------


def _url_or_vcs(dep: Dependency, artifact: Artifact) -> Iterator[Finding]:
    if dep.kind not in ("url", "vcs") or not dep.url:
        return
    where = artifact.location(line=dep.line)
    shown = _redact(dep.url)
    if _is_plain_http(dep.url.removeprefix("git+").removeprefix("hg+")):
        yield PLAIN_HTTP.finding(
            artifact.path,
            f"{dep.name!r} in {artifact.display} is downloaded over plain HTTP ({shown}); use https://.",
            location=where,
            evidence=_evidence(dep),
            key=f"http\x1f{dep.normalized}",
        )
    if dep.kind == "vcs":
        pinned = _COMMIT.search(dep.url) is not None
        yield VCS.finding(
            artifact.path,
            f"{dep.name!r} in {artifact.display} is installed from {shown}"
            + (
                ", pinned to a commit but outside the index and its policy. Publish a release to your index."
                if pinned
                else " without a commit id: a push or a moved tag changes what you get. Pin the commit hash."
            ),
            location=where,
            evidence=_evidence(dep),
            key=f"vcs\x1f{dep.normalized}",
            severity=Severity.LOW if pinned else None,
        )
        return
    hashed = bool(dep.hashes) or "#sha256=" in dep.url.lower()
    yield DIRECT_URL.finding(
        artifact.path,
        f"{dep.name!r} in {artifact.display} is installed from the URL {shown}"
        + (
            ", pinned by hash."
            if hashed
            else " with no hash: what that URL serves can change. Pin `--hash=sha256:...` or use an index."
        ),
        location=where,
        evidence=_evidence(dep),
        key=f"url\x1f{dep.normalized}",
        severity=Severity.LOW if hashed else None,
    )


# -- pinning ---------------------------------------------------------------------------------------


def _pinning(
    dep: Dependency, manifest: Manifest, artifact: Artifact, rules: DependencyRules
) -> Iterator[Finding]:
    if dep.kind != "registry":
        return
    where = artifact.location(line=dep.line)
    pinned = dep.pinned or manifest.locked
    if not pinned and rules.unpinned_severity is not None and manifest.format in _APPLICATION_FORMATS:
        yield UNPINNED.finding(
            artifact.path,
            f"{dep.name!r} in {artifact.display} has no exact version ({dep.specifier or 'any version'}): "
            "the next install may pick a new, possibly malicious, release. Pin it with `==` in a lock file.",
            location=where,
            evidence=_evidence(dep),
            key=f"unpinned\x1f{dep.normalized}",
            severity=rules.unpinned_severity,
        )
    severity = _missing_hash_severity(manifest, rules)
    if pinned and not dep.hashes and severity is not None and manifest.format in _HASHED_FORMATS:
        yield MISSING_HASHES.finding(
            artifact.path,
            f"{dep.name!r} in {artifact.display} is pinned but has no hash: the index can serve different "
            "bytes for the same version. Generate hashes and install with --require-hashes.",
            location=where,
            evidence=_evidence(dep),
            key=f"hashes\x1f{dep.normalized}",
            severity=severity,
        )


def _missing_hash_severity(manifest: Manifest, rules: DependencyRules) -> Severity | None:
    """The policy's severity; and at least LOW in a file that hashes some entries but not all (pip
    switches to hash-checking mode for the whole file: an unhashed line is an addition to look at)."""
    hashed = any(d.hashes for d in manifest.dependencies if d.kind == "registry")
    if not hashed:
        return rules.missing_hashes_severity
    return max(rules.missing_hashes_severity or Severity.LOW, Severity.LOW)


def _evidence(dep: Dependency) -> str:
    text = dep.name + dep.specifier
    if dep.url:
        text += f" @ {_redact(dep.url)}"
    if dep.source:
        text += f" (source {_redact(dep.source)})"
    return f"{text} [{dep.section}]" if dep.section else text


# -- shell commands --------------------------------------------------------------------------------


def _shell(manifest: Manifest, artifact: Artifact) -> Iterator[Finding]:
    for command in manifest.commands:
        text = command.text
        found = _SHELL_RE.search(text) or _CRADLE_RE.search(text) or _SUBSTITUTED_RE.search(text)
        if found is None:
            continue
        where = f" ({command.section})" if command.section else ""
        yield SHELL_PIPE.finding(
            artifact.path,
            f"{artifact.display}{where} runs a downloaded script directly: `{command.text.strip()[:200]}`. "
            "Download it once, review it, pin it, and run the reviewed copy.",
            location=artifact.location(line=command.line),
            evidence=command.text.strip()[:500],
            key=f"shell\x1f{command.text.strip()[:120]}",
        )
