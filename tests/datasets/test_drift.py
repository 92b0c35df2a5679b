"""Schema drift across the part files of one dataset folder."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from mlsec_dagster import scan_path
from mlsec_dagster.engine.context import SchemaRecord
from mlsec_dagster.scanners.datasets.drift import schema_drift_findings

USUAL = "id: int64, text: large_string"


def test_the_odd_file_out_is_named_with_what_differs() -> None:
    records = [
        SchemaRecord("data/part-0.parquet", (), "parquet", USUAL),
        SchemaRecord("data/part-1.parquet", (), "parquet", USUAL),
        SchemaRecord("data/part-2.parquet", (), "parquet", "id: large_string, text: large_string, n: int64"),
        SchemaRecord("other/part-0.parquet", (), "parquet", "x: int64"),  # another folder, another dataset
        SchemaRecord("data/x.zip", ("in.parquet",), "parquet", "y: int64"),  # archive members are not parts
    ]
    (finding,) = schema_drift_findings(records)
    assert finding.rule_id == "MLS-DAT-004" and finding.path == "data/part-2.parquet"
    assert "extra column 'n'" in finding.message
    assert "column 'id' is large_string (others: int64)" in finding.message
    assert "2 of 3 files" in finding.message


def test_identical_parts_and_different_formats_do_not_drift() -> None:
    records = [
        SchemaRecord("d/a.parquet", (), "parquet", USUAL),
        SchemaRecord("d/b.parquet", (), "parquet", USUAL),
        SchemaRecord("d/c.csv", (), "delimited", "a: large_string"),
    ]
    assert list(schema_drift_findings(records)) == []


def test_a_part_file_with_a_retyped_column_is_reported_in_a_folder_scan(tmp_path: Path) -> None:
    folder = tmp_path / "reviews"
    folder.mkdir()
    for index in range(3):
        frame = pl.DataFrame({"id": list(range(100)), "text": [f"review {i}" for i in range(100)]})
        if index == 1:
            frame = frame.with_columns(pl.col("id").cast(pl.String))
        frame.write_parquet(folder / f"part-{index}.parquet")
    result = scan_path(folder, root=tmp_path)
    drift = [f for f in result.findings if f.rule_id == "MLS-DAT-004"]
    assert [f.path for f in drift] == ["reviews/part-1.parquet"]
