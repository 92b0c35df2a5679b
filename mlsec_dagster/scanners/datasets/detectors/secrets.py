"""Credentials in text cells: API tokens, cloud keys and private keys pasted into data.

Scraped chats, code and logs carry live tokens; a model trained on them can repeat them, and the
dataset itself publishes them. Two short literal searches (the column and its shared lower-cased
copy) find candidate cells; the precise regexes and the placeholder filter run on those only. Placeholders
(``hf_xxx…``, ``AKIAIOSFODNN7EXAMPLE``) are dropped in the vectorised path, so counts and summary
severities only ever cover real-looking secrets. The secret never leaves this module in clear:
messages name its kind, evidence shows its first characters and length, keys carry a hash.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

import numpy as np
import polars as pl

from mlsec_dagster.engine.findings import Severity
from mlsec_dagster.scanners.datasets.model import Cells, Detector, DetectorContext, Explained, Match
from mlsec_dagster.scanners.secret_patterns import (
    AWS_KEY,
    CASED_PREFILTER,
    FOLDED_PREFILTER,
    MIN_DISTINCT_CHARS,
    PATTERNS,
    PLACEHOLDER_MARKERS,
    SecretPattern,
    aws_secret_near,
    fingerprint,
    is_placeholder,
    redact,
)


def detect(cells: Cells, ctx: DetectorContext) -> Iterator[Match]:
    values = cells.values
    cased = values.str.contains(CASED_PREFILTER).fill_null(False)
    candidates = (cased | cells.lowered.str.contains(FOLDED_PREFILTER).fill_null(False)).arg_true()
    if candidates.is_empty():
        return
    subset = values.gather(candidates)
    positions = candidates.to_numpy().astype(np.int64)
    for pattern in PATTERNS:  # each regex starts with its literal, so the engine skips ahead by itself
        hits = _real_hits(subset, pattern)
        if hits.size:
            yield Match(pattern.rule, positions[hits], _explainer(pattern))


def _real_hits(subset: pl.Series, pattern: SecretPattern) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Positions in ``subset`` holding at least one non-placeholder match of ``pattern``."""
    mask = subset.str.contains(pattern.regex).fill_null(False)
    if pattern.requires is not None:
        mask &= subset.str.contains(pattern.requires).fill_null(False)
    if pattern.unless is not None:
        mask &= ~subset.str.contains(pattern.unless).fill_null(False)
    where = mask.arg_true()
    if where.is_empty():
        return np.empty(0, np.int64)
    tokens = (
        pl.DataFrame({"at": where, "match": subset.gather(where).str.extract_all(pattern.regex)})
        .explode("match")
        .with_columns(secret=pl.col("match").str.extract(pattern.regex, pattern.group))
    )
    secret = pl.col("secret")
    fake = secret.str.to_lowercase().str.contains_any(list(PLACEHOLDER_MARKERS)) | (
        secret.str.split("").list.n_unique() < _distinct_floor(secret)
    )
    real = tokens.filter(secret.is_not_null() & ~fake.fill_null(True))
    return np.sort(real["at"].unique().to_numpy()).astype(np.int64)


def _distinct_floor(secret: pl.Expr) -> pl.Expr:
    """Mirror of ``secret_patterns.is_placeholder``'s distinct-character floor, vectorised."""
    return pl.min_horizontal(pl.lit(MIN_DISTINCT_CHARS), secret.str.len_chars() // 3)


@cache
def _compiled(regex: str) -> re.Pattern[str]:
    return re.compile(regex)


def _explainer(pattern: SecretPattern) -> Callable[[Any], Explained]:
    def explain(value: Any) -> Explained:
        text = str(value)
        real = [
            m for m in _compiled(pattern.regex).finditer(text) if not is_placeholder(m.group(pattern.group))
        ]
        if not real:  # the vectorised path saw one; keep the finding rather than lose it
            return Explained(
                None, f"Cell contains {pattern.label}. {pattern.rule.remediation}", "", pattern.name
            )
        first = real[0]
        secret = first.group(pattern.group)
        offset = first.start(pattern.group)
        more = f" ({len(real) - 1} more in this cell)" if len(real) > 1 else ""
        message = (
            f"Cell contains {pattern.label} at char {offset}{more}; anyone with this data can use it, and a "
            f"model trained on it can repeat it. {pattern.rule.remediation}"
        )
        evidence = redact(secret)
        severity: Severity | None = None
        if pattern.rule is AWS_KEY:
            paired = aws_secret_near(text, offset, len(secret))
            if paired is not None:
                severity = Severity.CRITICAL
                message = message.replace("at char", "with its secret access key at char", 1)
                evidence += f"; secret access key {redact(paired)}"
        return Explained(offset, message, evidence, fingerprint(pattern, secret), severity=severity)

    return explain


DETECTOR = Detector("secrets", detect, binary=False)
