"""Undo the tricks that hide text from a reader but not from a model: shared by two detectors.

The hidden-Unicode detector reports the characters themselves; the injection detector matches its
phrase tables again on what they spell once undone. Both use the same character classes, written
with ``\\uXXXX`` escapes that the polars (Rust) and Python regex engines read alike, so the source
never contains an invisible character. Python only runs here on cells that a polars pass already
marked as carrying one of these tricks.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from mlsec_dagster.scanners.datasets.evidence import snippet

# --- character classes (regex fragments, valid in polars and Python ``re``) -------------------------

ZERO_WIDTH = r"\u200B-\u200D\u2060-\u2064\uFEFF"
"""ZWSP, ZWNJ, ZWJ, word joiner, invisible operators, BOM used mid-text."""
ZERO_WIDTH_STRONG = r"\u200B\u2060-\u2064\uFEFF"
"""The zero-width characters no script needs (ZWNJ/ZWJ are real letters' glue in Persian, Indic, emoji)."""
BIDI = r"\u202A-\u202E\u2066-\u2069"
"""Embeddings, overrides and isolates: the Trojan Source set."""
TAGS = r"\U000E0000-\U000E007F"
VARIATION = r"\uFE00-\uFE0F\U000E0100-\U000E01EF"
INVISIBLE_EXTRA = r"\u00AD\u034F\u180E\u200E\u200F\u061C"
"""Soft hyphen, grapheme joiner, Mongolian separator and direction marks: stripped, never reported."""
LOOKALIKE_SCRIPTS = r"\u0370-\u03FF\u0400-\u052F"
COMPAT_LETTERS = r"\uFF10-\uFF19\uFF21-\uFF3A\uFF41-\uFF5A\U0001D400-\U0001D7FF\u24B6-\u24E9"
"""Fullwidth digits/letters, mathematical alphanumerics, circled letters: NFKC turns them into ASCII."""

TAG_SMUGGLING = (
    r"[\U000E0000-\U000E001F\U000E0020-\U000E002F\U000E003A-\U000E0060\U000E007B-\U000E007E]"
    r"|[\U000E0030-\U000E0039\U000E0061-\U000E007A]{8}"
    r"|[^\U0001F3F4\U000E0020-\U000E007F][\U000E0020-\U000E007F]"
    r"|^[\U000E0000-\U000E007F]"
)
"""Tag characters that cannot belong to an emoji flag (black flag U+1F3F4, up to seven lowercase
letter/digit tags, cancel tag): uppercase, spaces or punctuation, long runs, or tags after any other
character. England/Scotland/Wales flags never match."""

VARIATION_RUN = rf"[{VARIATION}]{{4}}"
"""Emoji carry one variation selector; four in a row only happen when bytes are encoded in them."""

BASE64_TEXT = r"(?:[I-Za-f][C-HS-Xi-ny-z0-3][A-Za-z0-9+/]{2}){6}"
"""Six base64 quads whose bits can only come from printable ASCII (first byte 0x20-0x7E, second
byte's high nibble 2-7): hashes, image data and random tokens rarely produce it by chance."""
BASE64_RUN = r"[A-Za-z0-9+/]{24,}={0,2}|[A-Za-z0-9_-]{24,}={0,2}"

HIDING_MARKERS = "|".join(
    (
        rf"[{ZERO_WIDTH_STRONG}{BIDI}\u00AD{COMPAT_LETTERS}]",
        r"[A-Za-z][\u200C\u200D]",
        rf"[A-Za-z][{LOOKALIKE_SCRIPTS}]|[{LOOKALIKE_SCRIPTS}][A-Za-z]",
        TAG_SMUGGLING,
        VARIATION_RUN,
    )
)
"""Cells worth normalising in Python before matching phrase tables again (rare in real data)."""


# --- homoglyphs -------------------------------------------------------------------------------------

HOMOGLYPHS: dict[str, str] = {
    # Cyrillic (and Armenian vo), written as escapes so the source shows no look-alikes
    "\u0430": "a", "\u0432": "b", "\u0435": "e", "\u0451": "e", "\u043A": "k", "\u043C": "m", "\u043D": "h",
    "\u043E": "o", "\u0440": "p", "\u0441": "c", "\u0442": "t", "\u0443": "y", "\u0445": "x", "\u0455": "s",
    "\u0456": "i", "\u0457": "i", "\u0458": "j", "\u0501": "d", "\u051B": "q", "\u051D": "w", "\u04BB": "h",
    "\u04CF": "l", "\u0578": "n", "\u0410": "A", "\u0412": "B", "\u0415": "E", "\u041A": "K", "\u041C": "M",
    "\u041D": "H", "\u041E": "O", "\u0420": "P", "\u0421": "C", "\u0422": "T", "\u0423": "Y", "\u0425": "X",
    "\u0405": "S", "\u0406": "I", "\u0408": "J", "\u0500": "D", "\u051A": "Q", "\u051C": "W", "\u04BA": "H",
    "\u04C0": "I",
    # Greek
    "\u03B1": "a", "\u03B2": "b", "\u03B3": "y", "\u03B5": "e", "\u03B7": "n", "\u03B9": "i", "\u03BA": "k",
    "\u03BD": "v", "\u03BF": "o", "\u03C1": "p", "\u03C4": "t", "\u03C5": "u", "\u03C7": "x", "\u03F2": "c",
    "\u03F3": "j", "\u0391": "A", "\u0392": "B", "\u0395": "E", "\u0396": "Z", "\u0397": "H", "\u0399": "I",
    "\u039A": "K", "\u039C": "M", "\u039D": "N", "\u039F": "O", "\u03A1": "P", "\u03A4": "T", "\u03A5": "Y",
    "\u03A7": "X",
}  # fmt: skip
"""Cyrillic and Greek letters that render like Latin ones (Unicode confusables, lowercase-first)."""

_FOLD = str.maketrans(HOMOGLYPHS)
_HOMOGLYPH_CHARS = "".join(HOMOGLYPHS)

# --- normalisation ----------------------------------------------------------------------------------

MAX_BASE64_RUNS = 16
MAX_BASE64_CHARS = 65_536

_INVISIBLE = re.compile(rf"[{ZERO_WIDTH}{BIDI}{INVISIBLE_EXTRA}]+")
_ZW_ONLY = re.compile(rf"[{ZERO_WIDTH}]")
_BIDI_ONLY = re.compile(rf"[{BIDI}]")
_TAG_RUN = re.compile(rf"(\U0001F3F4?)([{TAGS}]+)")
_FLAG_TAGS = re.compile(r"[\U000E0030-\U000E0039\U000E0061-\U000E007A]{1,7}\U000E007F?")
_VARIATION_RUN = re.compile(rf"[{VARIATION}]{{4,}}")
_COMPAT_RUN = re.compile(rf"[{COMPAT_LETTERS}][{COMPAT_LETTERS}\u3000]*")
"""A run of compatibility letters, across ideographic spaces (fullwidth text uses U+3000 between words)."""
_MIXED_PAIR = re.compile(rf"[A-Za-z][{LOOKALIKE_SCRIPTS}]|[{LOOKALIKE_SCRIPTS}][A-Za-z]")
"""Latin next to Cyrillic/Greek inside one word (no repetition around it: linear on long tokens)."""
_LOOKALIKE_WORD = re.compile(rf"(?<![^\W\d_])[A-Za-z{_HOMOGLYPH_CHARS}]+(?![^\W\d_])")
_BASE64_RUN = re.compile(BASE64_RUN)
_BASE64_PREFILTER = re.compile(BASE64_TEXT)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]")
_LETTER = re.compile(r"[^\W\d_]")


@dataclass(frozen=True)
class Normalised:
    """A cell with its hiding tricks undone, which tricks were found, and where the first one sits."""

    text: str
    methods: tuple[str, ...]
    """Human names of the tricks undone, in a fixed order (empty: nothing was hidden)."""
    first_offset: int | None
    """Character offset in the original cell of the first hidden or re-encoded character."""


def decode_tags(run: str) -> str:
    """Tag characters U+E0020-U+E007E mirror ASCII; the rest (language tag, cancel) carry nothing."""
    return "".join(chr(ord(ch) - 0xE0000) for ch in run if 0xE0020 <= ord(ch) <= 0xE007E)


def decode_variation_selectors(run: str) -> str:
    """One byte per selector (U+FE00-FE0F: 0-15, U+E0100-E01EF: 16-255), read as UTF-8."""
    data = bytearray()
    for ch in run:
        code = ord(ch)
        data.append(code - 0xFE00 if code <= 0xFE0F else code - 0xE0100 + 16)
    return data.decode("utf-8", "replace")


def smuggled_tags(text: str) -> list[tuple[int, str]]:
    """(offset, decoded ASCII) of every tag-character run that is not part of an emoji flag."""
    return [
        (m.start(2), decode_tags(m.group(2)))
        for m in _TAG_RUN.finditer(text)
        if not is_flag_tags(m.group(2), m.group(1))
    ]


def is_flag_tags(run: str, flag: str) -> bool:
    """True for the tag part of an emoji subdivision flag such as England's (🏴 gbeng + cancel)."""
    return bool(flag) and _FLAG_TAGS.fullmatch(run) is not None


def printable_text(data: bytes) -> str | None:
    """Decoded bytes when they read as text (mostly letters, no control bytes), else None."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if len(text) < 8 or _CONTROL.search(text):
        return None
    if len(_LETTER.findall(text)) < len(text) * 0.5:
        return None
    return text


def decode_base64(run: str) -> str | None:
    body = run.rstrip("=")[:MAX_BASE64_CHARS]
    if len(body) % 4 == 1:
        return None
    body += "=" * (-len(body) % 4)
    alphabet = b"-_" if ("-" in body or "_" in body) else None
    try:
        data = base64.b64decode(body.encode("ascii"), altchars=alphabet, validate=True)
    except (binascii.Error, ValueError):
        return None
    return printable_text(data)


class _Recorder:
    """Collects which tricks were undone and the earliest original offset touched."""

    def __init__(self) -> None:
        self.methods: set[str] = set()
        self.first: int | None = None

    def hit(self, method: str, offset: int | None) -> None:
        self.methods.add(method)
        if offset is not None and (self.first is None or offset < self.first):
            self.first = offset


def _invisible_pass(text: str, rec: _Recorder) -> str:
    """Step 1 (offsets are original): tags decoded, selector bytes decoded, invisibles removed."""

    def tags(m: re.Match[str]) -> str:
        flag, run = m.group(1), m.group(2)
        if is_flag_tags(run, flag):
            return m.group(0)
        rec.hit("tag-block smuggling", m.start(2))
        return flag + " " + decode_tags(run) + " "

    def selectors(m: re.Match[str]) -> str:
        rec.hit("variation-selector smuggling", m.start())
        return " " + decode_variation_selectors(m.group(0)) + " "

    def invisible(m: re.Match[str]) -> str:
        chunk = m.group(0)
        if _BIDI_ONLY.search(chunk):
            rec.hit("bidi controls", m.start())
        if _ZW_ONLY.search(chunk) and m.start() > 0 and not _emoji_joiner(text, m.start(), m.end()):
            rec.hit("zero-width characters", m.start())
        return ""

    text = _TAG_RUN.sub(tags, text)
    text = _VARIATION_RUN.sub(selectors, text)
    return _INVISIBLE.sub(invisible, text)


def _emoji_joiner(text: str, start: int, end: int) -> bool:
    """A lone ZWJ/ZWNJ between two non-ASCII characters is script or emoji glue, not hiding."""
    chunk = text[start:end]
    if chunk not in ("\u200c", "\u200d") or end >= len(text):
        return False
    return ord(text[start - 1]) > 0x7F and ord(text[end]) > 0x7F


def _visible_pass(text: str, rec: _Recorder, shifted: bool) -> str:
    """Step 2: compatibility letters, homoglyph words and base64 runs (offsets approximate if step 1
    removed characters)."""

    def where(offset: int) -> int | None:
        return None if shifted else offset

    def compat(m: re.Match[str]) -> str:
        rec.hit("fullwidth/compatibility letters", where(m.start()))
        return unicodedata.normalize("NFKC", m.group(0))

    text = _COMPAT_RUN.sub(compat, text)
    mixed = _MIXED_PAIR.search(text)
    if mixed:
        folded = _LOOKALIKE_WORD.sub(lambda m: m.group(0).translate(_FOLD), text)
        if folded != text:
            start = mixed.start()
            while start > 0 and text[start - 1].isalpha():
                start -= 1
            rec.hit("homoglyphs", where(start))
            # Keep the original too: a Russian sentence folded to Latin must still match Russian phrases.
            text = text + "\n" + folded
    if _BASE64_PREFILTER.search(text):
        text = _decode_base64_runs(text, rec, where)
    return text


def _decode_base64_runs(text: str, rec: _Recorder, where: Callable[[int], int | None]) -> str:
    pieces: list[str] = []
    last = 0
    for count, m in enumerate(_BASE64_RUN.finditer(text)):
        if count >= MAX_BASE64_RUNS:
            break
        decoded = decode_base64(m.group(0))
        if decoded is None:
            continue
        rec.hit("base64", where(m.start()))
        pieces.append(text[last : m.end()])
        pieces.append(" " + decoded + " ")
        last = m.end()
    pieces.append(text[last:])
    return "".join(pieces)


_METHOD_ORDER = (
    "tag-block smuggling",
    "variation-selector smuggling",
    "zero-width characters",
    "bidi controls",
    "fullwidth/compatibility letters",
    "homoglyphs",
    "base64",
)


def normalise(text: str) -> Normalised:
    """Undo hiding tricks in one cell; cost is a few regex passes over the cell (C speed)."""
    rec = _Recorder()
    if text.isascii():  # nothing invisible, no look-alikes: only base64 can hide text
        result = (
            _decode_base64_runs(text, rec, lambda offset: offset) if _BASE64_PREFILTER.search(text) else text
        )
    else:
        step1 = _invisible_pass(text, rec)
        result = _visible_pass(step1, rec, shifted=len(step1) != len(text))
    methods = tuple(m for m in _METHOD_ORDER if m in rec.methods)
    return Normalised(result if methods else text, methods, rec.first)


def decoded_base64_runs(values: pl.Series) -> tuple[np.ndarray[Any, np.dtype[np.int64]], pl.Series]:
    """Every base64 run of every value decoded, vectorised: (position of its value, decoded text).

    Runs that are not valid base64 or do not decode to ASCII are dropped. Python never touches a cell
    here, so a column of JWTs or data URIs costs polars kernels only.
    """
    runs = (
        pl.DataFrame(
            {"at": np.arange(values.len(), dtype=np.int64), "run": values.str.extract_all(BASE64_RUN)}
        )
        .explode("run")
        .drop_nulls()
        .with_columns(
            pl.col("run")
            .str.slice(0, MAX_BASE64_CHARS)
            .str.replace_all("=", "", literal=True)
            .str.replace_all("-", "+", literal=True)
            .str.replace_all("_", "/", literal=True)
        )
        .with_columns(  # re-pad: a run cut from prose may have lost its "=" (or never had it)
            pl.concat_str(
                pl.col("run"), pl.lit("==").str.slice(0, (4 - pl.col("run").str.len_bytes() % 4) % 4)
            )
        )
        .with_columns(pl.col("run").str.decode("base64", strict=False))
        # Only ASCII results become text (polars has no lenient UTF-8 cast; BASE64_TEXT is ASCII anyway).
        .filter(pl.col("run").bin.encode("hex").str.contains("^(?:[0-7][0-9a-f])*$"))
        .with_columns(pl.col("run").cast(pl.String))
    )
    return runs["at"].to_numpy(), runs["run"]


MIN_BASE64_RUN = 24
"""Length of ``BASE64_TEXT`` (six quads): shorter values never hold one."""


def long_token_cells(values: pl.Series) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Positions whose value may hold a base64 run (>= 24 bytes, none of them below ``+``).

    A 24-byte run always covers two consecutive 8-byte-aligned blocks of the byte buffer it sits in,
    so one byte comparison over the Arrow buffers (a polars kernel whose result is a bitmap: one
    bitmap byte per block) and a sorted search of "two full blocks in a row" answer every value at
    several GB/s, without copying the column (polars' string views are read in place); the precise
    ``BASE64_TEXT`` regex then runs on those only. Spaces, quotes and control bytes sit below ``+``,
    so prose never qualifies; URLs, hashes and tokens may (they are only candidates).
    """
    array = values.to_arrow(compat_level=pl.CompatLevel.newest())
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    present = values.is_not_null().to_numpy()
    if pa.types.is_string_view(array.type):
        views = np.frombuffer(array.buffers()[1], dtype=np.int32).reshape(-1, 4)
        views = views[array.offset : array.offset + len(array)]
        lengths, owners, starts = views[:, 0].astype(np.int64), views[:, 2], views[:, 3].astype(np.int64)
        buffers = array.buffers()[2:]
        held = sum(b.size for b in buffers if b is not None)
        if held > 4 * int(lengths[present & (lengths > 12)].sum()) + 65_536:
            # a gathered subset still points into its column's buffers: compact it instead of
            # scanning bytes no value of it uses
            array = array.cast(pa.large_string())
    if not pa.types.is_string_view(array.type):
        array = array.cast(pa.large_string())
        offsets = np.frombuffer(array.buffers()[1], dtype=np.int64)
        offsets = offsets[array.offset : array.offset + len(array) + 1]
        lengths, owners, starts = np.diff(offsets), np.zeros(len(array), dtype=np.int32), offsets[:-1]
        buffers = [array.buffers()[2]]
    found = np.zeros(len(array), dtype=bool)
    long = present & (lengths >= MIN_BASE64_RUN)
    for index, buffer in enumerate(buffers):
        cells = np.flatnonzero(long & (owners == index))
        if cells.size == 0 or buffer is None:
            continue
        data = np.frombuffer(buffer, dtype=np.uint8)
        full = _full_blocks(data)
        pairs = np.flatnonzero(full[:-1] & full[1:])  # block k and k + 1 both full (rare in prose)
        if pairs.size == 0:
            continue
        first = (starts[cells] + 7) // 8  # the value's first and last whole pair of blocks
        last = (starts[cells] + lengths[cells]) // 8 - 2
        inside = np.searchsorted(pairs, last, side="right") - np.searchsorted(pairs, first, side="left")
        found[cells[inside > 0]] = True
    return np.flatnonzero(found).astype(np.int64)


def _full_blocks(data: np.ndarray[Any, np.dtype[np.uint8]]) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Per 8-byte block of ``data``: True when no byte is below ``+`` (polars' bitmap, one byte each)."""
    mask = (pl.Series(data) >= ord("+")).to_arrow()
    if mask.offset == 0:
        return np.frombuffer(mask.buffers()[1], dtype=np.uint8)[: len(data) // 8] == 0xFF
    usable = len(data) - len(data) % 8  # not seen in practice: unpack rather than misread a shifted bitmap
    return np.asarray(mask.to_numpy(zero_copy_only=False)[:usable].reshape(-1, 8).all(axis=1))


def matching(
    values: pl.Series, positions: np.ndarray[Any, np.dtype[np.int64]], pattern: str
) -> np.ndarray[Any, Any]:
    """The subset of ``positions`` whose value matches ``pattern`` (polars regex)."""
    if positions.size == 0:
        return positions
    hit = values.gather(positions).str.contains(pattern).fill_null(False).to_numpy()
    return positions[hit]


def is_selector(ch: str) -> bool:
    code = ord(ch)
    return 0xFE00 <= code <= 0xFE0F or 0xE0100 <= code <= 0xE01EF


def _show_selectors(part: str) -> str:
    return "".join(
        (f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}") if is_selector(ch) else ch
        for ch in part
    )


def safe_snippet(text: str, offset: int | None) -> str:
    """``evidence.snippet`` with variation selectors escaped too: they are combining marks, which
    ``escape`` keeps as printable, so a raw window could still carry the hidden bytes."""
    start = max(0, (offset or 0) - 40)
    before = _show_selectors(text[start : offset or 0])
    window = snippet(before + _show_selectors(text[offset or 0 : (offset or 0) + 400]), len(before))
    return ("…" if start > 0 and not window.startswith("…") else "") + window
