"""A team's own patterns (project code names, customer ids, internal hosts) run like built-in rules.

What counts as sensitive is specific to each organisation, so the policy carries regexes
(``dataset_rules.custom_patterns``) and this module runs each one over the string columns its
``columns`` globs select, vectorised, as the single catalogued rule MLS-DSC-001. The pattern's own
name, severity and description travel with every finding, so one rule id covers any number of
patterns while fingerprints and messages stay distinct.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import polars as pl

from mlsec_dagster.engine.findings import Severity
from mlsec_dagster.engine.policy import CustomPattern, column_matches
from mlsec_dagster.engine.rules import define
from mlsec_dagster.scanners.datasets.evidence import escape, snippet
from mlsec_dagster.scanners.datasets.model import Cells, Detector, DetectorContext, Explained, Match

CUSTOM_PATTERN = define(
    "MLS-DSC-001",
    "Cell matches a custom policy pattern",
    Severity.HIGH,
    "A string value matched one of the team's own regexes (`policy.dataset_rules.custom_patterns`). The "
    "severity is the pattern's (default HIGH); the message carries the pattern's name and description.",
    "Follow the pattern's description: remove or mask the matched values, or narrow the pattern's `columns` "
    "if this column is expected to hold them.",
    family="dataset custom",
)


def detect(cells: Cells, ctx: DetectorContext) -> Iterator[Match]:
    for pattern in ctx.rules.custom_patterns:
        if not any(column_matches(cells.field, glob) for glob in pattern.columns):
            continue
        try:
            mask = cells.values.str.contains(pattern.pattern)
        except pl.exceptions.ComputeError as err:  # the policy loader validates; a hand-built policy may not
            raise ValueError(f"custom pattern {pattern.name!r} is not a valid regex: {err}") from err
        hits = mask.fill_null(False).arg_true()
        if not hits.is_empty():
            yield Match(CUSTOM_PATTERN, hits.to_numpy(), _explainer(pattern), severity=pattern.severity)


def _explainer(pattern: CustomPattern) -> Callable[[Any], Explained]:
    """Offsets come from polars too, so the pattern keeps its Rust syntax (``\\p{Han}``) in explanations."""

    def explain(value: Any) -> Explained:
        text = str(value)
        cell = pl.Series([text], dtype=pl.String)
        byte_offset = cell.str.find(pattern.pattern)[0]
        offset = (
            None if byte_offset is None else len(text.encode("utf-8")[:byte_offset].decode("utf-8", "ignore"))
        )
        return Explained(
            offset,
            f"Cell matches custom pattern {escape(pattern.name)!r}"
            + (f" at char {offset}" if offset is not None else "")
            + f": {escape(pattern.description)}",
            snippet(text, offset),
            pattern.name,
        )

    return explain


DETECTOR = Detector("custom", detect, binary=False)
