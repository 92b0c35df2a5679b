"""Prompt-injection phrases in dataset cells, in nine languages, also when hidden by obfuscation.

A training set, RAG corpus or evaluation set is read by models: a cell saying "ignore all previous
instructions" is an instruction to the next model that sees it. The hot path is one polars regex
pass per cell (anchor literals and base64-of-text shapes; hiding characters too in non-ASCII cells,
which a byte-length check separates at GB/s); the precise phrase grammars run only on the cells it
selects, base64 runs are decoded with polars kernels, and Python normalisation (``deobfuscate``) runs
only on cells that carry a hiding character. Text that discusses injection (security vocabulary, the
phrase in quotation marks, source code) and columns full of it (jailbreak research data) are graded
down instead of blocking.
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
from mlsec_dagster.scanners.datasets.detectors import injection_phrases as P
from mlsec_dagster.scanners.datasets.detectors.deobfuscate import (
    BASE64_TEXT,
    HIDING_MARKERS,
    OBFUSCATION_MARKERS,
    decoded_base64_runs,
    matching,
    normalise,
    safe_snippet,
    split_ascii,
)
from mlsec_dagster.scanners.datasets.evidence import snippet
from mlsec_dagster.scanners.datasets.model import Cells, Detector, DetectorContext, Explained, Match

_FAMILY = "dataset injection"
_GRADING = (
    " Severity: HIGH for a direct imperative in a cell of ordinary data; MEDIUM when the cell quotes the "
    "phrase or uses security vocabulary (prompt injection, jailbreak, attack, example, ...), LOW when it "
    "does both (text that discusses injection); MEDIUM with a note when 10% or more of a column's cells "
    "match (a jailbreak or red-team corpus: allow it with `allow: [injection]`)."
)
_FIX = (
    "Remove or quarantine the rows before the data reaches a model (training, fine-tuning, RAG, eval); if "
    "the column is meant to hold injection research data, declare it with `allow: [injection]` in the policy."
)

OVERRIDE = define(
    "MLS-PIJ-001",
    "Prompt injection: instruction override",
    Severity.HIGH,
    "A cell tells the model to ignore, forget or bypass its previous instructions (e.g. 'ignore all "
    "previous instructions', 'ignoriere alle vorherigen Anweisungen', '忽略之前的所有指令'), in English, "
    "Spanish, German, French, Portuguese, Italian, Russian, Chinese or Japanese. 'Ignore my previous "
    "instructions' (a user correcting themselves) is not matched." + _GRADING,
    _FIX,
    family=_FAMILY,
)
EXFILTRATION = define(
    "MLS-PIJ-002",
    "Prompt injection: system-prompt exfiltration",
    Severity.HIGH,
    "A cell asks the model to reveal, print or repeat its system prompt or initial instructions ('repeat "
    "the words above', 'muestra tu prompt del sistema'), the first step of prompt theft." + _GRADING,
    _FIX,
    family=_FAMILY,
)
ROLEPLAY = define(
    "MLS-PIJ-003",
    "Prompt injection: role-play jailbreak",
    Severity.HIGH,
    "A cell installs a jailbreak persona: DAN / 'Do Anything Now', 'you are now an AI without any "
    "restrictions', 'developer mode', and their translations." + _GRADING,
    _FIX,
    family=_FAMILY,
)
DELIMITER = define(
    "MLS-PIJ-004",
    "Prompt injection: chat-template delimiter",
    Severity.HIGH,
    "A cell contains chat-template control text (`<|im_start|>system`, `[INST]`, `<<SYS>>`, `</system>`, "
    "`### System:`, `<|eot_id|>`): when the row is templated, it closes the user turn and opens a fake "
    "system or assistant turn. In source code (a ``` fence, import/def/print/f-strings) it is MEDIUM "
    "(code Q&A, prompt tooling)." + _GRADING,
    _FIX + " If the column holds pre-templated conversations, allow it with `allow: [injection]`.",
    family=_FAMILY,
)
TOOL_CALL = define(
    "MLS-PIJ-005",
    "Prompt injection: forged tool or function call",
    Severity.HIGH,
    'A cell contains a tool/function-call structure (`{"tool_call": ...`, `"function_call"`, '
    '`<tool_call>`, `"name": ..., "arguments": ...`) addressed to an assistant: an agent that reads '
    "it may execute the call. In source code (a ``` fence, import/def/print/json.dumps) it is MEDIUM "
    "(code Q&A)." + _GRADING,
    _FIX + " Function-calling training sets keep tool calls in their own column: allow that column.",
    family=_FAMILY,
)
OBFUSCATED = define(
    "MLS-PIJ-006",
    "Prompt injection hidden by obfuscation",
    Severity.HIGH,
    "An injection phrase appears only after undoing a hiding trick: zero-width characters inside words, "
    "Unicode tag-block smuggling (invisible ASCII), variation-selector smuggling, bidi controls, Cyrillic/"
    "Greek homoglyphs, fullwidth or mathematical letters, or a base64-wrapped text. Hiding is itself "
    "intent, so this stays HIGH even in text that discusses injection; only a column-level share of 10% or "
    "more (a research corpus) lowers it to MEDIUM. The evidence shows the decoded text and the trick used.",
    _FIX,
    family=_FAMILY,
)

# --- pattern assembly --------------------------------------------------------------------------------

_WS = "[ \\t\\r\\n]+"
_LATIN_BEFORE = "(?:^|[^A-Za-z\\u00C0-\\u024F\\u0400-\\u04FF])"
"""Polars has no look-behind: a phrase starts at the cell start or after a non-letter."""
_PY_BEFORE = "(?<![A-Za-z\\u00C0-\\u024F\\u0400-\\u04FF])"
_SPACED = frozenset({"en", "es", "de", "fr", "pt", "it", "ru"})


def _spaces(fragment: str) -> str:
    """Each space outside a character class becomes 'one or more whitespace characters'."""
    out: list[str] = []
    in_class = escaped = False
    for ch in fragment:
        if escaped:
            out.append(ch)
            escaped = False
        elif ch == "\\":
            out.append(ch)
            escaped = True
        elif ch == "[" and not in_class:
            in_class = True
            out.append(ch)
        elif ch == "]" and in_class:
            in_class = False
            out.append(ch)
        else:
            out.append(_WS if ch == " " and not in_class else ch)
    return "".join(out)


def _alt(items: tuple[str, ...]) -> str:
    return "(?:" + "|".join(_spaces(i) for i in items) + ")"


def _override_grammar(g: dict[str, tuple[str, ...]]) -> str:
    v, q, p, d, a, n = (_alt(g[k]) for k in ("verbs", "quant", "poss", "det", "adj", "nouns"))
    s = _WS
    body = (
        f"(?:{q}{s}(?:{d}{s})?(?:{a}{s}){{0,2}}{n}(?:{s}{a})?"
        f"|{p}{s}(?:{a}{s}){{0,2}}{n}(?:{s}{a})?"
        f"|(?:{d}{s})?(?:{a}{s}){{1,2}}{n}"
        f"|(?:{d}{s})?{n}{s}{a})"
    )
    return f"{v}{s}{body}"


def _phrases(category: str) -> list[tuple[str, str]]:
    """(language, regex without the leading boundary) pairs of one category."""
    out: list[tuple[str, str]] = []
    if category == "override":
        for lang, grammar in P.OVERRIDE.items():
            out.append((lang, _override_grammar(grammar)))
        for lang, extras in P.OVERRIDE_EXTRA.items():
            out.extend((lang, _spaces(x)) for x in extras)
    elif category in ("exfiltration", "roleplay"):
        table = P.EXFILTRATION if category == "exfiltration" else P.ROLEPLAY
        for lang, items in table.items():
            out.extend((lang, _spaces(x)) for x in items)
    else:
        items = P.DELIMITER if category == "delimiter" else P.TOOL_CALL
        out.extend(("any", _spaces(x)) for x in items)
    return out


@dataclass(frozen=True)
class _Category:
    name: str
    rule: Rule
    what: str
    polars: str
    """Case-insensitive alternation for polars, with a letter-boundary prefix."""
    quoted: str
    """The same phrases right after a quotation mark (polars)."""
    python: re.Pattern[str]
    """Named groups ``<lang>_<n>`` tell which table matched (explain only)."""


def _category(name: str, rule: Rule, what: str) -> _Category:
    phrases = _phrases(name)
    polars_parts: list[str] = []
    python_parts: list[str] = []
    for index, (lang, body) in enumerate(phrases):
        spaced = lang in _SPACED
        polars_parts.append(f"{_LATIN_BEFORE}(?:{body})" if spaced else f"(?:{body})")
        python_parts.append(f"(?P<{lang}_{index}>{_PY_BEFORE if spaced else ''}(?:{body}))")
    bare = "|".join(f"(?:{body})" for _, body in phrases)
    quotes = re.escape(P.QUOTES)
    return _Category(
        name,
        rule,
        what,
        "(?i)" + "|".join(polars_parts),
        f"(?i)[{quotes}][ \\t]?(?:{bare})",
        re.compile("|".join(python_parts), re.IGNORECASE),
    )


CATEGORIES: tuple[_Category, ...] = (
    _category("override", OVERRIDE, "an instruction-override phrase telling a model to drop its rules"),
    _category("exfiltration", EXFILTRATION, "a request for the model's system prompt or hidden instructions"),
    _category("delimiter", DELIMITER, "chat-template control text that forges a system or assistant turn"),
    _category("toolcall", TOOL_CALL, "a forged tool/function call an agent may execute"),
    _category("roleplay", ROLEPLAY, "a role-play jailbreak persona (DAN, 'no restrictions', developer mode)"),
)
"""Priority order: a cell is reported once, under the first category it matches (the most specific
structure first: a forged system turn often also installs a persona)."""

_WORDY = tuple(t for t in P.DISCUSSION if t[0].isascii() or "\u00c0" <= t[0] <= "\u04ff")
DISCUSSION = (
    f"(?i){_LATIN_BEFORE}(?:{'|'.join(re.escape(t) for t in _WORDY)})"
    f"|(?:{'|'.join(re.escape(t) for t in P.DISCUSSION if t not in _WORDY)})"
)
"""Security vocabulary; Latin and Cyrillic terms only at the start of a word."""

_ANCHORS = "|".join(re.escape(a) for a in (*P.ANCHORS, *P.ANCHORS_OTHER))
PREFILTER = f"(?i:{_ANCHORS})|{OBFUSCATION_MARKERS}"
"""The one full pass over non-ASCII cells: any anchor literal, hiding trick or base64-of-text run."""
PREFILTER_ASCII = "(?i:" + "|".join(re.escape(a) for a in P.ANCHORS if a.isascii()) + f")|{BASE64_TEXT}"
"""The same for pure-ASCII cells (most of an English dataset): no Unicode classes, a faster scan."""

RESEARCH_SHARE = 0.10
RESEARCH_MIN = 25
"""A column with at least this share (and count) of matching cells is injection data, not poisoned data."""

# --- detection ---------------------------------------------------------------------------------------


_ANY_CATEGORY = "(?i)" + "|".join(c.polars.removeprefix("(?i)") for c in CATEGORIES)


def _classify(values: pl.Series) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Category index per value (-1: none): one union regex, then the categories on its hits only."""
    result = np.full(values.len(), -1, dtype=np.int64)
    todo = np.flatnonzero(values.str.contains(_ANY_CATEGORY).fill_null(False).to_numpy()).astype(np.int64)
    for number, category in enumerate(CATEGORIES):
        if todo.size == 0:
            break
        hit = values.gather(todo).str.contains(category.polars).fill_null(False).to_numpy()
        result[todo[hit]] = number
        todo = todo[~hit]
    return result


_STRUCTURAL = ("delimiter", "toolcall")
CODE_CONTEXT = (
    r"```|(?m:^[ \t]*(?:import|from|def|class|const|let|var|function|return|async|await)[ \t])"
    r"|print\(|console\.log|=>|\bf\"|\.format\(|json\.dumps|\btokenizer\."
)
"""Signs that a template token or tool-call JSON sits in source code (code Q&A, prompt tooling)."""
_CODE_CONTEXT = re.compile(CODE_CONTEXT)


def _discussion_grade(values: pl.Series, category: _Category) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Per value: 0 plain imperative, 1 discussed or quoted, 2 both (cell-level, vectorised)."""
    vocab = values.str.contains(DISCUSSION).fill_null(False)
    quoted = values.str.contains(category.quoted).fill_null(False)
    if category.name in _STRUCTURAL:
        quoted = quoted | values.str.contains(CODE_CONTEXT).fill_null(False)
    return vocab.cast(pl.Int64).to_numpy() + quoted.cast(pl.Int64).to_numpy()


_GRADE_SEVERITY = (Severity.HIGH, Severity.MEDIUM, Severity.LOW)
_GRADE_NOTE = (
    "",
    "Graded MEDIUM: the cell quotes the phrase, uses security vocabulary or is source code, so it may "
    "discuss or implement prompt handling rather than perform an injection.",
    "Graded LOW: the cell quotes the phrase and uses security vocabulary, so it most likely discusses "
    "prompt injection.",
)


def detect(cells: Cells, ctx: DetectorContext) -> Iterator[Match]:
    values = cells.values
    if values.len() == 0:
        return
    ascii_cells, other_cells = split_ascii(values)
    candidates = np.sort(
        np.concatenate(
            (matching(values, ascii_cells, PREFILTER_ASCII), matching(values, other_cells, PREFILTER))
        )
    )
    if candidates.size == 0:
        return
    sub = values.gather(candidates)
    direct = _classify(sub)
    obfuscated = _obfuscated(sub, direct)
    total = int((direct >= 0).sum() + (obfuscated >= 0).sum())
    if total == 0:
        return
    nonnull = values.len() - values.null_count()
    research = not cells.header and total >= RESEARCH_MIN and total >= RESEARCH_SHARE * nonnull
    column_note = (
        f"{total} of {nonnull} cells in this column match injection phrases: it looks like injection or "
        "red-team data, so this is MEDIUM; declare the column with `allow: [injection]` if that is intended."
        if research
        else ""
    )
    matches: list[Match] = []
    for number, category in enumerate(CATEGORIES):
        where = np.flatnonzero(direct == number)
        if where.size:
            grades = _discussion_grade(sub.gather(where), category)
            for grade in (0, 1, 2):
                chosen = np.sort(candidates[where[grades == grade]])
                if chosen.size:
                    severity = _GRADE_SEVERITY[grade]
                    if research:
                        severity = min(severity, Severity.MEDIUM)
                    note = " ".join(n for n in (_GRADE_NOTE[grade], column_note) if n)
                    matches.append(Match(category.rule, chosen, _explain_direct(category), severity, note))
        hidden = np.sort(candidates[obfuscated == number])
        if hidden.size:
            severity = Severity.MEDIUM if research else Severity.HIGH
            matches.append(Match(OBFUSCATED, hidden, _explain_obfuscated(category), severity, column_note))
    matches.sort(key=lambda m: -(m.severity or m.rule.severity))
    yield from matches


def _obfuscated(sub: pl.Series, direct: np.ndarray[Any, np.dtype[np.int64]]) -> np.ndarray[Any, Any]:
    """Category per candidate found only after undoing a hiding trick.

    Cells with hiding characters (rare) are normalised in Python; base64 runs are decoded and
    matched with polars kernels, so a column of tokens or data URIs never reaches Python.
    """
    result = np.full(sub.len(), -1, dtype=np.int64)
    open_cells = direct < 0
    hiding = np.zeros(sub.len(), dtype=bool)
    non_ascii = np.flatnonzero(  # every hiding character is non-ASCII: a length check skips the rest
        (sub.str.len_bytes() != sub.str.len_chars()).fill_null(False).to_numpy() & open_cells
    )
    if non_ascii.size:
        hiding[non_ascii] = sub.gather(non_ascii).str.contains(HIDING_MARKERS).fill_null(False).to_numpy()
    where = np.flatnonzero(hiding)
    if where.size:
        texts: list[str] = []
        for value in sub.gather(where).to_list():
            normal = normalise(value)
            texts.append(normal.text if normal.methods else "")
        result[where] = _classify(pl.Series(texts, dtype=pl.String))
    encoded = np.flatnonzero(sub.str.contains(BASE64_TEXT).fill_null(False).to_numpy() & open_cells & ~hiding)
    if encoded.size:
        owners, decoded = decoded_base64_runs(sub.gather(encoded))
        categories = _classify(decoded.fill_null(""))
        for owner, category in sorted(zip(owners[categories >= 0], categories[categories >= 0], strict=True)):
            cell = encoded[owner]
            if result[cell] < 0 or category < result[cell]:
                result[cell] = category
    return result


def _lang(match: re.Match[str]) -> str:
    return (match.lastgroup or "any_0").rsplit("_", 1)[0]


def _explain_direct(category: _Category) -> Callable[[Any], Explained]:
    def explain(value: Any) -> Explained:
        text = str(value)
        found = category.python.search(text)
        offset = found.start() if found else None
        lang = _lang(found) if found else "any"
        fenced = category.name in _STRUCTURAL and _CODE_CONTEXT.search(text) is not None
        return Explained(
            offset,
            f"Cell contains {category.what} ({lang}); a model that reads this text (training, RAG, "
            f"evaluation) may follow it. {_FIX}",
            snippet(text, offset),
            f"{category.name}/{lang}",
            families=("code",) if fenced else (),
        )

    return explain


def _explain_obfuscated(category: _Category) -> Callable[[Any], Explained]:
    def explain(value: Any) -> Explained:
        text = str(value)
        normal = normalise(text)
        found = category.python.search(normal.text)
        lang = _lang(found) if found else "any"
        how = ", ".join(normal.methods) or "normalisation"
        decoded = snippet(normal.text, found.start() if found else 0)
        raw = safe_snippet(text, normal.first_offset)
        return Explained(
            normal.first_offset,
            f"Cell hides {category.what} ({lang}) using {how}; the hidden text is invisible to a human "
            f"reviewer but read by a model. {_FIX}",
            f"decoded ({how}): {decoded} | raw: {raw}",
            f"{category.name}/{lang}/{'+'.join(normal.methods)}",
        )

    return explain


DETECTOR = Detector("injection", detect, binary=False)
