"""``build_mlsec_checks``: one blocking ``@asset_check`` per model asset, scanning its file.

Why one check per asset (Dagster's ``build_metadata_bounds_checks(assets=...)`` shape, not a
``multi_asset_check``): a multi-asset check blocks per step, so one poisoned asset would block the
downstream of every asset in it. Separate checks also run on their own (checks-only CI replay).

How a check decides (Dagster's WARN never blocks, ERROR does when the check is blocking):

=========================================  ===============  ===========
scan result                                passed/severity  blocks
=========================================  ===============  ===========
policy failed (a finding >= fail_on)       False / ERROR    yes
only findings below fail_on (not INFO)     False / WARN     no
no findings, or INFO only                  True             no
no path, path missing, policy unreadable   False / ERROR    yes (fail closed)
=========================================  ===============  ===========

Lower findings fail with WARN rather than pass quietly so they show in the UI's asset health; the
policy alone decides what blocks.

Which file: the asset's definition metadata ``path_metadata_key`` (external artifacts declared as
``AssetSpec``), else the same key on the asset's latest materialization (paths known only at run
time; inside a run that is the materialization the check follows). The check never takes the
asset value as an input: that would load it through the IO manager, i.e. unpickle a model.
"""

# No `from __future__ import annotations` here: Dagster reads the annotations of ops, assets,
# checks and Config classes at runtime and cannot resolve them from strings.

import inspect
import time
from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg

from mlsec_dagster.engine.findings import Finding, Severity
from mlsec_dagster.engine.policy import Policy
from mlsec_dagster.engine.policy_file import PolicyError
from mlsec_dagster.engine.scan import ScanResult
from mlsec_dagster.resources import MlsecResource

CHECK_NAME = "mlsec_scan"
MAX_TABLE_ROWS = 200
"""Rows shown in the UI table; the counts and the SARIF report always cover every finding."""
MAX_CELL_CHARS = 300

FINDINGS_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("severity", "string", description="CRITICAL, HIGH, MEDIUM, LOW or INFO"),
        dg.TableColumn("blocking", "bool", description="Fails the gate under the policy"),
        dg.TableColumn("rule", "string", description="Rule id (see the rule catalogue)"),
        dg.TableColumn("path", "string"),
        dg.TableColumn("location", "string", description="Archive member, byte offset, line or row"),
        dg.TableColumn("message", "string"),
        dg.TableColumn("evidence", "string", description="Truncated; the full text is in the report"),
    ]
)

AssetLike = dg.AssetsDefinition | dg.AssetSpec | dg.SourceAsset | dg.AssetKey | str | Sequence[str]


def _truncate(text: str, limit: int = MAX_CELL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def findings_table(findings: Sequence[Finding], policy: Policy) -> dg.TableMetadataValue:
    rows = [
        dg.TableRecord(
            {
                "severity": f.severity.name,
                "blocking": policy.is_blocking(f),
                "rule": f.rule_id,
                "path": f.path,
                "location": f.location.describe() or "(whole file)",
                "message": _truncate(f.message),
                "evidence": _truncate(f.evidence),
            }
        )
        for f in findings[:MAX_TABLE_ROWS]
    ]
    return dg.MetadataValue.table(rows, schema=FINDINGS_SCHEMA)


def scan_metadata(result: ScanResult, path: str) -> dict[str, Any]:
    """What the UI shows for one scan: findings table, per-severity counts (trend plots), context."""
    decision = result.decision
    metadata: dict[str, Any] = {
        "mlsec/findings": findings_table(result.findings, result.policy),
        **{f"mlsec/{name.lower()}": count for name, count in result.counts().items()},
        "mlsec/blocking": len(decision.blocking),
        "mlsec/fail_on_severity": decision.fail_on.name,
        "mlsec/policy": result.policy.source or "built-in defaults",
        "mlsec/path": dg.MetadataValue.path(path),
        "mlsec/files_scanned": result.files_scanned,
        "mlsec/suppressed": len(result.suppressed),
        "mlsec/duration_seconds": round(result.duration_seconds, 3),
    }
    if len(result.findings) > MAX_TABLE_ROWS:
        metadata["mlsec/findings_truncated"] = len(result.findings) - MAX_TABLE_ROWS
    return metadata


def result_for_scan(result: ScanResult, path: str) -> dg.AssetCheckResult:
    """The table in the module docstring, as code."""
    decision = result.decision
    metadata = scan_metadata(result, path)
    if result.files_scanned == 0:
        return _fail_closed(
            f"{path}: nothing was scanned (every file is excluded by .mlsecignore or the "
            "policy's `exclude`); an unverified artifact does not pass.",
            metadata,
        )
    if not decision.passed:
        worst = max(f.severity for f in decision.blocking)
        return dg.AssetCheckResult(
            passed=False,
            severity=dg.AssetCheckSeverity.ERROR,
            description=f"{len(decision.blocking)} finding(s) at or above {decision.fail_on.name} "
            f"(worst {worst.name}) in {path}: {_first_message(decision.blocking)}",
            metadata=metadata,
        )
    notable = [f for f in decision.warnings if f.severity > Severity.INFO]
    if notable:
        return dg.AssetCheckResult(
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            description=f"{len(notable)} finding(s) below {decision.fail_on.name} in {path} (not blocking): "
            f"{_first_message(notable)}",
            metadata=metadata,
        )
    return dg.AssetCheckResult(passed=True, description=f"No blocking findings in {path}.", metadata=metadata)


def _first_message(findings: Sequence[Finding]) -> str:
    first = max(findings, key=lambda f: f.severity)
    return f"[{first.rule_id}] {_truncate(first.message, 200)}"


def _fail_closed(reason: str, metadata: Mapping[str, Any] | None = None) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=False,
        severity=dg.AssetCheckSeverity.ERROR,
        description=reason,
        metadata={"mlsec/error": reason, **(metadata or {})},
    )


def _metadata_path(metadata: Mapping[str, Any], key: str) -> str | None:
    value = metadata.get(key)
    value = getattr(value, "value", value)  # MetadataValue.path/text or a plain string
    return str(value) if value else None


def _definition_metadata(asset: AssetLike) -> Mapping[str, dict[str, Any]]:
    """Static metadata per asset key, where the definition carries any."""
    if isinstance(asset, dg.AssetsDefinition):
        return {key.to_user_string(): dict(spec.metadata) for key, spec in asset.specs_by_key.items()}
    if isinstance(asset, (dg.AssetSpec, dg.SourceAsset)):
        return {asset.key.to_user_string(): dict(asset.metadata)}
    return {}


def asset_keys(assets: Sequence[AssetLike]) -> list[dg.AssetKey]:
    keys: list[dg.AssetKey] = []
    for asset in assets:
        if isinstance(asset, dg.AssetsDefinition):
            keys.extend(asset.keys)
        elif isinstance(asset, (dg.AssetSpec, dg.SourceAsset)):
            keys.append(asset.key)
        else:
            keys.append(dg.AssetKey.from_coercible(asset))
    return keys


def build_mlsec_checks(
    *,
    assets: Sequence[AssetLike],
    blocking: bool = True,
    resource_key: str = "mlsec",
    path_metadata_key: str = "mlsec/path",
) -> list[dg.AssetChecksDefinition]:
    """One ``mlsec_scan`` check per asset key, reading the artifact's path from metadata.

    ``assets`` may mix Dagster-materialized assets, ``AssetSpec`` s of external artifacts (with the
    path under ``path_metadata_key``) and bare keys. The checks need an ``MlsecResource`` bound
    under ``resource_key``.
    """
    static_metadata: dict[str, dict[str, Any]] = {}
    for asset in assets:
        static_metadata.update(_definition_metadata(asset))
    keys = asset_keys(assets)
    duplicates = sorted({k.to_user_string() for k in keys if keys.count(k) > 1})
    if duplicates:
        raise dg.DagsterInvalidDefinitionError(f"build_mlsec_checks got duplicate assets: {duplicates}")
    return [
        _build_check(key, static_metadata.get(key.to_user_string(), {}), blocking, resource_key,
                     path_metadata_key)
        for key in keys
    ]  # fmt: skip


def _build_check(
    key: dg.AssetKey,
    definition_metadata: Mapping[str, Any],
    blocking: bool,
    resource_key: str,
    path_metadata_key: str,
) -> dg.AssetChecksDefinition:
    static_path = _metadata_path(definition_metadata, path_metadata_key)

    # Only `context`: every other parameter would become an asset input (loaded via the IO manager).
    @dg.asset_check(
        asset=key,
        name=CHECK_NAME,
        blocking=blocking,
        required_resource_keys={resource_key},
        description="Static MLSecOps scan of the artifact's file (never loaded or executed): "
        "pickle code execution, unsafe formats, policy violations.",
        metadata={"mlsec/path_metadata_key": path_metadata_key},
    )
    def _mlsec_check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        resource: MlsecResource = getattr(context.resources, resource_key)
        path = static_path or _materialized_path(context, key, path_metadata_key)
        if path is None:
            return _fail_closed(
                f"No file to scan for {key.to_user_string()}: set metadata {path_metadata_key!r} on the "
                "asset definition or on its materialization. An unscanned artifact does not pass."
            )
        started = time.monotonic()
        try:
            result = resource.scan(path)
        except (OSError, PolicyError, ValueError) as exc:
            return _fail_closed(f"Could not scan {path}: {exc}", {"mlsec/path": dg.MetadataValue.path(path)})
        outcome = result_for_scan(result, path)
        context.log.info(
            "mlsec: %s -> %s (%s) in %.2f s",
            path,
            "passed" if outcome.passed else f"failed {outcome.severity.value}",
            ", ".join(f"{n}={c}" for n, c in result.counts().items() if c) or "no findings",
            time.monotonic() - started,
        )
        return outcome

    return _mlsec_check


FRAME_CHECK_NAME = "mlsec_frame_scan"


def build_mlsec_frame_checks(
    *, assets: Sequence[dg.AssetsDefinition], blocking: bool = True, resource_key: str = "mlsec"
) -> list[dg.AssetChecksDefinition]:
    """One ``mlsec_frame_scan`` check per DataFrame asset, scanning the loaded table in memory.

    For assets whose value is a polars/pandas DataFrame or an Arrow table: the check receives the
    value through the asset's IO manager and runs the dataset detectors on it (``scan_dataframe``).
    Use it only with IO managers that store data, not code (Parquet, Delta, a warehouse): the
    default filesystem IO manager pickles values, and the check would unpickle them. Dataset files
    that land from outside go through ``build_mlsec_checks`` instead (the file is never loaded).
    """
    return [_build_frame_check(key, blocking, resource_key) for asset in assets for key in asset.keys]


def _build_frame_check(key: dg.AssetKey, blocking: bool, resource_key: str) -> dg.AssetChecksDefinition:
    input_name = key.path[-1]
    label = key.to_user_string()

    def _frame_check(
        context: dg.AssetCheckExecutionContext, *args: Any, **inputs: Any
    ) -> dg.AssetCheckResult:
        resource: MlsecResource = getattr(context.resources, resource_key)
        frame = inputs[input_name] if input_name in inputs else args[0]
        try:
            result = resource.scan_frame(frame, label)
        except (PolicyError, TypeError, ValueError) as exc:
            return _fail_closed(f"Could not scan the value of {label}: {exc}")
        outcome = result_for_scan(result, label)
        context.log.info(
            "mlsec: %s (%s rows in memory) -> %s",
            label,
            getattr(frame, "height", None) or len(frame),
            ", ".join(f"{n}={c}" for n, c in result.counts().items() if c) or "no findings",
        )
        return outcome

    # Dagster passes the asset value to the parameter named after the asset: declare it.
    _frame_check.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter("context", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                              annotation=dg.AssetCheckExecutionContext),
            inspect.Parameter(input_name, inspect.Parameter.POSITIONAL_OR_KEYWORD),
        ]
    )  # fmt: skip
    return dg.asset_check(
        asset=key,
        name=FRAME_CHECK_NAME,
        blocking=blocking,
        required_resource_keys={resource_key},
        description="In-memory dataset scan of the asset's DataFrame: injection, scripts, links, hidden "
        "Unicode, secrets and binary payloads in every cell.",
    )(_frame_check)


def _materialized_path(
    context: dg.AssetCheckExecutionContext, key: dg.AssetKey, metadata_key: str
) -> str | None:
    event = context.instance.get_latest_materialization_event(key)
    materialization = event.asset_materialization if event is not None else None
    return _metadata_path(materialization.metadata, metadata_key) if materialization is not None else None


def require_mlsec_pass(context: dg.AssetExecutionContext, key: dg.AssetKey) -> None:
    """Raise ``Failure`` unless the latest ``mlsec_scan`` of ``key`` did not block, on its latest file.

    A blocking check only stops steps of the *same* run. Call this before loading an upstream
    model file so a later run that selects only the downstream asset cannot pick up a checkpoint
    the gate rejected (or one re-landed since and never scanned).
    """
    record = context.instance.get_latest_asset_check_evaluation_record(dg.AssetCheckKey(key, CHECK_NAME))
    event = record.event if record is not None else None
    evaluation = event.asset_check_evaluation if event is not None else None
    latest = context.instance.fetch_materializations(key, limit=1).records
    name = key.to_user_string()
    if evaluation is None:
        raise dg.Failure(f"{name} has no completed mlsec scan; run its mlsec_scan check first.")
    if not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR:
        raise dg.Failure(f"The latest mlsec scan of {name} failed: {evaluation.description}")
    target = evaluation.target_materialization_data
    if latest and (target is None or target.storage_id != latest[0].storage_id):
        raise dg.Failure(f"{name} was materialized again after its last mlsec scan; scan it before use.")
