"""Terminal escape sequences and control characters in text cells.

Datasets get printed: ``head``, ``less``, a CI log, a notebook. An escape sequence in a cell then
talks to the reviewer's terminal instead of being read: it can write the clipboard (OSC 52), ask
the terminal to type a reply into the shell, retitle the window, draw a hyperlink to somewhere
else or erase and overwrite the lines a reviewer was reading. NUL bytes cut strings short in C
tools, so a reviewer sees less than the model. Each cell is reported under its most severe class
only. Invalid UTF-8 is reported by the flattener (MLS-DAT-010), not here.

Text decoded with the wrong codec (UTF-8 read as Latin-1, "mojibake") is full of U+0080-U+009F;
an 8-bit control preceded by what would be a UTF-8 lead byte (U+00C2-U+00F4) is mojibake and is
never read as an escape sequence, only as a LOW control character.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pyarrow as pa

from mlsec_dagster.engine.findings import Severity
from mlsec_dagster.engine.rules import Rule, define
from mlsec_dagster.scanners.datasets.detectors.html import Indices, refine
from mlsec_dagster.scanners.datasets.evidence import snippet
from mlsec_dagster.scanners.datasets.model import Cells, Detector, DetectorContext, Explained, Match

_FAMILY = "dataset terminal"

TERMINAL_ACTION = define(
    "MLS-TRM-001",
    "Terminal escape that acts beyond the screen",
    Severity.HIGH,
    "A cell holds an escape sequence that makes the terminal do something outside the text it shows: "
    "OSC 52 writes the clipboard (the next paste runs the attacker's command), OSC 50 font queries, "
    "iTerm2 OSC 1337 / kitty OSC 5113 file transfer, urxvt OSC 777 extensions, DCS strings (tmux "
    "passthrough, DECRQSS) and window reports (CSI 11-21 t) that make the terminal type an answer into "
    "the shell. Nothing legitimate in training text needs them. HIGH.",
    "Strip control characters from the column (keep tab, newline, carriage return) before storing it.",
    family=_FAMILY,
)
DISPLAY_REWRITE = define(
    "MLS-TRM-002",
    "Terminal escape that changes what a reviewer sees",
    Severity.MEDIUM,
    "A cell holds an escape sequence that changes the display rather than adding text: cursor "
    "movement and erase (CSI A-H, J, K), concealed text (SGR 8), window titles (OSC 0/1/2), hyperlinks "
    "whose target is not shown (OSC 8), palette changes or a terminal reset. Printed, the cell can hide "
    "or overwrite lines. MEDIUM: harmful to review, not code execution by itself.",
    "Strip escape sequences from the column; keep the plain text.",
    family=_FAMILY,
)
COLOUR = define(
    "MLS-TRM-003",
    "ANSI colour codes in text",
    Severity.LOW,
    "A cell holds only SGR colour/style sequences (`ESC[31m`...), typical of captured console logs. "
    "They do not hide text (conceal SGR 8 is MLS-TRM-002) but the model learns the escape bytes. LOW.",
    "Strip ANSI colour codes when collecting logs (e.g. `sed 's/\\x1b\\[[0-9;]*m//g'`).",
    family=_FAMILY,
)
NUL = define(
    "MLS-TRM-004",
    "NUL byte in text",
    Severity.MEDIUM,
    "A cell contains U+0000. C-based tools, terminals and many viewers stop at the first NUL, so a "
    "reviewer sees a truncated value while the model trains on all of it: a way to hide a payload "
    "after an innocent prefix. MEDIUM.",
    "Remove NUL characters; find the step that put binary data into a text column.",
    family=_FAMILY,
)
OVERWRITE = define(
    "MLS-TRM-005",
    "Backspace or delete characters in text",
    Severity.MEDIUM,
    "A cell contains backspace (U+0008) or delete (U+007F). Printed in a terminal, backspaces move the "
    "cursor back so later characters overwrite earlier ones: a reviewer reads a different text than "
    "the model. MEDIUM.",
    "Remove the control characters (or apply the backspaces) when cleaning the column.",
    family=_FAMILY,
)
CONTROL = define(
    "MLS-TRM-006",
    "Control characters in text",
    Severity.LOW,
    "A cell contains C0 control characters other than tab, newline, carriage return, vertical tab and "
    "form feed (those two come from PDF/Word extraction and only move the cursor down), or C1 controls "
    "(U+0080-U+009F), or an ESC that starts no complete sequence. Usually a decoding accident "
    "(mojibake, binary data in a text column); it still corrupts what reviewers and tokenizers see. LOW.",
    "Re-decode the source with its real encoding, or strip control characters.",
    family=_FAMILY,
)

# Python and Rust regex agree on all patterns below: \xHH is a code point in both.
_MOJIBAKE_OK = r"(?:^|[^\xc2-\xf4])"
_OSC = r"(?:\x1b\]|" + _MOJIBAKE_OK + r"\x9d)"
_CSI = r"(?:\x1b\[|" + _MOJIBAKE_OK + r"\x9b)"
_ACTION = (
    _OSC + r"[ \t]*(?:52|50|1337|5113|777|5522)(?:[;\x07]|\x1b\\)"
    r"|\x1bP|" + _MOJIBAKE_OK + r"\x90[0-9;]*[$+]?[a-zA-Z|]"
    r"|" + _CSI + r"(?:1[1345689]|2[01])(?:;[0-9]*)*t"
)
_DISPLAY = (
    r"\x1b\]|" + _MOJIBAKE_OK + r"\x9d[0-9]+;"
    r"|" + _CSI + r"[0-?]*[ -/]*[@-ln-~]"
    r"|" + _CSI + r"(?:[0-9:;]*;)?8(?:;[0-9:;]*)?m"
    r"|\x1b[^\[\]P]"
)
_SGR = _CSI + r"[0-9:;]*m"
_NUL = r"\x00"
_OVERWRITE = r"[\x08\x7f]"
_OTHER = r"[\x01-\x07\x0e-\x1f\x80-\x9f]"

_ACTION_RE = re.compile(_ACTION)
_DISPLAY_RE = re.compile(_DISPLAY)
_SGR_RE = re.compile(_SGR)
_C1_NAMES = {0x90: "DCS", 0x9B: "CSI", 0x9D: "OSC"}


def _sequence_key(text: str, start: int) -> tuple[int, str]:
    """Where the sequence starts (skipping the mojibake guard character) and its name."""
    while start < len(text) and text[start] not in "\x1b\x90\x9b\x9d":
        start += 1
    if start >= len(text):
        return start, "escape"
    intro = ord(text[start])
    if intro == 0x1B:
        kind = {"[": "CSI", "]": "OSC", "P": "DCS"}.get(text[start + 1 : start + 2], "ESC")
        body = text[start + 2 : start + 40]
    else:
        kind = _C1_NAMES[intro]
        body = text[start + 1 : start + 40]
    if kind == "OSC":
        digits = body.lstrip()
        return start, "OSC " + digits[: len(digits) - len(digits.lstrip("0123456789"))]
    if kind == "CSI":
        final = re.search(r"[@-~]", body)
        return start, "CSI " + (body[: final.end()] if final else "?")
    if kind == "ESC":
        return start, "ESC " + (text[start + 1 : start + 2] or "(end)")
    return start, kind


def _escape_explainer(rule: Rule, pattern: re.Pattern[str], what: str) -> Callable[[Any], Explained]:
    def explain(value: Any) -> Explained:
        text = str(value)
        found = pattern.search(text)
        offset, key = _sequence_key(text, found.start()) if found else (None, "escape")
        message = (
            f"Cell contains the terminal escape sequence {key}, which {what} when the data is printed in a "
            "terminal. Strip escape sequences from this column."
        )
        return Explained(offset, message, snippet(text, offset), key)

    return explain


def _char_explainer(pattern: re.Pattern[str], message: str) -> Callable[[Any], Explained]:
    def explain(value: Any) -> Explained:
        text = str(value)
        found = pattern.search(text)
        offset = found.start() if found else None
        key = f"U+{ord(found.group(0)):04X}" if found else "control"
        return Explained(offset, message.format(key=key), snippet(text, offset), key)

    return explain


_WHAT = {
    TERMINAL_ACTION.id: "acts outside the screen (clipboard write, file transfer or a reply typed into "
    "the shell)",
    DISPLAY_REWRITE.id: "moves the cursor, erases, conceals, retitles or hyperlinks text",
    COLOUR.id: "only changes colours",
}


_BLOCK = 1 << 18
"""Bytes per numpy step: the scratch mask stays in L2 cache, and two min/max reductions (~20 GB/s)
clear a block of ordinary text without any per-byte comparison."""


def _utf8_bytes(array: pa.Array) -> tuple[np.ndarray[Any, np.dtype[np.uint8]], Indices]:
    """The column's UTF-8 bytes as one array, and the offsets that map a byte back to its row."""
    _, offsets_buffer, data_buffer = array.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int64)[array.offset : array.offset + len(array) + 1]
    if data_buffer is None:
        return np.empty(0, dtype=np.uint8), offsets
    return np.frombuffer(data_buffer, dtype=np.uint8)[offsets[0] : offsets[-1]], offsets


def _control_bytes(data: np.ndarray[Any, np.dtype[np.uint8]]) -> Indices:
    """Positions of C0 controls (tab, LF, VT, FF, CR excepted), DEL, and the UTF-8 lead byte 0xC2 of a C1
    control (U+0080-U+009F is C2 80-C2 9F). Per block, min/max reductions rule out what cannot be
    there (most text has no byte below 0x09 and, if ASCII, none at or above 0x7F); newlines make the
    minimum low, so 0x0E-0x1F is one wrapped range test (``byte - 14 < 18``), not a per-byte lookup."""
    found: list[Indices] = []
    size = min(_BLOCK, len(data))
    mask, shifted = np.empty(size, dtype=np.bool_), np.empty(size, dtype=np.uint8)
    for start in range(0, len(data), _BLOCK):
        block = data[start : start + _BLOCK]
        here, moved = mask[: len(block)], shifted[: len(block)]
        low, high = block.min(), block.max()
        if low < 0x09:
            found.append(np.flatnonzero(np.less(block, 0x09, out=here)) + start)
        if low < 0x20 and np.less(np.subtract(block, 0x0E, out=moved), 0x20 - 0x0E, out=here).any():
            found.append(np.flatnonzero(here) + start)
        if high >= 0x7F and np.equal(block, 0x7F, out=here).any():
            found.append(np.flatnonzero(here) + start)
        if high >= 0xC2 and np.equal(block, 0xC2, out=here).any():
            lead = np.flatnonzero(here) + start
            follower = np.take(data, lead + 1, mode="clip")
            found.append(lead[(follower >= 0x80) & (follower <= 0x9F)])
    return np.concatenate(found).astype(np.int64) if found else np.empty(0, dtype=np.int64)


def _control_rows(cells: Cells) -> Indices:
    """Rows holding a C0/C1 control or DEL, from one byte-level scan of the Arrow data buffer (a regex
    character class runs at ~0.5 GB/s); rows are looked up only for the bytes found."""
    values = cells.values
    if len(values) == 0:
        return np.empty(0, dtype=np.int64)
    data, offsets = _utf8_bytes(cells.arrow)
    positions = _control_bytes(data)
    if len(positions) == 0:
        return positions
    found = np.unique(np.searchsorted(offsets, positions + offsets[0], side="right") - 1).astype(np.int64)
    present = values.is_not_null().to_numpy()
    return found[present[found]]


def detect(cells: Cells, ctx: DetectorContext) -> Iterator[Match]:
    values = cells.values
    where = _control_rows(cells)
    if len(where) == 0:
        return
    action = refine(values, where, _ACTION)
    display = np.setdiff1d(refine(values, where, _DISPLAY), action)
    sequences = np.union1d(action, display)
    colour = np.setdiff1d(refine(values, where, _SGR), sequences)
    sequences = np.union1d(sequences, colour)
    other = np.setdiff1d(refine(values, where, _OTHER), sequences)
    for rule, hits, pattern in (
        (TERMINAL_ACTION, action, _ACTION_RE),
        (DISPLAY_REWRITE, display, _DISPLAY_RE),
        (COLOUR, colour, _SGR_RE),
    ):
        if len(hits):
            yield Match(rule, hits, _escape_explainer(rule, pattern, _WHAT[rule.id]))
    for rule, hits, raw, message in (
        (
            NUL,
            refine(values, where, _NUL),
            _NUL,
            "Cell contains a NUL character ({key}); tools that stop at NUL show reviewers a truncated value. "
            "Remove it.",
        ),
        (
            OVERWRITE,
            refine(values, where, _OVERWRITE),
            _OVERWRITE,
            "Cell contains {key} (backspace/delete), which overwrites displayed text in a terminal. "
            "Remove it.",
        ),
        (
            CONTROL,
            other,
            _OTHER,
            "Cell contains the control character {key}; usually a decoding accident or binary data in a text "
            "column. Re-decode the source with its real encoding or strip control characters.",
        ),
    ):
        if len(hits):
            yield Match(rule, hits, _char_explainer(re.compile(raw), message))


DETECTOR = Detector("terminal", detect, binary=False)
