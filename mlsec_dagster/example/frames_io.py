"""A Parquet IO manager for the demo's polars DataFrame assets.

The data assets pass DataFrames between steps; storing them as Parquet (data, not code) means the
in-memory ``mlsec_frame_scan`` check and downstream assets load them without unpickling anything,
unlike Dagster's default filesystem IO manager.
"""

# No `from __future__ import annotations` here: Dagster reads the annotations at runtime.

from pathlib import Path

import dagster as dg
import polars as pl

from mlsec_dagster.example.landing import demo_paths


class PolarsParquetIOManager(dg.ConfigurableIOManager):
    """Stores each DataFrame output as ``<demo>/frames/<asset key>.parquet``."""

    def _path(self, key: dg.AssetKey) -> Path:
        return demo_paths().root / "frames" / ("/".join(key.path) + ".parquet")

    def handle_output(self, context: dg.OutputContext, obj: pl.DataFrame) -> None:
        if not isinstance(obj, pl.DataFrame):
            raise dg.Failure(
                f"{context.asset_key.to_user_string()}: expected a polars DataFrame, got {type(obj)}"
            )
        path = self._path(context.asset_key)
        path.parent.mkdir(parents=True, exist_ok=True)
        obj.write_parquet(path)
        context.add_output_metadata(
            {"mlsec/path": dg.MetadataValue.path(str(path.resolve())), "rows": obj.height}
        )

    def load_input(self, context: dg.InputContext) -> pl.DataFrame:
        return pl.read_parquet(self._path(context.asset_key))
