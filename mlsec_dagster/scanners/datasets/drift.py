"""Schema drift across the part files of one dataset folder (``part-0000.parquet``, ...).

Readers of a folder (Spark, polars ``scan_parquet("dir/*.parquet")``, HF ``datasets``) take the
schema of one file and coerce, null or drop what differs in the others, so a part file with an
extra or retyped column changes the training data silently. The majority schema of the files of
one format in one folder is the dataset's; each file that differs is a finding.
"""

from __future__ import annotations

import posixpath
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator

from mlsec_dagster.engine.context import SchemaRecord
from mlsec_dagster.engine.findings import Finding, Location
from mlsec_dagster.scanners.datasets.structure import SCHEMA_DRIFT


def _columns(schema: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in schema.split(", "):
        name, _, kind = part.partition(": ")
        out[name] = kind
    return out


def _difference(odd: str, usual: str) -> str:
    a, b = _columns(odd), _columns(usual)
    parts = [f"extra column {n!r}" for n in a if n not in b]
    parts += [f"missing column {n!r}" for n in b if n not in a]
    parts += [f"column {n!r} is {a[n]} (others: {b[n]})" for n in a if n in b and a[n] != b[n]]
    return "; ".join(parts) or "column order differs"


def schema_drift_findings(schemas: Iterable[SchemaRecord]) -> Iterator[Finding]:
    groups: dict[tuple[str, str], list[SchemaRecord]] = defaultdict(list)
    for record in schemas:
        if not record.member:  # files on disk; members of one archive are not a dataset folder
            groups[(posixpath.dirname(record.path), record.format)].append(record)
    for (folder, fmt), records in sorted(groups.items()):
        if len(records) < 2:
            continue
        counts = Counter(r.schema for r in records)
        if len(counts) == 1:
            continue
        usual, _ = counts.most_common(1)[0]
        example = next(r.path for r in records if r.schema == usual)
        for record in records:
            if record.schema == usual:
                continue
            diff = _difference(record.schema, usual)
            yield SCHEMA_DRIFT.finding(
                record.path,
                f"{record.path} does not match the schema of the other {fmt} files in "
                f"{folder or '.'}/ ({counts[usual]} of {len(records)} files, e.g. {example}): {diff}. "
                "Re-export it with the dataset's schema or move it out of the folder.",
                location=Location(),
                evidence=f"this file: {record.schema[:1500]}\nusual:     {usual[:1500]}",
                key=f"drift\x1f{diff[:200]}",
            )
