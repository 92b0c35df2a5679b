"""Where a dataset scan spends its time: each detector's MB/s on the same columns, in one run.

Reads the text columns of a Parquet file (default: a ~300 MB file generated like
``bench_datasets.py``), runs every registered detector over every 65,536-row batch of each column,
and prints MB/s of text per detector next to two references measured on the same batches: one
polars regex, and Arrow's ``ascii_lower``. Use it to find the detector that dominates a scan.

Run: ``.venv/bin/python benchmarks/bench_detectors.py [--file F.parquet] [--rows N]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import polars as pl
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mlsec_dagster.engine.policy import DatasetRules
from mlsec_dagster.scanners.datasets.detectors import DETECTORS
from mlsec_dagster.scanners.datasets.model import Cells, DetectorContext

BATCH = 65_536


def _batches(path: Path, rows: int) -> list[pl.Series]:
    out: list[pl.Series] = []
    seen = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=BATCH):
        for name, column in zip(batch.schema.names, batch.columns, strict=True):
            if str(column.type) in ("string", "large_string"):
                series = pl.from_arrow(column)
                assert isinstance(series, pl.Series)
                out.append(series.alias(name))
        seen += batch.num_rows
        if seen >= rows:
            break
    return out


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--file", type=Path, help="Parquet file with string columns (default: generated)")
    parser.add_argument("--rows", type=int, default=400_000, help="rows to read (default 400,000)")
    parser.add_argument("--fmt", default="parquet", help="format the detectors see (csv enables formula)")
    args = parser.parse_args()
    path = args.file
    if path is None:
        sys.path.insert(0, str(Path(__file__).parent))
        from bench_datasets import build

        path = Path(tempfile.gettempdir()) / "mlsec-bench-detectors.parquet"
        if not path.exists():
            build(path, int(0.3e9))
    columns = _batches(path, args.rows)
    text_mb = sum(int(c.str.len_bytes().sum() or 0) for c in columns) / 1e6
    ctx = DetectorContext(args.fmt, DatasetRules(), frozenset())
    spent: Counter[str] = Counter()
    found: Counter[str] = Counter()
    for series in columns:
        started = time.perf_counter()
        series.str.contains(r"(?i)ignore (all )?previous instructions").sum()
        spent["(ref) one polars regex"] += time.perf_counter() - started
        started = time.perf_counter()
        pc.ascii_lower(series.to_arrow())
        spent["(ref) arrow ascii_lower"] += time.perf_counter() - started
        cells = Cells(str(series.name), series)
        for detector in DETECTORS:
            if not detector.applies(cells, args.fmt):
                continue
            started = time.perf_counter()
            for match in detector.detect(cells, ctx):
                found[detector.family] += len(match.indices)
            spent[detector.family] += time.perf_counter() - started
    print(f"{text_mb:,.0f} MB of text in {len(columns)} column batches from {path}\n")
    print("| detector | seconds | MB/s of text | cells matched |")
    print("|---|---:|---:|---:|")
    for name, seconds in spent.most_common():
        print(f"| {name} | {seconds:.2f} | {text_mb / seconds:,.0f} | {found.get(name, '')} |")
    total = sum(v for k, v in spent.items() if not k.startswith("(ref)"))
    print(f"| all detectors | {total:.2f} | {text_mb / total:,.0f} | |")


if __name__ == "__main__":
    main()
