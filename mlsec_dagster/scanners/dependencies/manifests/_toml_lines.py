"""Exact lines for values of a TOML document, which ``tomllib`` parses but cannot locate.

Findings point at the manifest line (SARIF region), so every dependency needs the line it was written
on. ``tomllib`` stays the only judge of what the document *means*; this module re-reads the raw text
only for positions, after ``tomllib`` accepted it, and records the line of every key and array element
under the same path ``tomllib`` gives it: ``("project", "dependencies", 3)`` is the fourth string of
``[project] dependencies``, ``("package", 12, "name")`` the ``name`` key of the thirteenth
``[[package]]``. Arrays of tables are indexed like arrays, so the two structures always agree.
"""

from __future__ import annotations

import re
import tomllib
from bisect import bisect_right
from typing import Any

from mlsec_dagster.scanners.dependencies.model import Problem

Path = tuple[str | int, ...]

_GAP = re.compile(r"(?:[ \t\r\n]|#[^\n]*)*")
"""Whitespace, newlines and comments: what may separate array elements and statements."""
_BLANK = re.compile(r"[ \t]*")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_BASIC = re.compile(r'"(?:[^"\\\n]|\\.)*"')
_LITERAL = re.compile(r"'[^'\n]*'")
_ML_BASIC = re.compile(r'"""(?:\\.|[^\\])*?"{3,5}(?!")', re.S)
_ML_LITERAL = re.compile(r"'''.*?'{3,5}(?!')", re.S)
_SCALAR = re.compile(r"[^,\]}\s#]+(?: [0-9][^,\]}\s#]*)?")
"""Numbers, booleans and dates (``1979-05-27 07:32:00`` has one inner space)."""
_ERROR_LINE = re.compile(r"at line (\d+)")


def load(text: str) -> tuple[dict[str, Any], TomlLines] | Problem:
    """The document and its line map, or the reason it is not TOML (with the line ``tomllib`` names)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        found = _ERROR_LINE.search(str(err))
        line = int(found.group(1)) if found else text.count("\n") + 1
        return Problem(f"invalid TOML: {err}; fix the syntax so the installer accepts it", line)
    except RecursionError:
        return Problem("invalid TOML: values nested too deeply to read", None)
    try:
        return data, TomlLines(text)
    except RecursionError:
        return Problem("TOML values nested too deeply to locate; simplify the nesting", None)


class LineMap:
    """Path -> 1-based line, filled by a format's walker; lookups fall back to the nearest located
    ancestor (never a guess past the enclosing table)."""

    _lines: dict[Path, int]

    def line(self, *path: str | int) -> int | None:
        for end in range(len(path), 0, -1):
            found = self._lines.get(path[:end])
            if found is not None:
                return found
        return None


class TomlLines(LineMap):
    """Path -> 1-based line of the key (or array element) that starts the value at that path."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self._lines: dict[Path, int] = {}
        self._tables: dict[Path, int] = {}
        """Arrays of tables seen so far -> how many elements they have."""
        self._walk()

    def exact(self, *path: str | int) -> int | None:
        return self._lines.get(path)

    def _line_at(self, pos: int) -> int:
        return bisect_right(self._starts, pos)

    def _record(self, path: Path, pos: int, overwrite: bool = True) -> None:
        if overwrite or path not in self._lines:
            self._lines[path] = self._line_at(pos)

    def _walk(self) -> None:
        text = self._text
        pos = 0
        table: Path = ()
        while True:
            pos = _skip(_GAP, text, pos)
            if pos >= len(text):
                return
            if text[pos] == "[":
                table, pos = self._header(pos)
                continue
            pos = self._pair(table, pos)

    def _pair(self, table: Path, pos: int) -> int:
        """One ``dotted.key = value`` under ``table`` (a table body or an inline table): every key
        prefix gets the line too (dotted keys create tables), then the value is walked."""
        keys, after = self._key(pos)
        full = table + keys
        for end in range(len(table) + 1, len(full)):
            self._record(full[:end], pos, overwrite=False)
        self._record(full, pos)
        return self._value(self._after_equals(after), full)

    def _header(self, pos: int) -> tuple[Path, int]:
        text = self._text
        array = text.startswith("[[", pos)
        keys, after = self._key(pos + (2 if array else 1))
        after = _skip(_BLANK, text, after)
        after += 2 if array else 1
        resolved: Path = ()
        for i, key in enumerate(keys):
            resolved += (key,)
            last = i == len(keys) - 1
            if resolved in self._tables and not (last and array):
                resolved += (self._tables[resolved] - 1,)
        if array:
            count = self._tables.get(resolved, 0)
            self._tables[resolved] = count + 1
            resolved += (count,)
        self._record(resolved, pos)
        return resolved, after

    def _key(self, pos: int) -> tuple[tuple[str, ...], int]:
        """A dotted key starting at ``pos`` (after blanks): its parts and the position after it."""
        text = self._text
        parts: list[str] = []
        while True:
            pos = _skip(_BLANK, text, pos)
            if text.startswith('"', pos):
                found = _BASIC.match(text, pos)
                raw = found.group() if found else '""'
                parts.append(_unquote(raw))
            elif text.startswith("'", pos):
                found = _LITERAL.match(text, pos)
                raw = found.group() if found else "''"
                parts.append(raw[1:-1])
            else:
                found = _BARE_KEY.match(text, pos)
                raw = found.group() if found else ""
                parts.append(raw)
            pos += max(len(raw), 1)
            pos = _skip(_BLANK, text, pos)
            if not text.startswith(".", pos):
                return tuple(parts), pos
            pos += 1

    def _after_equals(self, pos: int) -> int:
        text = self._text
        pos = _skip(_BLANK, text, pos)
        if text.startswith("=", pos):
            pos += 1
        return _skip(_BLANK, text, pos)

    def _value(self, pos: int, path: Path) -> int:
        """Skip the value at ``pos``, recording the lines of what it contains; return the end."""
        text = self._text
        char = text[pos : pos + 1]
        if char == "[":
            return self._array(pos + 1, path)
        if char == "{":
            return self._inline_table(pos + 1, path)
        for pattern in (_ML_BASIC, _ML_LITERAL, _BASIC, _LITERAL, _SCALAR):
            found = pattern.match(text, pos)
            if found and found.end() > pos:
                return found.end()
        return pos + 1

    def _array(self, pos: int, path: Path) -> int:
        text = self._text
        index = 0
        while True:
            pos = _skip(_GAP, text, pos)
            if pos >= len(text) or text[pos] == "]":
                return pos + 1
            if text[pos] == ",":
                pos += 1
                continue
            self._record((*path, index), pos)
            pos = self._value(pos, (*path, index))
            index += 1

    def _inline_table(self, pos: int, path: Path) -> int:
        text = self._text
        while True:
            pos = _skip(_GAP, text, pos)
            if pos >= len(text) or text[pos] == "}":
                return pos + 1
            if text[pos] == ",":
                pos += 1
                continue
            pos = self._pair(path, pos)


def _skip(pattern: re.Pattern[str], text: str, pos: int) -> int:
    """End of the (possibly empty) run of ``pattern`` at ``pos``; the patterns used always match."""
    found = pattern.match(text, pos)
    return found.end() if found else pos


def _unquote(raw: str) -> str:
    if "\\" not in raw:
        return raw[1:-1]
    try:
        return str(tomllib.loads("k = " + raw)["k"])
    except tomllib.TOMLDecodeError:
        return raw[1:-1]
