"""pip requirements files, read the way pip reads them (pip/_internal/req/req_file.py, pip 26).

Which files: a base name whose extension is ``.txt``, ``.in`` or ``.lock`` (Rye writes requirements
files as ``requirements.lock``) and whose stem holds ``requirements``/``requirement`` or
``constraints``/``constraint`` as a whole word, words being separated by ``-``, ``_`` or ``.``:
``requirements.txt``, ``requirements-dev.txt``, ``requirements_test.in``, ``dev-requirements.txt``,
``requirements.gpu.txt``, ``constraints.txt``, ``pip-constraints.in``; not ``myrequirements.txt``.
Case is ignored. Files included with ``-r``/``-c`` are read whatever their name.

Lines: a backslash at the end joins the next line (the requirement keeps the line it starts on;
``--hash`` options usually sit on continuation lines); ``#`` at the start or after whitespace starts a
comment; the requirement comes first and options follow it. Anything pip would reject is a Problem
with its line (fail closed), never skipped.

Includes: ``-r``/``-c`` paths are resolved against the including file's folder and read through
``read_include`` (which knows the repository), nested at most ``MAX_INCLUDE_DEPTH`` deep, a file on
the include chain included again is a loop. Included entries carry ``file=<path relative to the
manifest's folder>`` and their own line; a Problem inside one is placed on the manifest's ``-r``
line that leads to it (the finding's region must be in the manifest). What cannot be reviewed with
the code is ``include-outside`` and is not read: remote files (``-r https://...``, which pip
downloads), absolute and ``~`` paths, and paths built from environment variables. Relative paths
climbing out of the folder (``../base.txt``) are followed: the parser cannot know where the
repository ends, so that boundary is the include reader's to enforce. Unicode line breaks that pip
honours but editors show inline (U+2028...) split lines like pip, and are reported.

Constraints: entries of a ``-c`` file (and of a manifest named ``constraints*``) have
``section="constraint"``. pip applies constraints to every requirement, so a registry requirement
without an exact version that a constraint pins exactly (without a marker) counts as pinned; its
specifier gets the constraint's pin appended (``>=2`` -> ``>=2,==2.31.0``) so version checks see it.

Names of URL, VCS and path requirements without a PEP 508 name come from ``#egg=``, the wheel or
sdist file name, the repository or folder name: best effort, as pip itself only learns the name by
building the project.
"""

from __future__ import annotations

import dataclasses
import posixpath
import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

from packaging.markers import InvalidMarker, Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet

from mlsec_dagster.scanners.dependencies.manifests._entries import non_ascii_name
from mlsec_dagster.scanners.dependencies.model import (
    Dependency,
    DependencyKind,
    IndexRole,
    IndexSetting,
    Manifest,
    ManifestParser,
    Problem,
    ReadInclude,
)

ProblemKind = Literal["unreadable", "include-missing", "include-loop", "include-outside", "unsupported"]

MAX_INCLUDE_DEPTH = 10
MAX_PROBLEMS = 100
"""A text file full of garbage would otherwise give one finding per line."""

_STEM = re.compile(r"(?:.*[-_.])?(?:requirements?|constraints?)(?:[-_.].*)?")
_EXTENSIONS = frozenset({"txt", "in", "lock"})
_CONSTRAINT_STEM = re.compile(r"(?:.*[-_.])?constraints?(?:[-_.].*)?")
_REQUIREMENT_STEM = re.compile(r"(?:.*[-_.])?requirements?(?:[-_.].*)?")

_NEWLINE = re.compile(r"\r\n|\r|\n")
_PIP_ONLY_BREAK = re.compile("[\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
"""Characters ``str.splitlines`` (so pip) breaks lines at, that editors and diffs show inline."""
_COMMENT = re.compile(r"(^|\s+)#.*$")
_URL_SCHEMES = frozenset({"http", "https", "file", "ftp", "git", "hg", "svn", "bzr"})
_VCS_PREFIX = re.compile(r"^(?:git|hg|svn|bzr)(?:\+|://)", re.IGNORECASE)
_REMOTE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:(?://|/)")
_WINDOWS_ABSOLUTE = re.compile(r"^[A-Za-z]:[\\/]")
_ENV_VAR = re.compile(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?")
_PEP508_URL_FORM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\s*(?:\[[^\]]*\])?\s*@")
_EXTRAS_SUFFIX = re.compile(r"^(.+)(\[[^\]]+\])$")
_SPEC_AS_WRITTEN = re.compile(r"^\s*[A-Za-z0-9][A-Za-z0-9._-]*\s*(?:\[[^\]]*\])?\s*([^;]*)")
_EGG = re.compile(r"(?:^|&)egg=([A-Za-z0-9][A-Za-z0-9._-]*)")
_FRAGMENT_HASH = re.compile(r"(?:^|&)(sha256|sha384|sha512)=([0-9a-fA-F]+)")
_ARCHIVES = (".whl", ".tar.gz", ".tgz", ".tar.bz2", ".tbz", ".tar.xz", ".txz", ".tlz", ".tar.lz", ".tar.lzma")
_ARCHIVES_LAST = (".tar", ".zip")
_SDIST_VERSION = re.compile(r"^(.*)-\d[^-]*$")
_HASH_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_INDEX_ROLES: dict[str, IndexRole] = {
    "primary": "primary",
    "extra": "extra",
    "find-links": "find-links",
    "trusted-host": "trusted-host",
}


def matches(name: str) -> bool:
    stem, dot, ext = name.lower().rpartition(".")
    return bool(dot) and ext in _EXTENSIONS and _STEM.fullmatch(stem) is not None


# -- options ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OptionTable:
    """pip's command-line grammar (optparse): which spellings take a value, which are flags.

    Long options may be abbreviated to any unique prefix (``--extra-index`` works in pip), short
    options cluster (``-qU``) and take their value attached or as the next word (``-rbase.txt``).
    Each spelling maps to an action word the caller dispatches on.
    """

    values: Mapping[str, str]
    flags: Mapping[str, str]

    def parse(self, words: list[str]) -> tuple[list[tuple[str, str, str]], list[str], list[str]]:
        """-> ((action, value, spelling) in order, positional words, error messages)."""
        options: list[tuple[str, str, str]] = []
        positional: list[str] = []
        errors: list[str] = []
        index = 0
        while index < len(words):
            word = words[index]
            index += 1
            if word.startswith("--") and len(word) > 2:
                written, eq, value = word.partition("=")
                spelling = self._long(written)
                if spelling is None:
                    errors.append(f"unknown option {written!r}")
                elif spelling in self.flags:
                    if eq:
                        errors.append(f"option {spelling} takes no value")
                    options.append((self.flags[spelling], "", spelling))
                elif eq:
                    options.append((self.values[spelling], value, spelling))
                elif index < len(words):
                    options.append((self.values[spelling], words[index], spelling))
                    index += 1
                else:
                    errors.append(f"option {spelling} needs a value")
            elif word.startswith("-") and len(word) > 1 and word != "--":
                index = self._short_cluster(word, words, index, options, errors)
            else:
                positional.append(word)
        return options, positional, errors

    def _long(self, spelling: str) -> str | None:
        if spelling in self.values or spelling in self.flags:
            return spelling
        candidates = [s for s in (*self.values, *self.flags) if s.startswith("--") and s.startswith(spelling)]
        return candidates[0] if len(candidates) == 1 else None

    def _short_cluster(
        self,
        word: str,
        words: list[str],
        index: int,
        options: list[tuple[str, str, str]],
        errors: list[str],
    ) -> int:
        for position in range(1, len(word)):
            spelling = "-" + word[position]
            if spelling in self.flags:
                options.append((self.flags[spelling], "", spelling))
                continue
            if spelling not in self.values:
                errors.append(f"unknown option {spelling!r}" + (f" in {word!r}" if len(word) > 2 else ""))
                return index
            rest = word[position + 1 :]
            if rest:
                options.append((self.values[spelling], rest, spelling))
            elif index < len(words):
                options.append((self.values[spelling], words[index], spelling))
                index += 1
            else:
                errors.append(f"option {spelling} needs a value")
            return index
        return index


_FILE_OPTIONS = OptionTable(
    values={
        "-i": "primary",
        "--index-url": "primary",
        "--pypi-url": "primary",
        "--extra-index-url": "extra",
        "-f": "find-links",
        "--find-links": "find-links",
        "--trusted-host": "trusted-host",
        "-r": "requirement",
        "--requirement": "requirement",
        "-c": "constraint",
        "--constraint": "constraint",
        "-e": "editable",
        "--editable": "editable",
        "--hash": "hash",
        # Build-backend options (older pip also took the two setup.py ones): read so the line parses;
        # the Dependency model has no field for them.
        "-C": "build",
        "--config-settings": "build",
        "--global-option": "build",
        "--install-option": "build",
        "--no-binary": "ignored",
        "--only-binary": "ignored",
        "--use-feature": "ignored",
        "--all-releases": "ignored",
        "--only-final": "ignored",
    },
    flags={
        "--no-index": "ignored",
        "--pre": "ignored",
        "--prefer-binary": "ignored",
        "--require-hashes": "ignored",
        "--no-require-hashes": "ignored",
    },
)


# -- one requirement -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Parsed:
    """A requirement and whether a marker makes it conditional (a conditional constraint pins nothing)."""

    dependency: Dependency
    conditional: bool


def parse_requirement(
    spec: str, line: int | None, section: str, file: str, hashes: tuple[str, ...] = ()
) -> Parsed | str:
    """One requirement as pip reads it (``req`` part of a line or an ``-e`` value): a Parsed, or why
    pip would reject it. Order follows pip: URL first, then archive and path forms, then PEP 508."""
    spec = spec.strip()
    base = Dependency(name="", line=line, hashes=hashes, section=section, file=file)
    if _is_url(spec):
        url, sep, marker = spec.partition("; ")
        return _located(base, url.strip(), marker if sep else None)
    before_marker, sep, marker = spec.partition(";")
    if _PEP508_URL_FORM.match(spec) is None and _looks_like_path(before_marker.strip()):
        path = before_marker.strip()
        found = _EXTRAS_SUFFIX.match(path)
        return _located(base, found.group(1) if found else path, marker if sep else None)
    try:
        req = Requirement(spec)
    except InvalidRequirement as err:
        reason = str(err).splitlines()[0] if str(err) else "invalid"
        return f"{spec!r} is not a valid requirement (PEP 508): {reason}"
    conditional = req.marker is not None
    if req.url:
        hashes = hashes + _fragment_hashes(req.url)
        return Parsed(
            dataclasses.replace(base, name=req.name, kind=_kind(req.url), url=req.url, hashes=hashes),
            conditional,
        )
    written = _SPEC_AS_WRITTEN.match(spec)
    specifier = re.sub(r"[\s()]", "", written.group(1)) if written else str(req.specifier)
    return Parsed(
        dataclasses.replace(base, name=req.name, specifier=specifier, pinned=_pins(req.specifier)),
        conditional,
    )


def _located(base: Dependency, location: str, marker: str | None) -> Parsed | str:
    if marker is not None:
        try:
            Marker(marker)
        except InvalidMarker as err:
            reason = str(err).splitlines()[0] if str(err) else "invalid"
            return f"{location!r} has an invalid environment marker {marker.strip()!r}: {reason}"
    kind = _kind(location)
    hashes = base.hashes + (_fragment_hashes(location) if kind != "path" else ())
    name = _name_from_location(location, kind) or location
    return Parsed(
        dataclasses.replace(base, name=name, kind=kind, url=location, hashes=hashes), marker is not None
    )


def _is_url(text: str) -> bool:
    scheme, colon, _ = text.partition(":")
    scheme = scheme.lower()
    return bool(colon) and (scheme in _URL_SCHEMES or _VCS_PREFIX.match(scheme + ":") is not None)


def _looks_like_path(text: str) -> bool:
    lowered = text.lower()
    return (
        "/" in text
        or "\\" in text
        or text.startswith((".", "~"))
        or lowered.endswith(_ARCHIVES + _ARCHIVES_LAST)
    )


def _kind(location: str) -> DependencyKind:
    if _VCS_PREFIX.match(location):
        return "vcs"
    if location.lower().startswith("file:") or not _is_url(location):
        return "path"
    return "url"


def _pins(specifier: SpecifierSet) -> bool:
    return any(s.operator in ("==", "===") and "*" not in s.version for s in specifier)


def _fragment_hashes(url: str) -> tuple[str, ...]:
    fragment = url.partition("#")[2]
    return tuple(f"{algo}:{digest}" for algo, digest in _FRAGMENT_HASH.findall(fragment))


def _name_from_location(location: str, kind: DependencyKind) -> str:
    """The project name a URL or path suggests, as pip would before building (see module docstring)."""
    without_fragment, _, fragment = location.partition("#")
    egg = _EGG.search(fragment)
    if egg:
        return egg.group(1)
    path = without_fragment.partition("?")[0].replace("\\", "/").rstrip("/")
    path = path[5:] if path.lower().startswith("file:") else path
    last = path.rsplit("/", 1)[-1]
    if kind == "vcs":
        last = last.split("@", 1)[0]
    lowered = last.lower()
    if lowered.endswith(".whl"):
        return last.split("-", 1)[0]
    for ext in _ARCHIVES + _ARCHIVES_LAST:
        if lowered.endswith(ext):
            stem = last[: -len(ext)]
            versioned = _SDIST_VERSION.match(stem)
            return versioned.group(1) if versioned else stem
    return last.removesuffix(".git") if last not in (".", "..") else ""


def check_hash(value: str) -> str | None:
    """pip accepts only strong algorithms; a digest of the wrong shape can never match."""
    algo, colon, digest = value.partition(":")
    if not colon or algo not in _HASH_LENGTHS:
        return f"--hash={value}: expected sha256:, sha384: or sha512: followed by the hex digest"
    if len(digest) != _HASH_LENGTHS[algo] or not _HEX.match(digest):
        return f"--hash={value}: a {algo} digest is {_HASH_LENGTHS[algo]} hex digits"
    return None


# -- files and includes ----------------------------------------------------------------------------


def physical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Lines as pip splits them (``str.splitlines``: also U+2028, form feed, ...), numbered the way
    editors and SARIF count them (CR, LF, CRLF); the pieces of one editor line share its number."""
    for number, raw in enumerate(_NEWLINE.split(text), 1):
        for piece in raw.splitlines() if _PIP_ONLY_BREAK.search(raw) else (raw,):
            yield number, piece


def logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, text without comment) for every non-empty logical line, joined like pip's."""
    pending: list[str] = []
    start = 0
    for number, raw in physical_lines(text):
        joined: tuple[int, str] | None = None
        if not raw.endswith("\\") or _COMMENT.match(raw):
            line = " " + raw if _COMMENT.match(raw) else raw
            if pending:
                joined = (start, "".join([*pending, line]))
                pending = []
            else:
                joined = (number, line)
        else:
            if not pending:
                start = number
            pending.append(raw.strip("\\"))
        if joined is not None:
            content = _COMMENT.sub("", joined[1]).strip()
            if content:
                yield joined[0], content
    if pending:
        content = _COMMENT.sub("", "".join(pending)).strip()
        if content:
            yield start, content


class Collector:
    """One manifest being filled from a file, its includes, or lines lifted from another format.

    conda's pip section and notebook ``pip install`` commands feed it too, so ``-r``, indexes and
    requirements mean the same thing in all three formats.
    """

    def __init__(self, fmt: str, name: str, read_include: ReadInclude | None) -> None:
        self.manifest = Manifest(fmt)
        self._read = read_include
        self._chain: list[str] = [posixpath.normpath(name)]
        self._include_line: int | None = None
        """The manifest line of the top-level include being read."""
        self._seen: set[tuple[str, bool]] = set()
        self._conditional: set[int] = set()

    def problem(
        self, message: str, line: int | None, kind: ProblemKind = "unsupported", file: str = ""
    ) -> None:
        """Problems inside an included file are placed on the manifest's own ``-r``/``-c`` line that
        leads to it (the finding's region is in the manifest), with the included file's line in the
        message."""
        if file:
            message, line = f"line {line}: {message}", self._include_line
        problems = self.manifest.problems
        if len(problems) < MAX_PROBLEMS:
            problems.append(Problem(message, line, kind, file))
        elif len(problems) == MAX_PROBLEMS:
            problems.append(
                Problem(
                    f"more than {MAX_PROBLEMS} entries could not be read; the rest was not checked (is it "
                    "really a requirements file?)",
                    line,
                    "unreadable",
                    file,
                )
            )

    def read_text(self, text: str, file: str, section: str, constraint: bool, depth: int) -> None:
        for number, raw in enumerate(_NEWLINE.split(text), 1):
            hidden = _PIP_ONLY_BREAK.search(raw)
            if hidden:
                self.problem(
                    f"the line contains U+{ord(hidden.group()):04X}, which pip reads as a line break but "
                    "editors and code review show inline (it can hide a requirement); remove it",
                    number,
                    file=file,
                )
        for number, content in logical_lines(text):
            self.line(content, number, file, section, constraint, depth)

    def line(self, content: str, number: int, file: str, section: str, constraint: bool, depth: int) -> None:
        """One logical requirements-file line: ``requirement [options]`` or ``options``."""
        words = content.split()
        first_option = next((i for i, w in enumerate(words) if w.startswith("-")), len(words))
        spec = " ".join(words[:first_option])
        try:
            option_words = shlex.split(" ".join(words[first_option:]))
        except ValueError as err:
            self.problem(f"{content!r}: {err}; pip rejects the line", number, file=file)
            return
        options, stray, errors = _FILE_OPTIONS.parse(option_words)
        for error in errors:
            self.problem(f"{content!r}: {error}; pip rejects the line", number, file=file)
        if stray:
            self.problem(
                f"{content!r}: {' '.join(stray)!r} after the options is ignored by pip; put each "
                "requirement on its own line",
                number,
                file=file,
            )
        hashes = tuple(value for action, value, _ in options if action == "hash")
        for value in hashes:
            bad = check_hash(value)
            if bad:
                self.problem(bad, number, file=file)
        own_section = "constraint" if constraint else section
        if spec:
            self.requirement(spec, number, file, own_section, hashes)
        elif hashes:
            self.problem(
                f"{content!r}: --hash applies to a (non-editable) requirement on the same logical line; "
                "pip ignores it here (did the previous line lose its trailing backslash?)",
                number,
                file=file,
            )
        self.apply_options(options, number, file, section, constraint, depth)

    def apply_options(
        self,
        options: list[tuple[str, str, str]],
        number: int,
        file: str,
        section: str,
        constraint: bool,
        depth: int,
    ) -> None:
        """Indexes, includes and editables named by options (requirement files and pip commands)."""
        for action, value, spelling in options:
            if action in _INDEX_ROLES:
                self.manifest.indexes.append(IndexSetting(value, _INDEX_ROLES[action], number, file=file))
            elif action == "editable":
                self.requirement(value, number, file, "constraint" if constraint else section, ())
            elif action in ("requirement", "constraint"):
                self.include(value, spelling, number, file, section, action == "constraint", depth)

    def requirement(
        self, spec: str, number: int, file: str, section: str, hashes: tuple[str, ...]
    ) -> Dependency | None:
        parsed = parse_requirement(spec, number, section, file, hashes)
        if isinstance(parsed, str):
            self.problem(f"{parsed}; pip rejects it", number, file=file)
            if name := non_ascii_name(spec):  # a homoglyph name: judged as the look-alike it is
                self.manifest.dependencies.append(
                    Dependency(name, number, section=section, file=file, pinned="==" in spec)
                )
            return None
        if parsed.conditional:
            self._conditional.add(len(self.manifest.dependencies))
        self.manifest.dependencies.append(parsed.dependency)
        return parsed.dependency

    def include(
        self, target: str, spelling: str, number: int, file: str, section: str, constraint: bool, depth: int
    ) -> None:
        shown = f"{spelling} {target}"
        outside = _outside(target)
        if outside:
            self.problem(f"{shown}: {outside}; it was not checked", number, "include-outside", file)
            return
        if self._read is None:
            self.problem(
                f"{shown}: includes are not followed inside archives; what it pins was not checked",
                number,
                "include-missing",
                file,
            )
            return
        path = posixpath.normpath(posixpath.join(posixpath.dirname(file), target.replace("\\", "/")))
        if path in self._chain:
            loop = " -> ".join([*self._chain[self._chain.index(path) :], path])
            self.problem(
                f"{shown}: include loop {loop}; pip stops with an error", number, "include-loop", file
            )
            return
        if depth >= MAX_INCLUDE_DEPTH:
            self.problem(
                f"{shown}: includes are nested more than {MAX_INCLUDE_DEPTH} deep; the rest was not read",
                number,
                "include-loop",
                file,
            )
            return
        if (path, constraint) in self._seen:
            return  # already read through another include: its entries are in the manifest
        text = self._read(path)
        if text is None:
            self.problem(
                f"{shown}: the file does not exist in the repository", number, "include-missing", file
            )
            return
        self._seen.add((path, constraint))
        self._chain.append(path)
        if not file:
            self._include_line = number
        self.read_text(text, path, section, constraint, depth + 1)
        self._chain.pop()

    def finish(self) -> Manifest:
        """Apply exact constraint pins to the requirements they constrain (see module docstring)."""
        deps = self.manifest.dependencies
        pins = {
            d.normalized: d.specifier
            for i, d in enumerate(deps)
            if d.section == "constraint" and d.pinned and d.kind == "registry" and i not in self._conditional
        }
        for i, dep in enumerate(deps):
            pin = pins.get(dep.normalized)
            if pin and dep.section != "constraint" and dep.kind == "registry" and not dep.pinned:
                specifier = f"{dep.specifier},{pin}" if dep.specifier else pin
                deps[i] = dataclasses.replace(dep, pinned=True, specifier=specifier)
        return self.manifest


def _outside(target: str) -> str | None:
    if _REMOTE.match(target) and not _WINDOWS_ABSOLUTE.match(target):
        return "the file is fetched from a URL at install time, so what it pins can change at any moment"
    if target.startswith(("/", "\\", "~")) or _WINDOWS_ABSOLUTE.match(target):
        return "the path is absolute and points outside the repository"
    if _ENV_VAR.search(target):
        return "the path comes from an environment variable, so the file cannot be known"
    return None


def parse(text: str, name: str, read_include: ReadInclude | None) -> Manifest:
    collector = Collector("requirements", name, read_include)
    stem = name.lower().rpartition(".")[0]
    constraint = bool(_CONSTRAINT_STEM.fullmatch(stem)) and not _REQUIREMENT_STEM.fullmatch(stem)
    collector.read_text(text, "", "", constraint, 0)
    return collector.finish()


PARSER = ManifestParser("requirements", matches, parse)
