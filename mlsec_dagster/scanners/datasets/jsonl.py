"""JSON Lines (``.jsonl``/``.ndjson``, also gzip members) and JSON array (``.json``) datasets.

JSON Lines is read in blocks of a few MB cut at newlines, each decoded by pyarrow's vectorised
JSON reader. Only a block that pyarrow rejects takes the slow path: each line is parsed alone, so
one bad line costs one finding (MLS-DAT-006, with its line and row) instead of the block, and a key
whose type changes between lines is read as text and reported (MLS-DAT-004). Rows are the 0-based
index of a non-blank line; lines that cannot become a record keep their row as a null row and
their raw text goes to the ``(unparsed line)`` column, so payloads in them are still checked.

Nesting is measured on the raw bytes before any parser sees a line: pyarrow's parser recurses and
crashes the process around depth 10,000, so deep lines are reported (MLS-DAT-007) and never parsed.
A ``.json`` file is claimed only when it is a top-level array (bounded by ``max_header_bytes``) or
JSON Lines; JSON objects (model configs, package.json) are left to other scanners.
"""

from __future__ import annotations

import io
import json
import posixpath
import re
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.json as pj

from mlsec_dagster.engine.artifact import Artifact
from mlsec_dagster.engine.context import ScanContext, Scanner
from mlsec_dagster.engine.findings import Finding, Severity
from mlsec_dagster.engine.rules import Rule, define
from mlsec_dagster.scanners.datasets import structure
from mlsec_dagster.scanners.datasets.cells import scan_dataset
from mlsec_dagster.scanners.datasets.evidence import escape, snippet
from mlsec_dagster.scanners.datasets.model import Batch, SourceItem

DUPLICATE_KEY = define(
    "MLS-JSN-001",
    "JSON record repeats a key",
    Severity.MEDIUM,
    "A JSON object names the same key twice. Parsers disagree on which value wins (Python keeps the "
    "last, others the first or reject the record), so what was reviewed may not be what is trained on.",
    "Remove the duplicate key from the record at the given line; the raw line was checked as text.",
    family="dataset structure",
)

BLOCK_BYTES = 8 * 1024 * 1024
"""JSON Lines are decoded this many bytes at a time (cut at a newline)."""
BATCH_ROWS = 65_536
PARSER_DEPTH_CAP = 512
"""Hard ceiling on the nesting a parser is given, whatever the policy says: pyarrow segfaults and
Python's json raises RecursionError on deeper input."""
LISTED = 10
"""Bad lines (per kind) reported one by one; the rest are counted in one finding."""
UNPARSED = "(unparsed line)"

_LINES_EXT = (".jsonl", ".ndjson", ".jsonlines")
_PACKED_EXT = (".gz", ".bz2", ".xz", ".zst", ".lz4", ".zlib")
_NOT_DATASETS = re.compile(
    r"^(?:config|generation_config|preprocessor_config|tokenizer.*|package(?:-lock)?)\.json$"
)
"""Model and package configs: never datasets, whatever their content."""
_BOM = b"\xef\xbb\xbf"
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')


# -- sniffing --------------------------------------------------------------------------------


def _hint_name(artifact: Artifact) -> str:
    """The name that says what the stream is; an anonymous decompressed body takes its container's."""
    name = artifact.name.lower()
    if name.startswith("<") and name.endswith(" body>"):
        outer = artifact.member[-2] if len(artifact.member) > 1 else artifact.path
        name = posixpath.basename(outer).lower()
    for ext in _PACKED_EXT:
        if name.endswith(ext):
            return name[: -len(ext)]
    return name


def has_json_lines_name(artifact: Artifact) -> bool:
    """Named like JSON Lines (``.jsonl``/``.ndjson``/``.jsonlines``, compressed or not)."""
    return _hint_name(artifact).endswith(_LINES_EXT)


def _mode(artifact: Artifact) -> str | None:
    """``lines`` (JSON Lines), ``array`` (one JSON array) or None (not a dataset of ours)."""
    if b"\x00" in artifact.head[:4096]:
        return None
    name = _hint_name(artifact)
    body = artifact.head.removeprefix(_BOM).lstrip()
    if name.endswith(_LINES_EXT):
        if _is_array_of_objects(body):
            return "array"
        return "lines" if body[:1] in (b"", b"{", b"[") else None  # empty: reported as MLS-DAT-002
    if not name.endswith(".json") or _NOT_DATASETS.match(name):
        return None
    if body[:1] == b"[":
        return "array"  # configs are objects; a top-level array is data (or a parser bomb to report)
    return "lines" if body[:1] == b"{" and _two_object_lines(body) else None


def _is_array_of_objects(body: bytes) -> bool:
    return body[:1] == b"[" and body[1:].lstrip()[:1] in (b"{", b"]")


def _two_object_lines(body: bytes) -> bool:
    lines = [line for line in body.split(b"\n")[:3] if line.strip()]
    if len(lines) < 2:
        return False
    for line in lines[:2]:
        if json_depth(line) > PARSER_DEPTH_CAP:
            return False
        try:
            if not isinstance(json.loads(line), dict):
                return False
        except (ValueError, RecursionError):
            return False
    return True


def sniff(artifact: Artifact) -> bool:
    return _mode(artifact) is not None


def scan(artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
    mode = _mode(artifact) or "lines"
    fmt = "json" if _hint_name(artifact).endswith(".json") or mode == "array" else "jsonl"
    reader = _Reader(artifact, ctx)
    return scan_dataset(artifact, ctx, fmt, reader.array() if mode == "array" else reader.lines())


# -- nesting on raw bytes --------------------------------------------------------------------


def json_depth(text: bytes) -> int:
    """Bracket depth outside string literals, without a recursive parser."""
    codes = np.frombuffer(_STRING.sub(b'""', text), np.uint8)
    step = np.isin(codes, (0x7B, 0x5B)).astype(np.int32) - np.isin(codes, (0x7D, 0x5D)).astype(np.int32)
    return int(np.cumsum(step).max(initial=0))


def _deep_lines(data: bytes, limit: int) -> dict[int, int]:
    """Line index -> depth for lines nested deeper than ``limit``. A line cannot nest deeper than it
    has opening brackets, so one vectorised count picks the few candidates measured exactly."""
    codes = np.frombuffer(data, np.uint8)
    opens = np.flatnonzero((codes == 0x7B) | (codes == 0x5B))
    if opens.size <= limit:
        return {}
    newlines = np.flatnonzero(codes == 0x0A)
    per_line = np.bincount(np.searchsorted(newlines, opens), minlength=newlines.size + 1)
    starts = np.concatenate(([0], newlines + 1))
    out: dict[int, int] = {}
    for index in np.flatnonzero(per_line > limit).tolist():
        end = int(newlines[index]) if index < newlines.size else len(data)
        depth = json_depth(data[int(starts[index]) : end])
        if depth > limit:
            out[index] = depth
    return out


# -- records -> Arrow ------------------------------------------------------------------------


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _table_from_records(records: list[dict[str, Any]]) -> tuple[pa.Table, list[str]]:
    """Column by column, so a key whose values disagree on type becomes text (and is named) instead
    of failing the whole block."""
    keys = dict.fromkeys(k for record in records for k in record)
    columns: dict[str, pa.Array] = {}
    drifted: list[str] = []
    for key in keys:
        values = [record.get(key) for record in records]
        try:
            columns[key] = pa.array(values)
        except UnicodeEncodeError:  # a lone surrogate escape ("\\ud800"): not text Arrow can hold
            columns[key] = _text_column(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
            columns[key] = _text_column(values)
            drifted.append(key)
    return pa.table(columns) if columns else pa.table({}), drifted


def _text_column(values: list[Any]) -> pa.Array:
    """Values as JSON text; lone surrogates stay as their bytes, so the shared UTF-8 check
    (MLS-DAT-010) reports them instead of the conversion failing."""
    texts = (_as_text(v) for v in values)
    raw = [None if t is None else t.encode("utf-8", "surrogatepass") for t in texts]
    return pa.array(raw, pa.large_binary()).view(pa.large_string())


def _compatible(old: pa.DataType, new: pa.DataType) -> bool:
    """Whether two blocks' inferred types for one key can be the same column (nulls and int/float
    differences are inference noise, not drift)."""
    if old == new or pa.types.is_null(old) or pa.types.is_null(new):
        return True
    if pa.types.is_integer(old) or pa.types.is_floating(old):
        return pa.types.is_integer(new) or pa.types.is_floating(new)
    if _is_text(old):
        return _is_text(new)
    if pa.types.is_struct(old) and pa.types.is_struct(new):
        mine = {f.name: f.type for f in old}
        return all(_compatible(mine[f.name], f.type) for f in new if f.name in mine)
    if _is_list(old) and _is_list(new):
        return _compatible(old.value_type, new.value_type)
    return False


def _is_text(kind: pa.DataType) -> bool:
    """pyarrow infers timestamps from ISO strings; the slow path builds large strings."""
    return bool(
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_string_view(kind)
        or pa.types.is_timestamp(kind)
    )


def _is_list(kind: pa.DataType) -> bool:
    return bool(pa.types.is_list(kind) or pa.types.is_large_list(kind))


# -- the reader ------------------------------------------------------------------------------


@dataclass
class _Tally:
    listed: int = 0
    extra: int = 0
    first_extra: tuple[int, int] | None = None


@dataclass
class _Reader:
    artifact: Artifact
    ctx: ScanContext
    row: int = 0
    """Global row of the next non-blank line."""
    line: int = 0
    """Newlines consumed so far (the next line is ``line + 1``, 1-based)."""
    block: int = 0
    offset: int = 0
    seen: dict[str, pa.DataType] = field(default_factory=dict)
    drift_reported: set[str] = field(default_factory=set)
    tallies: dict[str, _Tally] = field(default_factory=dict)

    @property
    def depth_limit(self) -> int:
        return min(self.ctx.policy.dataset_rules.max_nesting_depth, PARSER_DEPTH_CAP)

    # JSON Lines ---------------------------------------------------------------------------
    def lines(self) -> Iterator[SourceItem]:
        with self.artifact.open() as fh:
            for data, final in self._blocks(fh):
                if isinstance(data, Finding):
                    yield data
                    continue
                yield from self._decode(data, final)
                self.offset += len(data)
                self.line += data.count(b"\n")
                self.block += 1
                if self.ctx.out_of_time():
                    yield self.ctx.timeout_finding(self.artifact, self.artifact.location(row=self.row))
                    return
        yield from self._tally_summaries()
        if self.row == 0:
            yield structure.EMPTY.finding(
                self.artifact.path,
                f"{self.artifact.display} holds no JSON records (it is empty or only blank lines). Check "
                "the job that wrote it; delete it if the partition is intentionally empty.",
                location=self.artifact.location(offset=0),
                evidence=f"{self.artifact.size} bytes",
                key="empty",
            )

    def _blocks(self, fh: BinaryIO) -> Iterator[tuple[bytes, bool] | tuple[Finding, bool]]:
        """Blocks ending at a newline; a line longer than ``max_header_bytes`` is skipped (reported)."""
        limit = self.ctx.limits.max_header_bytes
        pending = bytearray()
        first = True
        while True:
            chunk = fh.read(BLOCK_BYTES)
            if first and chunk.startswith(_BOM):
                chunk = chunk[len(_BOM) :]
                self.offset = len(_BOM)
            first = False
            if not chunk:
                if pending:
                    yield bytes(pending), True
                return
            pending += chunk
            cut = pending.rfind(b"\n")
            if cut >= 0:
                yield bytes(pending[: cut + 1]), False
                del pending[: cut + 1]
            elif len(pending) > limit:
                yield self._huge_line(len(pending)), False
                self.offset += len(pending)
                pending = bytearray(self._skip_line(fh))

    def _huge_line(self, seen: int) -> Finding:
        finding = self.ctx.limit_finding(
            self.artifact,
            "max_header_bytes",
            f"line {self.line + 1} (row {self.row}) is longer than {seen:,} bytes and was skipped",
            self.artifact.location(line=self.line + 1, row=self.row, offset=self.offset),
        )
        self.row += 1
        return finding

    def _skip_line(self, fh: BinaryIO) -> bytes:
        """Discard the rest of an oversized line; return what follows its newline."""
        while True:
            chunk = fh.read(BLOCK_BYTES)
            if not chunk:
                return b""
            cut = chunk.find(b"\n")
            self.offset += len(chunk) if cut < 0 else cut + 1
            if cut >= 0:
                self.line += 1
                return chunk[cut + 1 :]

    def _decode(self, data: bytes, final: bool) -> Iterator[SourceItem]:
        deep = _deep_lines(data, self.depth_limit)
        table = None if deep else self._fast(data)
        if table is None:
            table = yield from self._slow(data, final, deep)
        else:
            yield from self._block_drift(table)
        for batch in table.to_batches(max_chunksize=BATCH_ROWS):
            if batch.num_columns:
                yield Batch(batch, self.row)
            self.row += batch.num_rows

    def _fast(self, data: bytes) -> pa.Table | None:
        """pyarrow's reader, accepted only if it produced exactly one row per non-blank line. (polars
        would read a key of mixed types as text faster than the slow path, but it keeps the first of
        two duplicate keys silently, which would hide the second value from every detector.)"""
        try:
            table = pj.read_json(io.BytesIO(data), read_options=pj.ReadOptions(block_size=1 << 20))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None
        rows = sum(1 for line in data.split(b"\n") if line.strip())
        return table if table.num_rows == rows else None

    def _slow(self, data: bytes, final: bool, deep: dict[int, int]) -> Generator[SourceItem, None, pa.Table]:
        """Line by line, for a block pyarrow rejected: find the bad lines, keep the good ones."""
        lines = data.split(b"\n")
        if data.endswith(b"\n"):
            lines.pop()
        records: list[dict[str, Any]] = []
        take: list[int | None] = []
        raw: list[bytes | None] = []
        first_line = self.line + 1
        for index, line in enumerate(lines):
            text = line.strip()
            if not text:
                continue
            where = (first_line + index, self.row + len(take))
            last = final and index == len(lines) - 1
            record, flawed, finding = self._parse(text, deep.get(index), last, where)
            if finding is not None:
                yield finding
            take.append(None if record is None else len(records))
            if record is not None:
                records.append(record)
            raw.append(text if flawed else None)
        table, drifted = _table_from_records(records)
        yield from self._drift_findings(drifted, first_line, first_line + len(lines) - 1)
        yield from self._block_drift(table)
        unparsed = pa.array(raw, pa.large_binary()).view(pa.large_string())
        if table.num_columns == 0:
            return pa.table({UNPARSED: unparsed})
        table = table.take(pa.array(take, pa.int64()))
        return table.append_column(UNPARSED, unparsed) if unparsed.null_count < len(unparsed) else table

    def _parse(
        self, text: bytes, depth: int | None, last: bool, where: tuple[int, int]
    ) -> tuple[dict[str, Any] | None, bool, Finding | None]:
        """The record (None if the line is not one), whether the line is flawed (its raw text is then
        checked too) and its finding (None past the listing cap)."""
        line, row = where
        if depth is not None:
            return (
                None,
                True,
                self._listed(
                    structure.DEEP_NESTING,
                    f"Line {line} (row {row}) of {self.artifact.display} nests {depth} levels deep (limit "
                    f"{self.depth_limit}); it was not parsed, only its raw text was checked.",
                    where,
                    text,
                ),
            )
        duplicates: list[str] = []
        try:
            value = json.loads(text, object_pairs_hook=lambda pairs: _pairs(pairs, duplicates))
        except (ValueError, RecursionError) as exc:
            cut = last and not text.endswith((b"}", b"]"))
            what = "is cut off (truncated file)" if cut else "is not valid JSON"
            return (
                None,
                True,
                self._listed(
                    structure.CORRUPT if cut else structure.INVALID_RECORD,
                    f"Line {line} (row {row}) of {self.artifact.display} {what}: {escape(str(exc))[:160]}. "
                    "Loaders crash on it or drop it; its raw text was checked.",
                    where,
                    text,
                ),
            )
        if not isinstance(value, dict):
            return (
                None,
                True,
                self._listed(
                    structure.INVALID_RECORD,
                    f"Line {line} (row {row}) of {self.artifact.display} is a JSON {type(value).__name__}, "
                    "not an object, so it is not a record; its raw text was checked.",
                    where,
                    text,
                ),
            )
        if not duplicates:
            return value, False, None
        return (
            value,
            True,
            self._listed(
                DUPLICATE_KEY,
                f"Line {line} (row {row}) of {self.artifact.display} repeats key(s) "
                f"{', '.join(repr(escape(k)) for k in duplicates[:5])}; parsers disagree on which value "
                "wins. Both values were checked.",
                where,
                text,
            ),
        )

    def _listed(self, rule: Rule, message: str, where: tuple[int, int], text: bytes) -> Finding | None:
        tally = self.tallies.setdefault(rule.id, _Tally())
        if tally.listed >= LISTED:
            tally.extra += 1
            tally.first_extra = tally.first_extra or where
            return None
        tally.listed += 1
        line, row = where
        return rule.finding(
            self.artifact.path,
            message,
            location=self.artifact.location(line=line, row=row),
            evidence=snippet(text[:400].decode("utf-8", "replace")),
            key=f"line {line}",
        )

    def _tally_summaries(self) -> Iterator[Finding]:
        for rule_id, tally in self.tallies.items():
            if tally.extra and tally.first_extra is not None:
                line, row = tally.first_extra
                yield structure.MORE_FINDINGS.finding(
                    self.artifact.path,
                    f"{tally.extra} more line(s) of {self.artifact.display} have the same problem "
                    f"({rule_id}) beyond the {tally.listed} listed (first unlisted: line {line}).",
                    location=self.artifact.location(line=line, row=row),
                    evidence=f"{rule_id}: {tally.listed} listed, {tally.extra} more",
                    key=rule_id,
                    severity=structure.INVALID_RECORD.severity,
                )

    # schema drift -------------------------------------------------------------------------
    def _drift_findings(self, keys: list[str], first: int, last: int) -> Iterator[Finding]:
        for key in keys:
            if key in self.drift_reported:
                continue
            self.drift_reported.add(key)
            yield structure.SCHEMA_DRIFT.finding(
                self.artifact.path,
                f"Key {escape(key)!r} changes type between lines {first}-{last} of "
                f"{self.artifact.display} (e.g. number in one record, text in another); loaders coerce or "
                "reject such rows. It was checked as text.",
                location=self.artifact.location(line=first, field=key, row=self.row),
                evidence=f"key {escape(key)[:100]}: mixed JSON types",
                key=key,
            )

    def _block_drift(self, table: pa.Table) -> Iterator[Finding]:
        changed = []
        for item in table.schema:
            old = self.seen.setdefault(item.name, item.type)
            if not _compatible(old, item.type) and item.name not in self.drift_reported:
                changed.append(item.name)
            elif pa.types.is_null(old):
                self.seen[item.name] = item.type
        for key in changed:
            self.drift_reported.add(key)
            yield structure.SCHEMA_DRIFT.finding(
                self.artifact.path,
                f"Key {escape(key)!r} has type {self.seen[key]} before line {self.line + 1} of "
                f"{self.artifact.display} and {table.schema.field(key).type} from there on; loaders coerce "
                "or reject such rows. Re-export the file with one type per key.",
                location=self.artifact.location(line=self.line + 1, field=key, row=self.row),
                evidence=f"{escape(key)[:100]}: {str(self.seen[key])[:150]} -> "
                f"{str(table.schema.field(key).type)[:150]}",
                key=key,
            )

    # JSON array ---------------------------------------------------------------------------
    def array(self) -> Iterator[SourceItem]:
        limit = self.ctx.limits.max_header_bytes
        if self.artifact.size > limit:
            yield self.ctx.limit_finding(
                self.artifact, "max_header_bytes", f"JSON array file of {self.artifact.size:,} bytes"
            )
            return
        with self.artifact.open() as fh:
            data = fh.read(limit + 1).removeprefix(_BOM)
        depth = json_depth(data)
        if depth > self.depth_limit:
            yield structure.DEEP_NESTING.finding(
                self.artifact.path,
                f"{self.artifact.display} nests {depth} levels deep (limit {self.depth_limit}); it was not "
                "parsed, so its records were not checked.",
                location=self.artifact.location(offset=0),
                evidence=f"depth {depth}",
                key="depth",
            )
            return
        try:
            value = json.loads(data)
        except (ValueError, RecursionError) as exc:
            pos = getattr(exc, "pos", 0)
            yield structure.CORRUPT.finding(
                self.artifact.path,
                f"{self.artifact.display} is not valid JSON: {escape(str(exc))[:200]}. Its records were not "
                "checked; re-export or re-download it.",
                location=self.artifact.location(
                    line=getattr(exc, "lineno", None), offset=getattr(exc, "pos", None)
                ),
                evidence=snippet(data[max(0, pos - 40) : pos + 160].decode("utf-8", "replace")),
                key="json",
            )
            return
        if not isinstance(value, list) or not value:
            yield structure.EMPTY.finding(
                self.artifact.path,
                f"{self.artifact.display} holds no records (an empty JSON array). Check the job that "
                "wrote it.",
                location=self.artifact.location(offset=0),
                evidence=snippet(data[:100].decode("utf-8", "replace")),
                key="empty",
            )
            return
        for start in range(0, len(value), BATCH_ROWS):
            part = value[start : start + BATCH_ROWS]
            chunk = [v if isinstance(v, dict) else {"(value)": _as_text(v)} for v in part]
            table, drifted = _table_from_records(chunk)
            self.row = start
            yield from self._drift_findings(drifted, 1, data.count(b"\n") + 1)
            yield from self._block_drift(table)
            for batch in table.to_batches(max_chunksize=BATCH_ROWS):
                yield Batch(batch, start)
                start += batch.num_rows


def _pairs(pairs: list[tuple[str, Any]], duplicates: list[str]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        duplicates.extend(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
    return out


SCANNER = Scanner("jsonl", sniff, scan)
