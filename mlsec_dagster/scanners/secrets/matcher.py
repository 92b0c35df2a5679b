"""Where in a text the credentials are: token shapes, then keyword assignments judged by entropy.

Speed comes from doing almost nothing on clean text: one compiled regex of every pattern's literal
(cased prefixes, plus case-folded context words such as ``wandb`` or ``password``) runs over the
whole text; only the patterns whose literal occurred run their precise regex, and the generic
assignment check looks only at the lines holding a keyword. Everything here works on ``str`` and
returns character offsets; callers turn them into lines, cells or byte offsets.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass
from functools import cache

from mlsec_dagster.engine.findings import Severity
from mlsec_dagster.engine.rules import Rule
from mlsec_dagster.scanners.secret_patterns import (
    ANTHROPIC,
    AWS_KEY,
    HUGGINGFACE,
    OPENAI,
    PATTERNS,
    SLACK,
    TEXT_PATTERNS,
    WANDB,
    SecretPattern,
    aws_secret_near,
    fingerprint,
    is_placeholder,
    literal_alternation,
)
from mlsec_dagster.scanners.secrets.rules import GENERIC

_END = r"(?:[^A-Za-z0-9_]|$)"

LOOSE_PATTERNS: tuple[SecretPattern, ...] = (
    SecretPattern(
        HUGGINGFACE, "huggingface-token-alnum", "a Hugging Face access token",
        r"(hf_[A-Za-z0-9]{34})" + _END, ("hf_",), group=1,
    ),
    SecretPattern(
        OPENAI, "openai-key-context", "an OpenAI API key",
        r"(?i:openai)[^\r\n]{0,60}?[^A-Za-z0-9_-](sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{32,200})",
        (), group=1, folded="openai",
    ),
    SecretPattern(
        ANTHROPIC, "anthropic-key-loose", "an Anthropic API key",
        r"(sk-ant-(?:api|admin)[0-9]{2}-[A-Za-z0-9_-]{40,200})", ("-ant-",), group=1,
    ),
    SecretPattern(
        SLACK, "slack-token-loose", "a Slack token", r"(xox[baprs]-[A-Za-z0-9-]{20,})", ("xox",), group=1,
    ),
    SecretPattern(
        GENERIC, "bearer-token", "a bearer token",
        r"(?i:bearer)[ \t]+([A-Za-z0-9_\-.~+/]{20,}=*)", (), group=1, folded="bearer",
    ),
    SecretPattern(
        GENERIC, "jwt", "a JSON Web Token",
        r"(eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,})", ("eyJ",), group=1,
    ),
)  # fmt: skip
"""Searched in repository text and artifact strings only, after the strict shapes (a span already
reported is not reported again): token bodies as test fixtures and other generators write them (an
``hf_`` body with digits, an Anthropic key not ending in ``AA``, a marker-less ``sk-`` key next to the
word OpenAI), Slack tokens with letters in their numeric parts, bearer tokens and JWTs (MEDIUM, as
guessed from context)."""

ALL_PATTERNS: tuple[SecretPattern, ...] = (*PATTERNS, *TEXT_PATTERNS, *LOOSE_PATTERNS)

GENERIC_WORDS = ("passw", "pwd", "secret", "token", "api_key", "apikey", "api-key")
"""Case-folded literals whose lines get the keyword-assignment check (``DB_PASSWORD=…``, ``"api_key": …``)."""
URL_LITERAL = "://"
"""Credentials in a URL (``postgres://user:pass@host``) share the generic rule."""

_ASSIGN = re.compile(
    r"(?<![\w.\-])(?P<key>[A-Za-z0-9_.\-]{3,80})[\"'\]]?[ \t]*(?::=|=>|=(?!=)|:(?![:/]))[ \t]*"
    r"(?P<q>[\"'`]?)(?P<value>[^\s\"'`,;]{8,256})(?P=q)"
)
"""Any ``name = value`` / ``"name": "value"``; the name is then judged by ``_KEY_OK``/``_KEY_NOT``. Starts
only at a word start (the look-behind), so Python's engine does not retry inside every word."""
_CAMEL = re.compile(r"([a-z0-9])([A-Z])")
_KEY_OK = re.compile(
    r"(?:^|_)(?:password|passwd|pwd|pass|secret|secret_?key|token|auth_?token|access_?token|refresh_?token"
    r"|api_?key|apikey|access_?key|auth_?key|private_?key|client_?secret|[a-z]+_token)$"
)
_KEY_NOT = re.compile(
    r"(?:^|_)(?:pad|eos|bos|unk|cls|sep|mask|special|start|end|stop|im_start|im_end|sot|eot|additional|chat"
    r"|image|audio|video|vision|max|num|n|min|total|prompt|completion|input|output|next|first|last|new|sos"
    r"|decoder_start|boi|eoi|boa|eoa|tool|think)_token$|_(?:file|path|dir|url|uri|env|name|type|len|length)$"
)
_URL_CREDS = re.compile(
    r"[A-Za-z][A-Za-z0-9+.\-]{1,20}://[^\s:/@'\"]{1,64}:(?P<value>[^\s/@'\"]{6,128})@(?P<host>[\w.\-]+)"
)
_REFERENCE = re.compile(
    r"^\$|\$\{|\{[^}]*\}|%\(|<[^>]*>|os\.environ|getenv|^env\.|^secrets\.|^vault:|^\*+$|^!|\(|\)"
)
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_CONSTANT_NAME = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$")
"""``ENV_GITHUB_TOKEN = "GITHUB_TOKEN"``: the name of a variable, not its value."""
_DOTTED_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+$")
_WORDS = frozenset(
    {
        "password", "changeme", "change_me", "changeit", "secret", "required", "optional", "string", "none",
        "null", "true", "false", "undefined", "notset", "replace_me", "replaceme", "todo", "tbd", "hidden",
        "masked", "p@ssw0rd", "password123", "letmein", "qwerty123", "mysecretpassword", "supersecret",
        "s3cr3t", "secretpassword", "your-secret-key", "insecure", "default",
    }
)  # fmt: skip
"""Whole values that are stand-ins, not credentials (compared case-folded)."""

MIN_ENTROPY = 3.0
"""Shannon bits per character a keyword-assigned value needs (detect-secrets uses 3.0 for hex strings,
4.5 for base64 with no context; a keyword next to it is context enough for the lower bar)."""


@dataclass(frozen=True)
class Hit:
    rule: Rule
    name: str
    """Pattern name (part of the finding key)."""
    label: str
    secret: str
    start: int
    """Character offset of the secret in the text."""
    key: str
    """Stable finding key: pattern name and a hash of the secret."""
    severity: Severity | None = None
    note: str = ""
    """Extra clause for the message (e.g. the paired AWS secret key, the assigned name)."""


def _folded(pattern: SecretPattern) -> tuple[str, ...]:
    return (pattern.folded,) if pattern.folded is not None else ()


@cache
def _prefilter() -> tuple[
    re.Pattern[str], re.Pattern[str], re.Pattern[str], dict[str, tuple[SecretPattern, ...]]
]:
    """Regexes of the cased literals and of the folded ones (for lower-cased ASCII text, and a
    case-insensitive spelling for other text), and which patterns each literal enables."""
    by_literal: dict[str, list[SecretPattern]] = {}
    for pattern in ALL_PATTERNS:
        for literal in pattern.prefixes:
            by_literal.setdefault(literal, []).append(pattern)
        for literal in _folded(pattern):
            by_literal.setdefault(literal.lower(), []).append(pattern)
    cased = (*dict.fromkeys(lit for p in ALL_PATTERNS if p.folded is None for lit in p.prefixes), URL_LITERAL)
    folded = tuple(
        dict.fromkeys((*(lit for p in ALL_PATTERNS for lit in _folded(p)), *GENERIC_WORDS, "mlsec:"))
    )
    return (
        re.compile(literal_alternation(cased)),
        re.compile(literal_alternation(folded)),
        re.compile(f"(?i:{literal_alternation(folded)})"),
        {k: tuple(v) for k, v in by_literal.items()},
    )


@cache
def _compiled(regex: str) -> re.Pattern[str]:
    return re.compile(regex)


@dataclass
class Candidates:
    """What the prefilter saw in one text: the token patterns to run and the lines to check."""

    patterns: list[SecretPattern]
    keyword_lines: list[int]
    """Start offsets of lines holding a generic keyword or a URL."""
    waiver_hint: bool


def prefilter(text: str) -> Candidates | None:
    """Cased literals on the text, folded ones on its lower-cased copy (5x faster than one regex with a
    case-insensitive branch; ASCII only, where lower-casing keeps every offset)."""
    cased, folded, folded_any, by_literal = _prefilter()
    patterns: dict[str, SecretPattern] = {}
    lines: dict[int, None] = {}
    waiver = False
    for m in cased.finditer(text):
        literal = m.group()
        if literal == URL_LITERAL:
            lines[text.rfind("\n", 0, m.start()) + 1] = None
        for pattern in by_literal.get(literal, ()):
            patterns[pattern.name] = pattern
    matches = folded.finditer(text.lower()) if text.isascii() else folded_any.finditer(text)
    for m in matches:
        literal = m.group().lower()
        for pattern in by_literal.get(literal, ()):
            patterns[pattern.name] = pattern
        if literal == "mlsec:":
            waiver = True
        else:
            lines[text.rfind("\n", 0, m.start()) + 1] = None
    if not patterns and not lines and not waiver:
        return None
    ordered = [p for p in ALL_PATTERNS if p.name in patterns]
    return Candidates(ordered, list(lines), waiver)


class Spans:
    """Character spans already reported, kept sorted and disjoint: a claim costs O(log n), so a file with
    thousands of tokens is not quadratic."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []

    def claim(self, start: int, end: int) -> bool:
        i = bisect_right(self.starts, start)
        if (i > 0 and self.ends[i - 1] > start) or (i < len(self.starts) and self.starts[i] < end):
            return False
        self.starts.insert(i, start)
        self.ends.insert(i, end)
        return True


def token_hits(text: str, patterns: list[SecretPattern]) -> list[Hit]:
    hits: list[Hit] = []
    spans = Spans()
    for pattern in patterns:
        if pattern.requires is not None and not _compiled(pattern.requires).search(text):
            continue
        if pattern.unless is not None and _compiled(pattern.unless).search(text):
            continue
        for m in _compiled(pattern.regex).finditer(text):
            secret = m.group(pattern.group)
            if not secret or is_placeholder(secret):
                continue
            start = m.start(pattern.group)
            if not spans.claim(start, start + len(secret)):
                continue
            severity, note = None, ""
            if pattern.rule is AWS_KEY:
                paired = aws_secret_near(text, start, len(secret))
                if paired is not None:
                    severity, note = Severity.CRITICAL, " with its secret access key next to it"
            hits.append(
                Hit(pattern.rule, pattern.name, pattern.label, secret, start, fingerprint(pattern, secret),
                    severity, note)
            )  # fmt: skip
    return hits


def entropy(value: str) -> float:
    counts = Counter(value)
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def _classes(value: str) -> int:
    return sum(
        (any(c.islower() for c in value), any(c.isupper() for c in value), any(c.isdigit() for c in value),
         any(not c.isalnum() for c in value))
    )  # fmt: skip


def credible(value: str) -> bool:
    """A keyword-assigned value that looks like a real credential rather than a name, reference,
    digest, id or stand-in."""
    if value.lower() in _WORDS or _REFERENCE.search(value) or is_placeholder(value):
        return False
    if _UUID.match(value) or value.isdigit() or _DOTTED_NAME.match(value) or _CONSTANT_NAME.match(value):
        return False
    if value.startswith(("/", "./")):
        return False
    if _HEX.match(value):
        return len(value) >= 16 and entropy(value) >= MIN_ENTROPY
    return len(value) >= 8 and _classes(value) >= 2 and entropy(value) >= MIN_ENTROPY


_GENERIC_NAME = "generic-secret"


def generic_hits(text: str, line_starts: list[int], quoted_only: bool, taken: list[Hit]) -> list[Hit]:
    """Keyword assignments and URL passwords on the given lines, skipping spans a token shape reported."""
    spans = Spans()
    for taken_hit in taken:
        spans.claim(taken_hit.start, taken_hit.start + len(taken_hit.secret))
    hits: list[Hit] = []
    for line_start in line_starts:
        end = text.find("\n", line_start)
        line = text[line_start : end if end >= 0 else len(text)]
        for m in _ASSIGN.finditer(line):
            key = _CAMEL.sub(r"\1_\2", m.group("key")).lower().replace("-", "_").replace(".", "_")
            if (quoted_only and not m.group("q")) or not _KEY_OK.search(key) or _KEY_NOT.search(key):
                continue
            note = f" assigned to {m.group('key')!r}"
            _add(text, hits, spans, m.group("value"), line_start + m.start("value"), note)
        for m in _URL_CREDS.finditer(line):
            if "example" in m.group("host").lower():
                continue  # documentation host (RFC 2606)
            _add(
                text,
                hits,
                spans,
                m.group("value"),
                line_start + m.start("value"),
                " as the password of a URL",
            )
    return hits


def _add(text: str, hits: list[Hit], spans: Spans, value: str, start: int, note: str) -> None:
    if not credible(value) or not spans.claim(start, start + len(value)):
        return
    if _WANDB_KEY.match(value) and "wandb" in text[max(0, start - WANDB_SECTION) : start].lower():
        hits.append(Hit(WANDB, WANDB_PATTERN.name, WANDB_PATTERN.label, value, start,
                        fingerprint(WANDB_PATTERN, value), None, note))  # fmt: skip
        return
    key = fingerprint(_GENERIC_PATTERN, value)
    hits.append(Hit(GENERIC, _GENERIC_NAME, "a hard-coded password or secret", value, start, key, None, note))


_WANDB_KEY = re.compile(r"^[0-9a-f]{40}$")
WANDB_SECTION = 300
"""A 40-hex api_key within this many characters after a ``wandb`` mention (a YAML ``wandb:`` section)."""
WANDB_PATTERN = next(p for p in PATTERNS if p.rule is WANDB)


_GENERIC_PATTERN = SecretPattern(GENERIC, _GENERIC_NAME, "a hard-coded password or secret", "", ())
"""Only for :func:`fingerprint` (its name); the generic check is code, not one regex."""


def find(text: str, *, generic: bool = True, quoted_only: bool = False) -> tuple[list[Hit], bool]:
    """Every credential in ``text`` (ordered by offset), and whether an ``mlsec:`` comment occurs."""
    candidates = prefilter(text)
    if candidates is None:
        return [], False
    hits = token_hits(text, candidates.patterns)
    if generic and candidates.keyword_lines:
        hits += generic_hits(text, candidates.keyword_lines, quoted_only, hits)
    hits.sort(key=lambda h: h.start)
    return hits, candidates.waiver_hint
