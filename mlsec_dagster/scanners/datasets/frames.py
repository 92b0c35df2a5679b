"""In-memory tables (polars, pandas, Arrow) as a dataset source: same detectors, no file.

Lets an asset check a DataFrame it is about to write, without a round trip through disk.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from mlsec_dagster.scanners.datasets.model import Batch, Source

BATCH_ROWS = 65_536


def as_arrow(frame: Any) -> pa.Table:
    """polars and pandas DataFrames, Arrow tables and record batches; anything else is a TypeError."""
    if isinstance(frame, pa.Table):
        return frame
    if isinstance(frame, pa.RecordBatch):
        return pa.Table.from_batches([frame])
    to_arrow = getattr(frame, "to_arrow", None)  # polars DataFrame (zero copy)
    if callable(to_arrow):
        table = to_arrow()
        if isinstance(table, pa.Table):
            return table
    if type(frame).__module__.startswith("pandas"):
        return pa.Table.from_pandas(frame, preserve_index=False)
    raise TypeError(f"cannot scan a {type(frame).__name__}; pass a polars/pandas DataFrame or an Arrow table")


def frame_source(table: pa.Table) -> Source:
    first = 0
    for index, batch in enumerate(table.to_batches(max_chunksize=BATCH_ROWS)):
        yield Batch(batch, first, index)
        first += batch.num_rows
