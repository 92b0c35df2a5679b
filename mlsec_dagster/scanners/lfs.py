"""Git LFS pointer files: the repository holds a 130-byte stub, not the model (threat 36).

A scan of a checkout made without ``lfs: true`` sees only pointers and would pass everything; the
pointer is therefore a finding of its own, so the gate fails until the real artifact is scanned.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from mlsec_dagster.engine.artifact import Artifact
from mlsec_dagster.engine.context import ScanContext, Scanner
from mlsec_dagster.engine.findings import Finding, Severity
from mlsec_dagster.engine.rules import define

_FAMILY = "lfs"

POINTER = define(
    "MLS-LFS-001",
    "Git LFS pointer instead of the artifact",
    Severity.HIGH,
    "The file is a Git LFS pointer: the real model lives in LFS storage and was never scanned, so "
    "nothing about it is known. CI checkouts without LFS produce exactly this.",
    "Check out with `lfs: true` (actions/checkout) or run `git lfs pull` before scanning.",
    family=_FAMILY,
)
MALFORMED = define(
    "MLS-LFS-002",
    "Malformed Git LFS pointer",
    Severity.HIGH,
    "The file starts like a Git LFS pointer but does not follow the pointer format (version, "
    "`oid sha256:<64 hex>`, `size N`, at most 1024 bytes), so neither it nor the object it names "
    "could be verified.",
    "Fix the LFS attributes and re-add the file (`git lfs track`, `git add --renormalize`), then "
    "`git lfs pull` and scan again.",
    family=_FAMILY,
)

_VERSIONS = (b"version https://git-lfs.github.com/spec/v1\n", b"version https://hawser.github.com/spec/v1\n")
_PREFIX = b"version https://git-lfs.github.com/spec/"
_MAX_POINTER = 1024
_LINE = re.compile(r"^([a-z0-9.-]+) ([^\r\n]*)$")
_OID = re.compile(r"^sha256:[0-9a-f]{64}$")
_SIZE = re.compile(r"^[0-9]+$")


def _sniff(artifact: Artifact) -> bool:
    return artifact.head.startswith((_PREFIX, *_VERSIONS))


def _parse(data: bytes, size: int) -> tuple[dict[str, str], str | None]:
    if size > _MAX_POINTER:
        return {}, f"pointer is {size} bytes; the format allows at most {_MAX_POINTER}"
    if not data.startswith(_VERSIONS):
        return {}, "unknown pointer version"
    try:
        lines = data.decode("utf-8").rstrip("\n").split("\n")
    except UnicodeDecodeError:
        return {}, "pointer is not UTF-8 text"
    fields: dict[str, str] = {}
    for line in lines:
        match = _LINE.match(line)
        if not match or match.group(1) in fields:
            return fields, f"bad or repeated line {line[:80]!r}"
        fields[match.group(1)] = match.group(2)
    keys = list(fields)[1:]
    if keys != sorted(keys):
        return fields, f"keys after `version` must be sorted, are {keys}"
    if not _OID.match(fields.get("oid", "")):
        return fields, "missing or malformed `oid sha256:<64 hex>`"
    if not _SIZE.match(fields.get("size", "")):
        return fields, "missing or malformed `size N`"
    return fields, None


def _scan(artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
    data = artifact.head[: _MAX_POINTER + 1]
    fields, problem = _parse(data, max(artifact.size, len(data)))
    if problem is None:
        yield POINTER.finding(
            artifact.path,
            f"{artifact.display} is a Git LFS pointer: the real artifact was never scanned; check out with "
            "`lfs: true` / run `git lfs pull` and scan again.",
            location=artifact.location(line=1),
            evidence=f"oid {fields['oid']}, size {fields['size']}",
            key=fields["oid"],
        )
        return
    yield MALFORMED.finding(
        artifact.path,
        f"{artifact.display} looks like a Git LFS pointer but is malformed ({problem}); the object it stands "
        "for was not scanned. Fix the LFS tracking, run `git lfs pull` and scan again.",
        location=artifact.location(line=1),
        evidence=data[:300].decode("utf-8", "replace"),
        key=problem.split(" ")[0],
    )


SCANNER = Scanner("lfs", _sniff, _scan)
