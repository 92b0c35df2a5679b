"""HTML and JavaScript in text cells: what runs, loads or hides when a cell is rendered.

Labeling tools, dataset viewers and notebooks render cells as HTML. A ``<script>`` or an
``onerror=`` attribute planted in one cell runs in the reviewer's browser session; CSS-hidden text
shows a human reviewer nothing while the model trains on it. Raw HTML is normal in two places, so
those are graded down instead of silenced: web-crawl columns (most cells are HTML) and code
discussions (fenced or ``<code>`` blocks that a renderer shows as text).

The module also holds the small vectorised helpers the other text detectors share.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from mlsec_dagster.engine.findings import Severity
from mlsec_dagster.engine.rules import Rule, define
from mlsec_dagster.scanners.datasets.evidence import snippet
from mlsec_dagster.scanners.datasets.model import Cells, Detector, DetectorContext, Explained, Match

Indices = np.ndarray[Any, np.dtype[np.int64]]

_FAMILY = "dataset html"
HTML_SHARE = 0.2
"""A column where at least this share of non-null cells holds HTML tags is HTML data (web crawl)."""

# ---------------------------------------------------------------- shared vectorised helpers


def refine(values: pl.Series, where: Indices, pattern: str) -> Indices:
    """The subset of ``where`` whose value matches ``pattern`` (a polars/Rust regex)."""
    if len(where) == 0:
        return where
    mask = values.gather(where).str.contains(pattern).fill_null(False).to_numpy()
    return where[mask]


def share(values: pl.Series, count: int) -> float:
    """``count`` as a share of the non-null values."""
    present = len(values) - values.null_count()
    return count / present if present else 0.0


_FENCE = re.compile(r"```|~~~")
_CODE_OPEN = re.compile(r"(?i)<(code|pre|xmp|textarea)[\s>]")
_CODE_CLOSE = re.compile(r"(?i)</(code|pre|xmp|textarea)\s*>")
CODE_MARKERS = ("```", "~~~", "<code", "<pre")
"""Literals that make a cell look like programming Q&A (counted for the column-level re-grade)."""
_CODE_MARKERS_RE = "|".join(CODE_MARKERS)


def code_share(values: pl.Series) -> float:
    """Share of cells that show code: a column above ``HTML_SHARE`` is programming Q&A."""
    return share(values, int(values.str.contains(_CODE_MARKERS_RE).fill_null(False).sum()))


def code_context(value: str, offset: int) -> str:
    """Why the text at ``offset`` is shown as code (not rendered) by a markdown/HTML renderer, or ""."""
    before = value[:offset]
    if len(_FENCE.findall(before)) % 2 == 1:
        return "inside a fenced code block"
    opened = [m.end() for m in _CODE_OPEN.finditer(before)]
    closed = [m.end() for m in _CODE_CLOSE.finditer(before)]
    if opened and (not closed or opened[-1] > closed[-1]):
        return "inside a <code>/<pre> element"
    line_start = before.rfind("\n") + 1
    if before[line_start:].count("`") % 2 == 1:
        return "inside inline code"
    line = before[line_start:]
    if line.startswith(("    ", "\t")) and line_start > 0 and not line.strip(" \t").startswith(("-", "*")):
        return "in an indented code block"
    if line.lstrip().startswith(("$ ", "# ", "> ", "PS> ", "PS C:")):
        return "on a shell prompt line"
    return ""


def discusses_code(value: str) -> bool:
    """A cell that shows code elsewhere (fences, ``<code>``) is a code discussion, not a page."""
    lowered = value.lower()
    return any(marker in lowered for marker in CODE_MARKERS)


# ---------------------------------------------------------------- rules

SCRIPT = define(
    "MLS-HTM-001",
    "Script element in a text cell",
    Severity.HIGH,
    "A cell contains a `<script>` element. Dataset viewers, labeling tools and notebooks that render "
    "cells as HTML run it in the reviewer's session (stored XSS), and a model trained on it learns to "
    "emit it. Judgement: HIGH in a column of plain text; MEDIUM in a column where more than ~20% of "
    "cells are HTML (web-crawl data, where scripts are page furniture) and MEDIUM inside a fenced code "
    "block, `<code>`/`<pre>` or a programming Q&A cell (shown as text, family `code` also covers it).",
    "Strip HTML from the column, or declare the column in `policy.dataset_rules.columns` with "
    "`allow: [html]` if raw HTML is expected there.",
    family=_FAMILY,
)
EVENT_HANDLER = define(
    "MLS-HTM-002",
    "HTML event-handler attribute",
    Severity.HIGH,
    "A tag in a cell carries an event-handler attribute (`onerror=`, `onload=`, `onmouseover=`...): "
    "the classic script-free XSS vector (`<img src=x onerror=...>`, `<svg/onload=...>`). Graded like "
    "MLS-HTM-001: HIGH in plain text, MEDIUM in HTML-heavy columns and in code blocks or Q&A cells.",
    "Strip HTML (or at least attributes) from the column, or allow `html` for a crawl column.",
    family=_FAMILY,
)
SCRIPT_URI = define(
    "MLS-HTM-003",
    "Script-running URI (javascript:, vbscript:, data:text/html)",
    Severity.HIGH,
    "A link or attribute value uses a `javascript:`/`vbscript:` URI, an HTML/JavaScript `data:` URI, "
    "or an attribute value hidden behind numeric character references (`&#106;avascript:`). Clicking "
    "or rendering it runs code. Prose like 'JavaScript: the good parts' is not matched (a space after "
    "the colon outside an attribute or link). Graded like MLS-HTM-001.",
    "Remove the URI or replace it with an https link; allow `html` only for crawl columns.",
    family=_FAMILY,
)
EMBED = define(
    "MLS-HTM-004",
    "Embedding or redirecting HTML element",
    Severity.HIGH,
    "A cell contains an element that loads or redirects to other content when rendered: `<iframe>`, "
    "`<frame>`, `<object>`, `<embed>`, `<applet>`, `<portal>`, `<base href>` (rewrites every relative "
    "link) or `<meta http-equiv=refresh>`. In a reviewer's browser that is a drive-by or phishing page "
    "inside the labeling tool. Only elements with attributes match, so Java generics like "
    "`List<Object>` do not. Graded like MLS-HTM-001.",
    "Strip HTML from the column, or allow `html` if it is crawl data.",
    family=_FAMILY,
)
HIDDEN_TEXT = define(
    "MLS-HTM-005",
    "Text hidden with CSS",
    Severity.MEDIUM,
    "An element hides its text from a human reading the rendered cell (`display:none`, "
    "`visibility:hidden`, `font-size:0`, `opacity:0`, transparent colour, zero-size clipping, "
    "off-screen positioning or `text-indent`, the `hidden` attribute) while a model trained or prompted "
    "with the text still reads it: the carrier of indirect prompt injection. MEDIUM; HIGH when the "
    "hidden text reads like instructions to a model; LOW in HTML-heavy columns (menus and pop-ups of "
    "crawled pages hide text all the time).",
    "Remove hidden elements (or all HTML) from the column before training or prompting.",
    family=_FAMILY,
)

# ---------------------------------------------------------------- patterns (Rust and Python syntax)

_SCRIPT = r"(?i)<script[ \t\r\n/>]"
EVENT_NAMES = (
    "abort", "activate", "afterprint", "animationend", "animationiteration", "animationstart", "auxclick",
    "beforecopy", "beforecut", "beforeinput", "beforepaste", "beforeprint", "beforetoggle", "beforeunload",
    "begin", "blur", "cancel", "canplay", "canplaythrough", "change", "click", "close", "contextmenu",
    "copy", "cuechange", "cut", "dblclick", "drag", "dragend", "dragenter", "dragleave", "dragover",
    "dragstart", "drop", "durationchange", "emptied", "end", "ended", "error", "focus", "focusin",
    "focusout", "formdata", "fullscreenchange", "hashchange", "input", "invalid", "keydown", "keypress",
    "keyup", "load", "loadeddata", "loadedmetadata", "loadend", "loadstart", "message", "messageerror",
    "mousedown", "mouseenter", "mouseleave", "mousemove", "mouseout", "mouseover", "mouseup",
    "mousewheel", "offline", "online", "pagehide", "pagereveal", "pageshow", "paste", "pause", "play",
    "playing", "pointercancel", "pointerdown", "pointerenter", "pointerleave", "pointermove", "pointerout",
    "pointerover", "pointerrawupdate", "pointerup", "popstate", "progress", "ratechange",
    "readystatechange", "repeat", "reset", "resize", "scroll", "scrollend", "search", "seeked", "seeking",
    "select", "selectionchange", "selectstart", "show", "slotchange", "stalled", "storage", "submit",
    "suspend", "timeupdate", "toggle", "touchcancel", "touchend", "touchmove", "touchstart",
    "transitioncancel", "transitionend", "transitionrun", "transitionstart", "unload", "volumechange",
    "waiting", "webkitanimationend", "webkittransitionend", "wheel", "contentvisibilityautostatechange",
)  # fmt: skip
"""Event-handler attribute names (HTML, SVG, legacy): ``on`` + one of these. A list, not any ``on...``,
so attribute values like ``?online=1`` or ``onion=`` are not handlers."""
_EVENT = r"(?i)<[a-z][^<>]*?[ \t\r\n/\"'](on(?:" + "|".join(EVENT_NAMES) + r"))[ \t\r\n]*="
_URI = (
    r"(?i)(?:(?:[=(\"'<`]|\]\()[ \t\r\n]*((?:java|vb|live)[ \t\r\n]*script)[ \t\r\n]*:"
    r"|((?:java|vb)script):[^ \t\r\n]"
    r"|(data):[ \t\r\n]*(?:text/html|application/xhtml|text/javascript|application/(?:x-)?javascript)"
    r"|[ \t\r\n](?:href|src|action|formaction|xlink:href|data)[ \t\r\n]*=[ \t\r\n]*[\"']?[ \t\r\n]*(&#))"
)
_EMBED = (
    r"(?i)<(iframe|frame|frameset|object|embed|applet|portal|base)[ \t\r\n/]"
    r"|<(meta)[^<>]*http-equiv[ \t\r\n]*=[ \t\r\n]*[\"']?refresh"
)
_NUM0 = r"[ \t\r\n]*0+(?:\.0+)?(?:px|pt|em|rem|%|vh|vw)?[ \t\r\n]*(?:[;\"'!}]|$)"
_HIDDEN = (
    r"(?i)(?:<[a-z][a-z0-9]*[^<>]*?[ \t\r\n/\"']style[ \t\r\n]*=[ \t\r\n]*[\"']?[^\"'<>]*?"
    r"(display[ \t\r\n]*:[ \t\r\n]*none|visibility[ \t\r\n]*:[ \t\r\n]*hidden"
    r"|font-size[ \t\r\n]*:"
    + _NUM0
    + r"|opacity[ \t\r\n]*:"
    + _NUM0
    + r"|color[ \t\r\n]*:[ \t\r\n]*transparent"
    r"|(?:left|top|right|text-indent|margin-left|margin-top)[ \t\r\n]*:[ \t\r\n]*-[0-9]{3,}"
    r"|clip[ \t\r\n]*:[ \t\r\n]*rect\([ \t\r\n]*0"
    r"|(?:max-)?(?:height|width)[ \t\r\n]*:[ \t\r\n]*0(?:px)?[ \t\r\n]*;"
    r"[^\"'<>]*overflow[ \t\r\n]*:[ \t\r\n]*hidden)"
    r"|<[a-z][a-z0-9]*[^<>]*[ \t\r\n](hidden)(?:[ \t\r\n/>=]|$))"
)
_TAGGED = r"<[a-zA-Z/!]"
"""Every element rule needs a tag opening: a SIMD search for ``<``, then one byte (~10 GB/s)."""
_URI_HINTS = "script|\u017fcript|data:"
"""Script URIs outside tags (markdown links) need ``script`` or ``data:``, searched in the shared
lower-cased text (``\u017f`` is the long s that Unicode case folding also reads as ``s``). Kept out
of the tag pass: one alternation of both drops the literal search from ~4 GB/s to ~1 GB/s."""

_INSTRUCTIONS = re.compile(
    r"(?i)\b(ignore|disregard|forget)\b.{0,40}\b(instructions?|previous|prior|above|rules)\b"
    r"|system prompt|you are now|new instructions|\b(assistant|ai|llm|chatbot|model)\b.{0,30}\b(must|should|"
    r"will|always|never)\b|do not (tell|reveal|mention)"
)
_CLOSE_TAG = re.compile(r">")

_MESSAGES: dict[str, str] = {
    SCRIPT.id: "Cell contains a <script> element; a dashboard or labeling tool that renders this text runs "
    "it. Strip HTML from this column or declare it with `allow: [html]` if raw HTML is expected.",
    EVENT_HANDLER.id: "Cell contains an HTML tag with an `{key}` event-handler attribute, which runs "
    "JavaScript when the cell is rendered. Strip HTML (or attributes) from this column.",
    SCRIPT_URI.id: "Cell contains a `{key}` URI that runs code when rendered or clicked. Remove it or "
    "replace it with an https link.",
    EMBED.id: "Cell contains an HTML <{key}> element, which loads or redirects to other content when "
    "rendered. Strip HTML from this column or allow `html` if it is crawl data.",
    HIDDEN_TEXT.id: "Cell hides text from a human reviewer with CSS ({key}) while a model still reads it. "
    "Remove the hidden element or strip HTML from this column.",
}
_HTML_NOTE = (
    "Graded down: {pct:.0%} of this column's cells are HTML (web-crawl data?); declare the column with "
    "`allow: [html]` in `policy.dataset_rules.columns` if raw HTML is expected."
)
_CODE_NOTE = "Graded down: {pct:.0%} of this column's cells show code (programming Q&A?)."


@dataclass(frozen=True)
class _Probe:
    rule: Rule
    hint: str
    """Case-sensitive regex over the lower-cased candidate that every match needs; it starts with a
    literal, so it runs at memory speed and the slower precise pattern sees only the cells it passes."""
    pattern: str
    compiled: re.Pattern[str]
    outside_tags: bool = False
    """Also matches without a tag (``[x](javascript:...)``), so it also runs on the URI hints."""


def _probe(rule: Rule, hint: str, pattern: str, outside_tags: bool = False) -> _Probe:
    return _Probe(rule, hint, pattern, re.compile(pattern), outside_tags)


_PROBES = (
    _probe(SCRIPT, "<script", _SCRIPT),
    _probe(EVENT_HANDLER, r"[ \t\r\n/\"']on[a-z]{3,30}[ \t\r\n]*=", _EVENT),
    _probe(SCRIPT_URI, r"script[ \t\r\n]*:|data:|&#", _URI, outside_tags=True),
    _probe(EMBED, "<iframe|<frame|<object|<embed|<applet|<portal|<base|<meta", _EMBED),
    _probe(HIDDEN_TEXT, "style|hidden", _HIDDEN),
)


@dataclass(frozen=True)
class _Column:
    """What the column looks like as a whole, measured once per batch and only when something hit."""

    html: float
    code: float

    @property
    def is_html(self) -> bool:
        return self.html >= HTML_SHARE

    @property
    def is_code(self) -> bool:
        return self.code >= HTML_SHARE


def _column(cells: Cells, tagged: int) -> _Column:
    if cells.header:
        return _Column(0.0, 0.0)
    return _Column(share(cells.values, tagged), code_share(cells.values))


def _start(match: re.Match[str] | None, at_group: bool) -> int | None:
    """Where the match starts; for URIs, where the scheme itself starts (not the quote before it)."""
    if match is None:
        return None
    if at_group:
        starts = [match.start(i) for i in range(1, (match.re.groups or 0) + 1) if match.group(i)]
        if starts:
            return starts[0]
    return match.start()


def _key(match: re.Match[str]) -> str:
    groups = [g for g in match.groups() if g]
    if not groups:
        return "script"
    return re.sub(r"[ \t\r\n]+", "", groups[0].lower()).rstrip(";\"'!}")


def _explainer(probe: _Probe, column: _Column) -> Callable[[Any], Explained]:
    def explain(value: Any) -> Explained:
        text = str(value)
        found = probe.compiled.search(text)
        offset = _start(found, probe.rule is SCRIPT_URI)
        key = _key(found) if found else probe.rule.id
        if key == "&#":
            key = "character-reference encoded"
        message = _MESSAGES[probe.rule.id].format(key=key)
        severity: Severity | None = None
        families: tuple[str, ...] = ()
        where = code_context(text, offset) if offset is not None else ""
        if probe.rule is HIDDEN_TEXT:
            if found and not column.is_html and _hides_instructions(text, found.end()):
                severity = Severity.HIGH
                message += " The hidden text reads like instructions to a model (indirect prompt injection)."
        elif where or column.is_code or discusses_code(text):
            severity = Severity.MEDIUM
            families = ("code",)
            if where:
                message += f" It is {where}, so graded MEDIUM."
            elif not column.is_code:
                message += " The cell shows code blocks (a code discussion), so graded MEDIUM."
        return Explained(offset, message, snippet(text, offset), key, severity, families)

    return explain


def _hides_instructions(text: str, end: int) -> bool:
    tail = text[end : end + 2000]
    close = _CLOSE_TAG.search(tail)
    hidden = tail[close.end() : close.end() + 400] if close else tail[:400]
    return _INSTRUCTIONS.search(hidden) is not None


def _mask(values: pl.Series, pattern: str) -> pl.Series:
    return values.str.contains(pattern).fill_null(False)


def detect(cells: Cells, ctx: DetectorContext) -> Iterator[Match]:
    values = cells.values
    tagged = _mask(values, _TAGGED).to_numpy()
    anywhere = tagged | _mask(cells.lowered, _URI_HINTS).to_numpy()
    where = np.flatnonzero(anywhere).astype(np.int64)
    if len(where) == 0:
        return
    lowered = cells.lowered.gather(where)
    tagged_here = pl.Series(tagged[where])
    column: _Column | None = None
    for probe in _PROBES:
        hinted = _mask(lowered, probe.hint)
        if not probe.outside_tags:
            hinted = hinted & tagged_here
        hits = refine(values, where[hinted.to_numpy()], probe.pattern)
        if len(hits) == 0:
            continue
        if column is None:
            column = _column(cells, int(tagged.sum()))
        severity, note = None, ""
        if column.is_html:
            severity = Severity.LOW if probe.rule is HIDDEN_TEXT else Severity.MEDIUM
            note = _HTML_NOTE.format(pct=column.html)
        elif column.is_code and probe.rule is not HIDDEN_TEXT:
            severity, note = Severity.MEDIUM, _CODE_NOTE.format(pct=column.code)
        yield Match(probe.rule, hits, _explainer(probe, column), severity, note)


DETECTOR = Detector("html", detect, binary=False)
