"""Arrow IPC (file and stream format, Feather v2 included) and legacy Feather v1, batch by batch.

Arrow readers trust what a file declares, so each declaration is checked before pyarrow acts on it:
- compressed bodies (lz4/zstd): every buffer declares its inflated length in an 8-byte prefix and
  pyarrow allocates that much before decompressing; the prefixes are read from the message metadata
  first, and a bomb (ratio or total past the limits) is refused uninflated;
- offsets: a crafted offsets buffer makes later string kernels read out of bounds, so every batch is
  fully validated before anything touches its values (text as bytes: invalid UTF-8 is a content
  finding of the orchestrator, not corruption);
- Feather v1: pyarrow's legacy reader trusts the array offsets and sizes of its metadata (and crashes
  on bad ones), so all of them are checked against the file first.
Record batches map to ``row_group``; the decoded bytes of each batch are charged to the file's budget.
"""

from __future__ import annotations

import os
import posixpath
import warnings
from collections.abc import Generator, Iterator
from typing import BinaryIO, NamedTuple

import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.ipc as ipc
import pyarrow.types as pt

from mlsec_dagster.engine.artifact import Artifact
from mlsec_dagster.engine.context import ScanContext, Scanner
from mlsec_dagster.engine.findings import Finding, Severity
from mlsec_dagster.engine.limits import MiB
from mlsec_dagster.engine.rules import define
from mlsec_dagster.scanners.datasets.cells import scan_dataset
from mlsec_dagster.scanners.datasets.evidence import escape, hex_snippet
from mlsec_dagster.scanners.datasets.model import Batch, SourceItem
from mlsec_dagster.scanners.datasets.parquet import (
    BATCH_ROWS,
    DECODE_ERRORS,
    RATIO_GRACE,
    decoded_bytes,
    schema_problem,
    slices,
)
from mlsec_dagster.scanners.datasets.structure import CORRUPT, EMPTY

FILE_MAGIC = b"ARROW1\x00\x00"
"""IPC file format (and Feather v2): magic padded to 8 bytes, then a stream, footer, ``ARROW1``."""
CONTINUATION = b"\xff\xff\xff\xff"
END_OF_STREAM = CONTINUATION + b"\x00\x00\x00\x00"
FEATHER_V1_MAGIC = b"FEA1"
MAX_MESSAGES = 1_000_000
"""Messages whose metadata is pre-checked for bombs; a file with more is judged by decoding alone."""
MAX_MESSAGE_METADATA = 64 * MiB
"""Flatbuffer metadata of one message larger than this is not pre-checked (pyarrow then judges it)."""
STREAM_SUFFIXES = frozenset({".arrow", ".arrows", ".ipc", ".feather", ".stream"})
"""Names that, with the stream framing, are enough to claim a stream whose schema does not parse."""
SNIFF_SCHEMA_BYTES = 4 * MiB
"""Largest leading Schema message a sniff reads to confirm an IPC stream (wide tables exceed the head)."""

_FAMILY = "dataset structure"

TRAILING = define(
    "MLS-ARW-001",
    "Bytes after the end of an Arrow IPC stream",
    Severity.MEDIUM,
    "The stream's end-of-stream marker is followed by more bytes. Arrow readers ignore them, so they "
    "can hide a second file (a polyglot) that other tools read instead.",
    "Re-write the file with pyarrow or polars; find out what appended data to it.",
    family=_FAMILY,
)

FILE, STREAM, FEATHER_V1 = "file", "stream", "feather1"


def kind_of(artifact: Artifact) -> str | None:
    head = artifact.head
    if head[:8] == FILE_MAGIC and (len(head) < 12 or head[8:12] == CONTINUATION):
        return FILE
    if head[:4] == FEATHER_V1_MAGIC and head[4:8] == b"\x00\x00\x00\x00":
        return FEATHER_V1
    if head[:4] == CONTINUATION and _schema_message(artifact):
        return STREAM
    return None


def _schema_message(artifact: Artifact) -> bool:
    """A stream must open with a Schema message; pyarrow parses (and verifies) its flatbuffer.

    A stream whose schema is damaged is still claimed when its name says Arrow, so the damage is
    reported instead of the file passing as unknown.
    """
    length = int.from_bytes(artifact.head[4:8], "little", signed=True)
    if length <= 0 or length > SNIFF_SCHEMA_BYTES:
        return False
    if posixpath.splitext(artifact.name.lower())[1] in STREAM_SUFFIXES:
        return True
    data = artifact.head[: 8 + length]
    if len(data) < 8 + length:
        with artifact.open() as fh:
            data = fh.read(8 + length)
    try:
        return bool(ipc.read_message(pa.BufferReader(data)).type == "schema")
    except DECODE_ERRORS:
        return False


def sniff(artifact: Artifact) -> bool:
    return kind_of(artifact) is not None


def scan(artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
    return scan_dataset(artifact, ctx, "arrow", _source(artifact, ctx, kind_of(artifact)))


def _source(artifact: Artifact, ctx: ScanContext, kind: str | None) -> Iterator[SourceItem]:
    with artifact.open() as fh:
        size = fh.seek(0, os.SEEK_END)
        fh.seek(0)
        source: pa.NativeFile = pa.PythonFile(fh, "r")
        if artifact.os_path and not artifact.member:
            # Feather v1 has no batches and is read whole: mapped, its pages stay reclaimable file cache
            source = pa.memory_map(artifact.os_path) if kind == FEATHER_V1 else pa.OSFile(artifact.os_path)
        with source:
            reader = _Batches(artifact, ctx)
            if kind == FILE:
                yield from reader.ipc_file(source, size)
            elif kind == STREAM:
                yield from reader.stream(source, size, 0)
            else:
                yield from reader.feather_v1(source, fh, size)
            yield from reader.finish()


class _Batches:
    """Turns decoded record batches into checked, budgeted ``Batch`` items with file-wide rows."""

    def __init__(self, artifact: Artifact, ctx: ScanContext) -> None:
        self.artifact = artifact
        self.ctx = ctx
        self.first = 0
        self.count = 0
        self.schema: pa.Schema | None = None
        self.yielded = False
        self.stopped = False
        """Reading ended early (damage or a limit): an empty result is then not an empty file."""

    # -- formats ------------------------------------------------------------------------------
    def ipc_file(self, source: pa.NativeFile, size: int) -> Iterator[SourceItem]:
        # the footer may list its blocks in any order: one bomb anywhere refuses the whole file
        if (bomb := self.first_bomb(source, len(FILE_MAGIC), stop_at_end=False)) is not None:
            yield bomb[1]
            return
        try:
            reader = ipc.open_file(source)
        except DECODE_ERRORS as exc:
            yield self.corrupt(
                f"its IPC file footer could not be read ({_why(exc)}), so the file was cut short or "
                "damaged; the record batches before the damage were read as a stream",
                size,
            )
            source.seek(len(FILE_MAGIC))
            yield from self.stream(source, size, len(FILE_MAGIC), footer_expected=True)
            return
        if not (yield from self.accept(reader.schema)):
            return
        for index in range(reader.num_record_batches):
            try:
                batch = reader.get_batch(index)
            except DECODE_ERRORS as exc:
                yield self.corrupt(f"record batch {index} could not be decoded ({_why(exc)})", None, index)
                return
            if not (yield from self.emit(batch, index)):
                return

    def stream(
        self, source: pa.NativeFile, size: int, start: int, footer_expected: bool = False
    ) -> Iterator[SourceItem]:
        bomb = self.first_bomb(source, start, stop_at_end=True)
        try:
            reader = ipc.open_stream(source)
        except DECODE_ERRORS as exc:
            yield self.corrupt(f"its schema message could not be decoded ({_why(exc)})", start)
            return
        if not (yield from self.accept(reader.schema)):
            return
        index = 0
        while True:
            if bomb is not None and bomb[0] == index:
                yield bomb[1]
                return
            offset = source.tell()
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            except DECODE_ERRORS as exc:
                yield self.corrupt(
                    f"the message at byte {offset} (record batch {index}) could not be decoded "
                    f"({_why(exc)}); the stream is truncated or damaged there",
                    offset,
                    index,
                )
                return
            if not (yield from self.emit(batch, index)):
                return
            index += 1
        if not footer_expected:
            yield from self._stream_end(source, size)

    def _stream_end(self, source: pa.NativeFile, size: int) -> Iterator[Finding]:
        end = source.tell()
        source.seek(max(0, end - len(END_OF_STREAM)))
        marker = source.read(len(END_OF_STREAM))
        if marker != END_OF_STREAM:
            yield self.corrupt(
                f"the stream stops at byte {end} without an end-of-stream marker: it was cut short after "
                f"{self.count} record batch(es), and later batches (if any) were lost",
                end,
            )
        elif end < size:
            source.seek(end)
            tail = source.read(64)
            yield TRAILING.finding(
                self.artifact.path,
                f"{size - end:,} bytes follow the end-of-stream marker of {self.artifact.display} (at byte "
                f"{end}). Arrow readers ignore them; re-write the file and find out what appended them.",
                location=self.artifact.location(offset=end),
                evidence=hex_snippet(tail, 0),
                key="trailing",
            )

    def feather_v1(self, source: pa.NativeFile, fh: BinaryIO, size: int) -> Iterator[SourceItem]:
        fh.seek(max(0, size - 4))
        if size < 12 or fh.read(4) != FEATHER_V1_MAGIC:
            yield self.corrupt(
                "it starts like Feather v1 but does not end with the FEA1 magic (truncated)", size
            )
            return
        fh.seek(size - 8)
        length = int.from_bytes(fh.read(4), "little", signed=True)
        if not 0 < length <= min(size - 12, MAX_MESSAGE_METADATA):
            yield self.corrupt(f"its Feather v1 metadata length ({length}) does not fit the file", size - 8)
            return
        fh.seek(size - 8 - length)
        try:
            problem = _feather_v1_problem(fh.read(length), size - 8 - length)
        except _BadFlat as exc:
            problem = str(exc)
        if problem is not None:  # pyarrow's v1 reader trusts these numbers and can crash on them
            yield self.corrupt(f"its Feather v1 metadata is inconsistent ({problem})", size - 8 - length)
            return
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # v1 is legacy, still worth reading
                table = feather.read_table(source, use_threads=False)
        except DECODE_ERRORS as exc:
            yield self.corrupt(f"its Feather v1 metadata or columns could not be decoded ({_why(exc)})", None)
            return
        if not (yield from self.accept(table.schema)):
            return
        for index, batch in enumerate(table.to_batches(max_chunksize=BATCH_ROWS)):
            if not (yield from self.emit(batch, index)):
                return

    # -- shared -------------------------------------------------------------------------------
    def accept(self, schema: pa.Schema) -> Generator[SourceItem, None, bool]:
        problem = schema_problem(schema)
        if problem is not None:
            yield self.corrupt(problem, None)
            return False
        self.schema = schema
        return True

    def first_bomb(self, source: pa.NativeFile, start: int, stop_at_end: bool) -> tuple[int, Finding] | None:
        """Walk the messages' metadata from ``start``: the record-batch index of the first one
        (or of the batch after a dictionary) whose declared inflation breaks a limit, with its finding.

        Damage is left to pyarrow's reader, which reports it with more detail.
        """
        limits = self.ctx.limits
        offset, index = start, 0
        try:
            for _ in range(MAX_MESSAGES):
                message = _message_at(source, offset)
                if message.kind == 0:  # end-of-stream marker, the file footer, or damage
                    source.seek(offset)
                    if stop_at_end or source.read(8) != END_OF_STREAM:
                        break
                    offset += 8
                    continue
                if (
                    message.inflated > RATIO_GRACE
                    and message.inflated > message.body * limits.max_compression_ratio
                ):
                    detail = f"declares {message.inflated:,} bytes inflated from a {message.body:,}-byte body"
                    return index, self._bomb(detail, "max_compression_ratio", offset, index)
                if message.inflated > limits.max_decompressed_bytes:
                    detail = f"declares {message.inflated:,} bytes inflated, more than one message may hold"
                    return index, self._bomb(detail, "max_decompressed_bytes", offset, index)
                index += message.kind == _RECORD_BATCH
                offset = message.end
        except _BadFlat:
            pass
        finally:
            source.seek(start)
        return None

    def _bomb(self, detail: str, limit: str, offset: int, index: int) -> Finding:
        self.stopped = True
        return self.ctx.limit_finding(
            self.artifact,
            limit,
            f"the compressed IPC message at byte {offset} (before record batch {index}) {detail}, a "
            "decompression bomb: it was not inflated",
            self.artifact.location(offset=offset, row_group=index),
        )

    def emit(self, batch: pa.RecordBatch, index: int) -> Generator[SourceItem, None, bool]:
        """Validate, charge and hand on one batch; False once reading must stop."""
        try:
            for column in batch.columns:
                column.view(_bytes_twin(column.type)).validate(full=True)
        except DECODE_ERRORS as exc:
            yield self.corrupt(
                f"record batch {index} has inconsistent buffers ({_why(exc)}); reading it would make "
                "Arrow read out of bounds, so it and any later batches were not checked",
                None,
                index,
            )
            return False
        size = decoded_bytes(batch)
        if not self.ctx.charge_decoded(self.artifact, size):
            self.stopped = True
            yield self.ctx.limit_finding(
                self.artifact,
                "max_compression_ratio",
                f"{self.artifact.display} decoded to more than max_compression_ratio x its size by record "
                f"batch {index} (an amplification bomb)",
                self.artifact.location(row_group=index, row=self.first),
            )
            return False
        for piece in slices(batch, size):
            yield Batch(piece, self.first, index)
            self.first += piece.num_rows
            self.yielded = True
        self.count += 1
        return True

    def finish(self) -> Iterator[SourceItem]:
        if self.schema is None:
            return
        if self.first == 0 and not self.stopped:
            yield EMPTY.finding(
                self.artifact.path,
                f"{self.artifact.display} is an Arrow file with no rows ({self.count} record batch(es)). "
                "Check the job that wrote it; delete it if it is meant to be empty.",
                location=self.artifact.location(),
                evidence=f"record batches={self.count}, columns={len(self.schema)}",
                key="no rows",
            )
        if not self.yielded:  # column names and schema metadata are still checked
            yield Batch(pa.RecordBatch.from_pylist([], schema=self.schema), 0, None)

    def corrupt(self, what: str, offset: int | None, index: int | None = None) -> Finding:
        self.stopped = True
        return CORRUPT.finding(
            self.artifact.path,
            f"{self.artifact.display} is not a readable Arrow file: {what}. Re-export it from its source or "
            "download it again and verify its checksum.",
            location=self.artifact.location(
                offset=offset, row_group=index, row=self.first if index is not None else None
            ),
            evidence=what[:500],
            key="arrow" if index is None else f"arrow\x1f{index}",
        )


class _Flat:
    """Just enough flatbuffer reading for IPC message headers and Feather v1 metadata.

    Every read is bounds-checked by Python slicing; a malformed table raises ``_BadFlat``.
    """

    def __init__(self, data: bytes) -> None:
        self.data = data

    def _int(self, at: int, size: int, signed: bool = False) -> int:
        if at < 0 or at + size > len(self.data):
            raise _BadFlat(f"read of {size} bytes at {at} outside a {len(self.data)}-byte message")
        return int.from_bytes(self.data[at : at + size], "little", signed=signed)

    def root(self) -> int:
        return self._int(0, 4)

    def field(self, table: int, index: int) -> int | None:
        """Absolute position of field ``index`` of the table at ``table``, or None when absent."""
        vtable = table - self._int(table, 4, signed=True)
        if 4 + 2 * index >= self._int(vtable, 2):
            return None
        offset = self._int(vtable + 4 + 2 * index, 2)
        return table + offset if offset else None

    def scalar(self, table: int, index: int, size: int) -> int:
        at = self.field(table, index)
        return 0 if at is None else self._int(at, size, signed=True)

    def string(self, table: int, index: int) -> str | None:
        """A string field, bounds-checked and decoded (the format requires UTF-8)."""
        at = self.field(table, index)
        if at is None:
            return None
        start = at + self._int(at, 4)
        length = self._int(start, 4)
        if start + 4 + length > len(self.data):
            raise _BadFlat(f"string of {length} bytes at {start} outside a {len(self.data)}-byte message")
        try:
            return self.data[start + 4 : start + 4 + length].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _BadFlat(f"string at {start} is not UTF-8") from exc

    def tables(self, table: int, index: int) -> Iterator[int]:
        for entry in self.structs(table, index, 4):
            yield entry + self._int(entry, 4)

    def scalar_at(self, at: int, size: int) -> int:
        return self._int(at, size, signed=True)

    def table(self, table: int, index: int) -> int | None:
        at = self.field(table, index)
        return None if at is None else at + self._int(at, 4)

    def structs(self, table: int, index: int, size: int) -> Iterator[int]:
        at = self.field(table, index)
        if at is None:
            return
        vector = at + self._int(at, 4)
        count = self._int(vector, 4)
        if count * size > len(self.data):
            raise _BadFlat(f"vector of {count} entries in a {len(self.data)}-byte message")
        for item in range(count):
            yield vector + 4 + item * size


class _BadFlat(ValueError):
    pass


_RECORD_BATCH, _DICTIONARY_BATCH = 3, 2
"""``MessageHeader`` union tags of the Arrow format."""


class _Message(NamedTuple):
    kind: int
    """``MessageHeader`` tag; 0 when the bytes at the offset are not a message."""
    inflated: int
    """Bytes its compressed buffers declare they inflate to (0 for a raw body)."""
    body: int
    end: int


def _message_at(source: pa.NativeFile, offset: int) -> _Message:
    """Read one message's metadata (and the 8-byte prefix of each compressed buffer), not its body.

    A compressed buffer starts with its uncompressed length (int64, -1 when stored raw), and pyarrow
    allocates that much before decompressing: reading those prefixes first lets a bomb be refused
    before it is inflated.
    """
    source.seek(offset)
    prefix = source.read(8)
    length = int.from_bytes(prefix[4:], "little", signed=True) if len(prefix) == 8 else 0
    if prefix[:4] != CONTINUATION or length <= 0 or length > MAX_MESSAGE_METADATA:
        return _Message(0, 0, 0, offset)
    flat = _Flat(source.read(length))
    message = flat.root()
    kind, body = flat.scalar(message, 1, 1), flat.scalar(message, 3, 8)
    if body < 0:
        raise _BadFlat(f"negative body length {body}")
    body_start = offset + 8 + length
    header = flat.table(message, 2)
    batch = flat.table(header, 1) if header is not None and kind == _DICTIONARY_BATCH else header
    if kind not in (_RECORD_BATCH, _DICTIONARY_BATCH) or batch is None or flat.table(batch, 3) is None:
        return _Message(kind, 0, body, body_start + body)  # no BodyCompression: stored raw
    inflated = 0
    for entry in flat.structs(batch, 2, 16):
        start, size = flat.scalar_at(entry, 8), flat.scalar_at(entry + 8, 8)
        if start < 0 or size < 0 or start + size > body:
            raise _BadFlat(f"buffer at {start} (+{size} bytes) outside the {body}-byte body")
        if size >= 8:
            source.seek(body_start + start)
            inflated += max(int.from_bytes(source.read(8), "little", signed=True), size - 8)
    return _Message(kind, inflated, body, body_start + body)


_V1_WIDTH = {0: 0, 1: 1, 2: 2, 3: 4, 4: 8, 5: 1, 6: 2, 7: 4, 8: 8, 9: 4, 10: 8, 14: 8, 15: 4, 16: 8}
"""Feather v1 ``Type`` -> bytes per value (0: bit-packed booleans)."""
_V1_OFFSETS = {11: 4, 12: 4, 17: 8, 18: 8}
"""Feather v1 variable-length types (utf8, binary, large_*) -> bytes per offset."""
_V1_CATEGORY, _V1_TIMESTAMP = 1, 2
"""``TypeMetadata`` union tags: categorical (its levels are a second array), timestamp (a zone)."""


def _feather_v1_problem(meta: bytes, data_end: int) -> str | None:
    """Check every array the Feather v1 ``CTable`` declares against the file before pyarrow reads it."""
    flat = _Flat(meta)
    table = flat.root()
    rows = flat.scalar(table, 1, 8)
    if rows < 0:
        return f"negative row count {rows}"
    _strings(flat, table, 0, 4)  # description, metadata
    for number, column in enumerate(flat.tables(table, 2)):
        _strings(flat, column, 0, 4)  # name, user metadata
        if flat.scalar(column, 2, 1) == _V1_TIMESTAMP and (stamp := flat.table(column, 3)) is not None:
            _strings(flat, stamp, 1)  # time zone
        values = flat.table(column, 1)
        problem = "no values" if values is None else _v1_array(flat, values, rows, data_end)
        if problem is None and flat.scalar(column, 2, 1) == _V1_CATEGORY:
            category = flat.table(column, 3)
            levels = None if category is None else flat.table(category, 0)
            problem = "no category levels" if levels is None else _v1_array(flat, levels, None, data_end)
        if problem is not None:
            return f"column {number}: {problem}"
    return None


def _strings(flat: _Flat, table: int, *fields: int) -> None:
    for field in fields:
        flat.string(table, field)


def _v1_array(flat: _Flat, array: int, rows: int | None, data_end: int) -> str | None:
    kind, encoding = flat.scalar(array, 0, 1), flat.scalar(array, 1, 1)
    offset, length, nulls, total = (flat.scalar(array, field, 8) for field in (2, 3, 4, 5))
    if encoding != 0:
        return f"encoding {encoding} is not PLAIN"
    if rows is not None and length != rows:
        return f"{length} values for {rows} rows"
    if min(offset, length, nulls, total) < 0 or nulls > length or offset + total > data_end:
        return f"array at {offset} (+{total} bytes, {length} values, {nulls} nulls) outside the data"
    need = _pad8((length + 7) // 8) if nulls else 0
    if kind in _V1_OFFSETS:
        need += _pad8((length + 1) * _V1_OFFSETS[kind])
    elif kind in _V1_WIDTH:
        need += (length + 7) // 8 if _V1_WIDTH[kind] == 0 else length * _V1_WIDTH[kind]
    else:
        return f"unknown value type {kind}"
    return None if need <= total else f"{length} values need {need} bytes, the array has {total}"


def _pad8(size: int) -> int:
    return -(-size // 8) * 8


def _bytes_twin(kind: pa.DataType) -> pa.DataType:
    """The same layout with text as bytes, so full validation checks offsets but not UTF-8."""
    if pt.is_string(kind):
        return pa.binary()
    if pt.is_large_string(kind):
        return pa.large_binary()
    if pt.is_string_view(kind):
        return pa.binary_view()
    if pt.is_dictionary(kind):
        return pa.dictionary(kind.index_type, _bytes_twin(kind.value_type), kind.ordered)
    if pt.is_map(kind):
        return pa.map_(_field_twin(kind.key_field), _field_twin(kind.item_field), kind.keys_sorted)
    if pt.is_struct(kind):
        return pa.struct([_field_twin(kind.field(i)) for i in range(kind.num_fields)])
    if pt.is_fixed_size_list(kind):
        return pa.list_(_field_twin(kind.value_field), kind.list_size)
    if pt.is_large_list(kind):
        return pa.large_list(_field_twin(kind.value_field))
    if pt.is_list(kind):
        return pa.list_(_field_twin(kind.value_field))
    return kind


def _field_twin(field: pa.Field) -> pa.Field:
    return field.with_type(_bytes_twin(field.type))


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {escape(str(exc))[:300]}"


SCANNER = Scanner("arrow", sniff, scan)
