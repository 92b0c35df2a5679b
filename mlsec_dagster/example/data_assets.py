"""The demo's data pipeline: vendor export lands -> gate -> clean (ETL) -> gate -> training set.

``vendor_reviews`` is a folder of Parquet part files from outside; its blocking ``mlsec_scan``
reads the files (never loads them) and stops the ETL when a cell carries a payload.
``clean_reviews`` is a polars DataFrame asset; its blocking ``mlsec_frame_scan`` checks the table
in memory before ``review_training_set`` consumes it. A poisoned export (``MLSEC_POISON_DATASET=1``)
never reaches the training set.
"""

# No `from __future__ import annotations` here: Dagster reads the annotations at runtime.

import os

import dagster as dg
import polars as pl
from pydantic import Field

from mlsec_dagster.checks import build_mlsec_checks, build_mlsec_frame_checks, require_mlsec_pass
from mlsec_dagster.example.landing import demo_paths
from mlsec_dagster.example.reviews import write_reviews

PATH_KEY = "mlsec/path"
POISON_ENV = "MLSEC_POISON_DATASET"


class ReviewLandingConfig(dg.Config):
    poisoned: bool | None = Field(
        default=None, description=f"Land the poisoned export. Unset: ${POISON_ENV} == '1'."
    )


@dg.asset(
    group_name="data_pipeline",
    kinds={"parquet"},
    description="A vendor's product-review export (Parquet part files), untrusted until scanned.",
)
def vendor_reviews(context: dg.AssetExecutionContext, config: ReviewLandingConfig) -> dg.MaterializeResult:
    folder = demo_paths().root / "datasets" / "vendor_reviews"
    poisoned = config.poisoned if config.poisoned is not None else os.environ.get(POISON_ENV) == "1"
    files = write_reviews(folder, poisoned)
    context.log.info(
        f"landed {len(files)} part files in {folder} ({'poisoned' if poisoned else 'clean'} export)"
    )
    return dg.MaterializeResult(
        metadata={
            PATH_KEY: dg.MetadataValue.path(str(folder.resolve())),
            "files": len(files),
            "bytes": sum(f.stat().st_size for f in files),
        }
    )


@dg.asset(
    group_name="data_pipeline",
    kinds={"polars"},
    deps=[vendor_reviews],
    io_manager_key="frames_io",
    description="The export deduplicated and normalised (ETL), as a polars DataFrame.",
)
def clean_reviews(context: dg.AssetExecutionContext) -> pl.DataFrame:
    require_mlsec_pass(context, vendor_reviews.key)
    folder = demo_paths().root / "datasets" / "vendor_reviews"
    return (
        pl.scan_parquet(folder / "part-*.parquet")
        .with_columns(pl.col("review").str.strip_chars())
        .filter(pl.col("review").str.len_chars() > 0)
        .unique("review_id", keep="first", maintain_order=True)
        .collect()
    )


@dg.asset(
    group_name="data_pipeline",
    kinds={"parquet"},
    description="Labelled training set written for the fine-tuning team.",
)
def review_training_set(
    context: dg.AssetExecutionContext, clean_reviews: pl.DataFrame
) -> dg.MaterializeResult:
    path = demo_paths().release_dir / "review_training_set.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    labelled = clean_reviews.select("review", (pl.col("rating") >= 4).alias("positive"))
    labelled.write_parquet(path)
    context.log.info(f"wrote {labelled.height} labelled rows to {path}")
    return dg.MaterializeResult(
        metadata={PATH_KEY: dg.MetadataValue.path(str(path.resolve())), "rows": labelled.height}
    )


data_assets = [vendor_reviews, clean_reviews, review_training_set]
data_checks = [
    *build_mlsec_checks(assets=[vendor_reviews], blocking=True),
    *build_mlsec_frame_checks(assets=[clean_reviews], blocking=True),
]
