"""Licences declared inside artifacts: safetensors ``__metadata__``, GGUF ``general.license``, wheel METADATA.

The format scanners call these with what they already parsed (one call each), so no file is read twice.
"""

from __future__ import annotations

from dataclasses import replace
from email.parser import HeaderParser
from typing import Any

from mlsec_dagster.engine.artifact import Artifact
from mlsec_dagster.engine.context import ScanContext
from mlsec_dagster.scanners.licenses import texts
from mlsec_dagster.scanners.licenses.catalog import canonical
from mlsec_dagster.scanners.licenses.collect import UNIDENTIFIED, record

METADATA_KEYS = frozenset({"license", "licence", "modelspec.license", "general.license"})
"""Keys of string-to-string metadata that declare a licence (``modelspec.license``: Stability's ModelSpec)."""

MAX_HEADER_VALUE = 200
"""A wheel ``License:`` longer than this (or multi-line) is a licence text, identified as one."""


def record_safetensors(ctx: ScanContext, artifact: Artifact, header_metadata: Any) -> None:
    if not isinstance(header_metadata, dict):
        return
    for key, value in list(header_metadata.items())[:10_000]:
        if isinstance(key, str) and key.lower() in METADATA_KEYS and isinstance(value, str) and value.strip():
            record(ctx, artifact, "safetensors metadata", value)


def record_gguf(ctx: ScanContext, artifact: Artifact, key: str, value: str | None) -> None:
    if key.lower() in METADATA_KEYS and value and value.strip():
        record(ctx, artifact, "GGUF metadata", value)


def record_wheel(ctx: ScanContext, artifact: Artifact, member: str, text: str) -> None:
    """PEP 639 ``License-Expression`` wins; else the ``License ::`` classifiers (several: a choice, as in
    dual licensing); else a short ``License:`` value, or the licence text some projects paste there.
    Recorded on the METADATA member (with its line), so findings point inside the wheel."""
    at = replace(artifact, member=(*artifact.member, member))
    headers = HeaderParser().parsestr(text)
    source = "wheel metadata"
    expression = (headers.get("License-Expression") or "").strip()
    if expression:
        record(ctx, at, source, expression, _line(text, "License-Expression:"))
        return
    classifiers = [
        c.split("::")[-1].strip() for c in headers.get_all("Classifier", []) if c.startswith("License ::")
    ]
    named = [c for c in classifiers if c and c != "OSI Approved"]
    if named:
        ids = [canonical(c) for c in named]
        spdx = None if None in ids else " OR ".join(dict.fromkeys(i for i in ids if i))
        declared = "; ".join(f"License :: {c}" for c in named)
        ctx.record_license(at, source, declared, spdx, _line(text, "Classifier: License ::"))
        return
    value = (headers.get("License") or "").strip()
    if not value or value.upper() == "UNKNOWN":
        return
    line = _line(text, "License:")
    if len(value) <= MAX_HEADER_VALUE and "\n" not in value:
        record(ctx, at, source, value, line)
        return
    identified = texts.identify(value)
    if identified is not None:
        record(ctx, at, source, identified, line)
    else:
        ctx.record_license(at, source, UNIDENTIFIED + " ".join(value.split())[:120], None, line)


def _line(text: str, prefix: str) -> int | None:
    for number, line in enumerate(text.splitlines()[:10_000], 1):
        if line.startswith(prefix):
            return number
        if not line.strip():  # the headers end at the first blank line; the description follows
            return None
    return None
