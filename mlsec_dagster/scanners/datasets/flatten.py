"""Nested Arrow columns -> flat leaf columns of strings or bytes, each value mapped to its row.

Payloads hide in ``messages[].content`` as easily as in a top-level ``text`` column, so every
list, struct, map and dictionary is unwrapped with Arrow compute kernels (no per-row Python):
list children keep their parent row through ``list_parent_indices``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.types as pt

from mlsec_dagster.scanners.datasets.model import Cells

RowMap = np.ndarray[Any, np.dtype[np.int64]] | None


@dataclass(frozen=True)
class Skipped:
    """A leaf the detectors cannot read (reported as MLS-DAT-014), or one nested too deeply."""

    field: str
    type: str
    too_deep: bool = False


def _compose(parent: RowMap, child_to_parent: np.ndarray[Any, np.dtype[np.int64]]) -> np.ndarray[Any, Any]:
    return child_to_parent if parent is None else parent[child_to_parent]


def leaves(batch: pa.RecordBatch, max_depth: int) -> Iterator[Cells | Skipped]:
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        yield from _walk(name, column, None, 0, max_depth)


def _walk(name: str, array: pa.Array, rows: RowMap, depth: int, max_depth: int) -> Iterator[Cells | Skipped]:
    kind = array.type
    if depth > max_depth:
        yield Skipped(name, str(kind), too_deep=True)
        return
    if pt.is_dictionary(kind):
        yield from _walk(name, array.dictionary_decode(), rows, depth, max_depth)
    elif pt.is_string(kind) or pt.is_large_string(kind) or pt.is_string_view(kind):
        text, invalid = _valid_utf8(array.cast(pa.large_string()))
        yield Cells(name, _series(text), rows, invalid_utf8=invalid, source=text)
    elif (
        pt.is_binary(kind)
        or pt.is_large_binary(kind)
        or pt.is_fixed_size_binary(kind)
        or pt.is_binary_view(kind)
    ):
        data = array.cast(pa.large_binary())
        yield Cells(name, _series(data), rows, source=data)
    elif pt.is_struct(kind):
        for index in range(kind.num_fields):
            child = pc.struct_field(array, [index])  # applies the struct's offset and nulls
            yield from _walk(f"{name}.{kind.field(index).name}", child, rows, depth + 1, max_depth)
    elif pt.is_map(kind):
        # Arrow's list kernels abort on map arrays: view it as the list<struct<key, value>> it is.
        entries = pa.StructArray.from_arrays([array.keys, array.items], names=["key", "value"])
        as_list = pa.ListArray.from_arrays(array.offsets, entries)  # null maps: empty or hidden, both scanned
        parents = pc.list_parent_indices(as_list).to_numpy().astype(np.int64)
        flat = pc.list_flatten(as_list)
        child_rows = _compose(rows, parents)
        yield from _walk(f"{name}{{}}.key", flat.field("key"), child_rows, depth + 1, max_depth)
        yield from _walk(f"{name}{{}}.value", flat.field("value"), child_rows, depth + 1, max_depth)
    elif pt.is_list(kind) or pt.is_large_list(kind) or pt.is_fixed_size_list(kind) or pt.is_list_view(kind):
        parents = pc.list_parent_indices(array).to_numpy().astype(np.int64)
        yield from _walk(f"{name}[]", pc.list_flatten(array), _compose(rows, parents), depth + 1, max_depth)
    elif _is_plain(kind):
        return
    else:
        yield Skipped(name, str(kind))


def _valid_utf8(array: pa.Array) -> tuple[pa.Array, tuple[int, ...]]:
    """Arrow does not validate strings read from files and polars trusts them (and can crash), so
    check once (a fast SIMD pass); only a column that fails takes the per-value repair path."""
    try:
        array.validate(full=True)
        return array, ()
    except pa.ArrowInvalid:
        pass
    raw = array.view(pa.large_binary()).to_pylist()
    invalid: list[int] = []
    repaired: list[str | None] = []
    for index, value in enumerate(raw):
        if value is None:
            repaired.append(None)
            continue
        try:
            repaired.append(value.decode("utf-8"))
        except UnicodeDecodeError:
            invalid.append(index)
            repaired.append(value.decode("utf-8", "replace"))
    return pa.array(repaired, pa.large_string()), tuple(invalid)


def _is_plain(kind: pa.DataType) -> bool:
    """Types that cannot carry text payloads: numbers, booleans, temporals, decimals, nulls."""
    return bool(
        pt.is_integer(kind)
        or pt.is_floating(kind)
        or pt.is_boolean(kind)
        or pt.is_temporal(kind)
        or pt.is_decimal(kind)
        or pt.is_null(kind)
    )


def _series(array: pa.Array) -> pl.Series:
    series = pl.from_arrow(array)
    assert isinstance(series, pl.Series)
    return series


def schema_text(schema: pa.Schema) -> str:
    """A stable one-line rendering of column names and types (no metadata) for drift comparison."""
    return ", ".join(f"{f.name}: {f.type}" for f in schema)
