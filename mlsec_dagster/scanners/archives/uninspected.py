"""Archive formats with no reader installed (7z, RAR): recognised, then reported, never passed.

A pure-Python 7z reader (py7zr) pulls in several compression extensions (pyppmd, pybcj,
pycryptodomex, brotli, inflate64, multivolumefile); until one is worth that weight, these files
fail closed.
"""

from __future__ import annotations

from collections.abc import Iterator

from mlsec_dagster.engine.artifact import Artifact
from mlsec_dagster.engine.context import ScanContext, Scanner
from mlsec_dagster.engine.findings import Finding
from mlsec_dagster.scanners.archives import rules

MAGIC: dict[bytes, str] = {
    b"7z\xbc\xaf\x27\x1c": "7z",
    b"Rar!\x1a\x07\x00": "RAR 4",
    b"Rar!\x1a\x07\x01\x00": "RAR 5",
}


def _kind(head: bytes) -> str | None:
    return next((name for magic, name in MAGIC.items() if head.startswith(magic)), None)


def _sniff(artifact: Artifact) -> bool:
    return _kind(artifact.head) is not None


def _scan(artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
    kind = _kind(artifact.head) or "unknown"
    yield rules.NOT_INSPECTED.finding(
        artifact.path,
        f"{artifact.display} is a {kind} archive, which mlsec-dagster cannot open; none of its members were "
        "checked. Unpack it in a sandbox and scan the files, or ship the model as safetensors.",
        location=artifact.location(offset=0),
        evidence=f"{kind} signature {artifact.head[:8].hex(' ')}",
        key=kind,
    )


SCANNER = Scanner("archive-uninspected", _sniff, _scan)
