"""Dataset readers (one module per format family) and the vectorised cell detectors.

Readers turn bytes into Arrow record batches plus structural findings; ``cells.scan_dataset`` runs
the detectors over them. Readers appear in ``SCANNERS`` in sniffing order: binary magic first,
text formats (which need the file name as a hint) last.
"""

from __future__ import annotations

from mlsec_dagster.engine.context import Scanner
from mlsec_dagster.scanners.datasets import arrow_ipc, avro, cells, delimited, jsonl, parquet

assert cells  # registers the structural and detector rules even before any reader uses them

SCANNERS: tuple[Scanner, ...] = (
    parquet.SCANNER,
    arrow_ipc.SCANNER,
    avro.SCANNER,
    jsonl.SCANNER,
    delimited.SCANNER,
)

DATASET_FORMATS = frozenset(s.name for s in SCANNERS)

__all__ = ["DATASET_FORMATS", "SCANNERS"]
