"""``setup.cfg``: setuptools' ``[options]`` requirement lists and ``[options.extras_require]``.

``configparser`` (interpolation off, as setuptools reads it) decides whether the file is valid; it
keeps no line numbers, so a small scanner that follows the same rules (a key line, then indented
continuation lines, full-line ``#``/``;`` comments skipped) records the line of every value piece.
Values are split the way setuptools splits them: one requirement per line, or on ``;`` when the value
fits on the key's line; ``#`` comments are dropped; ``file:`` values name requirement files to read.
"""

from __future__ import annotations

import configparser
import dataclasses
import posixpath
import re
from collections.abc import Iterator

from mlsec_dagster.scanners.dependencies.manifests._entries import from_pep508, from_strings
from mlsec_dagster.scanners.dependencies.model import (
    Dependency,
    Manifest,
    ManifestParser,
    Problem,
    ReadInclude,
)

_OPTIONS = "options"
_EXTRAS = "options.extras_require"
_REQUIREMENT_KEYS = ("install_requires", "setup_requires", "tests_require")
"""``setup_requires`` is fetched and run by the build itself, before anything is installed."""
_SECTION = re.compile(r"\[(?P<name>.+)\]")
_OPTION = re.compile(r"(?P<key>.*?)\s*[=:]\s*(?P<value>.*)$")
_COMMENT = ("#", ";")
_FILE_DIRECTIVE = "file:"

Piece = tuple[int, str]
"""(1-based line, stripped text) of one line of a value."""
Value = tuple[int, list[Piece]]
"""The key's line and the pieces of its value."""


def parse(text: str, name: str, read_include: ReadInclude | None) -> Manifest:
    manifest = Manifest("setup.cfg")
    config = configparser.ConfigParser(interpolation=None)
    try:
        config.read_string(text)
    except configparser.Error as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        manifest.problems.append(
            Problem(f"invalid setup.cfg: {reason}; setuptools rejects it", _error_line(err))
        )
        return manifest
    values = _value_lines(text)
    wanted = [(_OPTIONS, key) for key in _REQUIREMENT_KEYS]
    if config.has_section(_EXTRAS):
        wanted += [(_EXTRAS, key) for key in config.options(_EXTRAS)]
    for section, key in wanted:
        value = values.get((section, key))
        if value is None or not config.has_option(section, _option_name(config, section, key)):
            continue
        label = f"{section}.{key}"
        requirements = list(_split(*value))
        if requirements and requirements[0][1].startswith(_FILE_DIRECTIVE):
            entries = list(_included(label, *requirements[0], read_include))
        else:
            entries = from_strings([r for _, r in requirements], label, [line for line, _ in requirements])
        for entry in entries:
            if isinstance(entry, Dependency):
                manifest.dependencies.append(entry)
            else:
                manifest.problems.append(entry)
    return manifest


def _included(
    label: str, line: int, value: str, read_include: ReadInclude | None
) -> Iterator[Dependency | Problem]:
    """``install_requires = file: requirements.in, extra.in``: setuptools reads those files (inside the
    project only); their entries carry ``file`` so they are judged where they are written."""
    for written in (p.strip() for p in value[len(_FILE_DIRECTIVE) :].split(",")):
        if not written:
            continue
        path = posixpath.normpath(written.replace("\\", "/"))
        if path == ".." or path.startswith("../") or posixpath.isabs(path):
            yield Problem(f"{label}: file: {written} is outside the project", line, "include-outside")
            continue
        text = read_include(path) if read_include else None
        if text is None:
            reason = "does not exist" if read_include else "cannot be followed inside an archive"
            yield Problem(f"{label}: file: {written} {reason}", line, "include-missing")
            continue
        for number, raw in enumerate(text.splitlines(), start=1):
            requirement = _drop_comment(raw)
            if requirement:
                yield dataclasses.replace(from_pep508(requirement, number, label), file=path)


def _drop_comment(text: str) -> str:
    """setuptools drops `` #`` comments from requirement lines, and lines that are comments."""
    text = text.partition(" #")[0].strip()
    return "" if text.startswith("#") else text


def _option_name(config: configparser.ConfigParser, section: str, key: str) -> str:
    """The option as configparser stores it (setuptools also accepts ``install-requires``)."""
    for option in config.options(section):
        if _key(option) == key:
            return option
    return key


def _key(raw: str) -> str:
    return raw.strip().lower().replace("-", "_")


def _value_lines(text: str) -> dict[tuple[str, str], Value]:
    """(section, normalised key) -> its line and the non-empty, non-comment lines of its value."""
    found: dict[tuple[str, str], Value] = {}
    section = ""
    current: list[Piece] | None = None
    indent = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith(_COMMENT):
            continue
        level = len(raw) - len(raw.lstrip())
        if current is not None and level > indent:
            current.append((number, stripped))
            continue
        header = _SECTION.match(stripped)
        if header:
            section, current = header.group("name"), None
            continue
        option = _OPTION.match(stripped)
        if option is None:
            current = None
            continue
        current, indent = [], level
        found[(section, _key(option.group("key")))] = (number, current)
        if option.group("value"):
            current.append((number, option.group("value")))
    return found


def _split(key_line: int, pieces: list[Piece]) -> Iterator[Piece]:
    """setuptools' list rule: a value on several lines is one item per line, else split on ``;``."""
    if len(pieces) == 1 and pieces[0][0] == key_line:
        line, text = pieces[0]
        chunks = [(line, c.strip()) for c in text.split(";")]
    else:
        chunks = pieces
    yield from ((line, _drop_comment(c)) for line, c in chunks if _drop_comment(c))


def _error_line(err: configparser.Error) -> int | None:
    line = getattr(err, "lineno", None)
    if isinstance(line, int):
        return line
    errors = getattr(err, "errors", None)
    return int(errors[0][0]) if errors else None


PARSER = ManifestParser("setup.cfg", lambda name: name == "setup.cfg", parse)
