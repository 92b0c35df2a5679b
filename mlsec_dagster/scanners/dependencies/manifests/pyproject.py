"""``pyproject.toml``: PEP 621/735 requirements, build requirements, Poetry, PDM, uv and Hatch settings.

One file feeds several tools, and each tool reads its own tables, so every table that makes an
installer fetch something is read: ``[build-system] requires`` too, because build backends run code
at install time. Dependencies declared as ``dynamic`` live in ``setup.cfg``/``setup.py``/requirements
files, which are manifests of their own; here there is nothing to check for them.

Index roles follow what each tool does with a source (see ``model.IndexSetting.role``):

* Poetry ``[[tool.poetry.source]]``: ``priority`` primary/default -> primary, supplemental/secondary
  -> extra, explicit -> source. Without ``priority``, the pre-1.5 flags ``default = true`` (primary)
  and ``secondary = true`` (extra) are honoured; with neither, the source is primary, as Poetry >= 1.5
  documents ("if priority is undefined, the source is considered a primary source").
* PDM ``[[tool.pdm.source]]``: PDM merges every source with PyPI -> extra; ``type = "find_links"`` ->
  find-links; ``include_packages``/``exclude_packages`` restrict it -> source; a source named ``pypi``
  replaces PyPI -> primary; ``verify_ssl = false`` adds a trusted-host setting.
* uv ``[[tool.uv.index]]``: ``explicit = true`` -> source (wins over ``default``), ``default = true``
  -> primary, ``format = "flat"`` -> find-links, else extra. ``[tool.uv]``/``[tool.uv.pip]``
  ``index-url`` -> primary, ``extra-index-url`` -> extra, ``find-links``, ``allow-insecure-host`` ->
  trusted-host. ``[tool.uv.sources]`` rewrites the declared dependency of that name: ``index = "x"``
  sets its source (declaration line kept); git/url/path/workspace entries make it that kind, on the
  line of the source entry, where the URL is written.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from typing import Any

from packaging.utils import canonicalize_name

from mlsec_dagster.engine.policy import PYPI_INDEX
from mlsec_dagster.scanners.dependencies.manifests._entries import (
    constraint_pins,
    from_strings,
    host_of,
    type_name,
    url_kind,
    vcs_from_table,
)
from mlsec_dagster.scanners.dependencies.manifests._toml_lines import TomlLines, load
from mlsec_dagster.scanners.dependencies.model import (
    Dependency,
    IndexRole,
    IndexSetting,
    Manifest,
    ManifestParser,
    Problem,
    ReadInclude,
)

Key = tuple[str | int, ...]

_POETRY_PRIORITY: dict[str, IndexRole] = {
    "primary": "primary",
    "default": "primary",
    "supplemental": "extra",
    "secondary": "extra",
    "explicit": "source",
}
_POETRY_SKIP = frozenset({"python"})
"""Keys of a Poetry dependency table that are not packages."""
_STRING_LISTS: tuple[Key, ...] = (
    ("project", "dependencies"),
    ("build-system", "requires"),
    ("tool", "uv", "dev-dependencies"),
    ("tool", "uv", "override-dependencies"),
)
"""Lists of PEP 508 strings that installers fetch; the section is the dotted path."""
_GROUPED_LISTS: tuple[Key, ...] = (
    ("project", "optional-dependencies"),
    ("dependency-groups",),
    ("tool", "pdm", "dev-dependencies"),
)
"""Tables of named lists of PEP 508 strings (extras, PEP 735 groups, PDM dev groups)."""
_HATCH_LISTS = ("dependencies", "extra-dependencies")
_UV_SETTING_TABLES: tuple[Key, ...] = (("tool", "uv"), ("tool", "uv", "pip"))
_UV_LISTS: tuple[tuple[str, IndexRole], ...] = (
    ("extra-index-url", "extra"),
    ("find-links", "find-links"),
    ("allow-insecure-host", "trusted-host"),
)


class _Reader:
    """The parsed document, its lines, and the manifest being filled."""

    def __init__(self, data: dict[str, Any], lines: TomlLines) -> None:
        self.data = data
        self.lines = lines
        self.manifest = Manifest("pyproject")

    def get(self, path: Key) -> Any:
        value: Any = self.data
        for key in path:
            if not isinstance(value, dict) or key not in value:
                return None
            value = value[key]
        return value

    def problem(self, path: Key, message: str) -> None:
        self.manifest.problems.append(
            Problem(f"{_dotted(path)}: {message}", self.lines.line(*path), "unsupported")
        )

    def table(self, path: Key) -> dict[str, Any]:
        value = self.get(path)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem(path, f"expected a table, found {type_name(value)}")
            return {}
        return value

    def array(self, path: Key) -> list[Any]:
        value = self.get(path)
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem(path, f"expected a list, found {type_name(value)}")
            return []
        return value

    def add(self, entries: list[Dependency | Problem]) -> None:
        for entry in entries:
            if isinstance(entry, Problem):
                self.manifest.problems.append(entry)
            else:
                self.manifest.dependencies.append(entry)

    def strings(self, path: Key) -> None:
        values = self.array(path)
        lines = (self.lines.line(*path, i) for i in range(len(values)))
        self.add(from_strings(values, _dotted(path), lines))

    def index(self, url: Any, role: IndexRole, path: Key, name: str | None = None) -> None:
        if not isinstance(url, str) or not url:
            self.problem(path, f"index URL must be a string, found {type_name(url)}")
            return
        self.manifest.indexes.append(IndexSetting(url, role, self.lines.line(*path), name))


def parse(text: str, name: str, read_include: ReadInclude | None) -> Manifest:
    loaded = load(text)
    if isinstance(loaded, Problem):
        return Manifest("pyproject", problems=[loaded])
    reader = _Reader(*loaded)
    for path in _STRING_LISTS:
        reader.strings(path)
    for path in _GROUPED_LISTS:
        for group in reader.table(path):
            _group(reader, (*path, group))
    _hatch(reader)
    _poetry(reader)
    _pdm_sources(reader)
    _pdm_include_packages(reader)
    _uv_settings(reader)
    _uv_sources(reader)
    return reader.manifest


def _group(reader: _Reader, path: Key) -> None:
    """A PEP 735 group may include another (``{include-group = "test"}``); that group is read anyway."""
    values = reader.array(path)
    for i, value in enumerate(values):
        if isinstance(value, dict) and "include-group" in value:
            continue
        line = reader.lines.line(*path, i)
        reader.add(from_strings([value], _dotted(path), [line]))


def _hatch(reader: _Reader) -> None:
    envs = reader.table(("tool", "hatch", "envs"))
    for env in envs:
        for key in _HATCH_LISTS:
            reader.strings(("tool", "hatch", "envs", env, key))


def _poetry(reader: _Reader) -> None:
    project_names = {
        d.normalized for d in reader.manifest.dependencies if d.section == "project.dependencies"
    }
    main = ("tool", "poetry", "dependencies")
    _poetry_table(reader, main, project_names)
    _poetry_table(reader, ("tool", "poetry", "dev-dependencies"), set())
    for group in reader.table(("tool", "poetry", "group")):
        _poetry_table(reader, ("tool", "poetry", "group", group, "dependencies"), set())
    for i, source in enumerate(reader.array(("tool", "poetry", "source"))):
        _poetry_source(reader, ("tool", "poetry", "source", i), source)


def _poetry_table(reader: _Reader, path: Key, declared: set[str]) -> None:
    """A Poetry dependency table. Under Poetry 2, a name already in ``[project] dependencies`` is
    only enriched here (source, git...), so it rewrites that entry instead of adding a second one."""
    for name, spec in reader.table(path).items():
        if name.lower() in _POETRY_SKIP:
            continue
        specs = spec if isinstance(spec, list) else [spec]
        entries = [
            _poetry_entry(reader, (*path, name, i) if isinstance(spec, list) else (*path, name), name, one)
            for i, one in enumerate(specs)
        ]
        found = [e for e in entries if e is not None]
        if canonicalize_name(name, validate=False) in declared:
            changes = [c for c in map(_enrichment, found) if c]
            _apply(reader, name, changes, only_section="project.dependencies")
        else:
            reader.manifest.dependencies.extend(found)


def _poetry_entry(reader: _Reader, path: Key, name: str, spec: Any) -> Dependency | None:
    section = _dotted(path[:3] if path[2] != "group" else path[:5])
    line = reader.lines.line(*path)
    if isinstance(spec, str):
        return Dependency(name, line, specifier=spec, pinned=constraint_pins(spec), section=section)
    if not isinstance(spec, dict):
        reader.problem(path, f"expected a version string or a table, found {type_name(spec)}")
        return None
    version = spec.get("version", "")
    if not isinstance(version, str):
        reader.problem(path, f"version must be a string, found {type_name(version)}")
        return None
    source = spec.get("source")
    common: dict[str, Any] = {"section": section, "source": source if isinstance(source, str) else None}
    vcs = vcs_from_table(spec)
    if vcs:
        return Dependency(name, line, kind="vcs", url=vcs, **common)
    for key in ("url", "path", "file"):
        target = spec.get(key)
        if isinstance(target, str):
            kind = url_kind(target) if key == "url" else "path"
            return Dependency(name, line, kind=kind, url=target, **common)
    return Dependency(name, line, specifier=version, pinned=constraint_pins(version), **common)


def _poetry_source(reader: _Reader, path: Key, source: Any) -> None:
    if not isinstance(source, dict):
        reader.problem(path, f"a source must be a table, found {type_name(source)}")
        return
    name = source.get("name")
    priority = source.get("priority")
    if priority is None:
        role: IndexRole | None = (
            "primary" if source.get("default") is True else "extra" if source.get("secondary") else "primary"
        )
    else:
        role = _POETRY_PRIORITY.get(str(priority).lower())
    if role is None:
        reader.problem(
            (*path, "priority"),
            f"unknown priority {priority!r} (expected one of {', '.join(_POETRY_PRIORITY)}); "
            "read as supplemental, which merges the source with PyPI",
        )
        role = "extra"
    url = source.get("url")
    if url is None and isinstance(name, str) and name.lower() == "pypi":
        url = PYPI_INDEX
    reader.index(
        url,
        role,
        (*path, "url") if "url" in source else (*path, "name"),
        name if isinstance(name, str) else None,
    )


def _pdm_sources(reader: _Reader) -> None:
    for i, source in enumerate(reader.array(("tool", "pdm", "source"))):
        path: Key = ("tool", "pdm", "source", i)
        if not isinstance(source, dict):
            reader.problem(path, f"a source must be a table, found {type_name(source)}")
            continue
        name = source.get("name")
        role: IndexRole = "extra"
        if source.get("type") == "find_links":
            role = "find-links"
        elif source.get("include_packages") or source.get("exclude_packages"):
            role = "source"
        elif isinstance(name, str) and name.lower() == "pypi":
            role = "primary"
        url = source.get("url")
        reader.index(url, role, (*path, "url"), name if isinstance(name, str) else None)
        if source.get("verify_ssl") is False and isinstance(url, str):
            _trusted_host(reader, url, (*path, "verify_ssl"), name)


def _pdm_include_packages(reader: _Reader) -> None:
    """PDM resolves a package from a source whose ``include_packages`` globs match its name, and only
    from there: that is the per-package pinning the confusion judge looks for."""
    globs: list[tuple[str, str]] = []
    for source in reader.array(("tool", "pdm", "source")):
        if isinstance(source, dict) and isinstance(source.get("name"), str):
            patterns = source.get("include_packages") or []
            globs += [(p.lower(), source["name"]) for p in patterns if isinstance(p, str)]
    if not globs:
        return
    deps = reader.manifest.dependencies
    for index, dep in enumerate(deps):
        owner = next((name for pattern, name in globs if fnmatch.fnmatchcase(dep.normalized, pattern)), None)
        if owner is not None and dep.source is None and dep.kind == "registry":
            deps[index] = dataclasses.replace(dep, source=owner)


def _trusted_host(reader: _Reader, url: str, path: Key, name: Any) -> None:
    host = host_of(url)
    reader.manifest.indexes.append(
        IndexSetting(host, "trusted-host", reader.lines.line(*path), name if isinstance(name, str) else None)
    )


def _uv_settings(reader: _Reader) -> None:
    for i, index in enumerate(reader.array(("tool", "uv", "index"))):
        path: Key = ("tool", "uv", "index", i)
        if not isinstance(index, dict):
            reader.problem(path, f"an index must be a table, found {type_name(index)}")
            continue
        role: IndexRole = "extra"
        if index.get("explicit") is True:
            role = "source"
        elif index.get("default") is True:
            role = "primary"
        elif index.get("format") == "flat":
            role = "find-links"
        name = index.get("name")
        reader.index(index.get("url"), role, (*path, "url"), name if isinstance(name, str) else None)
    for table in _UV_SETTING_TABLES:
        if "index-url" in reader.table(table):
            reader.index(reader.get((*table, "index-url")), "primary", (*table, "index-url"))
        for key, role in _UV_LISTS:
            for i, url in enumerate(reader.array((*table, key))):
                reader.index(url, role, (*table, key, i))


def _uv_sources(reader: _Reader) -> None:
    base: Key = ("tool", "uv", "sources")
    for name, spec in reader.table(base).items():
        specs = spec if isinstance(spec, list) else [spec]
        changes: list[dict[str, Any]] = []
        for i, one in enumerate(specs):
            path = (*base, name, i) if isinstance(spec, list) else (*base, name)
            change = _uv_change(reader, path, one)
            if change is not None:
                changes.append(change)
        _apply(reader, name, changes)


def _uv_change(reader: _Reader, path: Key, spec: Any) -> dict[str, Any] | None:
    """What a ``[tool.uv.sources]`` entry changes in the dependency it names."""
    if not isinstance(spec, dict):
        reader.problem(path, f"a source must be a table, found {type_name(spec)}")
        return None
    where = {"line": reader.lines.line(*path), "section": _dotted(path[:3])}
    vcs = vcs_from_table(spec)
    if vcs:
        return {"kind": "vcs", "url": vcs, "specifier": "", "pinned": False, **where}
    if isinstance(spec.get("url"), str):
        return {"kind": url_kind(spec["url"]), "url": spec["url"], "specifier": "", "pinned": False, **where}
    if isinstance(spec.get("path"), str):
        return {"kind": "path", "url": spec["path"], "specifier": "", "pinned": False, **where}
    if spec.get("workspace") is True:
        return {"kind": "path", "url": None, "specifier": "", "pinned": False, **where}
    if isinstance(spec.get("index"), str):
        return {"source": spec["index"]}
    reader.problem(path, "source names no index, git, url, path or workspace; uv rejects it")
    return None


def _apply(
    reader: _Reader, name: str, changes: list[dict[str, Any]], only_section: str | None = None
) -> None:
    """Each declared dependency named ``name`` (in ``only_section`` if given) becomes one entry per
    change: uv allows several sources for one name, split by markers, and so does Poetry."""
    if not changes:
        return
    wanted = canonicalize_name(name, validate=False)
    out: list[Dependency] = []
    for dep in reader.manifest.dependencies:
        if dep.normalized == wanted and only_section in (None, dep.section):
            out.extend(dataclasses.replace(dep, **change) for change in changes)
        else:
            out.append(dep)
    reader.manifest.dependencies = out


def _enrichment(entry: Dependency) -> dict[str, Any]:
    """What a Poetry 2 ``[tool.poetry.dependencies]`` entry adds to the PEP 621 entry of that name."""
    change: dict[str, Any] = {"source": entry.source} if entry.source else {}
    if entry.kind != "registry":
        change.update(kind=entry.kind, url=entry.url, specifier="", pinned=False, line=entry.line)
    return change


def _dotted(path: Key) -> str:
    return ".".join(str(p) for p in path if not isinstance(p, int))


PARSER = ManifestParser("pyproject", lambda name: name == "pyproject.toml", parse)
