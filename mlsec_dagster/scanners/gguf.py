"""GGUF (llama.cpp) files: typed key/value metadata, tensor table, then tensor data.

The header is walked with explicit bounds (counts, string lengths, ``max_header_bytes``); arrays of
numbers and token strings are skipped by seeking, and tensor data is never read, only its offsets
and sizes checked against the file. The chat template is the one place code can hide: loaders
render it with Jinja2 (CVE-2024-34359).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from mlsec_dagster.engine.artifact import Artifact
from mlsec_dagster.engine.context import ScanContext, Scanner
from mlsec_dagster.engine.findings import Finding, Severity
from mlsec_dagster.engine.policy import CODE_EXECUTION_TAG
from mlsec_dagster.engine.rules import define
from mlsec_dagster.scanners._templates import template_escapes
from mlsec_dagster.scanners.licenses import metadata as licence_metadata
from mlsec_dagster.scanners.secrets.strings import findings_in_strings

_FAMILY = "gguf"

TEMPLATE_ESCAPE = define(
    "MLS-GGUF-001",
    "GGUF chat template reaches Python internals",
    Severity.CRITICAL,
    "A `tokenizer.chat_template*` value uses dunder attributes, attr() lookups or module calls: the "
    "Jinja2 sandbox escapes that run code when llama-cpp-python and similar loaders render the "
    "template (CVE-2024-34359). Genuine chat templates never need them.",
    "Do not load the file. Replace the chat template with the upstream one (e.g. re-convert the model "
    "with llama.cpp's convert script) and re-scan.",
    family=_FAMILY,
    tags=(CODE_EXECUTION_TAG,),
)
MALFORMED = define(
    "MLS-GGUF-002",
    "Malformed GGUF header",
    Severity.HIGH,
    "The GGUF header (version, counts, key/value metadata or tensor table) is inconsistent or "
    "truncated, so the file could not be fully verified; parsers have had memory-safety bugs on exactly "
    "such input.",
    "Re-download or re-convert the model from a trusted source.",
    family=_FAMILY,
)
TENSOR_BOUNDS = define(
    "MLS-GGUF-003",
    "GGUF tensor data out of bounds, misaligned or overlapping",
    Severity.HIGH,
    "A tensor's offset or size points outside the data section, breaks the declared alignment or "
    "overlaps another tensor: a sign of a crafted file aiming at loader memory bugs, or of corruption.",
    "Re-download or re-convert the model from a trusted source.",
    family=_FAMILY,
)

MAGIC = b"GGUF"
_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_STRING, _ARRAY = 8, 9
_MAX_ARRAY_DEPTH = 8
GGML_SIZES: dict[int, tuple[int, int]] = {
    0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34), 9: (32, 40),
    10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210), 15: (256, 292),
    16: (256, 66), 17: (256, 74), 18: (256, 98), 19: (256, 50), 20: (32, 18), 21: (256, 110), 22: (256, 82),
    23: (256, 136), 24: (1, 1), 25: (1, 2), 26: (1, 4), 27: (1, 8), 28: (1, 8), 29: (256, 56), 30: (1, 2),
    34: (256, 54), 35: (256, 66), 39: (32, 17), 40: (64, 36), 41: (128, 18),
}  # fmt: skip
"""ggml type id -> (elements per block, bytes per block); unknown types skip the size check."""


class GGUFError(ValueError):
    def __init__(self, message: str, offset: int) -> None:
        super().__init__(f"{message} at byte {offset}")
        self.offset = offset


class _HeaderLimit(Exception):
    """The metadata is larger than ``max_header_bytes``: a limit, not a malformation."""


@dataclass(frozen=True)
class Tensor:
    name: str
    offset: int
    nbytes: int | None
    info_offset: int


class _Reader:
    def __init__(self, fh: BinaryIO, size: int, endian: str, version: int, max_string: int) -> None:
        self.fh, self.size, self.endian, self.version, self.max_string = fh, size, endian, version, max_string

    def tell(self) -> int:
        return self.fh.tell()

    def unpack(self, fmt: str) -> int | float | bool:
        width = struct.calcsize(fmt)
        pos = self.tell()
        data = self.fh.read(width)
        if len(data) != width:
            raise GGUFError("file ends inside the header", pos)
        value: int | float | bool = struct.unpack(self.endian + fmt, data)[0]
        return value

    def count(self) -> int:
        """Lengths and counts: uint32 in version 1, uint64 from version 2 on."""
        return int(self.unpack("I" if self.version == 1 else "Q"))

    def string(self, keep: bool = True) -> str:
        pos = self.tell()
        length = self.count()
        if pos + length > self.size:
            raise GGUFError(f"string of {length} bytes runs past the end of the file", pos)
        if not keep:
            self.fh.seek(length, 1)
            return ""
        if length > self.max_string:
            raise GGUFError(f"string of {length} bytes exceeds max_header_bytes", pos)
        return self.fh.read(length).decode("utf-8", "replace")


def _sniff(artifact: Artifact) -> bool:
    if artifact.head[:4] != MAGIC or len(artifact.head) < 8:
        return False
    le, be = struct.unpack("<I", artifact.head[4:8])[0], struct.unpack(">I", artifact.head[4:8])[0]
    return 1 <= le <= 3 or 1 <= be <= 3


def _value(r: _Reader, vtype: int, key: str, depth: int) -> str | None:
    """Reads (or skips) one value; returns it only when it is a string worth judging."""
    if vtype in _SCALARS:
        r.unpack(_SCALARS[vtype])
        return None
    if vtype == _STRING:
        return r.string(keep=depth == 0)  # top-level strings: templates, licence, secrets search
    if vtype != _ARRAY or depth >= _MAX_ARRAY_DEPTH:
        raise GGUFError(f"unknown or too deeply nested value type {vtype} for key {key!r}", r.tell())
    etype = int(r.unpack("I"))
    pos = r.tell()
    n = r.count()
    if etype in _SCALARS:
        nbytes = n * struct.calcsize(_SCALARS[etype])
        if pos + nbytes > r.size:
            raise GGUFError(f"array {key!r} of {n} elements runs past the end of the file", pos)
        r.fh.seek(nbytes, 1)
        return None
    if n > r.size:
        raise GGUFError(f"array {key!r} claims {n} elements, more than the file has bytes", pos)
    for index in range(n):
        if index % 4096 == 0 and r.tell() > r.max_string:
            raise _HeaderLimit(f"array {key!r} runs past max_header_bytes")
        _value(r, etype, key + "[]", depth + 1)
    return None


def _scan(artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
    with artifact.open() as fh:
        try:
            yield from _scan_stream(artifact, ctx, fh)
        except _HeaderLimit as exc:
            yield ctx.limit_finding(artifact, "max_header_bytes", str(exc))
        except GGUFError as exc:
            yield MALFORMED.finding(
                artifact.path,
                f"{artifact.display}: {exc}. The rest of the header was not checked; re-convert the model "
                "from a trusted source.",
                location=artifact.location(offset=exc.offset),
                evidence=str(exc),
                key=str(exc).split(" at byte ")[0][:120],
            )


def _scan_stream(artifact: Artifact, ctx: ScanContext, fh: BinaryIO) -> Iterator[Finding]:
    le = struct.unpack("<I", artifact.head[4:8])[0]
    endian = "<" if 1 <= le <= 3 else ">"
    fh.seek(4)
    r = _Reader(fh, artifact.size, endian, 0, ctx.limits.max_header_bytes)
    r.version = int(r.unpack("I"))
    n_tensors, n_kv = r.count(), r.count()
    if n_tensors > artifact.size or n_kv > artifact.size:
        raise GGUFError(f"counts ({n_tensors} tensors, {n_kv} keys) exceed the file size", 8)
    alignment = 32
    for _ in range(n_kv):
        if r.tell() > ctx.limits.max_header_bytes:
            yield ctx.limit_finding(artifact, "max_header_bytes", "GGUF metadata is larger than the limit")
            return
        key = r.string()
        vtype = int(r.unpack("I"))
        value_offset = r.tell()
        if key == "general.alignment" and vtype == 4:
            alignment = int(r.unpack("I"))
            continue
        text = _value(r, vtype, key, 0)
        licence_metadata.record_gguf(ctx, artifact, key, text)  # general.license (scanners.licenses)
        if text is not None and "chat_template" in key:
            yield from _template_findings(artifact, key, text, value_offset + (4 if r.version == 1 else 8))
        if text is not None:  # secrets in metadata strings (mlsec_dagster.scanners.secrets)
            yield from findings_in_strings(artifact, "GGUF metadata", [(key, text, value_offset)])
    tensors = [_tensor_info(r) for _ in range(n_tensors)]
    if alignment <= 0 or alignment & (alignment - 1):
        raise GGUFError(f"general.alignment {alignment} is not a power of two", 0)
    data_start = -(-r.tell() // alignment) * alignment
    yield from _check_tensors(artifact, tensors, data_start, alignment)


def _tensor_info(r: _Reader) -> Tensor:
    info_offset = r.tell()
    name = r.string()
    n_dims = int(r.unpack("I"))
    if n_dims > 8:
        raise GGUFError(f"tensor {name!r} has {n_dims} dimensions", info_offset)
    elements = 1
    for _ in range(n_dims):
        elements *= r.count()
    ggml_type = int(r.unpack("I"))
    offset = int(r.unpack("Q"))
    block = GGML_SIZES.get(ggml_type)
    nbytes = None if block is None else -(-elements // block[0]) * block[1]
    return Tensor(name, offset, nbytes, info_offset)


def _check_tensors(
    artifact: Artifact, tensors: list[Tensor], data_start: int, alignment: int
) -> Iterator[Finding]:
    data_size = artifact.size - data_start
    previous_end, previous_name = 0, ""
    for t in sorted(tensors, key=lambda t: t.offset):
        problem = ""
        end = t.offset + (t.nbytes or 0)
        if t.offset % alignment:
            problem = f"offset {t.offset} is not a multiple of the alignment {alignment}"
        elif end > data_size or t.offset > data_size:
            problem = f"data [{t.offset}, {end}) runs past the end of the data section ({data_size} bytes)"
        elif t.offset < previous_end:
            problem = (
                f"data starting at {t.offset} overlaps tensor {previous_name!r} (ends at {previous_end})"
            )
        if problem:
            yield TENSOR_BOUNDS.finding(
                artifact.path,
                f"Tensor {t.name!r} in {artifact.display}: {problem}. The file is corrupt or crafted; "
                "re-convert it from a trusted source.",
                location=artifact.location(offset=t.info_offset),
                evidence=f"tensor {t.name!r} offset={t.offset} nbytes={t.nbytes} data_start={data_start}",
                key=t.name,
            )
        previous_end, previous_name = max(previous_end, end), t.name


def _template_findings(artifact: Artifact, key: str, text: str, value_offset: int) -> Iterator[Finding]:
    hits = template_escapes(text)
    if not hits:
        return
    first = hits[0]
    yield TEMPLATE_ESCAPE.finding(
        artifact.path,
        f"The GGUF metadata {key!r} holds a Jinja2 template that reaches Python internals ({first.reason}, "
        f"template line {first.line}); rendering it can run code (CVE-2024-34359). Replace the template "
        "with the upstream one before loading.",
        location=artifact.location(offset=value_offset + len(text[: first.offset].encode())),
        evidence="\n".join(f"{h.reason} (line {h.line}): {h.snippet}" for h in hits[:5])[:4000],
        key=f"{key}:{first.reason}",
    )


SCANNER = Scanner("gguf", _sniff, _scan)
