"""The demo pipeline: landed checkpoint + training environment -> gates -> fine-tune -> gate -> release.

Each asset records its file under ``mlsec/path`` in its materialization metadata and returns a
``MaterializeResult`` (no value), so no IO manager ever pickles or unpickles a model; the mlsec
checks read that path. Anything that publishes (``model_release``) sits downstream of a blocking
check, because blocking stops only downstream steps: the checked asset itself is still recorded.
"""

# No `from __future__ import annotations` here: Dagster reads the annotations of ops, assets,
# checks and Config classes at runtime and cannot resolve them from strings.

import json
import os

import dagster as dg
from pydantic import Field

from mlsec_dagster.checks import build_mlsec_checks, require_mlsec_pass
from mlsec_dagster.example.data_assets import data_assets, data_checks
from mlsec_dagster.example.environment import POISON_ENV, write_environment
from mlsec_dagster.example.landing import demo_paths, land_checkpoint, sha256_file
from mlsec_dagster.example.training import fine_tune
from mlsec_dagster.jobs import build_mlsec_checks_job

PATH_KEY = "mlsec/path"


class LandingConfig(dg.Config):
    source: str | None = Field(
        default=None,
        description="Checkpoint file to land. Unset: $MLSEC_LANDING_FILE, else a generated clean one.",
    )


class FineTuneConfig(dg.Config):
    steps: int = Field(default=30, description="Optimiser steps on the synthetic data.")
    learning_rate: float = 0.05


@dg.asset(
    group_name="ml_pipeline", kinds={"pytorch"}, description="A pretrained PyTorch checkpoint from outside."
)
def pretrained_checkpoint(context: dg.AssetExecutionContext, config: LandingConfig) -> dg.MaterializeResult:
    path = demo_paths().landed_checkpoint
    origin = land_checkpoint(config.source, path)
    context.log.info(f"landed {path} ({origin}); untrusted until the mlsec check passes")
    return dg.MaterializeResult(
        metadata={
            PATH_KEY: dg.MetadataValue.path(str(path.resolve())),
            "origin": origin,
            "sha256": sha256_file(path),
            "size_bytes": path.stat().st_size,
        }
    )


class EnvironmentConfig(dg.Config):
    poisoned: bool | None = Field(
        default=None, description=f"Write the poisoned environment. Unset: ${POISON_ENV} == '1'."
    )


@dg.asset(
    group_name="ml_pipeline",
    kinds={"python"},
    description="The pinned requirements the fine-tuning step runs with (its environment's lock file).",
)
def training_environment(
    context: dg.AssetExecutionContext, config: EnvironmentConfig
) -> dg.MaterializeResult:
    poisoned = config.poisoned if config.poisoned is not None else os.environ.get(POISON_ENV) == "1"
    path = write_environment(demo_paths().training_environment, poisoned)
    context.log.info(f"wrote {path}{' (poisoned variant)' if poisoned else ''}; gated by the mlsec check")
    return dg.MaterializeResult(
        metadata={PATH_KEY: dg.MetadataValue.path(str(path.resolve())), "sha256": sha256_file(path)}
    )


@dg.asset(
    group_name="ml_pipeline",
    kinds={"pytorch", "safetensors"},
    deps=[pretrained_checkpoint, training_environment],
    description="The pretrained weights fine-tuned on (synthetic) task data, exported to safetensors.",
)
def fine_tuned_model(context: dg.AssetExecutionContext, config: FineTuneConfig) -> dg.MaterializeResult:
    paths = demo_paths()
    checkpoint = paths.landed_checkpoint
    require_mlsec_pass(context, pretrained_checkpoint.key)
    require_mlsec_pass(context, training_environment.key)
    expected = _landed_sha256(context)
    if expected is not None and sha256_file(checkpoint) != expected:
        raise dg.Failure(f"{checkpoint} changed after it was landed and scanned; refusing to load it.")
    result = fine_tune(checkpoint, paths.fine_tuned, config.steps, config.learning_rate)
    context.log.info(f"fine-tuned: loss {result.loss_before:.4f} -> {result.loss_after:.4f}")
    return dg.MaterializeResult(
        metadata={
            PATH_KEY: dg.MetadataValue.path(str(paths.fine_tuned.resolve())),
            "loss_before": result.loss_before,
            "loss_after": result.loss_after,
            "parameters": result.parameters,
            "sha256": sha256_file(paths.fine_tuned),
        }
    )


def _landed_sha256(context: dg.AssetExecutionContext) -> str | None:
    """The digest recorded when the checkpoint landed (what the check scanned), to catch a swap."""
    event = context.instance.get_latest_materialization_event(pretrained_checkpoint.key)
    materialization = event.asset_materialization if event is not None else None
    value = materialization.metadata.get("sha256") if materialization is not None else None
    return str(value.value) if value is not None else None


@dg.asset(
    group_name="ml_pipeline",
    deps=[fine_tuned_model],
    description="Publishes the fine-tuned model: a manifest a deployment would pick up.",
)
def model_release(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    paths = demo_paths()
    manifest = {
        "model": str(paths.fine_tuned.resolve()),
        "format": "safetensors",
        "sha256": sha256_file(paths.fine_tuned),
        "run_id": context.run.run_id,
        "gates": ["mlsec_scan on pretrained_checkpoint", "mlsec_scan on fine_tuned_model"],
    }
    paths.release_manifest.parent.mkdir(parents=True, exist_ok=True)
    paths.release_manifest.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    context.log.info(f"released {paths.fine_tuned} (manifest {paths.release_manifest})")
    return dg.MaterializeResult(
        metadata={"manifest": dg.MetadataValue.path(str(paths.release_manifest.resolve()))}
    )


model_assets = [pretrained_checkpoint, training_environment, fine_tuned_model, model_release]
model_checks = build_mlsec_checks(
    assets=[pretrained_checkpoint, training_environment, fine_tuned_model], blocking=True
)
pipeline_assets = [*model_assets, *data_assets]
pipeline_checks = [*model_checks, *data_checks]

ml_pipeline_job = dg.define_asset_job(
    "ml_pipeline",
    selection=dg.AssetSelection.assets(*pipeline_assets, *data_assets),
    executor_def=dg.in_process_executor,
    description="Model: land a checkpoint, scan it, fine-tune, scan the export, release. Data: land a "
    "vendor export, scan it, clean it, scan the table, write the training set.",
)
mlsec_checks_job = build_mlsec_checks_job(
    "mlsec_rescan",
    [pretrained_checkpoint, training_environment, fine_tuned_model, data_assets[0]],
    description="Re-scan the landed checkpoint, the training environment, the fine-tuned model and the "
    "vendor export on disk.",
)
