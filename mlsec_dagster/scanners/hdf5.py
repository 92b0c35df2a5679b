"""HDF5 files: legacy Keras ``.h5`` models (and the weights file inside a ``.keras`` zip).

Legacy Keras keeps the whole model config as JSON in the root attribute ``model_config`` and
rebuilds it ignoring ``safe_mode`` (CVE-2025-9905), so a Lambda there is code execution. The
attribute is read with h5py, the library Keras itself reads it with, so the scanner sees exactly
the bytes the loader would; datasets (the weights) are never touched.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from mlsec_dagster.engine.artifact import Artifact
from mlsec_dagster.engine.context import ScanContext, Scanner
from mlsec_dagster.engine.findings import Finding
from mlsec_dagster.scanners import _keras

SIGNATURE = b"\x89HDF\r\n\x1a\n"
_SUPERBLOCK_OFFSETS = (0, 512, 1024, 2048, 4096, 8192, 16384, 32768)
"""HDF5 allows a user block before the superblock, at 0 or a power of two from 512 on."""
CONFIG_ATTRIBUTES = ("model_config", "training_config")


def _sniff(artifact: Artifact) -> bool:
    return any(artifact.head[o : o + 8] == SIGNATURE for o in _SUPERBLOCK_OFFSETS)


def _decode(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, list):
        return "".join(_decode(v) for v in value)
    return str(value)


def _read_attributes(artifact: Artifact, limit: int) -> Iterator[tuple[str, str | None]]:
    """(name, JSON text) of each config attribute; text None when it is over ``limit`` bytes."""
    import h5py

    with artifact.open() as fh, h5py.File(fh, "r") as f:
        for name in CONFIG_ATTRIBUTES:
            if name not in f.attrs:
                continue
            if f.attrs.get_id(name).get_storage_size() > limit:
                yield name, None
                continue
            yield name, _decode(f.attrs[name])


def _scan(artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
    try:
        attributes = list(_read_attributes(artifact, ctx.limits.max_header_bytes))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        yield _keras.MALFORMED.finding(
            artifact.path,
            f"{artifact.display} has an HDF5 signature but could not be read ({exc}); any Keras config "
            "in it was not checked.",
            location=artifact.location(offset=0),
            evidence=f"{type(exc).__name__}: {exc}"[:1000],
            key="hdf5",
        )
        return
    for name, text in attributes:
        if text is None:
            yield ctx.limit_finding(artifact, "max_header_bytes", f"HDF5 attribute {name!r} is too large")
            continue
        try:
            config = json.loads(text)
        except (ValueError, RecursionError) as exc:
            yield _keras.MALFORMED.finding(
                artifact.path,
                f"The `{name}` attribute of {artifact.display} is not valid JSON ({exc}); Keras would "
                "refuse it, but it was not checked.",
                location=artifact.location(field=name),
                evidence=text[:1000],
                key=name,
            )
            continue
        for hit in _keras.walk_config(config):
            yield hit.rule.finding(
                artifact.path,
                f"{hit.message} (HDF5 attribute `{name}`; .h5 loading ignores safe_mode, CVE-2025-9905)",
                location=artifact.location(field=name),
                evidence=hit.evidence,
                key=hit.key,
                severity=hit.severity,
            )


SCANNER = Scanner("hdf5", _sniff, _scan)
