"""Secrets in the strings a binary artifact carries: safetensors ``__metadata__``, GGUF metadata, pickle
string constants. Format scanners already walk those strings; they hand them here as
``(name, value, byte offset)`` so the token shapes and keyword check apply unchanged (the name gives
a keyword context: a pickled ``{"api_key": "…"}`` is judged as ``api_key=…``).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator
from typing import Any

from mlsec_dagster.engine.artifact import Artifact
from mlsec_dagster.engine.findings import Finding
from mlsec_dagster.scanners.secrets import matcher
from mlsec_dagster.scanners.secrets.report import hit_finding

MAX_STRINGS = 200_000
MAX_STRING_CHARS = 1024 * 1024
MAX_NAME_CHARS = 64
"""Longer strings are not used as a name (keyword context) for the next one."""


def findings_in_strings(
    artifact: Artifact, source: str, items: Iterable[tuple[str, str, int | None]]
) -> Iterator[Finding]:
    """``source`` names where they came from ("safetensors metadata"); items are (name, value, offset)."""
    parts: list[str] = []
    starts: list[int] = []
    meta: list[tuple[str, int | None, int]] = []
    at = 0
    for index, (name, value, offset) in enumerate(items):
        if index >= MAX_STRINGS:
            break
        name = name[:MAX_NAME_CHARS]
        line = f"{name}={value[:MAX_STRING_CHARS]}" if name else value[:MAX_STRING_CHARS]
        starts.append(at)
        meta.append((name, offset, len(name) + 1 if name else 0))
        parts.append(line)
        at += len(line) + 1
    if not parts:
        return
    hits, _ = matcher.find("\n".join(parts), generic=True, quoted_only=False)
    for hit in hits:
        index = bisect_right(starts, hit.start) - 1
        name, offset, value_at = meta[index]
        if hit.start - starts[index] < value_at:
            continue  # inside the name itself, which is reported as the value of its own entry
        field = name or None
        where = f"in its {source}" + (f" value {name!r}" if name else "")
        yield hit_finding(artifact, hit, where, artifact.location(offset=offset, field=field))


def json_strings(value: Any, name: str = "", budget: list[int] | None = None) -> Iterator[tuple[str, str]]:
    """(key, string) pairs of a parsed JSON value, depth-first and bounded (nested metadata)."""
    budget = budget if budget is not None else [MAX_STRINGS]
    if budget[0] <= 0:
        return
    if isinstance(value, str):
        budget[0] -= 1
        yield name, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from json_strings(item, str(key), budget)
    elif isinstance(value, list):
        for item in value:
            yield from json_strings(item, name, budget)


def metadata_findings(artifact: Artifact, source: str, value: Any, offset: int | None) -> Iterator[Finding]:
    """One-call hook for a parsed metadata map (safetensors ``__metadata__``)."""
    yield from findings_in_strings(artifact, source, ((k, v, offset) for k, v in json_strings(value)))


def pickle_pairs(strings: list[tuple[int, str]]) -> Iterator[tuple[str, str, int | None]]:
    """Pickle string constants in stream order; the previous short string serves as the name (dict keys
    precede their values)."""
    previous = ""
    for pos, value in strings:
        yield (previous if len(previous) <= MAX_NAME_CHARS else ""), value, pos
        previous = value
