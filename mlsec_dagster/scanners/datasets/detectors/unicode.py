"""Hidden Unicode in dataset cells: invisible text, reordered text, zero-width encodings.

These characters show nothing (or show text in another order) to the person reviewing a dataset,
while a tokenizer reads every one of them: a classic carrier for smuggled instructions and
watermark/steganography payloads. Legitimate uses stay quiet: emoji flag tag sequences, a single
ZWJ in an emoji sequence, ZWNJ/ZWJ inside Persian, Arabic or Indic words, one variation selector
after an emoji, balanced bidi isolates in right-to-left text. One polars pass finds candidate
cells; the grading runs on those only.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise
from typing import Any

import numpy as np
import polars as pl

from mlsec_dagster.engine.findings import Severity
from mlsec_dagster.engine.rules import define
from mlsec_dagster.scanners.datasets.detectors.deobfuscate import (
    BIDI,
    TAG_SMUGGLING,
    VARIATION_RUN,
    ZERO_WIDTH,
    ZERO_WIDTH_STRONG,
    decode_variation_selectors,
    is_selector,
    matching,
    printable_text,
    safe_snippet,
    smuggled_tags,
)
from mlsec_dagster.scanners.datasets.evidence import escape, snippet
from mlsec_dagster.scanners.datasets.model import Cells, Detector, DetectorContext, Explained, Match

_FAMILY = "dataset unicode"
_STRIP = (
    "Strip these characters when the column is ingested (keep emoji flags and script joiners), or "
    "declare the column with `allow: [unicode]` if they are expected."
)

TAG_TEXT = define(
    "MLS-UNI-001",
    "Invisible Unicode tag characters carry hidden text (ASCII smuggling)",
    Severity.HIGH,
    "Tag characters U+E0000-E007F mirror ASCII but render as nothing: text written in them is invisible "
    "to a reviewer and read by a model. Emoji subdivision flags (black flag, up to seven lowercase tags, "
    "cancel tag: England, Scotland, Wales) are legitimate and not reported. HIGH when the hidden run "
    "decodes to readable text (the evidence shows it); MEDIUM for stray tag characters.",
    _STRIP,
    family=_FAMILY,
)
BIDI_CONTROLS = define(
    "MLS-UNI-002",
    "Bidirectional control characters (Trojan Source)",
    Severity.MEDIUM,
    "Embedding, override and isolate controls (U+202A-202E, U+2066-2069) change the order in which text "
    "is displayed, so what a reviewer reads differs from what a model or parser reads. HIGH for an "
    "override (LRO/RLO) or unbalanced controls in left-to-right text; MEDIUM for balanced controls, or "
    "unbalanced ones in right-to-left text; LOW for balanced embeddings in Arabic/Hebrew text; balanced "
    "isolates (LRI/RLI/FSI ... PDI) in right-to-left text are the recommended formatting and not reported.",
    _STRIP,
    family=_FAMILY,
)
ZERO_WIDTH_RUN = define(
    "MLS-UNI-003",
    "Run of zero-width characters (hidden encoding)",
    Severity.MEDIUM,
    "Two or more zero-width characters in a row (U+200B-200D, U+2060-2064, U+FEFF), or eight or more "
    "zero-width spaces/joiners/BOMs spread through a cell, encode hidden bits (zero-width steganography, "
    "watermarks, smuggled prompts). A single ZWJ in an emoji sequence or ZWNJ/ZWJ in Persian, Arabic or "
    "Indic words is legitimate and not reported.",
    _STRIP,
    family=_FAMILY,
)
ZERO_WIDTH_WORD = define(
    "MLS-UNI-004",
    "Zero-width characters inside Latin words",
    Severity.LOW,
    "A zero-width character between two Latin letters splits a word for filters and tokenizers while it "
    "looks intact ('pass\\u200bword'): a way to slip words past keyword filters. LOW for one or two in a "
    "cell (copy-paste from web pages does this), MEDIUM for three or more. Injection phrases hidden this "
    "way are reported as MLS-PIJ-006.",
    _STRIP,
    family=_FAMILY,
)
VARIATION_TEXT = define(
    "MLS-UNI-005",
    "Variation selectors encode hidden bytes",
    Severity.HIGH,
    "Four or more variation selectors in a row (U+FE00-FE0F, U+E0100-E01EF) never occur in real text "
    "(an emoji takes one): each can carry a byte, so a run hides data behind an innocent-looking "
    "character. HIGH when the bytes decode to text (shown in the evidence), MEDIUM otherwise.",
    _STRIP,
    family=_FAMILY,
)

CANDIDATES = "|".join(
    (
        rf"[{ZERO_WIDTH_STRONG}{BIDI}]",
        rf"[{ZERO_WIDTH}]{{2}}",
        r"[A-Za-z][\u200C\u200D]",
        TAG_SMUGGLING,
        VARIATION_RUN,
    )
)
"""One pass over the non-ASCII cells (ASCII cells cannot hold these characters). ZWNJ/ZWJ alone and
flag tags are left out: they are common and legitimate."""

_ZW_RUN = rf"[{ZERO_WIDTH}]{{2}}"
_ZW_IN_WORD = rf"[A-Za-z][{ZERO_WIDTH}]+[A-Za-z]"
_ZW_AFTER_LETTER = rf"[A-Za-z][{ZERO_WIDTH}]"
_OVERRIDE = r"[\u202D\u202E]"
_RTL_SCRIPT = r"[\u0590-\u08FF\uFB1D-\uFDFF\uFE70-\uFEFC]"
SPREAD_ZERO_WIDTH = 8


def _mask(values: pl.Series, pattern: str) -> np.ndarray[Any, np.dtype[np.bool_]]:
    return values.str.contains(pattern).fill_null(False).to_numpy()


def _count(values: pl.Series, pattern: str) -> np.ndarray[Any, Any]:
    return values.str.count_matches(pattern).fill_null(0).to_numpy()


def detect(cells: Cells, ctx: DetectorContext) -> Iterator[Match]:
    values = cells.values
    if values.len() == 0:
        return
    candidates = matching(values, np.flatnonzero(cells.non_ascii).astype(np.int64), CANDIDATES)
    if candidates.size == 0:
        return
    sub = values.gather(candidates)

    tags = _mask(sub, TAG_SMUGGLING)
    if tags.any():
        yield Match(TAG_TEXT, candidates[tags], _explain_tags)

    yield from _bidi(sub, candidates)

    runs = _mask(sub, _ZW_RUN) | (_count(sub, f"[{ZERO_WIDTH_STRONG}]") >= SPREAD_ZERO_WIDTH)
    if runs.any():
        yield Match(ZERO_WIDTH_RUN, candidates[runs], _explain_run)

    in_word = np.where(_mask(sub, _ZW_IN_WORD) & ~runs, _count(sub, _ZW_AFTER_LETTER), 0)
    for severity, chosen in ((Severity.MEDIUM, in_word >= 3), (Severity.LOW, (in_word > 0) & (in_word < 3))):
        if chosen.any():
            yield Match(ZERO_WIDTH_WORD, candidates[chosen], _explain_in_word, severity)

    selectors = _mask(sub, VARIATION_RUN)
    if selectors.any():
        yield Match(VARIATION_TEXT, candidates[selectors], _explain_selectors)


def _bidi(sub: pl.Series, candidates: np.ndarray[Any, np.dtype[np.int64]]) -> Iterator[Match]:
    has = _mask(sub, f"[{BIDI}]")
    if not has.any():
        return
    where = np.flatnonzero(has)
    part = sub.gather(where)
    override = _mask(part, _OVERRIDE)
    unbalanced = (_count(part, r"[\u202A\u202B\u202D\u202E]") != _count(part, r"\u202C")) | (
        _count(part, r"[\u2066-\u2068]") != _count(part, r"\u2069")
    )
    rtl = _mask(part, _RTL_SCRIPT)
    high = override | (unbalanced & ~rtl)
    formatting = ~high & ~unbalanced & rtl
    isolates_only = ~_mask(part, r"[\u202A-\u202E]")
    low = formatting & ~isolates_only
    medium = ~high & ~formatting
    for severity, chosen, note in (
        (Severity.HIGH, high, ""),
        (Severity.MEDIUM, medium, ""),
        (Severity.LOW, low, "Graded LOW: balanced controls in right-to-left text are usually formatting."),
    ):
        if chosen.any():
            yield Match(BIDI_CONTROLS, candidates[where[chosen]], _explain_bidi, severity, note)


def _first(text: str, chars: str) -> int:
    return min((i for i, ch in enumerate(text) if ch in chars), default=0)


def _explain_tags(value: Any) -> Explained:
    text = str(value)
    runs = smuggled_tags(text)
    offset = runs[0][0] if runs else 0
    decoded = " ".join(d for _, d in runs)
    readable = sum(ch.isalnum() for ch in decoded) >= 3
    return Explained(
        offset,
        f"Cell hides {len(decoded)} characters of text in invisible Unicode tag characters (ASCII "
        f"smuggling); a model reads them, a reviewer does not see them. {_STRIP}",
        f"decoded tag text: {escape(decoded)[:400]!r} | raw: {snippet(text, offset)}",
        "tags",
        severity=None if readable else Severity.MEDIUM,
    )


_BIDI_NAMES = {
    "\u202a": "LRE", "\u202b": "RLE", "\u202c": "PDF", "\u202d": "LRO", "\u202e": "RLO",
    "\u2066": "LRI", "\u2067": "RLI", "\u2068": "FSI", "\u2069": "PDI",
}  # fmt: skip


def _explain_bidi(value: Any) -> Explained:
    text = str(value)
    offset = _first(text, "".join(_BIDI_NAMES))
    found = sorted({_BIDI_NAMES[ch] for ch in text if ch in _BIDI_NAMES})
    return Explained(
        offset,
        f"Cell contains bidirectional control characters ({', '.join(found)}): it displays in a different "
        f"order than a model or parser reads it (Trojan Source). {_STRIP}",
        snippet(text, offset),
        "bidi:" + "+".join(found),
    )


_ZW_CHARS = "\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\ufeff"


def _explain_run(value: Any) -> Explained:
    text = str(value)
    positions = [i for i, ch in enumerate(text) if ch in _ZW_CHARS]
    offset = next((a for a, b in pairwise(positions) if b == a + 1), positions[0])
    bits = "".join(f"{ord(text[i]):04X} " for i in positions[:24]).strip()
    return Explained(
        offset,
        f"Cell contains {len(positions)} zero-width characters, in runs or spread through the text: a hidden "
        f"encoding (zero-width steganography or a smuggled payload). {_STRIP}",
        f"{len(positions)} zero-width chars, first: {bits} | {snippet(text, offset)}",
        "zero-width-run",
    )


def _explain_in_word(value: Any) -> Explained:
    text = str(value)
    offset = next(
        (
            i
            for i, ch in enumerate(text)
            if ch in _ZW_CHARS and 0 < i < len(text) - 1 and text[i - 1].isascii() and text[i - 1].isalpha()
        ),
        0,
    )
    return Explained(
        offset,
        f"Cell has zero-width characters inside Latin words, which split them for filters and tokenizers "
        f"while they look intact. {_STRIP}",
        snippet(text, offset),
        "zero-width-in-word",
    )


def _explain_selectors(value: Any) -> Explained:
    text = str(value)
    offset = _first_run(text)
    end = offset
    while end < len(text) and is_selector(text[end]):
        end += 1
    decoded = decode_variation_selectors(text[offset:end])
    readable = printable_text(decoded.encode("utf-8")) is not None
    return Explained(
        offset,
        f"Cell carries {end - offset} variation selectors in a row, which encode hidden bytes behind a "
        f"visible character. {_STRIP}",
        f"decoded bytes as text: {escape(decoded)[:400]!r} | raw: {safe_snippet(text, offset)}",
        "variation-selectors",
        severity=None if readable else Severity.MEDIUM,
    )


def _first_run(text: str) -> int:
    run = 0
    for index, ch in enumerate(text):
        run = run + 1 if is_selector(ch) else 0
        if run == 4:
            return index - 3
    return 0


DETECTOR = Detector("unicode", detect, binary=False)
