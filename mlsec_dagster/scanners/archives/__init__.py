"""Archive containers: zip (PyTorch, npz, keras, TorchScript), tar, and formats only recognised (7z, RAR)."""

from __future__ import annotations

from mlsec_dagster.engine.context import Scanner
from mlsec_dagster.scanners.archives import tar, uninspected, zip

SCANNERS: tuple[Scanner, ...] = (zip.SCANNER, tar.SCANNER, uninspected.SCANNER)

__all__ = ["SCANNERS"]
