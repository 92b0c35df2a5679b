"""``Pipfile`` (TOML) and ``Pipfile.lock`` (JSON), as Pipenv reads them.

Sources: the first ``[[source]]`` is the primary index and every other one is searched alongside it
(extra), which is what makes an unpinned package confusable; a package's ``index = "name"`` pins it
to that source. ``verify_ssl = false`` is a trusted-host setting. Package tables are ``[packages]``,
``[dev-packages]`` and any other category table Pipenv >= 2022.10 accepts. In ``Pipfile.lock`` every
entry is pinned; ``source`` is the URL of the index the entry names (its name when ``_meta.sources``
does not list it).
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from mlsec_dagster.scanners.dependencies.manifests._entries import (
    constraint_pins,
    host_of,
    type_name,
    url_kind,
    vcs_from_table,
)
from mlsec_dagster.scanners.dependencies.manifests._toml_lines import LineMap, load
from mlsec_dagster.scanners.dependencies.model import (
    Dependency,
    IndexRole,
    IndexSetting,
    Manifest,
    ManifestParser,
    Problem,
    ReadInclude,
)

_NOT_PACKAGES = frozenset({"source", "requires", "pipenv", "scripts"})
"""Top-level Pipfile tables that are not package categories."""
_LOCK_META = "_meta"
_ANY = "*"

Path = tuple[str | int, ...]


def parse_pipfile(text: str, name: str, read_include: ReadInclude | None) -> Manifest:
    manifest = Manifest("Pipfile")
    loaded = load(text)
    if isinstance(loaded, Problem):
        manifest.problems.append(loaded)
        return manifest
    data, lines = loaded
    sources = data.get("source", [])
    for i, source in enumerate(sources if isinstance(sources, list) else [sources]):
        where = lines.line("source", i, "url")
        if not isinstance(source, dict) or not isinstance(source.get("url"), str):
            manifest.problems.append(Problem("[[source]] needs a url string", where, "unsupported"))
            continue
        _source(
            manifest, source, "primary" if i == 0 else "extra", where, lines.line("source", i, "verify_ssl")
        )
    for category, table in data.items():
        if category in _NOT_PACKAGES:
            continue
        if not isinstance(table, dict):
            manifest.problems.append(
                Problem(f"[{category}] must be a table of packages", lines.line(category), "unsupported")
            )
            continue
        for package, spec in table.items():
            _add(manifest, _pipfile_entry(package, spec, category, lines.line(category, package)))
    return manifest


def _add(manifest: Manifest, entry: Dependency | Problem) -> None:
    if isinstance(entry, Problem):
        manifest.problems.append(entry)
    else:
        manifest.dependencies.append(entry)


def _pipfile_entry(package: str, spec: Any, category: str, line: int | None) -> Dependency | Problem:
    if isinstance(spec, str):
        spec = {"version": spec}
    if not isinstance(spec, dict):
        return Problem(
            f"[{category}] {package}: expected a version string or a table, found {type_name(spec)}",
            line,
            "unsupported",
        )
    index = spec.get("index")
    common: dict[str, Any] = {"section": category, "source": index if isinstance(index, str) else None}
    elsewhere = _not_from_an_index(package, line, spec, common)
    if elsewhere is not None:
        return elsewhere
    version = spec.get("version", _ANY)
    if not isinstance(version, str) or not _valid_version(version):
        return Problem(
            f'[{category}] {package}: version {version!r} is not a version specifier (use "*" or "==1.2.3")',
            line,
            "unsupported",
        )
    specifier = "" if version.strip() == _ANY else version.strip()
    return Dependency(package, line, specifier=specifier, pinned=constraint_pins(specifier), **common)


def _valid_version(version: str) -> bool:
    if version.strip() == _ANY or constraint_pins(version):
        return True
    try:
        SpecifierSet(version)
    except InvalidSpecifier:
        return False
    return True


def _source(
    manifest: Manifest, source: dict[str, Any], role: IndexRole, line: int | None, ssl_line: int | None
) -> None:
    name = source.get("name")
    name = name if isinstance(name, str) else None
    url = str(source["url"])
    manifest.indexes.append(IndexSetting(url, role, line, name))
    if source.get("verify_ssl") is False:
        host = host_of(url)
        manifest.indexes.append(IndexSetting(host, "trusted-host", ssl_line or line, name))


def parse_lock(text: str, name: str, read_include: ReadInclude | None) -> Manifest:
    manifest = Manifest("Pipfile.lock", locked=True)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        manifest.problems.append(
            Problem(f"invalid JSON: {err.msg}; regenerate it with `pipenv lock`", err.lineno)
        )
        return manifest
    except RecursionError:
        manifest.problems.append(Problem("invalid JSON: values nested too deeply", None))
        return manifest
    if not isinstance(data, dict):
        manifest.problems.append(Problem(f"expected a JSON object, found {type_name(data)}", 1))
        return manifest
    lines = JsonLines(text)
    meta = data.get(_LOCK_META)
    sources = meta.get("sources", []) if isinstance(meta, dict) else []
    urls: dict[str, str] = {}
    for i, source in enumerate(sources if isinstance(sources, list) else []):
        where = lines.line(_LOCK_META, "sources", i, "url")
        if not isinstance(source, dict) or not isinstance(source.get("url"), str):
            manifest.problems.append(Problem("_meta.sources entry needs a url string", where, "unsupported"))
            continue
        _source(
            manifest, source, "primary" if i == 0 else "extra", where, lines.line(_LOCK_META, "sources", i)
        )
        if isinstance(source.get("name"), str):
            urls[source["name"]] = source["url"]
    for category, table in data.items():
        if category == _LOCK_META:
            continue
        if not isinstance(table, dict):
            manifest.problems.append(
                Problem(f"{category!r} must be an object of packages", lines.line(category), "unsupported")
            )
            continue
        for package, entry in table.items():
            _add(manifest, _lock_entry(package, entry, category, lines.line(category, package), urls))
    return manifest


def _lock_entry(
    package: str, entry: Any, category: str, line: int | None, urls: dict[str, str]
) -> Dependency | Problem:
    if not isinstance(entry, dict):
        return Problem(
            f"{category}.{package}: expected an object, found {type_name(entry)}", line, "unsupported"
        )
    hashes = entry.get("hashes", [])
    common: dict[str, Any] = {
        "section": category,
        "pinned": True,
        "hashes": tuple(h for h in hashes if isinstance(h, str)) if isinstance(hashes, list) else (),
    }
    elsewhere = _not_from_an_index(package, line, entry, common)
    if elsewhere is not None:
        return elsewhere
    version = entry.get("version")
    if not isinstance(version, str):
        return Problem(
            f"{category}.{package}: the entry has no version, file, path or VCS URL", line, "unsupported"
        )
    index = entry.get("index")
    source = urls.get(index, index) if isinstance(index, str) else None
    return Dependency(package, line, specifier=version, source=source, **common)


def _not_from_an_index(
    package: str, line: int | None, table: dict[str, Any], common: dict[str, Any]
) -> Dependency | None:
    """A VCS, ``file`` or ``path`` entry (Pipfile and Pipfile.lock spell them alike), else None."""
    vcs = vcs_from_table(table)
    if vcs:
        return Dependency(package, line, kind="vcs", url=vcs, **common)
    for key in ("file", "path"):
        target = table.get(key)
        if isinstance(target, str):
            return Dependency(
                package, line, kind=url_kind(target) if key == "file" else "path", url=target, **common
            )
    return None


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_JSON_GAP = re.compile(r"[ \t\r\n]*")
_JSON_SCALAR = re.compile(r"[^,\]}\s]+")


class JsonLines(LineMap):
    """Path -> 1-based line of every object key and array element of a JSON text ``json`` accepted.

    ``json`` keeps no positions; ``Pipfile.lock`` findings still need the line of the package key.
    """

    def __init__(self, text: str) -> None:
        self._starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self._lines: dict[Path, int] = {}
        self._walk(text)

    def _walk(self, text: str) -> None:
        # Each open container: [path, is_object, current key or index, expecting a key].
        stack: list[list[Any]] = []
        pos = 0
        while True:
            found = _JSON_GAP.match(text, pos)
            pos = found.end() if found else pos
            if pos >= len(text):
                return
            char = text[pos]
            top = stack[-1] if stack else None
            if char in ",:}]":
                if char == "," and top is not None:
                    if top[1]:
                        top[3] = True
                    else:
                        top[2] += 1
                elif char in "}]":
                    stack.pop()
                pos += 1
                continue
            token = _JSON_STRING.match(text, pos) if char == '"' else None
            if top is not None and top[1] and top[3] and token is not None:
                top[2], top[3] = json.loads(token.group()), False
                self._lines[(*top[0], top[2])] = bisect_right(self._starts, pos)
                pos = token.end()
                continue
            path: Path = (*top[0], top[2]) if top is not None else ()
            if top is not None and not top[1]:
                self._lines[path] = bisect_right(self._starts, pos)
            if char in "{[":
                stack.append([path, char == "{", 0, char == "{"])
                pos += 1
                continue
            scalar = token or _JSON_SCALAR.match(text, pos)
            pos = scalar.end() if scalar else pos + 1


PARSERS = (
    ManifestParser("Pipfile", lambda name: name == "Pipfile", parse_pipfile),
    ManifestParser("Pipfile.lock", lambda name: name == "Pipfile.lock", parse_lock),
)
