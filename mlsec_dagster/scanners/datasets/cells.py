"""Run every detector over every leaf column of every batch a reader yields, and report.

The hot path is vectorised: detectors return matched positions computed by polars/Arrow kernels,
and Python only touches the few cells that are reported one by one (``max_findings_per_column``
per rule and column; the rest are counted in one summary finding). Column allowances from the
policy lower a finding to INFO, never drop it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import polars as pl

from mlsec_dagster.engine.artifact import Artifact
from mlsec_dagster.engine.context import ScanContext
from mlsec_dagster.engine.findings import Finding, Severity
from mlsec_dagster.engine.policy import DatasetRules
from mlsec_dagster.engine.rules import Rule
from mlsec_dagster.scanners.datasets import structure
from mlsec_dagster.scanners.datasets.detectors import DETECTORS
from mlsec_dagster.scanners.datasets.evidence import escape, snippet
from mlsec_dagster.scanners.datasets.flatten import Skipped, leaves, schema_text
from mlsec_dagster.scanners.datasets.model import Batch, Cells, Detector, DetectorContext, Match, Source

EXPLAIN_BUDGET = 2_000
"""Matched cells graded one by one per rule and column and file; past it they are only counted."""


@dataclass
class _Tally:
    """Per (rule, column, grade): how many matches were listed, how many only counted."""

    rule: Rule
    field: str
    severity: Severity | None
    """None: cells past the explain budget, never graded."""
    listed: int = 0
    extra: int = 0
    first_extra_row: int | None = None


@dataclass
class _State:
    artifact: Artifact
    fmt: str
    rules: DatasetRules
    detectors: tuple[Detector, ...]
    tallies: dict[tuple[str, str, Severity | None], _Tally] = field(default_factory=dict)
    explained: dict[tuple[str, str], int] = field(default_factory=dict)
    rows: int = 0
    reported_skips: set[str] = field(default_factory=set)


def active_detectors(rules: DatasetRules) -> tuple[Detector, ...]:
    if not rules.enabled:
        return ()
    return tuple(d for d in DETECTORS if d.family not in rules.disabled_detectors)


def scan_dataset(artifact: Artifact, ctx: ScanContext, fmt: str, source: Source) -> Iterator[Finding]:
    """Consume a reader's batches and structural findings; yield every finding for the file."""
    rules = ctx.policy.dataset_rules
    state = _State(artifact, fmt, rules, active_detectors(rules))
    yield from _disabled_note(state)
    schema_seen = False
    sampled = False
    for item in source:
        if isinstance(item, Finding):
            yield item
            continue
        if not schema_seen:
            schema_seen = True
            ctx.record_schema(artifact, fmt, schema_text(item.data.schema))
            yield from _scan_header(state, item)
        if ctx.out_of_time():
            yield ctx.timeout_finding(artifact, artifact.location(row=state.rows))
            break
        batch = item
        if rules.sample_rows is not None and state.rows + batch.data.num_rows > rules.sample_rows:
            batch = Batch(
                batch.data.slice(0, max(0, rules.sample_rows - state.rows)), batch.first_row, batch.row_group
            )
            sampled = True
        yield from _scan_batch(state, batch)
        state.rows = batch.first_row + batch.data.num_rows
        ctx.progress(f"{state.rows:,} rows checked")
        if sampled:
            break
    if sampled:
        yield structure.SAMPLED.finding(
            artifact.path,
            f"Only the first {rules.sample_rows} rows of {artifact.display} were checked for payloads "
            "(`policy.dataset_rules.sample_rows`); the rest were not. Run with `--full-scan` before a "
            "release.",
            location=artifact.location(row=rules.sample_rows),
            evidence=f"sample_rows={rules.sample_rows}",
            key="sample_rows",
        )
    yield from _summaries(state)


def _disabled_note(state: _State) -> Iterator[Finding]:
    off = sorted({d.family for d in DETECTORS} - {d.family for d in state.detectors})
    if not off:
        return
    yield structure.DETECTORS_DISABLED.finding(
        state.artifact.path,
        f"Detector families disabled by policy were not run on {state.artifact.display}: {', '.join(off)}.",
        location=state.artifact.location(),
        evidence="disabled: " + ", ".join(off),
        key="disabled",
    )


def _scan_header(state: _State, batch: Batch) -> Iterator[Finding]:
    """Column names and schema metadata are cells too: formula and injection payloads hide there."""
    schema = batch.data.schema
    batch = Batch(batch.data, batch.first_row, None)  # headers belong to the file, not a row group
    names = pl.Series("names", list(schema.names), dtype=pl.String)
    yield from _run(
        state, Cells("(column names)", names, header=True), batch, header_names=list(schema.names)
    )
    metadata = [("", schema.metadata)] + [(f"{field.name} ", field.metadata) for field in schema]
    for owner, pairs in metadata:
        for key, value in (pairs or {}).items():
            name = f"(metadata {owner}{key.decode('utf-8', 'replace')})"
            text = value.decode("utf-8", "replace")
            yield from _run(state, Cells(name, pl.Series(name, [text], dtype=pl.String), header=True), batch)


def _scan_batch(state: _State, batch: Batch) -> Iterator[Finding]:
    found = list(leaves(batch.data, state.rules.max_nesting_depth))
    judged = [leaf for leaf in found if isinstance(leaf, Cells) and not _all_numbers(leaf)]
    # The vectorised detector passes of different columns run on all cores (polars and Arrow release
    # the GIL); findings are then reported in column order on this thread, so output is deterministic.
    matched = dict(zip(map(id, judged), _pool().map(lambda leaf: _detect(state, leaf), judged), strict=True))
    for leaf in found:
        if isinstance(leaf, Skipped):
            yield from _skipped(state, leaf, batch)
            continue
        yield from _invalid_utf8(state, leaf, batch)
        yield from _oversized(state, leaf, batch)
        for detector, match in matched.get(id(leaf), ()):
            yield from _report(state, detector, match, leaf, batch, state.rules.allowances(leaf.field), None)


_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(
            max_workers=max(1, min(4, os.cpu_count() or 1)), thread_name_prefix="mlsec-cells"
        )
    return _POOL


def _detect(state: _State, cells: Cells) -> list[tuple[Detector, Match]]:
    dctx = DetectorContext(state.fmt, state.rules, state.rules.allowances(cells.field))
    return [
        (detector, match)
        for detector in state.detectors
        if detector.applies(cells, state.fmt)
        for match in detector.detect(cells, dctx)
    ]


_NUMBER = r"^[ \t]*[-+]?(?:[0-9]+(?:[.,][0-9]*)?|[.,][0-9]+)(?:[eE][-+]?[0-9]+)?[ \t]*$"
"""A plain number (CSV/JSON text columns of amounts, ids, phone digits): no detector can match it."""


def _all_numbers(leaf: Cells) -> bool:
    """Text columns holding only numbers skip the detectors (CSV reads every column as text).

    The first values decide whether the full check is worth a pass, so real text columns pay
    nothing; a single non-number anywhere sends the whole column through the detectors.
    """
    if leaf.is_binary or leaf.header or leaf.values.len() == 0:
        return False
    values = leaf.values.drop_nulls()
    if values.len() == 0 or not bool(values.head(16).str.contains(_NUMBER).all()):
        return False
    return bool(values.str.contains(_NUMBER).all())


def _run(
    state: _State, cells: Cells, batch: Batch, header_names: list[str] | None = None
) -> Iterator[Finding]:
    allow = state.rules.allowances(cells.field)
    dctx = DetectorContext(state.fmt, state.rules, allow)
    for detector in state.detectors:
        if not detector.applies(cells, state.fmt):
            continue
        for match in detector.detect(cells, dctx):
            yield from _report(state, detector, match, cells, batch, allow, header_names)


def _report(
    state: _State,
    detector: Detector,
    match: Match,
    cells: Cells,
    batch: Batch,
    allow: frozenset[str],
    header_names: list[str] | None,
) -> Iterator[Finding]:
    """Grade every matched cell (up to ``EXPLAIN_BUDGET`` per rule and column) and list the first
    ``max_findings_per_column`` of each grade; the rest are counted in summary findings.

    Caps are per grade so that a HIGH cell cannot hide behind many MEDIUM look-alikes of the same
    rule in the same column (a prose ``curl | sh`` among hundreds of quoted ones).
    """
    cap = state.rules.max_findings_per_column
    for index in match.indices:
        index = int(index)
        field_name = header_names[index] if header_names is not None else cells.field
        column = field_name if header_names is None else cells.field
        row = cells.row_of(index)
        global_row = None if row is None else batch.first_row + row
        budget_key = (match.rule.id, column)
        explained = state.explained.get(budget_key, 0)
        if explained >= EXPLAIN_BUDGET:
            _count_unlisted(
                _unlisted(state, (match.rule.id, column, None), match.rule, cells.field), global_row
            )
            continue
        state.explained[budget_key] = explained + 1
        why = match.explain(cells.values[index])
        severity = why.severity or match.severity or match.rule.severity
        note = match.note
        allowed = sorted({detector.family, *why.families} & allow)
        if allowed:
            severity = Severity.INFO
            reasons = "; ".join(r.reason for r in state.rules.columns if r.matches(cells.field))
            note = f"{note} Allowed in this column by policy ({', '.join(allowed)}: {reasons})."
        tally = _unlisted(state, (match.rule.id, column, severity), match.rule, cells.field)
        if tally.listed >= cap:
            _count_unlisted(tally, global_row)
            continue
        tally.listed += 1
        where = f"column {escape(field_name)!r}" + (
            f", row {global_row}" if global_row is not None else " (header)"
        )
        yield match.rule.finding(
            state.artifact.path,
            f"{why.message} [{where}]{(' ' + note.strip()) if note.strip() else ''}",
            location=state.artifact.location(
                row=global_row,
                field=field_name,
                row_group=batch.row_group,
                char_offset=why.char_offset,
            ),
            evidence=why.evidence,
            key=f"{field_name}\x1f{global_row}\x1f{why.key}",
            severity=severity,
        )


def _unlisted(state: _State, key: tuple[str, str, Severity | None], rule: Rule, column: str) -> _Tally:
    tally = state.tallies.get(key)
    if tally is None:
        tally = state.tallies[key] = _Tally(rule, column, key[2])
    return tally


def _count_unlisted(tally: _Tally, row: int | None) -> None:
    tally.extra += 1
    if tally.first_extra_row is None:
        tally.first_extra_row = row


def _summaries(state: _State) -> Iterator[Finding]:
    graded = [t for t in state.tallies.values() if t.severity is not None]
    for tally in state.tallies.values():
        if not tally.extra:
            continue
        if tally.severity is None:  # past the explain budget: graded like the worst cell seen
            seen = [
                t.severity
                for t in graded
                if t.severity is not None and t.rule.id == tally.rule.id and t.field == tally.field
            ]
            severity = max(seen, default=tally.rule.severity)
            what = f"{tally.extra} more cell(s), not graded one by one (explain budget {EXPLAIN_BUDGET:,})"
        else:
            severity = tally.severity
            what = f"{tally.extra} more {severity.name} cell(s) beyond the {tally.listed} listed"
        yield structure.MORE_FINDINGS.finding(
            state.artifact.path,
            f"{tally.rule.id} ({tally.rule.title}) matched {what} in column {escape(tally.field)!r} of "
            f"{state.artifact.display} (first unlisted row: {tally.first_extra_row}). Raise "
            "`max_findings_per_column` to list them, or add a column rule if this content is expected there.",
            location=state.artifact.location(field=tally.field, row=tally.first_extra_row),
            evidence=f"{tally.rule.id}: {tally.listed} listed, {tally.extra} more",
            key=f"{tally.field}\x1f{tally.rule.id}\x1f{tally.severity.name if tally.severity else '-'}",
            severity=severity,
        )


def _skipped(state: _State, leaf: Skipped, batch: Batch) -> Iterator[Finding]:
    if leaf.field in state.reported_skips:
        return
    state.reported_skips.add(leaf.field)
    if leaf.too_deep:
        yield structure.DEEP_NESTING.finding(
            state.artifact.path,
            f"Column {escape(leaf.field)!r} of {state.artifact.display} nests deeper than "
            f"max_nesting_depth={state.rules.max_nesting_depth}; values below that depth were not checked.",
            location=state.artifact.location(field=leaf.field, row_group=batch.row_group),
            evidence=f"type at the cut-off: {leaf.type[:300]}",
            key=leaf.field,
        )
        return
    yield structure.UNSUPPORTED_TYPE.finding(
        state.artifact.path,
        f"Column {escape(leaf.field)!r} of {state.artifact.display} has type {leaf.type[:120]}, which the "
        "detectors do not read; its values were not checked.",
        location=state.artifact.location(field=leaf.field, row_group=batch.row_group),
        evidence=f"type: {leaf.type[:300]}",
        key=leaf.field,
    )


def _invalid_utf8(state: _State, leaf: Cells, batch: Batch) -> Iterator[Finding]:
    if not leaf.invalid_utf8:
        return
    rows = [r for r in (leaf.row_of(i) for i in leaf.invalid_utf8[:10]) if r is not None]
    first = batch.first_row + rows[0] if rows else None
    yield structure.INVALID_UTF8.finding(
        state.artifact.path,
        f"{len(leaf.invalid_utf8)} value(s) in column {escape(leaf.field)!r} of {state.artifact.display} are "
        f"not valid UTF-8 (first at row {first}); they were checked with the bad bytes replaced by U+FFFD.",
        location=state.artifact.location(field=leaf.field, row=first, row_group=batch.row_group),
        evidence="rows: " + ", ".join(str(batch.first_row + r) for r in rows),
        key=f"{leaf.field}\x1f{first}",
    )


def _oversized(state: _State, leaf: Cells, batch: Batch) -> Iterator[Finding]:
    limit = state.rules.max_cell_bytes
    lengths = leaf.values.bin.size() if leaf.is_binary else leaf.values.str.len_bytes()
    big = (lengths > limit).fill_null(False).arg_true()
    for index in big.head(state.rules.max_findings_per_column).to_list():
        row = leaf.row_of(index)
        global_row = None if row is None else batch.first_row + row
        yield structure.OVERSIZED_CELL.finding(
            state.artifact.path,
            f"A {lengths[index]:,}-byte cell in column {escape(leaf.field)!r} (row {global_row}) of "
            f"{state.artifact.display} exceeds max_cell_bytes={limit:,}. It was scanned in full; check why "
            "it is so large.",
            location=state.artifact.location(field=leaf.field, row=global_row, row_group=batch.row_group),
            evidence=f"{lengths[index]} bytes; starts: "
            + (
                snippet(str(leaf.values[index])[:200])
                if not leaf.is_binary
                else bytes(leaf.values[index][:32]).hex(" ")
            ),
            key=f"{leaf.field}\x1f{global_row}",
        )
