"""The scanner registry: one entry per format, tried in order; the first whose sniff matches wins.

Order matters only where signatures overlap: exact magic numbers first, structural sniffs
(ONNX protobuf, JSON configs) after them, and protocol 0/1 pickles (which have no magic) last.
Adding a format = one module exposing ``SCANNER`` + one line here + its rules + tests.
"""

from __future__ import annotations

from mlsec_dagster.engine.context import Companion, Scanner
from mlsec_dagster.scanners import (
    archives,
    compression,
    datasets,
    dependencies,
    gguf,
    hdf5,
    json_configs,
    lfs,
    licenses,
    notebook_outputs,
    numpy_files,
    onnx,
    packages,
    pickle,
    safetensors,
    savedmodel,
    secrets,
    torchscript_code,
)

SCANNERS: tuple[Scanner, ...] = (
    lfs.SCANNER,
    safetensors.SCANNER,
    numpy_files.SCANNER,
    gguf.SCANNER,
    hdf5.SCANNER,
    *packages.SCANNERS,
    *archives.SCANNERS,
    *compression.SCANNERS,
    onnx.SCANNER,
    savedmodel.SCANNER,
    torchscript_code.SCANNER,
    dependencies.SCANNER,
    json_configs.SCANNER,
    *datasets.SCANNERS,
    pickle.SCANNER,
)

COMPANIONS: tuple[Companion, ...] = (*secrets.COMPANIONS, *licenses.COMPANIONS, notebook_outputs.COMPANION)
"""Checks that run on every file after its format's scanner (secrets in any text, licence declarations)."""

PICKLE_FORMATS = frozenset({pickle.SCANNER.name})
"""Formats whose presence in a file makes it a pickle-based weight file (safetensors policy)."""

__all__ = ["COMPANIONS", "PICKLE_FORMATS", "SCANNERS"]
