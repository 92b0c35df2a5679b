"""``.pth`` path files: ``site`` executes their lines that start with ``import`` at every interpreter start.

A scanner of its own, so a ``.pth`` is judged wherever it is found: on disk, in a wheel (where it lands
in site-packages), in an sdist or any archive. ``.pth`` is also PyTorch's checkpoint extension; those
are zips or pickles, never NUL-free text that the pickle sniff rejects, so they stay with their scanners.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator

from packaging.utils import canonicalize_name

from mlsec_dagster.engine.artifact import Artifact
from mlsec_dagster.engine.context import ScanContext, Scanner
from mlsec_dagster.engine.findings import Finding, Severity
from mlsec_dagster.scanners import pickle as pickle_scanner
from mlsec_dagster.scanners.packages import pycode
from mlsec_dagster.scanners.packages.rules import PTH_CODE

MAX_REPORTED = 10
"""Executable lines reported per file."""
MAX_PTH = 1024 * 1024
"""Path files are a few lines; larger "``.pth``" text is left to the registry (and reported as unknown)."""

KNOWN_TEMPLATES: tuple[tuple[re.Pattern[str], frozenset[str] | None], ...] = (
    (re.compile(r"import sys, types, os;has_mfs = sys\.version_info > \(3, 5\);p = os\.path\.join\("
                r"sys\._getframe\(1\)\.f_locals\['sitedir'\], \*\([^)]*\)\);"), None),
    (re.compile(r"import os; var = 'SETUPTOOLS_USE_DISTUTILS'; "
                r"enabled = os\.environ\.get\(var, '(local|stdlib)'\) == 'local'; "
                r"enabled and __import__\('_distutils_hack'\)\.add_shim\(\); *"), frozenset({"setuptools"})),
)  # fmt: skip
"""Lines setuptools writes: namespace-package loaders (stdlib only, harmless from any package) and the
distutils shim, which imports ``_distutils_hack`` and is harmless only from setuptools itself (anyone
else ships their own ``_distutils_hack``). A matching line with nothing else in it is LOW."""


def _sniff(artifact: Artifact) -> bool:
    return (
        artifact.name.lower().endswith(".pth")
        and 0 <= artifact.size <= MAX_PTH
        and b"\x00" not in artifact.head
        and not artifact.head.startswith(b"PK")
        and not pickle_scanner.SCANNER.sniff(artifact)
    )


def _scan(artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
    with artifact.open() as fh:
        data = fh.read(MAX_PTH + 1)
    yield from pth_findings(artifact, data)


def pth_findings(artifact: Artifact, data: bytes) -> Iterator[Finding]:
    """One finding per executed line."""
    member = artifact.display
    text = data.decode("utf-8", "replace")
    reported = 0
    for number, line in enumerate(text.splitlines(), 1):
        if not line.startswith(("import ", "import\t")) or reported >= MAX_REPORTED:
            continue
        reported += 1
        hits = pycode.analyse_payload(line)
        does = "; ".join(dict.fromkeys(f"{h.detail} ({h.name})" for h in hits))
        owner = _distribution(artifact)
        benign = not hits and any(
            pattern.fullmatch(line) and (owners is None or owner in owners)
            for pattern, owners in KNOWN_TEMPLATES
        )
        yield PTH_CODE.finding(
            artifact.path,
            f"{member} is a .pth file whose line {number} is executed by every Python start in the "
            f"environment{': it ' + does if does else ''}. "
            + ("This is a setuptools-generated line; check that the package is expected. " if benign else "")
            + "Do not install this package; use a wheel from a trusted index pinned by hash, or review it.",
            location=artifact.location(line=number),
            evidence=line[:2000],
            key=f"{member}#{reported}",
            severity=Severity.LOW if benign else None,
        )


def _distribution(artifact: Artifact) -> str:
    """The distribution of the nearest enclosing wheel or sdist, from its file name ('' if none)."""
    for part in reversed((artifact.path, *artifact.member)):
        name = posixpath.basename(part.replace("\\", "/"))
        if name.endswith((".whl", ".tar.gz", ".tar", ".zip")) and "-" in name:
            return canonicalize_name(name.split("-")[0])
    return ""


SCANNER = Scanner("pth", _sniff, _scan)
