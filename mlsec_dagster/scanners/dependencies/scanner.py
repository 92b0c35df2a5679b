"""Dependency manifests -> findings: choose the parser by file name, parse, run every judge.

Manifests are recognised by name because that is how pip, Poetry, uv and conda find them; what is
inside is then validated, and a file that cannot be read is a finding (fail closed), never a pass.
Findings point at the manifest line (SARIF region), so code scanning annotates the exact requirement.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterator

from mlsec_dagster.engine.artifact import Artifact
from mlsec_dagster.engine.context import ScanContext, Scanner
from mlsec_dagster.engine.findings import Finding, Severity
from mlsec_dagster.engine.policy import DependencyRules
from mlsec_dagster.engine.rules import define
from mlsec_dagster.scanners.dependencies import advisories, confusion, typosquat
from mlsec_dagster.scanners.dependencies.manifests import parser_for
from mlsec_dagster.scanners.dependencies.model import Manifest, Problem, ReadInclude

MAX_MANIFEST_BYTES = 16 * 1024 * 1024
"""A 10,000-package lock file is ~5 MB; a "manifest" larger than this is not read."""

_FAMILY = "dependencies"

UNREADABLE = define(
    "MLS-DEP-030",
    "Dependency manifest could not be read",
    Severity.HIGH,
    "A file named like a dependency manifest (requirements.txt, pyproject.toml, a lock file, a notebook) "
    "is not valid for its format: binary content, invalid TOML/JSON/YAML, or a line no installer would "
    "accept. Nothing in the unreadable part was checked, so the gate fails closed.",
    "Fix the file so that its installer accepts it (pip, Poetry, uv, conda all reject it too), or exclude "
    "it in the policy if it is not a manifest.",
    family=_FAMILY,
)
BAD_LINE = define(
    "MLS-DEP-031",
    "Manifest entry could not be parsed",
    Severity.MEDIUM,
    "One entry of a manifest is not a valid requirement (PEP 508) or option; the rest of the file was "
    "checked. Installers stop on such a line, or worse, some read it differently.",
    "Correct the entry; the message shows what was expected.",
    family=_FAMILY,
)
INCLUDE = define(
    "MLS-DEP-032",
    "Manifest include missing, looping or outside the repository",
    Severity.MEDIUM,
    "A `-r`/`-c` include names a file that does not exist, includes itself in a loop, or points outside "
    "the repository (what it pins cannot be reviewed with the code).",
    "Point the include at a file inside the repository, or remove it.",
    family=_FAMILY,
)

_PROBLEM_RULES = {
    "unreadable": UNREADABLE,
    "unsupported": BAD_LINE,
    "include-missing": INCLUDE,
    "include-loop": INCLUDE,
    "include-outside": INCLUDE,
}

Judge = Callable[[Manifest, Artifact, DependencyRules], Iterator[Finding]]


def sniff(artifact: Artifact) -> bool:
    return parser_for(artifact.name) is not None


def scan(artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
    rules = ctx.policy.dependency_rules
    if not rules.enabled:
        return
    parser = parser_for(artifact.name)
    assert parser is not None
    if artifact.size > MAX_MANIFEST_BYTES:
        yield ctx.limit_finding(
            artifact,
            "max_manifest_bytes",
            f"{artifact.display} is {artifact.size:,} bytes, more than any real {parser.format} file "
            f"({MAX_MANIFEST_BYTES:,}); it was not read",
            artifact.location(),
        )
        return
    with artifact.open() as fh:
        raw = fh.read(MAX_MANIFEST_BYTES + 1)
    text = _decode(raw)
    if text is None:
        yield UNREADABLE.finding(
            artifact.path,
            f"{artifact.display} is named like a {parser.format} manifest but is not UTF-8 text; its "
            "dependencies could not be checked.",
            location=artifact.location(offset=0),
            evidence="first bytes: " + raw[:32].hex(" "),
            key="encoding",
        )
        return
    manifest = parser.parse(text, artifact.name, _include_reader(artifact))
    yield from _problems(manifest.problems, artifact)
    for where, own in _by_file(manifest, artifact):
        for judge in JUDGES:
            yield from judge(own, where, rules)


def _by_file(manifest: Manifest, artifact: Artifact) -> Iterator[tuple[Artifact, Manifest]]:
    """The manifest's own entries, then those of each included file no parser reads on its own.

    ``-r base.txt`` pulls in a file whose name (``base.txt``) is not a manifest name, so its entries
    are judged here, reported on that file and its lines; an included file that is a manifest
    (``requirements-dev.txt``) is scanned by itself and not judged twice.
    """
    files = dict.fromkeys(["", *(d.file for d in manifest.dependencies), *(i.file for i in manifest.indexes)])
    for file in files:
        if file and parser_for(posixpath.basename(file)) is not None:
            continue
        where = artifact if not file else _included(artifact, file)
        yield (
            where,
            Manifest(
                manifest.format,
                [d for d in manifest.dependencies if d.file == file],
                [i for i in manifest.indexes if i.file == file],
                manifest.commands if not file else [],
                [],
                manifest.locked,
            ),
        )


def _included(artifact: Artifact, file: str) -> Artifact:
    path = posixpath.normpath(posixpath.join(posixpath.dirname(artifact.path), file))
    os_path = None
    if artifact.os_path is not None:
        os_path = posixpath.normpath(posixpath.join(posixpath.dirname(artifact.os_path), file))
    return Artifact(path=path, member=(), size=0, head=b"", open=artifact.open, os_path=os_path)


def _decode(raw: bytes) -> str | None:
    if b"\x00" in raw[:8192]:
        return None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


def _include_reader(artifact: Artifact) -> ReadInclude | None:
    """Includes are followed only for files on disk, and only inside the scanned repository (what a
    manifest pulls in from elsewhere cannot be reviewed with the code)."""
    if artifact.os_path is None or artifact.member:
        return None
    os_path = posixpath.normpath(artifact.os_path)
    root = (
        os_path[: -len(artifact.path)]
        if os_path.endswith("/" + artifact.path)
        else posixpath.dirname(os_path)
    )
    root = posixpath.normpath(root or "/")
    folder = posixpath.dirname(os_path)

    def read(relative: str) -> str | None:
        target = posixpath.normpath(posixpath.join(folder, relative))
        if posixpath.commonpath([root, target]) != root:
            return None
        try:
            with open(target, "rb") as fh:
                data = fh.read(MAX_MANIFEST_BYTES)
        except OSError:
            return None
        return data.decode("utf-8-sig", "replace")

    return read


def _problems(problems: list[Problem], artifact: Artifact) -> Iterator[Finding]:
    for problem in problems:
        rule = _PROBLEM_RULES[problem.kind]
        where = f" (in {problem.file})" if problem.file else ""
        yield rule.finding(
            artifact.path,
            f"{artifact.display}{where}: {problem.message}",
            location=artifact.location(line=problem.line),
            evidence=problem.message[:500],
            key=f"{problem.kind}\x1f{problem.file}\x1f{problem.message[:120]}",
        )


JUDGES: tuple[Judge, ...] = (typosquat.check, confusion.check, advisories.check)
"""Each reads the manifest's own entries and knows one attack; order is the report order."""


SCANNER = Scanner("dependencies", sniff, scan)
