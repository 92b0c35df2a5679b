"""Stream layouts that put raw bytes between or after pickles, so they are not mistaken for garbage.

* Uncompressed joblib writes each numpy array's raw bytes right after the BUILD of its
  ``NumpyArrayWrapper`` (one padding-length byte and ``0xff`` padding first when the wrapper has
  ``numpy_array_alignment_bytes``); object arrays are written there as a nested protocol-5 pickle
  instead, which is analysed like any other stream.
* Legacy (pre-1.6) ``torch.save`` writes five pickles (magic number, protocol version, sys info,
  the object, the sorted storage keys) followed by each storage as an 8-byte element count and
  the elements.
"""

from __future__ import annotations

import math
import re
import struct

from mlsec_dagster.scanners.pickle.machine import Machine
from mlsec_dagster.scanners.pickle.opcodes import OpReader, PickleFormatError
from mlsec_dagster.scanners.pickle.values import Const, Ref, Result, Seq, Value

JOBLIB_WRAPPER = "joblib.numpy_pickle.NumpyArrayWrapper"
MAX_DTYPE_NESTING = 32
"""Structured dtypes nested deeper than this are treated as unreadable (fail closed)."""
MAX_NESTED_ARRAYS = 4
"""Object arrays inside object arrays: deeper nesting is not something joblib produces."""

TORCH_MAGIC = 0x1950A86A20F9469CFC6C
TORCH_PROTOCOL_VERSION = 1001

TORCH_ELEMENT_SIZES: dict[str, int] = {
    "torch.DoubleStorage": 8, "torch.FloatStorage": 4, "torch.HalfStorage": 2, "torch.BFloat16Storage": 2,
    "torch.LongStorage": 8, "torch.IntStorage": 4, "torch.ShortStorage": 2, "torch.CharStorage": 1,
    "torch.ByteStorage": 1, "torch.BoolStorage": 1, "torch.ComplexFloatStorage": 8,
    "torch.ComplexDoubleStorage": 16, "torch.QInt8Storage": 1, "torch.QUInt8Storage": 1,
    "torch.QInt32Storage": 4, "torch.QUInt4x2Storage": 1, "torch.QUInt2x4Storage": 1,
    "torch.UntypedStorage": 1, "torch.storage.UntypedStorage": 1,
}  # fmt: skip

_DTYPE = re.compile(r"^[<>|=]?([bifucmMOSUV])(\d+)")


def _as_dict(state: Value) -> dict[str, Value]:
    if not isinstance(state, Seq) or state.kind != "dict":
        return {}
    return {k.value: v for k, v in state.pairs() if isinstance(k, Const) and isinstance(k.value, str)}


def _dtype(value: Value | None, depth: int = 0) -> tuple[int, bool] | None:
    """(itemsize, holds Python objects) of a pickled ``numpy.dtype(...)`` call, or None if unknown."""
    if depth > MAX_DTYPE_NESTING or not (
        isinstance(value, Result) and isinstance(value.func, Ref) and value.func.name == "numpy.dtype"
    ):
        return None
    args = value.args.items if isinstance(value.args, Seq) else []
    spec = args[0].value if args and isinstance(args[0], Const) else None
    match = _DTYPE.match(spec) if isinstance(spec, str) else None
    if match is None:
        return None
    kind, size = match.group(1), int(match.group(2))
    state = value.state.items if isinstance(value.state, Seq) else []
    if kind == "V" and len(state) > 4 and not (isinstance(state[4], Const) and state[4].value is None):
        return (size, _fields_hold_objects(state[4], depth))
    return (size * 4 if kind == "U" else size, kind == "O")


def _fields_hold_objects(fields: Value, depth: int) -> bool:
    """Structured dtypes: an object field (or one we cannot read) means a nested pickle follows."""
    for _name, spec in _as_dict(fields).items():
        inner = _dtype(spec.items[0], depth + 1) if isinstance(spec, Seq) and spec.items else None
        if inner is None or inner[1]:
            return True
    return False


def joblib_build_hook(machine: Machine, obj: Value, state: Value, pos: int) -> None:
    """Skip (or analyse) the array data joblib wrote right after a ``NumpyArrayWrapper`` BUILD."""
    if not (isinstance(obj, Result) and obj.cls == JOBLIB_WRAPPER):
        return
    fields = _as_dict(state)
    dtype = _dtype(fields.get("dtype"))
    shape = fields.get("shape")
    dims = [d.value for d in shape.items if isinstance(d, Const) and isinstance(d.value, int)] \
        if isinstance(shape, Seq) else []  # fmt: skip
    if dtype is None or not isinstance(shape, Seq) or len(dims) != shape.total \
            or not all(d >= 0 for d in dims):  # fmt: skip
        raise PickleFormatError(pos, "joblib array wrapper with an unreadable dtype or shape")
    itemsize, has_objects = dtype
    reader = machine.reader
    if has_objects:
        if machine.array_depth >= MAX_NESTED_ARRAYS:
            raise PickleFormatError(pos, "joblib object arrays nested too deeply")
        inner = Machine(reader, machine.budget, joblib_build_hook)
        inner.array_depth = machine.array_depth + 1
        try:
            inner.run()
        finally:
            for slot, issue in inner.issues.items():
                machine.issues.setdefault(slot, issue)
            machine.skipped_regions.extend(inner.skipped_regions)
        return
    alignment = fields.get("numpy_array_alignment_bytes")
    if isinstance(alignment, Const) and isinstance(alignment.value, int):
        padding = reader.read_exact(1, reader.pos)[0]
        reader.skip(padding, reader.pos)
    start = reader.pos
    reader.skip(math.prod(dims) * itemsize, pos)
    machine.skipped_regions.append((start, reader.pos))


def is_legacy_torch(values: list[Value | None]) -> bool:
    """The first streams look like ``torch.save(..., _use_new_zipfile_serialization=False)``."""
    return (
        len(values) >= 2
        and isinstance(values[0], Const)
        and isinstance(values[0].value, int)
        and not isinstance(values[0].value, bool)
        and isinstance(values[1], Const)
        and values[1].value == TORCH_PROTOCOL_VERSION
    )


def skip_torch_storages(reader: OpReader, storages: dict[str, tuple[str, int]], count: int) -> str | None:
    """Walk the raw storages after the storage-key pickle; an error text when the layout is off."""
    if count != len(storages):
        return f"the storage key list names {count} storages but the object references {len(storages)}"
    for key in sorted(storages):
        type_name, _numel = storages[key]
        size = TORCH_ELEMENT_SIZES.get(type_name)
        if size is None:
            return f"storage {key} has an unknown storage type {type_name}"
        at = reader.pos
        try:
            (numel,) = struct.unpack("<q", reader.read_exact(8, at))
            reader.skip(numel * size, at)
        except PickleFormatError as exc:
            return f"storage {key} at byte {at}: {exc}"
    return None
