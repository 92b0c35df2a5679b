"""Dataset-scan throughput and memory, side by side with polars' own read + one regex.

Builds a text-heavy Parquet file (three string columns of review/chat-like text with real
entropy, several row groups; ~2 GB by default), then runs, each in a fresh subprocess so peak RSS
is measured per contender:

* ``polars read``: ``scan_parquet(...).select(len of each text column)`` with the streaming engine:
  decode cost only;
* ``polars read + 1 regex``: the same plus one ``str.contains`` per text column: the baseline the
  issue names ("at least half of polars' read-plus-one-regex throughput");
* ``mlsec scan``: ``scan_path`` on the file with the full detector pack and default policy.

Reports MB/s of file, MB/s of text, rows/s and peak RSS (``ru_maxrss`` of the child). Run:
``.venv/bin/python benchmarks/bench_datasets.py [--size-gb 2] [--keep]``; prints a markdown table
for the README. Findings in the generated data are counted and must stay at zero (it is benign).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TEXT_COLUMNS = ("title", "review", "answer")
ROWS_PER_CHUNK = 200_000
BASELINE_REGEX = r"(?i)ignore (all )?previous instructions"

_WORKERS = {
    "polars read": """
import polars as pl, sys
cols = {cols}
out = pl.scan_parquet(sys.argv[1]).select([pl.col(c).str.len_bytes().sum() for c in cols])
out = out.collect(engine="streaming")
print(sum(out.row(0)))
""",
    "polars read + 1 regex": """
import polars as pl, sys
cols = {cols}
out = pl.scan_parquet(sys.argv[1]).select(
    [pl.col(c).str.contains({regex!r}).sum() for c in cols]
).collect(engine="streaming")
print(sum(out.row(0)))
""",
    "mlsec scan": """
import sys
from mlsec_dagster import scan_path
result = scan_path(sys.argv[1])
print(len(result.findings))
""",
}


def _vocabulary(size: int, seed: int) -> list[str]:
    import numpy as np

    rng = np.random.default_rng(seed)
    letters = np.array(list("etaoinshrdlcumwfgypbvkjxqz"))
    weights = np.linspace(2.0, 0.1, len(letters))
    weights /= weights.sum()
    return ["".join(rng.choice(letters, rng.integers(2, 10), p=weights)) for _ in range(size)]


def _sentences(count: int, seed: int) -> list[str]:
    import numpy as np

    rng = np.random.default_rng(seed)
    words = np.array(_vocabulary(8_000, seed))
    lengths = rng.integers(6, 22, count)
    picks = rng.integers(0, len(words), int(lengths.sum()))
    out: list[str] = []
    start = 0
    for n in lengths:
        sentence = " ".join(words[picks[start : start + n]])
        out.append(sentence[:1].upper() + sentence[1:] + ".")
        start += n
    return out


def build(path: Path, size_bytes: int) -> tuple[int, int]:
    """Write the benchmark file; returns (rows, text bytes)."""
    import numpy as np
    import polars as pl
    import pyarrow.parquet as pq

    sentences = pl.Series(_sentences(100_000, 7))
    rng = np.random.default_rng(11)
    writer: pq.ParquetWriter | None = None
    rows = text = 0
    try:
        while not path.exists() or path.stat().st_size < size_bytes:
            picks = {
                c: rng.integers(0, len(sentences), (ROWS_PER_CHUNK, n))
                for c, n in zip(TEXT_COLUMNS, (1, 6, 4), strict=True)
            }
            text_columns = {
                c: pl.select(
                    pl.concat_str([pl.lit(sentences.gather(column)) for column in picks[c].T], separator=" ")
                ).to_series()
                for c in TEXT_COLUMNS
            }  # fmt: skip
            frame = pl.DataFrame(
                {
                    "id": np.arange(rows, rows + ROWS_PER_CHUNK, dtype=np.int64),
                    **text_columns,
                    "rating": rng.integers(1, 6, ROWS_PER_CHUNK).astype(np.int8),
                }
            )
            table = frame.to_arrow()
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema, compression="zstd")
            writer.write_table(table, row_group_size=ROWS_PER_CHUNK)
            rows += ROWS_PER_CHUNK
            text += int(sum(frame[c].str.len_bytes().sum() for c in TEXT_COLUMNS))
    finally:
        if writer is not None:
            writer.close()
    return rows, text


_PEAK = """
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        print(int(line.split()[1]) * 1024)
"""
"""Peak RSS of the child itself: ``ru_maxrss`` would include the parent's peak inherited at fork."""


def measure(path: Path) -> tuple[int, int]:
    """Rows and text bytes of a file kept from an earlier run."""
    import polars as pl

    totals = (
        pl.scan_parquet(path)
        .select(pl.len().alias("rows"), *[pl.col(c).str.len_bytes().sum() for c in TEXT_COLUMNS])
        .collect()
        .row(0)
    )
    return int(totals[0]), int(sum(totals[1:]))


def run_worker(name: str, path: Path) -> tuple[float, int, str]:
    """Wall time, the child's own peak RSS (VmHWM) and its first output line."""
    code = _WORKERS[name].format(cols=list(TEXT_COLUMNS), regex=BASELINE_REGEX) + _PEAK
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=out, stderr=err)
        _, status, _usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(f"{name} failed:\n{err.read()[-3000:]}")
        result, peak = out.read().split()
        return elapsed, int(peak), result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-gb", type=float, default=2.0, help="Parquet file size to build (default 2)")
    parser.add_argument("--keep", action="store_true", help="keep the generated file (printed path)")
    parser.add_argument("--file", type=Path, help="reuse a file built by an earlier --keep run")
    args = parser.parse_args()
    started = time.perf_counter()
    if args.file is not None:
        folder, path = None, args.file
        rows, text_bytes = measure(path)
    else:
        folder = Path(tempfile.mkdtemp(prefix="mlsec-bench-datasets-"))
        path = folder / "reviews.parquet"
        rows, text_bytes = build(path, int(args.size_gb * 1e9))
    size = path.stat().st_size
    print(
        f"{path}: made or measured in {time.perf_counter() - started:.0f} s: {size / 1e9:.2f} GB file, "
        f"{rows:,} rows, "
        f"{text_bytes / 1e9:.2f} GB of text in {len(TEXT_COLUMNS)} string columns",
        file=sys.stderr,
    )
    results: dict[str, tuple[float, int, str]] = {}
    for name in ("polars read", "polars read + 1 regex", "mlsec scan"):
        results[name] = run_worker(name, path)
        print(f"{name}: {results[name][0]:.1f} s", file=sys.stderr)
    baseline = results["polars read + 1 regex"][0]
    print(f"\nFile: {size / 1e9:.2f} GB Parquet (zstd), {rows:,} rows, {text_bytes / 1e9:.2f} GB of text.\n")
    print("| Contender | Time | File MB/s | Text MB/s | Rows/s | Peak RSS | vs read + 1 regex |")
    print("|---|---|---|---|---|---|---|")
    for name, (elapsed, peak, _out) in results.items():
        print(
            f"| {name} | {elapsed:.1f} s | {size / 1e6 / elapsed:,.0f} | {text_bytes / 1e6 / elapsed:,.0f} | "
            f"{rows / elapsed:,.0f} | {peak / 2**20:,.0f} MiB | {baseline / elapsed:.2f}x |"
        )
    findings = results["mlsec scan"][2]
    print(f"\nmlsec findings on the benign file: {findings}")
    print(json.dumps({n: round(r[0], 2) for n, r in results.items()}), file=sys.stderr)
    if folder is None:
        return
    if args.keep:
        print(f"kept {path}", file=sys.stderr)
    else:
        path.unlink()
        folder.rmdir()


if __name__ == "__main__":
    main()
