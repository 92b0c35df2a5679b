"""Pickles carried base64-encoded in text cells (family ``binary``).

Datasets exported to CSV/JSON store binary objects as base64 strings, and loaders that
unpickle ``base64.b64decode(cell)`` are common in feature stores. A base64 pickle is
recognisable from its first characters: protocol 2-5 streams start ``\\x80\\x02``..``\\x80\\x05``,
which encode as ``gAJ``/``gAN``/``gAS``/``gAW``; protocol 0 starts with a GLOBAL such as
``cos\\n`` (``Y29zCn``). One polars regex finds those prefixes; only the matching cells are decoded
(a bounded prefix) and judged by the binary detector's pickle tables.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from typing import Any

import numpy as np

from mlsec_dagster.engine.findings import Severity
from mlsec_dagster.engine.policy import CODE_EXECUTION_TAG
from mlsec_dagster.engine.rules import define
from mlsec_dagster.scanners.datasets.detectors import binary
from mlsec_dagster.scanners.datasets.evidence import hex_snippet, snippet
from mlsec_dagster.scanners.datasets.model import Cells, Detector, DetectorContext, Explained, Match

ENCODED_PICKLE = define(
    "MLS-BIN-007",
    "Base64-encoded pickle in a text cell",
    Severity.HIGH,
    "A text cell holds a base64 string that decodes to a pickle stream. Pipelines that store objects "
    "in CSV/JSON decode and unpickle such cells, which runs whatever the pickle names. CRITICAL when "
    "the decoded stream references a code-execution callable (os, subprocess, builtins eval/exec...). "
    "Base64 that decodes to anything else (images, hashes, tokens) is not reported.",
    "Store the object in a non-executable format (JSON, safetensors, Arrow); never unpickle cells.",
    family="dataset binary",
    tags=(CODE_EXECUTION_TAG,),
)

_PREFIX = r"gA[JNSW]|Y(?:29zCn|3Bvc2l4Cn|250Cn|3N1YnByb2Nlc3MK|2J1aWx0aW5zCn|19fYnVpbHRpbl9fCn)"
"""Protocol 2-5 headers, and protocol-0 GLOBALs of os/posix/nt/subprocess/builtins, in base64. Literal-led,
so the regex engine skips ahead with SIMD; where a match starts a base64 run is checked on candidates."""
_RUN = re.compile(r"(?<![A-Za-z0-9+/])(?:gA[JNSW]|Y[0-9A-Za-z])[A-Za-z0-9+/]{8,}={0,2}")
_DECODE_CHARS = 64 * 1024
"""A bounded prefix is decoded: the header and first globals are at the start of the stream."""


def detect(cells: Cells, ctx: DetectorContext) -> Iterator[Match]:
    mask = cells.values.str.contains(_PREFIX).fill_null(False).to_numpy()
    candidates = np.flatnonzero(mask)
    if candidates.size == 0:
        return
    verdicts = [_decoded_pickle(str(cells.values[int(i)])) for i in candidates]
    danger = [int(i) for i, v in zip(candidates, verdicts, strict=True) if v is not None and v[2]]
    plain = [int(i) for i, v in zip(candidates, verdicts, strict=True) if v is not None and not v[2]]
    if danger:
        yield Match(ENCODED_PICKLE, danger, _explain, Severity.CRITICAL)
    if plain:
        yield Match(ENCODED_PICKLE, plain, _explain)


def _decoded_pickle(text: str) -> tuple[int, bytes, bool] | None:
    """(char offset, decoded bytes, names a dangerous callable) of the first base64 pickle, if any."""
    for found in _RUN.finditer(text):
        chunk = found.group(0)[:_DECODE_CHARS]
        chunk = chunk[: len(chunk) - len(chunk) % 4]
        try:
            data = base64.b64decode(chunk, validate=True)
        except (binascii.Error, ValueError):
            continue
        if binary.looks_like_pickle(data):
            return found.start(), data, binary.names_dangerous_callable(data)
    return None


def _explain(value: Any) -> Explained:
    text = str(value)
    verdict = _decoded_pickle(text)
    offset, data, dangerous = verdict if verdict is not None else (0, b"", False)
    names = binary.pickle_globals(data)
    return Explained(
        offset,
        f"Text cell holds a base64-encoded pickle (at char {offset})"
        + (f" referencing {', '.join(names)}" if names else "")
        + ". Code that decodes and unpickles this cell runs it. Store the object in a non-executable "
        "format and never unpickle cells.",
        snippet(text, offset) + " | decoded " + hex_snippet(data, 0),
        "b64-pickle:" + (",".join(names) if names else "stream"),
        severity=Severity.CRITICAL if dangerous else None,
        families=("binary",),
    )


DETECTOR = Detector("binary", detect)
