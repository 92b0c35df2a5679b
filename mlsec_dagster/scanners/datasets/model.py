"""The shapes a dataset scan is built from: readers yield batches, detectors judge cells.

A reader knows one file format and nothing about payloads; a detector knows one payload family and
nothing about file formats. ``cells.scan_dataset`` joins them, so adding a format or a detector
touches one module.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from mlsec_dagster.engine.findings import Finding, Severity
from mlsec_dagster.engine.policy import DatasetRules
from mlsec_dagster.engine.rules import Rule


@dataclass(frozen=True)
class Batch:
    """Rows decoded by a reader, with where they sit in the file."""

    data: pa.RecordBatch
    first_row: int
    """0-based index (in the whole file) of the batch's first row."""
    row_group: int | None = None
    """Parquet row group, Avro block or Arrow record batch the rows came from, when the format has one."""


SourceItem = Batch | Finding
"""Readers yield batches and, between them, the structural findings they run into."""

Source = Iterator[SourceItem]


@dataclass(frozen=True)
class Cells:
    """One leaf column of a batch: the values a detector sees, flattened out of any nesting."""

    field: str
    """Column name; nested leaves are ``parent.child``, list items ``items[]``, map entries ``m{}.key``."""
    values: pl.Series
    """``pl.String`` or ``pl.Binary`` values; nulls allowed."""
    rows: np.ndarray[Any, np.dtype[np.int64]] | None = None
    """Batch-relative row of each value (nested leaves have several per row); None: value i is row i."""
    header: bool = False
    """True for column names and file metadata: no row, and formula/CSV rules read them as headers."""
    invalid_utf8: tuple[int, ...] = ()
    """Positions whose bytes were not UTF-8 (reported once; ``values`` holds them with U+FFFD)."""
    source: pa.Array | None = dataclasses.field(default=None, repr=False, compare=False)
    """The Arrow array ``values`` was made from (large string/binary), when the reader had one."""

    @property
    def is_binary(self) -> bool:
        return self.values.dtype == pl.Binary

    @cached_property
    def arrow(self) -> pa.Array:
        """The values as one contiguous Arrow large string/binary array, for byte-level kernels.

        Converting a polars column back to Arrow copies it (~2.7 ms per 64k-row batch), so the
        reader's own array is kept and shared.
        """
        if self.source is not None:
            return self.source
        array = self.values.to_arrow()
        if isinstance(array, pa.ChunkedArray):
            array = array.combine_chunks()
        wanted = pa.large_binary() if self.is_binary else pa.large_string()
        return array if array.type == wanted else array.cast(wanted)

    @cached_property
    def lowered(self) -> pl.Series:
        """ASCII-lowercased values, computed once per column and shared by every detector.

        Arrow's ``ascii_lower`` runs at ~5 GB/s; case-sensitive literal sets of <= ~20 entries on it
        run at 3-6 GB/s, where ``(?i)`` alternations or case-insensitive ``contains_any`` stay near
        0.5 GB/s (measured in benchmarks/bench_detectors.py).
        """
        lowered = pl.from_arrow(pc.ascii_lower(self.arrow))
        assert isinstance(lowered, pl.Series)
        return lowered

    @cached_property
    def non_ascii(self) -> np.ndarray[Any, np.dtype[np.bool_]]:
        """True where a value holds any non-ASCII character (a byte/char length check, ~17 GB/s)."""
        wide = (self.values.str.len_bytes() != self.values.str.len_chars()).fill_null(False)
        return wide.to_numpy()

    def row_of(self, index: int) -> int | None:
        if self.header:
            return None
        return int(self.rows[index]) if self.rows is not None else index


@dataclass(frozen=True)
class Explained:
    """Why one cell matched: where in the value, what to tell the user, and the proof."""

    char_offset: int | None
    message: str
    """What is wrong and how to fix it (the column and row are added by the orchestrator)."""
    evidence: str
    """An escaped snippet (see ``evidence.snippet``), never the whole cell."""
    key: str
    """Stable identity of what matched (pattern name, scheme, host), never an offset."""
    severity: Severity | None = None
    """A cell-level re-grade (e.g. a payload inside a fenced code block); None keeps the match's."""
    families: tuple[str, ...] = ()
    """Extra allowance families that cover this hit (e.g. ``code`` for a shell pipeline)."""


@dataclass(frozen=True)
class Match:
    """All cells of one column that one rule matched, found vectorised; explained lazily."""

    rule: Rule
    indices: np.ndarray[Any, np.dtype[np.int64]] | list[int]
    """Positions in ``Cells.values``, ascending."""
    explain: Callable[[Any], Explained]
    """Called with a cell value (str or bytes) for the first few indices only: may use Python ``re``."""
    severity: Severity | None = None
    """A column-level re-grade (e.g. HTML in a column where most cells are HTML); None: the rule's."""
    note: str = ""
    """Appended to every message of this match (e.g. why the severity was lowered)."""


@dataclass(frozen=True)
class DetectorContext:
    fmt: str
    """Reader format: parquet, csv, tsv, jsonl, json, avro, arrow or dataframe."""
    rules: DatasetRules
    allowances: frozenset[str]
    """Families the policy allows in this column (the orchestrator applies them; detectors may read them)."""


@dataclass(frozen=True)
class Detector:
    """One payload family, run over every leaf column of every batch."""

    family: str
    """Also the allowance name in the policy (``allow: [html]``) and in ``disabled_detectors``."""
    detect: Callable[[Cells, DetectorContext], Iterator[Match]]
    binary: bool = False
    """True: runs on ``pl.Binary`` cells; False: on ``pl.String`` cells."""
    formats: frozenset[str] | None = None
    """Formats it applies to (e.g. formula injection: ``csv``/``tsv``); None means all."""

    def applies(self, cells: Cells, fmt: str) -> bool:
        return cells.is_binary == self.binary and (self.formats is None or fmt in self.formats)
