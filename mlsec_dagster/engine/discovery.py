"""Which files a scan looks at.

Everything under the targets is a candidate (formats are recognised by content later, never by
extension). Excluded: the default tool/VCS folders, ``.mlsecignore`` patterns and the policy's
``exclude`` list. Symlinks are never followed; one pointing outside the scan root is reported.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pathspec

from mlsec_dagster.engine.findings import Finding, Location, Severity
from mlsec_dagster.engine.rules import define

IGNORE_FILE = ".mlsecignore"
DEFAULT_EXCLUDES = (
    ".git/", ".hg/", ".svn/", ".venv/", "venv/", "node_modules/", "__pycache__/",
    ".mypy_cache/", ".ruff_cache/", ".pytest_cache/", ".tox/", ".nox/",
)  # fmt: skip

SYMLINK_ESCAPE = define(
    "MLS-SCN-004",
    "Symlink points outside the scan root",
    Severity.MEDIUM,
    "Symlinks are never followed. One that points outside the scanned tree makes whatever it points "
    "to reachable by loaders but invisible to the scan (and can be used to read files outside a "
    "checkout, e.g. in archives or CI caches).",
    "Replace the link with the real file inside the repository, or remove it.",
    family="scan",
)


@dataclass(frozen=True)
class DiscoveredFile:
    os_path: str
    rel_path: str


@dataclass
class Discovery:
    files: list[DiscoveredFile]
    findings: list[Finding]
    excluded: int


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def _load_ignore_spec(root: Path, extra: Sequence[str]) -> pathspec.GitIgnoreSpec:
    lines = list(DEFAULT_EXCLUDES) + list(extra)
    ignore_file = root / IGNORE_FILE
    if ignore_file.is_file():
        lines += ignore_file.read_text(encoding="utf-8", errors="replace").splitlines()
    return pathspec.GitIgnoreSpec.from_lines(lines)


def discover(root: Path, targets: Sequence[Path], exclude: Sequence[str] = ()) -> Discovery:
    root = root.resolve()
    spec = _load_ignore_spec(root, exclude)
    result = Discovery(files=[], findings=[], excluded=0)
    seen: set[str] = set()

    def visit_link(path: Path) -> None:
        target = Path(os.path.realpath(path))
        if target != root and root not in target.parents:
            rel = _rel(path, root)
            result.findings.append(
                SYMLINK_ESCAPE.finding(
                    rel,
                    f"{rel} is a symlink to {os.readlink(path)!r}, outside the scan root; "
                    "it was not followed.",
                    location=Location(),
                    evidence=f"-> {os.readlink(path)}",
                    key=os.readlink(path),
                )
            )
        else:
            result.excluded += 1  # its target is inside the tree and scanned on its own

    def add_file(path: Path) -> None:
        rel = _rel(path, root)
        if rel in seen:
            return
        seen.add(rel)
        result.files.append(DiscoveredFile(str(path), rel))

    for target in targets:
        target = Path(os.path.abspath(target))
        if target.is_symlink():
            visit_link(target)
            continue
        if target.is_file():
            add_file(target)  # named explicitly: scanned even if an ignore pattern matches
            continue
        if not target.is_dir():
            raise FileNotFoundError(f"no such file or directory: {target}")
        walk_spec = spec
        if target != root and spec.match_file(_rel(target, root) + "/"):
            # A folder named explicitly (e.g. a dataset a Dagster check points at) is scanned even
            # when an ignore pattern covers it, like a named file; tool/VCS folders inside stay out.
            walk_spec = pathspec.GitIgnoreSpec.from_lines(DEFAULT_EXCLUDES)
        for dirpath, dirnames, filenames in os.walk(target, followlinks=False):
            base = Path(dirpath)
            kept_dirs = []
            for name in sorted(dirnames):
                child = base / name
                if child.is_symlink():
                    visit_link(child)
                elif walk_spec.match_file(_rel(child, root) + "/"):
                    result.excluded += 1
                else:
                    kept_dirs.append(name)
            dirnames[:] = kept_dirs
            for name in sorted(filenames):
                child = base / name
                if child.is_symlink():
                    visit_link(child)
                elif walk_spec.match_file(_rel(child, root)):
                    result.excluded += 1
                elif child.is_file():
                    add_file(child)
    return result
