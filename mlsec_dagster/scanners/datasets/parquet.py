"""Parquet: every row group, streamed in bounded batches, after the footer has been checked.

A Parquet footer is attacker-controlled: it declares row counts, sizes and where column chunks
live, and readers trust it. So before a row group is decoded its declared sizes are judged
(compression ratio per column chunk, uncompressed total against the file's inflation budget) and
the row group is skipped with a finding when they look like a bomb. The footer is read with a
small thrift reader of our own: pyarrow's per-column metadata accessors abort the whole process on
some corrupt footers. Metadata can lie (a small declared size over huge pages), and dictionary
encoding multiplies honest sizes (one 1 MiB entry x a million rows), so what is decoded is bounded
too: a probe of each row group's dictionaries sets how many rows one batch may hold, every batch's
decoded bytes are charged to the file's amplification budget (``ctx.charge_decoded``: ratio x file
size, so honest multi-GB files pass), and a batch larger than
``BATCH_BYTES`` is sliced before the detectors see it. Row counts are compared three ways (footer
total, row-group sum, rows really decoded): a file that holds fewer or more rows than it claims is
a finding, never a pass.

Known limits: pyarrow inflates one whole data page at a time and sizes it from the page header (page
headers are not pre-read here), so a crafted page can cost up to its declared size (< 2 GiB) before
any budget is charged; dictionaries nested inside list/struct columns are not probed. Column chunks
are read through a ``READ_BUFFER`` window, so memory does not grow with the size of a row group.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pyarrow.types as pt

from mlsec_dagster.engine.artifact import Artifact
from mlsec_dagster.engine.context import ScanContext, Scanner
from mlsec_dagster.engine.findings import Finding, Severity
from mlsec_dagster.engine.limits import MiB
from mlsec_dagster.engine.rules import define
from mlsec_dagster.scanners.datasets.cells import scan_dataset
from mlsec_dagster.scanners.datasets.evidence import escape, hex_snippet
from mlsec_dagster.scanners.datasets.model import Batch, SourceItem
from mlsec_dagster.scanners.datasets.structure import CORRUPT, EMPTY, ROW_COUNT_MISMATCH

MAGIC = b"PAR1"
ENCRYPTED_MAGIC = b"PARE"
"""Files with an encrypted footer end with this instead of ``PAR1``."""
MIN_SIZE = 12
"""Magic + 4-byte footer length + magic: the smallest byte count a Parquet file can have."""
THRIFT_I32_FIELD_1 = 0x15
"""First byte after the leading magic in every writer's output: a page header's (or, for a file
without row groups, the footer's) first field, a thrift-compact i32 with id 1."""
BATCH_ROWS = 65_536
BATCH_BYTES = 64 * MiB
"""Decoded bytes above which a batch is sliced before the detectors run on it."""
READ_BUFFER = 1 * MiB
"""Column chunks are read through a buffer of this size instead of whole (pyarrow's default)."""
RATIO_GRACE = 1 * MiB
"""Column chunks smaller than this decompressed are never ratio bombs (tiny chunks compress well)."""

THRIFT_DEPTH = 64
"""Nesting of footer structs; real footers nest a handful of levels."""
MAX_SKIP_REPORTS = 20
"""Skipped row groups reported one by one; the rest are counted in one finding."""
SUMMARY_FILES = frozenset({"_metadata", "_common_metadata"})
"""Footer-only files some writers (Spark, Dask) put next to part files: no rows of their own."""

DECODE_ERRORS = (pa.ArrowException, OSError, ValueError, EOFError, IndexError, MemoryError)
"""What pyarrow raises on corrupt input (thrift errors surface as OSError/ArrowInvalid)."""

_FAMILY = "dataset structure"

ENCRYPTED = define(
    "MLS-PQT-001",
    "Parquet file is encrypted",
    Severity.HIGH,
    "The file uses Parquet modular encryption (its footer ends with `PARE`), so neither its columns "
    "nor its metadata can be read without the keys: nothing in it was checked (fail closed).",
    "Scan the data before it is encrypted (e.g. `mlsec_dagster.scan_dataframe` in the asset that "
    "writes it), or waive this path in the policy with the reason.",
    family=_FAMILY,
)
EXTERNAL_CHUNK = define(
    "MLS-PQT-002",
    "Parquet column chunk points to another file",
    Severity.HIGH,
    "The footer says a column chunk lives in a separate file (`ColumnChunk.file_path`). Dataset "
    "summary files (`_metadata`) do this for their sibling part files (LOW: those are scanned on their "
    "own); a path that leaves the folder points readers at files they should never open (HIGH).",
    "Rewrite the dataset as self-contained Parquet files (read and write it again with pyarrow or polars).",
    family=_FAMILY,
)


def sniff(artifact: Artifact) -> bool:
    """``PAR1`` up front and either a page header after it or ``PAR1``/``PARE`` at the end.

    A file that starts like Parquet but lost its end is still claimed: it is a truncated Parquet
    file, and reporting it as such is the point.
    """
    head = artifact.head
    if head[:4] != MAGIC:
        return False
    if len(head) < MIN_SIZE or head[4] == THRIFT_I32_FIELD_1:
        return True
    with artifact.open() as fh:
        return _tail(fh, _size(fh)) in (MAGIC, ENCRYPTED_MAGIC)


def scan(artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
    return scan_dataset(artifact, ctx, "parquet", _source(artifact, ctx))


def _size(fh: BinaryIO) -> int:
    return fh.seek(0, os.SEEK_END)


def _tail(fh: BinaryIO, size: int) -> bytes:
    if size < 4:
        return b""
    fh.seek(size - 4)
    return fh.read(4)


def _source(artifact: Artifact, ctx: ScanContext) -> Iterator[SourceItem]:
    with artifact.open() as fh:
        size = _size(fh)
        problem = _envelope(artifact, ctx, fh, size)
        if problem is not None:
            yield problem
            return
        source = pa.OSFile(artifact.os_path) if artifact.os_path and not artifact.member else fh
        try:
            yield from _read(artifact, ctx, source, size)
        finally:
            if isinstance(source, pa.NativeFile):
                source.close()


def _read(
    artifact: Artifact, ctx: ScanContext, source: pa.NativeFile | BinaryIO, size: int
) -> Iterator[SourceItem]:
    try:
        parquet = pq.ParquetFile(source, buffer_size=READ_BUFFER, pre_buffer=False)
        schema = parquet.schema_arrow
    except DECODE_ERRORS as exc:
        yield _corrupt(artifact, f"its footer could not be decoded ({_why(exc)})", size - 8)
        return
    if (bad_names := schema_problem(schema)) is not None:
        yield _corrupt(artifact, bad_names, size - 8)
        return
    source.seek(size - 8)
    length = int.from_bytes(source.read(4), "little")
    source.seek(size - 8 - length)
    try:
        declared, groups = _footer(source.read(length))
    except _BadThrift as exc:
        yield _corrupt(artifact, f"its footer could not be decoded ({exc})", size - 8 - length)
        return
    if len(groups) != parquet.metadata.num_row_groups:
        yield _corrupt(artifact, "its footer lists row groups inconsistently", size - 8 - length)
        return
    yield from _row_groups(artifact, ctx, source, parquet, schema, declared, groups)


def _envelope(artifact: Artifact, ctx: ScanContext, fh: BinaryIO, size: int) -> Finding | None:
    """Magic and footer length, checked before pyarrow parses anything."""
    if size < MIN_SIZE:
        return _corrupt(
            artifact, f"it is only {size} bytes long (a Parquet file needs at least {MIN_SIZE})", 0
        )
    fh.seek(size - 8)
    trailer = fh.read(8)
    magic = trailer[4:]
    if magic == ENCRYPTED_MAGIC:
        return ENCRYPTED.finding(
            artifact.path,
            f"{artifact.display} has an encrypted Parquet footer; its rows, column names and metadata "
            "could not be checked. Scan the data before encryption or waive the path with a reason.",
            location=artifact.location(offset=size - 4),
            evidence=hex_snippet(trailer, 4),
            key="encrypted",
        )
    if magic != MAGIC:
        return _corrupt(
            artifact,
            f"it starts with PAR1 but ends at byte {size} without the closing PAR1 magic: the file is "
            "truncated or its footer is damaged",
            size,
            evidence=hex_snippet(trailer, 4),
        )
    footer = int.from_bytes(trailer[:4], "little")
    if footer > size - MIN_SIZE or footer == 0:
        return _corrupt(
            artifact,
            f"its footer length ({footer} bytes) does not fit in the {size}-byte file",
            size - 8,
            evidence=hex_snippet(trailer),
        )
    if footer > ctx.limits.max_header_bytes:
        return ctx.limit_finding(
            artifact,
            "max_header_bytes",
            f"the Parquet footer of {artifact.display} is {footer:,} bytes",
            artifact.location(offset=size - 8 - footer),
        )
    return None


class _Thrift:
    """A thrift compact-protocol reader for the footer: fields by id, nothing generated.

    pyarrow's per-column metadata accessors raise C++ exceptions that abort the process on some
    corrupt footers (they are not declared to throw), so the sizes and paths judged here are read
    from the footer bytes directly and pyarrow only ever decodes data, where its errors are caught.
    """

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise _BadThrift(f"footer ends at byte {self.pos} inside a value")
        self.pos += 1
        return self.data[self.pos - 1]

    def varint(self) -> int:
        value = shift = 0
        while True:
            byte = self.byte()
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value
            shift += 7
            if shift > 70:
                raise _BadThrift(f"varint too long at byte {self.pos}")

    def zigzag(self) -> int:
        value = self.varint()
        return (value >> 1) ^ -(value & 1)

    def take(self, size: int) -> bytes:
        if size < 0 or self.pos + size > len(self.data):
            raise _BadThrift(f"{size}-byte value at byte {self.pos} runs past the footer")
        self.pos += size
        return self.data[self.pos - size : self.pos]

    def value(self, kind: int, depth: int) -> object:
        if depth > THRIFT_DEPTH:
            raise _BadThrift("footer nests too deeply")
        if kind in (1, 2):
            return kind == 1
        if kind == 3:
            return self.byte()
        if kind in (4, 5, 6):
            return self.zigzag()
        if kind == 7:
            return self.take(8)
        if kind == 8:
            return self.take(self.varint())
        if kind in (9, 10):
            header = self.byte()
            size = header >> 4 if header >> 4 != 15 else self.varint()
            if size > len(self.data) - self.pos:
                raise _BadThrift(f"list of {size} items at byte {self.pos} cannot fit the footer")
            item = header & 0x0F
            return [self.byte() == 1 if item in (1, 2) else self.value(item, depth + 1) for _ in range(size)]
        if kind == 11:
            size = self.varint()
            types = self.byte() if size else 0
            if size > len(self.data) - self.pos:
                raise _BadThrift(f"map of {size} items at byte {self.pos} cannot fit the footer")
            return {
                repr(self.value(types >> 4, depth + 1)): self.value(types & 0x0F, depth + 1)
                for _ in range(size)
            }
        if kind == 12:
            return self.struct(depth + 1)
        raise _BadThrift(f"unknown thrift type {kind} at byte {self.pos}")

    def struct(self, depth: int = 0) -> dict[int, object]:
        fields: dict[int, object] = {}
        last = 0
        while (header := self.byte()) != 0:
            delta, kind = header >> 4, header & 0x0F
            last = last + delta if delta else self.zigzag()
            fields[last] = self.value(kind, depth)
        return fields


class _BadThrift(ValueError):
    pass


@dataclass(frozen=True)
class _Chunk:
    path: str
    file_path: str
    packed: int
    raw: int
    dictionary: bool


@dataclass(frozen=True)
class _Group:
    num_rows: int
    chunks: tuple[_Chunk, ...]


def _footer(data: bytes) -> tuple[int, tuple[_Group, ...]]:
    """Declared total rows and row groups, from FileMetaData (field ids of parquet.thrift)."""
    meta = _Thrift(data).struct()
    groups = []
    for group in _items(meta.get(4)):
        chunks = []
        for chunk in _items(group.get(1)):
            column = chunk.get(3)
            column = column if isinstance(column, dict) else {}
            parts = column.get(3)
            path = b".".join(p for p in parts if isinstance(p, bytes)) if isinstance(parts, list) else b""
            chunks.append(
                _Chunk(
                    path.decode("utf-8", "replace"),
                    _text(chunk.get(1)),
                    _int(column.get(7)),
                    _int(column.get(6)),
                    column.get(11) is not None,
                )
            )
        groups.append(_Group(_int(group.get(3)), tuple(chunks)))
    return _int(meta.get(3)), tuple(groups)


def _items(value: object) -> list[dict[int, object]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else ""


def _row_groups(
    artifact: Artifact,
    ctx: ScanContext,
    source: pa.NativeFile | BinaryIO,
    parquet: pq.ParquetFile,
    schema: pa.Schema,
    declared: int,
    groups: tuple[_Group, ...],
) -> Iterator[SourceItem]:
    yield from _counts(artifact, declared, groups)
    external: set[str] = set()
    probe = _DictionaryProbe(source, parquet, schema)
    first = 0
    yielded = False
    skipped = 0
    for index, group in enumerate(groups):
        if ctx.out_of_time():
            yield ctx.timeout_finding(artifact, artifact.location(row_group=index, row=first))
            break
        if any(chunk.file_path for chunk in group.chunks):
            yield from _external_chunk(artifact, group, index, external)
        elif bombs := list(_bomb_checks(artifact, ctx, group, index, first)):
            skipped += 1
            if skipped <= MAX_SKIP_REPORTS:  # one crafted footer can declare millions of bomb groups
                yield from bombs
        else:
            outcome = yield from _read_group(artifact, ctx, parquet, probe, group, index, first)
            yielded = yielded or outcome.yielded
            if outcome.stop:
                break
        first += group.num_rows
    if skipped > MAX_SKIP_REPORTS:
        yield ctx.limit_finding(
            artifact,
            "max_compression_ratio",
            f"{skipped - MAX_SKIP_REPORTS:,} more row groups of {artifact.display} were skipped as "
            "decompression bombs (ratio or size limits) beyond the ones listed",
            artifact.location(row=first),
        )
    if not yielded:  # no rows decoded: column names and key-value metadata are still checked
        yield Batch(pa.RecordBatch.from_pylist([], schema=schema), 0, None)


class _DictionaryProbe:
    """Rows per batch such that dictionary-encoded text cannot decode past ``BATCH_BYTES``.

    A dictionary page holding one 1 MiB value referenced by a million rows is a 1 MiB file that
    decodes to 1 TiB, with honest metadata and no compression at all. Before a row group is read,
    its dictionaries are read as dictionaries (one row: the dictionary page and the first data
    page), and the longest entry sets how many rows one batch may hold.
    """

    def __init__(self, source: pa.NativeFile | BinaryIO, parquet: pq.ParquetFile, schema: pa.Schema) -> None:
        self.columns = [f.name for f in schema if _is_text(f.type)]
        self.reader = (
            pq.ParquetFile(
                source,
                metadata=parquet.metadata,
                read_dictionary=self.columns,
                buffer_size=READ_BUFFER,
                pre_buffer=False,
            )
            if self.columns
            else None
        )

    def batch_rows(self, group: _Group, index: int) -> int:
        with_pages = {chunk.path for chunk in group.chunks if chunk.dictionary}
        columns = [c for c in self.columns if c in with_pages]
        if self.reader is None or not columns or group.num_rows == 0:
            return BATCH_ROWS
        batches = self.reader.iter_batches(batch_size=1, row_groups=[index], columns=columns)
        batch = next(batches, None)
        batches.close()
        longest = 0
        for column in batch.columns if batch is not None else ():
            if pt.is_dictionary(column.type) and len(column.dictionary):
                longest = max(longest, int(pc.max(pc.binary_length(column.dictionary)).as_py() or 0))
        return max(1, min(BATCH_ROWS, BATCH_BYTES // max(longest, 1)))


def _is_text(kind: pa.DataType) -> bool:
    return bool(
        pt.is_string(kind) or pt.is_large_string(kind) or pt.is_binary(kind) or pt.is_large_binary(kind)
    )


def _counts(artifact: Artifact, declared: int, row_groups: tuple[_Group, ...]) -> Iterator[Finding]:
    groups = [group.num_rows for group in row_groups]
    if declared == 0 and sum(groups) == 0 and artifact.name not in SUMMARY_FILES:
        yield EMPTY.finding(
            artifact.path,
            f"{artifact.display} is a Parquet file with no rows ({len(groups)} row group(s)). Check the "
            "job that wrote it; delete it if the partition is meant to be empty.",
            location=artifact.location(),
            evidence=f"num_rows=0, row groups={len(groups)}",
            key="no rows",
        )
    elif declared != sum(groups):
        yield ROW_COUNT_MISMATCH.finding(
            artifact.path,
            f"The footer of {artifact.display} declares {declared:,} rows but its {len(groups)} row "
            f"group(s) hold {sum(groups):,}. Regenerate the file and compare its row count with the "
            "source.",
            location=artifact.location(),
            evidence=f"FileMetaData.num_rows={declared}; row groups: {groups[:50]}",
            key="footer rows",
        )


def _external_chunk(artifact: Artifact, group: _Group, index: int, reported: set[str]) -> Iterator[Finding]:
    """A row group whose chunks live elsewhere is not read: its offsets do not point into this file.

    Dataset summary files (``_metadata``) legitimately list the row groups of their sibling part
    files, which are scanned on their own: a plain sibling name is LOW. A path that leaves the
    folder is how a reader gets pointed at files it should never open: HIGH.
    """
    for chunk in group.chunks:
        target = chunk.file_path
        if not target or target in reported:
            continue
        reported.add(target)
        escapes = _leaves_folder(target)
        yield EXTERNAL_CHUNK.finding(
            artifact.path,
            f"Row group {index} of {artifact.display} (column {escape(chunk.path)!r}) is stored "
            f"in another file, {escape(target)[:200]!r}; it was not read here. "
            + (
                "The path leaves the dataset folder: rewrite the dataset as self-contained files."
                if escapes
                else "This is a dataset summary file; the part file it names is checked on its own."
            ),
            location=artifact.location(row_group=index, field=chunk.path),
            evidence=f"file_path={escape(target)[:500]}",
            key=target[:200],
            severity=None if escapes else Severity.LOW,
        )


def _leaves_folder(target: str) -> bool:
    """Absolute paths, drive letters, URLs and ``..`` segments point outside the dataset."""
    path = target.replace("\\", "/")
    return path.startswith("/") or ":" in path or ".." in path.split("/")


def _bomb_checks(
    artifact: Artifact, ctx: ScanContext, group: _Group, index: int, first: int
) -> Iterator[Finding]:
    """Declared sizes of each column chunk, judged before a byte of the row group is inflated."""
    total = 0
    for chunk in group.chunks:
        packed, raw = chunk.packed, chunk.raw
        total += max(raw, 0)
        if raw > RATIO_GRACE and raw > packed * ctx.limits.max_compression_ratio:
            yield ctx.limit_finding(
                artifact,
                "max_compression_ratio",
                f"column chunk {escape(chunk.path)!r} of row group {index} of {artifact.display} "
                f"declares {raw:,} bytes uncompressed from {packed:,} compressed (a decompression bomb); "
                f"row group {index} (rows {first:,}-{first + group.num_rows - 1:,}) was skipped",
                artifact.location(row_group=index, row=first, field=chunk.path),
            )
            return
    if total > ctx.limits.max_decompressed_bytes:
        yield ctx.limit_finding(
            artifact,
            "max_decompressed_bytes",
            f"row group {index} of {artifact.display} declares {total:,} bytes uncompressed; it "
            f"(rows {first:,}-{first + group.num_rows - 1:,}) was skipped",
            artifact.location(row_group=index, row=first),
        )


class _Outcome:
    def __init__(self, yielded: bool, stop: bool) -> None:
        self.yielded = yielded
        self.stop = stop


def _read_group(
    artifact: Artifact,
    ctx: ScanContext,
    parquet: pq.ParquetFile,
    probe: _DictionaryProbe,
    group: _Group,
    index: int,
    first: int,
) -> Generator[SourceItem, None, _Outcome]:
    declared = group.num_rows
    decoded = 0
    try:
        rows = probe.batch_rows(group, index)
        for batch in parquet.iter_batches(batch_size=rows, row_groups=[index], use_threads=True):
            size = decoded_bytes(batch)
            if not ctx.charge_decoded(artifact, size):
                yield ctx.limit_finding(
                    artifact,
                    "max_compression_ratio",
                    f"{artifact.display} decoded to more than max_compression_ratio x its size by row "
                    f"group {index} (an amplification bomb)",
                    artifact.location(row_group=index, row=first + decoded),
                )
                return _Outcome(decoded > 0, stop=True)
            for piece in slices(batch, size):
                yield Batch(piece, first + decoded, index)
                decoded += piece.num_rows
    except DECODE_ERRORS as exc:
        yield _corrupt(
            artifact,
            f"row group {index} stopped decoding after {decoded:,} of its {declared:,} rows ({_why(exc)}); "
            "the remaining rows of the group were not checked",
            None,
            row_group=index,
            row=first + decoded,
        )
        return _Outcome(decoded > 0, stop=False)
    if decoded != declared:
        yield ROW_COUNT_MISMATCH.finding(
            artifact.path,
            f"Row group {index} of {artifact.display} declares {declared:,} rows but {decoded:,} were "
            "decoded. Regenerate the file and compare its row count with the source.",
            location=artifact.location(row_group=index, row=first),
            evidence=f"RowGroup.num_rows={declared}; decoded={decoded}",
            key=f"row group rows\x1f{index}",
        )
    return _Outcome(decoded > 0, stop=False)


def schema_problem(schema: pa.Schema) -> str | None:
    """Names and type parameters (time zones...) must be UTF-8; pyarrow only finds out when Python
    asks for them, which would otherwise be mid-scan."""
    try:
        schema.to_string(show_field_metadata=False, show_schema_metadata=False)
        _ = [f"{field.name}: {field.type}" for field in schema]
        pa.RecordBatch.from_pylist([], schema=schema)
    except DECODE_ERRORS as exc:
        return f"its schema cannot be decoded ({_why(exc)})"
    return None


def decoded_bytes(batch: pa.RecordBatch) -> int:
    """Bytes the batch occupies once flattened: dictionaries of text count every lookup."""
    total = 0
    for column in batch.columns:
        kind = column.type
        if pt.is_dictionary(kind) and (
            pt.is_string(kind.value_type)
            or pt.is_large_string(kind.value_type)
            or pt.is_binary(kind.value_type)
            or pt.is_large_binary(kind.value_type)
        ):
            lengths = pc.take(pc.binary_length(column.dictionary), column.indices)
            total += int(pc.sum(lengths).as_py() or 0) + 8 * len(column)
        else:
            total += column.nbytes
    return total


def slices(batch: pa.RecordBatch, size: int) -> Iterator[pa.RecordBatch]:
    pieces = min(batch.num_rows, -(-size // BATCH_BYTES)) if batch.num_rows else 1
    if pieces <= 1:
        yield batch
        return
    step = -(-batch.num_rows // pieces)
    for start in range(0, batch.num_rows, step):
        yield batch.slice(start, step)


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {escape(str(exc))[:300]}"


def _corrupt(
    artifact: Artifact,
    what: str,
    offset: int | None,
    *,
    evidence: str = "",
    row_group: int | None = None,
    row: int | None = None,
) -> Finding:
    return CORRUPT.finding(
        artifact.path,
        f"{artifact.display} is not a readable Parquet file: {what}. Re-export it from its source or "
        "download it again and verify its checksum.",
        location=artifact.location(offset=offset, row_group=row_group, row=row),
        evidence=evidence or what[:500],
        key="parquet" if row_group is None else f"parquet\x1f{row_group}",
    )


SCANNER = Scanner("parquet", sniff, scan)
