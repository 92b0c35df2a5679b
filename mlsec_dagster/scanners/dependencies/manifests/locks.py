"""Lock files: ``poetry.lock``, ``uv.lock`` and PEP 751 ``pylock.toml`` / ``pylock.<name>.toml``.

A lock says exactly what gets installed and from where, so every entry is pinned; what still matters
is where it comes from (``source``: the index URL the lock recorded, ``kind`` from its source type)
and whether hashes are recorded. An entry's line is the line of its ``name = "..."``.
``poetry.lock`` entries without a ``[package.source]`` come from PyPI, so their source is PyPI's URL:
an internal package resolved from there is exactly the dependency-confusion outcome to report.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from packaging.utils import canonicalize_name

from mlsec_dagster.engine.policy import PYPI_INDEX
from mlsec_dagster.scanners.dependencies.manifests._entries import type_name, url_kind
from mlsec_dagster.scanners.dependencies.manifests._toml_lines import TomlLines, load
from mlsec_dagster.scanners.dependencies.model import (
    Dependency,
    DependencyKind,
    Manifest,
    ManifestParser,
    Problem,
    ReadInclude,
)

_PYLOCK_NAME = re.compile(r"^pylock\.(?:[^/\\]+\.)?toml$")
_POETRY_KINDS: dict[str, DependencyKind] = {
    "legacy": "registry",
    "git": "vcs",
    "url": "url",
    "file": "path",
    "directory": "path",
}
_UV_LOCAL = ("path", "directory", "editable", "virtual")


class _Lock:
    """A parsed lock file and the manifest being filled from it."""

    def __init__(self, fmt: str, text: str, table: str | tuple[str, ...]) -> None:
        self.manifest = Manifest(fmt, locked=True)
        self.data: dict[str, Any] = {}
        self.lines: TomlLines | None = None
        self.table = ""
        loaded = load(text)
        if isinstance(loaded, Problem):
            self.manifest.problems.append(loaded)
            return
        self.data, self.lines = loaded
        names = (table,) if isinstance(table, str) else table
        self.table = next((t for t in names if t in self.data), names[0])

    def entries(self) -> Iterator[tuple[int | None, str, dict[str, Any]]]:
        """(line of ``name``, name, entry) for each well-formed entry; the others become Problems."""
        packages = self.data.get(self.table, [])
        if not isinstance(packages, list):
            self.problem(self.line(), f"[[{self.table}]] must be an array of tables")
            return
        for i, entry in enumerate(packages):
            line = self.line(i, "name")
            name = entry.get("name") if isinstance(entry, dict) else None
            if not isinstance(name, str) or not name:
                self.problem(
                    line, f"[[{self.table}]] entry {i + 1} has no name; nothing it installs was checked"
                )
                continue
            yield line, name, entry

    def line(self, *path: str | int) -> int | None:
        return self.lines.line(self.table, *path) if self.lines else None

    def problem(self, line: int | None, message: str) -> None:
        self.manifest.problems.append(Problem(message, line, "unsupported"))

    def add(self, name: str, line: int | None, **fields: Any) -> None:
        version = fields.pop("version", None)
        specifier = (
            f"=={version}"
            if isinstance(version, str) and fields.get("kind", "registry") == "registry"
            else ""
        )
        self.manifest.dependencies.append(
            Dependency(name, line, specifier=specifier, pinned=True, section=self.table, **fields)
        )


def parse_poetry(text: str, name: str, read_include: ReadInclude | None) -> Manifest:
    lock = _Lock("poetry.lock", text, "package")
    metadata = lock.data.get("metadata")
    old_files = metadata.get("files") if isinstance(metadata, dict) else None
    legacy_hashes = {
        canonicalize_name(k, validate=False): v
        for k, v in (old_files if isinstance(old_files, dict) else {}).items()
    }
    for line, package, entry in lock.entries():
        hashes = _file_hashes(entry.get("files")) or _file_hashes(
            legacy_hashes.get(canonicalize_name(package, validate=False))
        )
        source = entry.get("source")
        if source is None:
            lock.add(package, line, version=entry.get("version"), source=PYPI_INDEX, hashes=hashes)
            continue
        kind = _POETRY_KINDS.get(source.get("type", "")) if isinstance(source, dict) else None
        url = source.get("url") if isinstance(source, dict) else None
        if kind is None or not isinstance(url, str):
            lock.problem(
                line, f"{package}: unknown [package.source] {source!r}; where it installs from is not known"
            )
            continue
        if kind == "registry":
            lock.add(package, line, version=entry.get("version"), source=url, hashes=hashes)
        else:
            ref = source.get("resolved_reference") or source.get("reference")
            if kind == "vcs":
                url = f"git+{url}@{ref}" if ref else f"git+{url}"
            lock.add(package, line, kind=kind, url=url, hashes=hashes)
    return lock.manifest


def parse_uv(text: str, name: str, read_include: ReadInclude | None) -> Manifest:
    lock = _Lock("uv.lock", text, ("package", "distribution"))
    for line, package, entry in lock.entries():
        source = entry.get("source")
        hashes = _uv_hashes(entry)
        version = entry.get("version")
        if not isinstance(source, dict):
            lock.problem(line, f"{package}: source must be a table, found {type_name(source)}")
        elif isinstance(source.get("registry"), str):
            lock.add(package, line, version=version, source=source["registry"], hashes=hashes)
        elif isinstance(source.get("git"), str):
            lock.add(package, line, kind="vcs", url=_uv_git(source["git"]), hashes=hashes)
        elif isinstance(source.get("url"), str):
            lock.add(package, line, kind=url_kind(source["url"]), url=source["url"], hashes=hashes)
        elif local := next((source[k] for k in _UV_LOCAL if isinstance(source.get(k), str)), None):
            lock.add(package, line, kind="path", url=local, hashes=hashes)
        else:
            lock.problem(line, f"{package}: unknown source {source!r}; where it installs from is not known")
    return lock.manifest


def parse_pylock(text: str, name: str, read_include: ReadInclude | None) -> Manifest:
    lock = _Lock("pylock", text, "packages")
    for line, package, entry in lock.entries():
        hashes = _pylock_hashes(entry)
        vcs, archive, directory = (entry.get(k) for k in ("vcs", "archive", "directory"))
        if isinstance(vcs, dict):
            scheme, where = vcs.get("type", "git"), vcs.get("url") or vcs.get("path")
            commit = vcs.get("commit-id")
            lock.add(package, line, kind="vcs", url=f"{scheme}+{where}" + (f"@{commit}" if commit else ""))
        elif isinstance(archive, dict):
            target = archive.get("url") or archive.get("path")
            kind: DependencyKind = "url" if archive.get("url") else "path"
            lock.add(package, line, kind=kind, url=str(target), hashes=hashes)
        elif isinstance(directory, dict):
            lock.add(package, line, kind="path", url=str(directory.get("path")))
        else:
            index = entry.get("index")
            lock.add(
                package,
                line,
                version=entry.get("version"),
                source=index if isinstance(index, str) else None,
                hashes=hashes,
            )
    return lock.manifest


def _uv_git(locked: str) -> str:
    """uv writes ``URL?rev=main#<commit>``: the fragment is the commit actually locked."""
    base, _, commit = locked.partition("#")
    base = base.split("?", 1)[0]
    return f"git+{base}@{commit}" if commit else f"git+{base}"


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _file_hashes(files: Any) -> tuple[str, ...]:
    """Poetry's ``files = [{file = ..., hash = "sha256:..."}]``."""
    if not isinstance(files, list):
        return ()
    return tuple(f["hash"] for f in files if isinstance(f, dict) and isinstance(f.get("hash"), str))


def _uv_hashes(entry: dict[str, Any]) -> tuple[str, ...]:
    dists = [entry.get("sdist"), *_list(entry.get("wheels"))]
    return tuple(d["hash"] for d in dists if isinstance(d, dict) and isinstance(d.get("hash"), str))


def _pylock_hashes(entry: dict[str, Any]) -> tuple[str, ...]:
    """PEP 751 ``hashes = {sha256 = "..."}`` on the sdist, each wheel and an archive."""
    dists = [entry.get("sdist"), entry.get("archive"), *_list(entry.get("wheels"))]
    return tuple(
        f"{algorithm}:{value}"
        for d in dists
        if isinstance(d, dict) and isinstance(d.get("hashes"), dict)
        for algorithm, value in d["hashes"].items()
        if isinstance(value, str)
    )


PARSERS = (
    ManifestParser("poetry.lock", lambda name: name == "poetry.lock", parse_poetry),
    ManifestParser("uv.lock", lambda name: name == "uv.lock", parse_uv),
    ManifestParser("pylock", lambda name: bool(_PYLOCK_NAME.match(name)), parse_pylock),
)
