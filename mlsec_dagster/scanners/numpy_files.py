"""NumPy ``.npy`` (alone or as ``.npz`` members): the header only, and object arrays as pickles.

The header is a Python dict literal, parsed with the literal-only evaluator (no names, no calls).
Numeric data is never read: its expected length is checked against the stream size. An object
dtype anywhere in the descr means the data section *is* a pickle (loading it with pickles enabled
runs it), so it is handed to the registry as a window.
"""

from __future__ import annotations

import math
import re
import struct
from ast import literal_eval as _python_literal
from collections.abc import Iterator
from typing import Any

from mlsec_dagster.engine.artifact import Artifact
from mlsec_dagster.engine.context import ScanContext, Scanner
from mlsec_dagster.engine.findings import Finding, Severity
from mlsec_dagster.engine.rules import define
from mlsec_dagster.scanners._streams import read_region, region_opener

_FAMILY = "numpy"

BAD_HEADER = define(
    "MLS-NPY-001",
    "NumPy header is malformed",
    Severity.HIGH,
    "The `.npy` header is not the dict NumPy writes (descr, fortran_order, shape), so the array's "
    "layout, and whether it holds pickled objects, could not be verified (fail closed).",
    "Re-save the array with `numpy.save` from trusted data.",
    family=_FAMILY,
)
SIZE_MISMATCH = define(
    "MLS-NPY-002",
    "NumPy data shorter than its header declares",
    Severity.MEDIUM,
    "The data section is shorter than shape x itemsize: the file is truncated or the header lies, and "
    "loaders will fail or read garbage.",
    "Re-create the file; check the transfer that produced it.",
    family=_FAMILY,
)
TRAILING = define(
    "MLS-NPY-003",
    "Data after the end of the NumPy array",
    Severity.MEDIUM,
    "Bytes after the declared array data are ignored by NumPy but can be read by another loader "
    "(a polyglot). They were scanned as a separate stream.",
    "Re-save the array with `numpy.save`.",
    family=_FAMILY,
)

MAGIC = b"\x93NUMPY"
_PREFIX = {1: struct.Struct("<H"), 2: struct.Struct("<I"), 3: struct.Struct("<I")}
_KEYS = {"descr", "fortran_order", "shape"}
_TYPESTR = re.compile(r"^[<>|=]?([?bBhHiIlLqQpPefdgFDGSaUVOMmcu])(\d*)(\[[A-Za-z0-9]+\])?$")
_CHAR_SIZES = {
    "?": 1, "b": 1, "B": 1, "h": 2, "H": 2, "i": 4, "I": 4, "l": 8, "L": 8, "q": 8, "Q": 8, "p": 8, "P": 8,
    "e": 2, "f": 4, "d": 8, "g": 16, "F": 8, "D": 16, "G": 32, "O": 8, "M": 8, "m": 8, "c": 1,
}  # fmt: skip
"""Item sizes of one-character type codes that carry no explicit size."""
_MAX_DESCR_DEPTH = 32


class _HeaderError(ValueError):
    pass


def _sniff(artifact: Artifact) -> bool:
    head = artifact.head
    return head.startswith(MAGIC) and len(head) >= 10 and head[6] in _PREFIX


def _typestr_size(descr: str) -> tuple[int, bool]:
    match = _TYPESTR.match(descr)
    if not match:
        raise _HeaderError(f"unknown dtype {descr!r}")
    kind, digits = match.group(1), match.group(2)
    if kind == "O":
        return 8, True
    if digits:
        return int(digits) * (4 if kind == "U" else 1), False
    if kind in _CHAR_SIZES:
        return _CHAR_SIZES[kind], False
    raise _HeaderError(f"dtype {descr!r} has no size")


def dtype_size(descr: Any, depth: int = 0) -> tuple[int, bool]:
    """(itemsize, holds objects) of a NumPy ``descr``: a type string or a list of structured fields."""
    if depth > _MAX_DESCR_DEPTH:
        raise _HeaderError("dtype nested too deeply")
    if isinstance(descr, str):
        return _typestr_size(descr)
    if not isinstance(descr, list):
        raise _HeaderError(f"descr must be a string or a list, not {type(descr).__name__}")
    total, has_object = 0, False
    for field in descr:
        if not isinstance(field, tuple) or len(field) not in (2, 3):
            raise _HeaderError(f"bad structured field {field!r:.80}")
        size, obj = dtype_size(field[1], depth + 1)
        count = math.prod(_shape(field[2])) if len(field) == 3 else 1
        total += size * count
        has_object = has_object or obj
    return total, has_object


def _shape(value: Any) -> tuple[int, ...]:
    if not isinstance(value, tuple) or not all(isinstance(n, int) and not isinstance(n, bool) for n in value):
        raise _HeaderError(f"shape must be a tuple of integers, not {value!r:.80}")
    if any(n < 0 for n in value):
        raise _HeaderError(f"negative dimension in shape {value!r:.80}")
    return value


def parse_header(data: bytes, version: int) -> dict[str, Any]:
    text = data.decode("utf-8" if version >= 3 else "latin-1")
    try:
        header = _python_literal(text.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError) as exc:
        raise _HeaderError(f"header is not a Python literal: {exc}") from None
    if not isinstance(header, dict) or set(header) != _KEYS:
        raise _HeaderError(f"header must be a dict with exactly {sorted(_KEYS)}")
    if not isinstance(header["fortran_order"], bool):
        raise _HeaderError("fortran_order must be True or False")
    _shape(header["shape"])
    return header


def _scan(artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
    version = artifact.head[6]
    prefix = _PREFIX[version]
    length_at = 8
    declared = (
        prefix.unpack_from(artifact.head, length_at)[0] if len(artifact.head) >= 8 + prefix.size else -1
    )
    data_at = length_at + prefix.size + declared
    if declared > ctx.limits.max_header_bytes:
        yield ctx.limit_finding(artifact, "max_header_bytes", f"the .npy header is {declared} bytes")
        return
    size = artifact.size
    try:
        if declared < 0 or (size >= 0 and data_at > size):
            raise _HeaderError(f"header length {declared} runs past the end of the stream")
        raw = read_region(artifact.open, length_at + prefix.size, declared)
        header = parse_header(raw, version)
        itemsize, has_object = dtype_size(header["descr"])
    except (_HeaderError, UnicodeDecodeError) as exc:
        yield BAD_HEADER.finding(
            artifact.path,
            f"{artifact.display} has a malformed .npy header ({exc}); its content could not be verified. "
            "Re-save the array with numpy.save from trusted data.",
            location=artifact.location(offset=length_at),
            evidence=artifact.head[: min(len(artifact.head), 200)].decode("latin-1"),
            key=type(exc).__name__,
        )
        return
    if size < 0:
        with artifact.open() as fh:
            size = fh.seek(0, 2)
    if has_object:
        yield from ctx.scan_child(
            artifact,
            "<npy object data>",
            size - data_at,
            region_opener(artifact.open, data_at, size - data_at),
        )
        return
    yield from _check_length(artifact, ctx, header, itemsize, data_at, size)


def _check_length(
    artifact: Artifact, ctx: ScanContext, header: dict[str, Any], itemsize: int, data_at: int, size: int
) -> Iterator[Finding]:
    expected = math.prod(header["shape"]) * itemsize
    actual = size - data_at
    detail = f"shape {header['shape']} x {itemsize} bytes = {expected} bytes, stream has {actual}"
    if actual < expected:
        yield SIZE_MISMATCH.finding(
            artifact.path,
            f"{artifact.display} is shorter than its header declares ({detail}). Re-create the file.",
            location=artifact.location(offset=data_at),
            evidence=detail,
            key="truncated",
        )
    elif actual > expected:
        start, length = data_at + expected, actual - expected
        yield TRAILING.finding(
            artifact.path,
            f"{artifact.display} has {length} bytes after its array data ({detail}); another loader may "
            "read them. Re-save the array with numpy.save.",
            location=artifact.location(offset=start),
            evidence=read_region(artifact.open, start, 32).hex(" "),
            key="trailing",
        )
        yield from ctx.scan_child(
            artifact, "<npy trailing data>", length, region_opener(artifact.open, start, length)
        )


SCANNER = Scanner("numpy", _sniff, _scan)
