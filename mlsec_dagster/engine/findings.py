"""The one shape every scanner reports in.

Reports, the policy and the Dagster layer only ever read these objects; nothing re-parses
message text, so every fact a consumer needs (rule, severity, where, what) is a field.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from enum import IntEnum
from typing import Any


class Severity(IntEnum):
    """Ordered so that ``finding.severity >= policy.fail_on_severity`` is the gate."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @classmethod
    def parse(cls, value: str | Severity) -> Severity:
        if isinstance(value, Severity):
            return value
        try:
            return cls[str(value).strip().upper()]
        except KeyError:
            names = ", ".join(s.name for s in cls)
            raise ValueError(f"unknown severity {value!r}; expected one of {names}") from None


@dataclass(frozen=True)
class Location:
    """Where inside a file a finding sits.

    ``member`` is the chain of archive members from the outer file inwards (a pickle inside
    ``archive/data.pkl`` of a zip inside a tar has two entries). ``offset`` is a byte offset in the
    innermost member (for pickles: the offending opcode). Text formats set ``line``/``column``;
    tabular data sets ``row`` (0-based data row, header excluded, counted across the whole file),
    ``field`` (column name; nested values as ``parent.child`` / ``items[]``), ``row_group`` (Parquet
    row group, Avro block, Arrow record batch) and ``char_offset`` (0-based, in characters of the
    cell value).
    """

    member: tuple[str, ...] = ()
    offset: int | None = None
    line: int | None = None
    column: int | None = None
    row: int | None = None
    field: str | None = None
    row_group: int | None = None
    char_offset: int | None = None

    def describe(self) -> str:
        parts: list[str] = []
        if self.member:
            parts.append("member " + " > ".join(self.member))
        if self.line is not None:
            parts.append(f"line {self.line}" + (f":{self.column}" if self.column is not None else ""))
        if self.row_group is not None:
            parts.append(f"row group {self.row_group}")
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.field is not None:
            parts.append(f"column {self.field!r}")
        if self.char_offset is not None:
            parts.append(f"char {self.char_offset}")
        if self.offset is not None:
            parts.append(f"byte {self.offset}")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"member": list(self.member)}
        for name in ("offset", "line", "column", "row", "field", "row_group", "char_offset"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


@dataclass(frozen=True)
class Finding:
    """One thing wrong with one artifact.

    ``key`` is what makes two findings of the same rule in the same place different (e.g. the
    callable ``os.system``); with rule, path and member it forms the stable fingerprint used by
    SARIF and baselines, so it must not contain byte offsets or timestamps.
    """

    rule_id: str
    severity: Severity
    path: str
    message: str
    location: Location = field(default_factory=Location)
    evidence: str = ""
    key: str = ""
    waiver: str = ""
    """An inline waiver's reason found next to the finding in the scanned file (``mlsec: ignore``
    comment); the policy reports such a finding as suppressed with that reason."""

    def with_severity(self, severity: Severity) -> Finding:
        return replace(self, severity=severity)

    @property
    def fingerprint(self) -> str:
        material = "\x1f".join((self.rule_id, self.path, *self.location.member, self.key or self.message))
        return hashlib.sha256(material.encode("utf-8", "surrogatepass")).hexdigest()[:32]

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "severity": self.severity.name,
            "path": self.path,
            "location": self.location.to_dict(),
            "message": self.message,
            "evidence": self.evidence,
            "fingerprint": self.fingerprint,
        }
