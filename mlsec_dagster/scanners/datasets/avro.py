"""Avro object container files: every block checked, decoded by fastavro, handed on as Arrow.

The container framing (header, block count and size, sync marker) is walked here, not inside
fastavro, so a truncated block, a corrupt sync marker or a decompression bomb is reported with
its block index and byte offset, and every block is inflated with a bounded decompressor before
any decoder sees it. Checked blocks are re-framed as an uncompressed container and decoded by
fastavro's C reader, a group of blocks at a time (one schema parse per ~32 MB).

Decoding is told a slightly different writer schema with the same binary encoding: logical types
are dropped (raw longs/bytes instead of datetimes and Decimals, which Arrow cannot take from a
mix) and plain ``string`` fields are read as bytes, so invalid UTF-8 reaches the shared check
(MLS-DAT-010) instead of failing the block. Unions with more than one non-null branch (e.g.
``["null", "string", "int"]`` or ``record|string``) and recursive named types cannot be one Arrow
type: their values become text (strings as-is, numbers and complex values as JSON), so payloads
in any branch are still checked. Rows of a batch that spans several small blocks carry no block
index (``row_group``); their row numbers are exact.
"""

from __future__ import annotations

import bz2
import io
import json
import lzma
import zlib
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from functools import partial
from itertools import islice
from typing import Any, BinaryIO

import fastavro
import pyarrow as pa

from mlsec_dagster.engine.artifact import Artifact
from mlsec_dagster.engine.context import ScanContext, Scanner
from mlsec_dagster.engine.findings import Finding, Severity
from mlsec_dagster.engine.rules import define
from mlsec_dagster.scanners.datasets import structure
from mlsec_dagster.scanners.datasets.cells import scan_dataset
from mlsec_dagster.scanners.datasets.evidence import escape, hex_snippet
from mlsec_dagster.scanners.datasets.jsonl import json_depth
from mlsec_dagster.scanners.datasets.model import Batch, SourceItem

_FAMILY = "dataset structure"

UNSUPPORTED_CODEC = define(
    "MLS-AVR-001",
    "Avro codec not supported",
    Severity.HIGH,
    "The file's blocks are compressed with a codec the scanner cannot decode (snappy and zstandard "
    "need packages that are not installed), so none of its records were checked (fail closed).",
    "Re-write the file with the `deflate`, `bzip2`, `xz` or `null` codec, or install the decoder.",
    family=_FAMILY,
)
BLOCK_TOO_LARGE = define(
    "MLS-AVR-002",
    "Avro block too large to decode",
    Severity.HIGH,
    "A block declares or inflates to more than the reader's bound per block (128 MiB), so it and the rest of "
    "the file were not decoded. Writers use blocks of kilobytes to a few megabytes; a huge block is a "
    "memory bomb or a corrupt size field.",
    "Re-write the file with a normal sync interval (block size), or check it for corruption.",
    family=_FAMILY,
)

MAGIC = b"Obj\x01"
MAX_BLOCK_BYTES = 128 * 1024 * 1024
"""One block, compressed or inflated, must fit in this many bytes."""
GROUP_BYTES = 32 * 1024 * 1024
"""Inflated bytes decoded per fastavro call (one schema parse each)."""
BATCH_ROWS = 65_536
SCHEMA_DEPTH_CAP = 64
"""Nesting levels accepted whatever the policy says: schema handling recurses."""
MAX_TYPE_NODES = 10_000
"""Types in the schema with every named type expanded where it is used."""
_RATIO_GRACE = 1024 * 1024
_PRIMITIVES: dict[str, pa.DataType] = {
    "null": pa.null(),
    "boolean": pa.bool_(),
    "int": pa.int64(),
    "long": pa.int64(),
    "float": pa.float64(),
    "double": pa.float64(),
    "bytes": pa.large_binary(),
    "string": pa.large_string(),
}
_DECOMPRESSORS: dict[str, Callable[[], Any]] = {
    "deflate": lambda: zlib.decompressobj(-15),
    "bzip2": bz2.BZ2Decompressor,
    "xz": lzma.LZMADecompressor,
}


class _TooComplex(Exception):
    """The schema nests or expands past what is decoded (reported as MLS-DAT-007)."""


class _Broken(Exception):
    """The container stops being valid here: reported as MLS-DAT-001 with the offset."""

    def __init__(self, message: str, offset: int, evidence: str = "") -> None:
        super().__init__(message)
        self.offset = offset
        self.evidence = evidence


def sniff(artifact: Artifact) -> bool:
    """The magic; or an ``.avro`` name with a damaged magic (``Obj`` + wrong version) or no bytes,
    so those are reported instead of passing unrecognised."""
    if artifact.head.startswith(MAGIC):
        return True
    return artifact.name.lower().endswith(".avro") and (artifact.size == 0 or artifact.head[:3] == MAGIC[:3])


def scan(artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
    return scan_dataset(artifact, ctx, "avro", _Reader(artifact, ctx).source())


# -- binary primitives -----------------------------------------------------------------------


class _Stream:
    """A file read with its position known, failing with the offset on a short read."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.pos = 0

    def exact(self, size: int, what: str) -> bytes:
        data = self.fh.read(size)
        if len(data) != size:
            raise _Broken(f"the file ends inside {what} ({len(data)} of {size} bytes)", self.pos + len(data))
        self.pos += size
        return data

    def long(self, what: str) -> int:
        """Zigzag varint, at most 10 bytes."""
        value = shift = 0
        for _ in range(10):
            byte = self.fh.read(1)
            if not byte:
                raise _Broken(f"the file ends inside {what}", self.pos)
            self.pos += 1
            value |= (byte[0] & 0x7F) << shift
            if not byte[0] & 0x80:
                return (value >> 1) ^ -(value & 1)
            shift += 7
        raise _Broken(f"{what} is not a valid varint", self.pos)

    def at_end(self) -> bool:
        if self.fh.read(1):
            self.fh.seek(-1, io.SEEK_CUR)
            return False
        return True


def _zigzag(value: int) -> bytes:
    value = (value << 1) ^ (value >> 63)
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


# -- schema -> decoding schema and Arrow type ------------------------------------------------


@dataclass
class _Plan:
    """What the decoder is told, the Arrow types values land in, and how odd values are converted."""

    limit: int
    """Deepest record/array/map nesting accepted, named types expanded."""
    names: dict[str, Any] = field(default_factory=dict)
    building: set[str] = field(default_factory=set)
    nodes: int = 0

    def decode_schema(self, schema: Any, in_union: bool = False) -> Any:
        """Same encoding, simpler values: no logical types; lone strings read as bytes."""
        if isinstance(schema, list):
            branches = [b for b in schema if b != "null"]
            return [self.decode_schema(b, in_union=len(branches) > 1) for b in schema]
        if isinstance(schema, str):
            return "bytes" if schema == "string" and not in_union else schema
        if not isinstance(schema, dict):
            return schema
        out = {k: v for k, v in schema.items() if k != "logicalType"}
        kind = schema.get("type")
        if kind == "record" or kind == "error":
            out["fields"] = [
                {**f, "type": self.decode_schema(f.get("type"))} for f in schema.get("fields", [])
            ]
        elif kind == "array":
            out["items"] = self.decode_schema(schema.get("items"))
        elif kind == "map":
            out["values"] = self.decode_schema(schema.get("values"))
        elif isinstance(kind, (str, list, dict)) and kind not in ("enum", "fixed"):
            return self.decode_schema(kind, in_union)
        return out

    def arrow(self, schema: Any, in_union: bool = False, depth: int = 0) -> _Typed:
        """Raises ``_TooComplex`` past ``limit`` levels or ``MAX_TYPE_NODES`` types: named types are
        expanded where used, so a small schema can describe an exponentially large one."""
        self.nodes += 1
        if depth > self.limit or self.nodes > MAX_TYPE_NODES:
            raise _TooComplex
        if isinstance(schema, list):
            branches = [b for b in schema if b != "null"]
            if len(branches) == 1:
                return self.arrow(branches[0], depth=depth)
            return _TEXT
        if isinstance(schema, str):
            if schema == "string" and not in_union:
                return _Typed(pa.large_binary(), pa.large_string())
            if schema in _PRIMITIVES:
                return _Typed(_PRIMITIVES[schema], _PRIMITIVES[schema])
            if schema in self.building or schema not in self.names:
                return _TEXT  # recursive (or unknown) named type
            return self.arrow(self.names[schema], depth=depth)
        if not isinstance(schema, dict):
            return _TEXT
        kind = schema.get("type")
        name = schema.get("name")
        if kind in ("record", "error", "enum", "fixed") and isinstance(name, str):
            self.names[name] = schema
            if isinstance(schema.get("namespace"), str) and "." not in name:
                self.names[f"{schema['namespace']}.{name}"] = schema
        if kind in ("record", "error"):
            self.building.add(str(name))
            fields = schema.get("fields", [])
            children = [(str(f.get("name")), self.arrow(f.get("type"), depth=depth + 1)) for f in fields]
            self.building.discard(str(name))
            converters = {n: t.convert for n, t in children if t.convert is not None}
            return _Typed(
                pa.struct([(n, t.raw) for n, t in children]),
                pa.struct([(n, t.text) for n, t in children]),
                _record_converter(converters) if converters else None,
            )
        if kind == "enum":
            return _Typed(pa.large_string(), pa.large_string())
        if kind == "fixed":
            return _Typed(pa.large_binary(), pa.large_binary())
        if kind == "array":
            item = self.arrow(schema.get("items"), depth=depth + 1)
            conv = None if item.convert is None else _list_converter(item.convert)
            return _Typed(pa.large_list(item.raw), pa.large_list(item.text), conv)
        if kind == "map":
            value = self.arrow(schema.get("values"), depth=depth + 1)
            conv = None if value.convert is None else _map_converter(value.convert)
            return _Typed(pa.map_(pa.large_string(), value.raw), pa.map_(pa.large_string(), value.text), conv)
        return self.arrow(kind, in_union, depth)


@dataclass(frozen=True)
class _Typed:
    """Arrow type values are decoded into, the type they are read as (lone strings arrive as bytes
    and are viewed as text, unvalidated, so flatten's UTF-8 check sees bad bytes), and a converter
    for values Arrow cannot take as decoded (None: none needed)."""

    raw: pa.DataType
    text: pa.DataType
    convert: Callable[[Any], Any] | None = None


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return json.dumps(value, ensure_ascii=False, default=_jsonable)


def _jsonable(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


_TEXT = _Typed(pa.large_string(), pa.large_string(), _as_text)


def _record_converter(converters: dict[str, Callable[[Any], Any]]) -> Callable[[Any], Any]:
    def convert(record: Any) -> Any:
        if isinstance(record, dict):
            for key, conv in converters.items():
                record[key] = conv(record.get(key))
        return record

    return convert


def _list_converter(conv: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda items: None if items is None else [conv(x) for x in items]


def _map_converter(conv: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda entries: None if entries is None else {k: conv(v) for k, v in entries.items()}


# -- the reader ------------------------------------------------------------------------------


@dataclass
class _Block:
    index: int
    offset: int
    count: int
    data: bytes


@dataclass
class _Reader:
    artifact: Artifact
    ctx: ScanContext
    codec: str = "null"
    sync: bytes = b""
    row: int = 0
    stop: Callable[[], Finding] | None = None

    def source(self) -> Iterator[SourceItem]:
        if self.artifact.size == 0:
            yield self._empty(0)
            return
        with self.artifact.open() as fh:
            stream = _Stream(fh)
            try:
                meta = self._header(stream)
            except _Broken as exc:
                yield self._corrupt(f"its header is invalid: {exc}", exc, None)
                return
            plan = yield from self._prepare(meta)
            if plan is None:
                return
            group: list[_Block] = []
            size = 0
            for block in self._blocks(stream):
                group.append(block)
                size += len(block.data)
                if size < GROUP_BYTES:
                    continue
                yield from plan.decode(self, group)
                group, size = [], 0
                if self.stop is not None:
                    break
                if self.ctx.out_of_time():
                    yield self.ctx.timeout_finding(self.artifact, self.artifact.location(row=self.row))
                    return
            yield from plan.decode(self, group)  # empty after a decoding failure
            if self.stop is not None:
                yield self.stop()
                return
        if self.row == 0:
            yield Batch(plan.empty(), 0)  # column names and metadata are still checked
            yield self._empty(stream.pos)

    def _empty(self, offset: int) -> Finding:
        return structure.EMPTY.finding(
            self.artifact.path,
            f"{self.artifact.display} holds no Avro records. Check the job that wrote it; delete it if "
            "the partition is intentionally empty.",
            location=self.artifact.location(offset=offset),
            evidence=f"{self.artifact.size} bytes, 0 records",
            key="empty",
        )

    def _corrupt(self, detail: str, exc: _Broken, block: int | None) -> Finding:
        return structure.CORRUPT.finding(
            self.artifact.path,
            f"{self.artifact.display} is not a valid Avro file: {detail}. Rows from row {self.row} on were "
            "not checked; re-export or re-download the file.",
            location=self.artifact.location(offset=exc.offset, row_group=block, row=self.row),
            evidence=exc.evidence or f"offset {exc.offset}",
            key="header" if block is None else "block",
        )

    def _too_large(self, index: int, start: int, size: int, verb: str) -> Finding:
        return BLOCK_TOO_LARGE.finding(
            self.artifact.path,
            f"Avro block {index} of {self.artifact.display} {verb} {size:,} bytes (bound "
            f"{MAX_BLOCK_BYTES:,}); it and the rest of the file were not decoded.",
            location=self.artifact.location(offset=start, row_group=index, row=self.row),
            evidence=f"block {index}: {size} bytes",
            key="block size",
        )

    # header ------------------------------------------------------------------------------
    def _header(self, stream: _Stream) -> dict[str, bytes]:
        if stream.exact(4, "the magic") != MAGIC:
            raise _Broken("it does not start with the Avro magic Obj\\x01", 0)
        budget = self.ctx.limits.max_header_bytes
        meta: dict[str, bytes] = {}
        while True:
            count = stream.long("the metadata block count")
            if count == 0:
                break
            if count < 0:
                count = -count
                stream.long("the metadata block size")
            for _ in range(count):
                key_len = stream.long("a metadata key length")
                if not 0 <= key_len <= budget:
                    raise _Broken(f"a metadata key declares {key_len} bytes", stream.pos)
                key = stream.exact(key_len, "a metadata key")
                value_len = stream.long("a metadata value length")
                if not 0 <= value_len <= budget:
                    raise _Broken(f"a metadata value declares {value_len} bytes", stream.pos)
                meta[key.decode("utf-8", "replace")] = stream.exact(value_len, "a metadata value")
                budget -= key_len + value_len
                if budget < 0:
                    raise _Broken("the header is larger than max_header_bytes", stream.pos)
        self.sync = stream.exact(16, "the sync marker")
        self.codec = meta.get("avro.codec", b"null").decode("utf-8", "replace") or "null"
        return meta

    def _prepare(self, meta: dict[str, bytes]) -> Generator[Finding, None, _Decoder | None]:
        text = meta.get("avro.schema")
        if text is None:
            yield self._corrupt("its header has no avro.schema", _Broken("", 0), None)
            return None
        limit = min(self.ctx.policy.dataset_rules.max_nesting_depth, SCHEMA_DEPTH_CAP)
        if json_depth(text) > 3 * limit + 8:  # about three JSON levels per record level
            yield self._deep(text, limit)
            return None
        try:
            schema = json.loads(text)
        except ValueError as exc:
            yield self._corrupt(f"its schema is not valid JSON ({exc})", _Broken("", 0), None)
            return None
        if self.codec != "null" and self.codec not in _DECOMPRESSORS:
            yield UNSUPPORTED_CODEC.finding(
                self.artifact.path,
                f"{self.artifact.display} uses the Avro codec {escape(self.codec)!r}, which this scanner "
                "cannot decode, so none of its records were checked. Re-write it with deflate, bzip2 or xz.",
                location=self.artifact.location(offset=0, row_group=0),
                evidence=f"avro.codec={escape(self.codec)[:60]}",
                key=self.codec[:60],
            )
            return None
        plan = _Plan(limit)
        try:
            typed = plan.arrow(schema)
            decode_schema = plan.decode_schema(schema)
        except (_TooComplex, RecursionError):
            yield self._deep(text, limit)
            return None
        try:
            fastavro.parse_schema(decode_schema)
        except Exception as exc:  # fastavro raises several types for a bad schema
            yield self._corrupt(f"its schema is not a valid Avro schema ({exc})", _Broken("", 0), None)
            return None
        metadata = {k: v for k, v in meta.items() if k != "avro.codec"}
        return _Decoder(self._synthetic_header(decode_schema), typed, metadata)

    def _deep(self, text: bytes, limit: int) -> Finding:
        return structure.DEEP_NESTING.finding(
            self.artifact.path,
            f"The Avro schema of {self.artifact.display} nests deeper than {limit} levels or expands to "
            f"more than {MAX_TYPE_NODES:,} types; its records were not decoded or checked.",
            location=self.artifact.location(offset=0),
            evidence=escape(text[:200].decode("utf-8", "replace")),
            key="schema depth",
        )

    def _synthetic_header(self, decode_schema: Any) -> bytes:
        entries = {"avro.schema": json.dumps(decode_schema).encode(), "avro.codec": b"null"}
        out = bytearray(MAGIC) + _zigzag(len(entries))
        for key, value in entries.items():
            out += _zigzag(len(key)) + key.encode() + _zigzag(len(value)) + value
        return bytes(out + _zigzag(0) + self.sync)

    # blocks ------------------------------------------------------------------------------
    def _blocks(self, stream: _Stream) -> Iterator[_Block]:
        """Checked, inflated blocks; a problem ends the walk and leaves its finding in ``stop`` (built
        later, once the rows before it are counted)."""
        index = 0
        while not stream.at_end():
            start = stream.pos
            try:
                count = stream.long("a block's record count")
                size = stream.long("a block's byte size")
                if count < 0 or size < 0:
                    raise _Broken(f"block {index} declares {count} records in {size} bytes", start)
                if size > MAX_BLOCK_BYTES:
                    self.stop = partial(self._too_large, index, start, size, "declares")
                    return
                data = stream.exact(size, f"block {index}")
                marker = stream.exact(16, f"the sync marker after block {index}")
                if marker != self.sync:
                    raise _Broken(
                        f"the sync marker after block {index} is wrong (corrupt or spliced file)",
                        stream.pos - 16,
                        f"expected {self.sync.hex()} found {marker.hex()}",
                    )
                raw = self._inflate(index, start, data)
                if raw is None:
                    return
                if count > len(raw) + BATCH_ROWS:
                    raise _Broken(f"block {index} declares {count} records in {len(raw)} bytes", start)
            except _Broken as exc:
                self.stop = partial(self._corrupt, f"block {index} is broken: {exc}", exc, index)
                return
            yield _Block(index, start, count, raw)
            index += 1

    def _inflate(self, index: int, start: int, data: bytes) -> bytes | None:
        if self.codec == "null":
            return data
        try:
            inflater = _DECOMPRESSORS[self.codec]()
            raw = inflater.decompress(data, MAX_BLOCK_BYTES + 1)
        except (zlib.error, OSError, lzma.LZMAError, EOFError) as exc:
            raise _Broken(f"its {self.codec} data does not decompress ({exc})", start) from None
        if len(raw) > MAX_BLOCK_BYTES:
            self.stop = partial(self._too_large, index, start, len(raw), "inflates to more than")
            return None
        if len(raw) > _RATIO_GRACE and len(raw) > self.ctx.limits.max_compression_ratio * max(1, len(data)):
            detail = (
                f"Avro block {index} inflates {len(data):,} bytes to {len(raw):,} (a decompression bomb?)"
            )
            self.stop = partial(self._limit, "max_compression_ratio", detail, index, start)
            return None
        if not self.ctx.charge_decoded(self.artifact, len(raw)):
            detail = f"by Avro block {index} the file inflated to more than max_compression_ratio x its size"
            self.stop = partial(self._limit, "max_compression_ratio", detail, index, start)
            return None
        return raw

    def _limit(self, limit: str, detail: str, index: int, start: int) -> Finding:
        location = self.artifact.location(offset=start, row_group=index, row=self.row)
        return self.ctx.limit_finding(self.artifact, limit, detail, location)


@dataclass
class _Decoder:
    """Decodes checked blocks with fastavro and turns their records into Arrow batches."""

    header: bytes
    typed: _Typed
    metadata: dict[str, bytes]

    @property
    def is_record(self) -> bool:
        return pa.types.is_struct(self.typed.raw)

    def empty(self) -> pa.RecordBatch:
        return self._batch([])

    def decode(self, reader: _Reader, group: list[_Block]) -> Iterator[SourceItem]:
        if not group:
            return
        body = bytearray(self.header)
        for block in group:
            body += _zigzag(block.count) + _zigzag(len(block.data)) + block.data + reader.sync
        pending: list[Any] = []
        blocks_in_pending: set[int] = set()
        decoded = fastavro.block_reader(io.BytesIO(bytes(body)), handle_unicode_errors="replace")
        for block in group:
            try:
                chunk = next(decoded)
                records = iter(chunk)
                while part := list(islice(records, BATCH_ROWS - len(pending))):
                    pending += part
                    blocks_in_pending.add(block.index)
                    if len(pending) >= BATCH_ROWS:
                        yield self._flush(reader, pending, blocks_in_pending)
                        pending, blocks_in_pending = [], set()
                left = _remaining(chunk)
            except Exception as exc:  # fastavro raises EOFError, ValueError, IndexError... on bad data
                if pending:
                    yield self._flush(reader, pending, blocks_in_pending)
                detail = f"the records of block {block.index} do not decode ({type(exc).__name__}: {exc})"
                reader.stop = partial(reader._corrupt, detail, _Broken("", block.offset), block.index)
                return
            if left:
                yield structure.ROW_COUNT_MISMATCH.finding(
                    reader.artifact.path,
                    f"Avro block {block.index} of {reader.artifact.display} declares {block.count} records "
                    f"but {left} bytes remain after decoding them: data hidden from readers, or a corrupt "
                    "count. Re-export the file.",
                    location=reader.artifact.location(offset=block.offset, row_group=block.index),
                    evidence=hex_snippet(block.data[len(block.data) - left :][:48]),
                    key=f"block {block.index}",
                )
        if pending:
            yield self._flush(reader, pending, blocks_in_pending)

    def _flush(self, reader: _Reader, records: list[Any], blocks: set[int]) -> Batch:
        batch = Batch(self._batch(records), reader.row, next(iter(blocks)) if len(blocks) == 1 else None)
        reader.row += len(records)
        return batch

    def _batch(self, records: list[Any]) -> pa.RecordBatch:
        if self.typed.convert is not None:
            records = [self.typed.convert(r) for r in records]
        array = pa.array(records, self.typed.raw).view(self.typed.text)
        schema_meta = {k.encode(): v for k, v in self.metadata.items()}
        if self.is_record:
            batch = pa.RecordBatch.from_struct_array(array)
        else:
            batch = pa.RecordBatch.from_arrays([array], ["value"])
        return batch.replace_schema_metadata(schema_meta)


def _remaining(block: Any) -> int:
    """Bytes of a decoded block that its declared records did not use."""
    data: io.BytesIO = block.bytes_
    return len(data.getbuffer()) - data.tell()


SCANNER = Scanner("avro", sniff, scan)
