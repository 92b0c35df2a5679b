"""safetensors: validates the header against the file without reading a single tensor byte.

safetensors is the safe format, so abuse targets its header (threat 35): lengths past the end or
huge (memory DoS), JSON that different parsers read differently (duplicate keys), tensors whose
offsets overlap, leave gaps or leave the data section, and polyglots that hide a zip or pickle
after the data. Bytes after the last tensor are handed back to the registry.
"""

from __future__ import annotations

import json
import math
from collections.abc import Generator, Iterator
from typing import Any

from mlsec_dagster.engine.artifact import Artifact
from mlsec_dagster.engine.context import ArtifactRecord, ScanContext, Scanner
from mlsec_dagster.engine.findings import Finding, Severity
from mlsec_dagster.engine.rules import define
from mlsec_dagster.scanners._streams import read_region, region_opener
from mlsec_dagster.scanners.licenses import metadata as licence_metadata
from mlsec_dagster.scanners.secrets.strings import metadata_findings

_FAMILY = "safetensors"

BAD_LENGTH = define(
    "MLS-STF-001",
    "safetensors header length is invalid",
    Severity.HIGH,
    "The 8-byte header length points past the end of the file (or is too small to hold JSON): the "
    "file is truncated or crafted, and its tensors cannot be verified.",
    "Re-create the file with `safetensors.torch.save_file` from a trusted model.",
    family=_FAMILY,
)
BAD_JSON = define(
    "MLS-STF-002",
    "safetensors header is not a JSON object",
    Severity.HIGH,
    "The header is not UTF-8 JSON describing an object, so nothing in the file can be verified "
    "(fail closed).",
    "Re-create the file with `safetensors.torch.save_file`.",
    family=_FAMILY,
)
DUPLICATE_KEY = define(
    "MLS-STF-003",
    "Duplicate keys in the safetensors header",
    Severity.HIGH,
    "JSON parsers disagree on duplicate keys (first wins or last wins), so a validator and a loader can "
    "see different tensors or offsets. The official writer never emits them.",
    "Re-create the file with `safetensors.torch.save_file`.",
    family=_FAMILY,
)
BAD_TENSOR = define(
    "MLS-STF-004",
    "safetensors tensor entry is invalid",
    Severity.MEDIUM,
    "A tensor entry lacks dtype/shape/data_offsets, has extra keys, an unknown dtype, a bad shape, or "
    "a byte range that does not match shape x dtype size. Loaders reject or misread such files.",
    "Re-create the file with `safetensors.torch.save_file`.",
    family=_FAMILY,
)
BAD_LAYOUT = define(
    "MLS-STF-005",
    "safetensors tensors overlap, leave gaps or run out of bounds",
    Severity.MEDIUM,
    "Tensor byte ranges must tile the data section exactly. Overlaps make two tensors alias the same "
    "bytes, gaps hide unreferenced bytes, and out-of-bounds ranges read past the file.",
    "Re-create the file with `safetensors.torch.save_file`.",
    family=_FAMILY,
)
BAD_METADATA = define(
    "MLS-STF-006",
    "safetensors __metadata__ is not a string-to-string map",
    Severity.MEDIUM,
    "The format allows only string values in `__metadata__`; nested objects are a parser-differential "
    "and smuggling vector, and strict loaders reject the file.",
    "Store only strings in the metadata (serialise structured values to a JSON string yourself).",
    family=_FAMILY,
)
TRAILING = define(
    "MLS-STF-007",
    "Data after the last safetensors tensor",
    Severity.MEDIUM,
    "Bytes after the tensors are referenced by no tensor; a polyglot can hide a zip or pickle there for "
    "another loader. They were scanned as a separate stream.",
    "Re-create the file with `safetensors.torch.save_file`.",
    family=_FAMILY,
)

DTYPE_BITS: dict[str, int] = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "F8_E4M3FNUZ": 8,
    "F8_E5M2FNUZ": 8, "I16": 16, "U16": 16, "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32,
    "C64": 64, "F64": 64, "I64": 64, "U64": 64, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
}  # fmt: skip
"""Element sizes in bits of every dtype safetensors 0.8 knows (sub-byte F4/F6 pack tightly)."""
_NAME = "safetensors"
_TENSOR_KEYS = {"dtype", "shape", "data_offsets"}
_MAX_REPORTED = 20


def _sniff(artifact: Artifact) -> bool:
    head = artifact.head
    header_length = int.from_bytes(head[:8], "little")
    # A JSON Lines file whose first line is 8 bytes long also has "{" at byte 8, but its "length" is
    # ASCII text read as a number of 2**56 or more; real headers (even lying ones) are far smaller.
    return len(head) >= 10 and head[8:9] == b"{" and 2 <= header_length < 2**48


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


class _DuplicateKey(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _scan(artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
    declared = int.from_bytes(artifact.head[:8], "little")
    size = artifact.size
    if size < 0:
        with artifact.open() as fh:
            size = fh.seek(0, 2)
    if 8 + declared > size:
        yield from _other_format(artifact, ctx)
        yield BAD_LENGTH.finding(
            artifact.path,
            f"{artifact.display} declares a {declared}-byte header but the file has {size} bytes; "
            "re-create it.",
            location=artifact.location(offset=0),
            evidence=f"header length {declared}, file size {size}",
            key="past-eof",
        )
        return
    if declared > ctx.limits.max_header_bytes:
        yield ctx.limit_finding(artifact, "max_header_bytes", f"the safetensors header is {declared} bytes")
        return
    raw = (
        artifact.head[8 : 8 + declared]
        if 8 + declared <= len(artifact.head)
        else read_region(artifact.open, 8, declared)
    )
    header = yield from _parse(artifact, raw)
    if header is None:
        yield from _other_format(artifact, ctx)
        return
    licence_metadata.record_safetensors(ctx, artifact, header.get("__metadata__"))  # declared licence
    data_at = 8 + declared
    spans = yield from _entries(artifact, header)
    yield from _layout(artifact, ctx, spans, data_at, size)


def _parse(artifact: Artifact, raw: bytes) -> Generator[Finding, None, dict[str, Any] | None]:
    """Yields findings; returns the header dict or None (a generator so ``yield from`` gives both)."""
    try:
        text = raw.decode("utf-8").rstrip(" ")
        header = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except _DuplicateKey as exc:
        yield DUPLICATE_KEY.finding(
            artifact.path,
            f"{artifact.display} has the key {exc.args[0]!r} twice in its header; parsers disagree on which "
            "one counts. Re-create the file with safetensors.",
            location=artifact.location(offset=8),
            evidence=f"duplicate key {exc.args[0]!r}",
            key=str(exc.args[0]),
        )
        return None
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        header = exc
    if not isinstance(header, dict):
        detail = str(header) if isinstance(header, Exception) else f"a JSON {type(header).__name__}"
        yield BAD_JSON.finding(
            artifact.path,
            f"{artifact.display} has a header that is not a JSON object ({detail:.200}); nothing in it "
            "could be verified. Re-create the file with safetensors.",
            location=artifact.location(offset=8),
            evidence=raw[:200].decode("utf-8", "replace"),
            key="header",
        )
        return None
    return header


def _other_format(artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
    """A file that is not valid safetensors may be a polyglot crafted to sniff as one (a pickle with
    ``{"`` at byte 8): it is also judged by whichever other scanner recognises it."""
    other = next((s for s in ctx.scanners if s.name != _NAME and s.sniff(artifact)), None)
    if other is not None:
        ctx.records.append(ArtifactRecord(artifact.path, artifact.member, other.name, artifact.size))
        yield from other.scan(artifact, ctx)


def _bad_tensor(artifact: Artifact, name: str, detail: str) -> Finding:
    return BAD_TENSOR.finding(
        artifact.path,
        f"Tensor {name!r} of {artifact.display} is invalid: {detail}. Re-create the file with safetensors.",
        location=artifact.location(offset=8),
        evidence=detail,
        key=name,
    )


def _entries(
    artifact: Artifact, header: dict[str, Any]
) -> Generator[Finding, None, list[tuple[int, int, str]]]:
    """Validate entries; return their (begin, end, name) spans for the layout check."""
    spans: list[tuple[int, int, str]] = []
    for name, entry in header.items():
        if name == "__metadata__":
            yield from _metadata(artifact, entry)
            yield from metadata_findings(artifact, "safetensors metadata", entry, 8)  # secrets in metadata
            continue
        problem = _entry_problem(entry)
        if problem:
            yield _bad_tensor(artifact, name, problem)
        offsets: Any = entry.get("data_offsets") if isinstance(entry, dict) else None
        if _offsets_ok(offsets):
            spans.append((offsets[0], offsets[1], name))  # a bad entry still claims its bytes
    return spans


def _offsets_ok(offsets: Any) -> bool:
    return isinstance(offsets, list) and len(offsets) == 2 and all(_is_int(n) for n in offsets)


def _entry_problem(entry: Any) -> str | None:
    if not isinstance(entry, dict) or set(entry) != _TENSOR_KEYS:
        keys = sorted(entry) if isinstance(entry, dict) else type(entry).__name__
        return f"entry must have exactly dtype, shape and data_offsets, has {keys}"
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if dtype not in DTYPE_BITS:
        return f"unknown dtype {dtype!r:.40}"
    if not isinstance(shape, list) or not all(_is_int(n) for n in shape):
        return f"shape must be a list of non-negative integers, is {shape!r:.80}"
    if not _offsets_ok(offsets) or offsets[0] > offsets[1]:
        return f"data_offsets must be [begin, end] non-negative integers, is {offsets!r:.80}"
    bits = math.prod(shape) * DTYPE_BITS[dtype]
    if bits % 8:
        return f"shape {shape} of {dtype} does not fill whole bytes"
    if offsets[1] - offsets[0] != bits // 8:
        held = offsets[1] - offsets[0]
        return f"data_offsets {offsets} hold {held} bytes, shape {shape} of {dtype} needs {bits // 8}"
    return None


def _metadata(artifact: Artifact, value: Any) -> Iterator[Finding]:
    if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
        return
    yield BAD_METADATA.finding(
        artifact.path,
        f"{artifact.display} has a __metadata__ that is not a map of strings to strings; strict "
        "loaders reject it. Store only string values.",
        location=artifact.location(offset=8),
        evidence=json.dumps(value)[:300],
        key="__metadata__",
    )


def _layout(
    artifact: Artifact, ctx: ScanContext, spans: list[tuple[int, int, str]], data_at: int, size: int
) -> Iterator[Finding]:
    data_len = size - data_at
    problems: list[str] = []
    cursor, previous = 0, "start of data"
    for begin, end, name in sorted(spans):
        if end > data_len:
            problems.append(f"{name!r} ends at {end}, past the {data_len}-byte data section")
        if begin < cursor:
            problems.append(f"{name!r} starts at {begin}, inside {previous!r} (ends at {cursor})")
        elif begin > cursor:
            problems.append(f"{begin - cursor} unreferenced bytes before {name!r} at {cursor}")
        if end >= cursor:
            cursor, previous = end, name
    for problem in problems[:_MAX_REPORTED]:
        yield BAD_LAYOUT.finding(
            artifact.path,
            f"{artifact.display}: {problem}. Tensor ranges must tile the data section; re-create the file.",
            location=artifact.location(offset=data_at),
            evidence=problem,
            key=problem.split(" ")[0],
        )
    if cursor < data_len:
        start, length = data_at + cursor, data_len - cursor
        yield TRAILING.finding(
            artifact.path,
            f"{artifact.display} has {length} bytes after its last tensor that no tensor references; another "
            "loader may read them. Re-create the file with safetensors.",
            location=artifact.location(offset=start),
            evidence=read_region(artifact.open, start, 32).hex(" "),
            key="trailing",
        )
        yield from ctx.scan_child(
            artifact, "<safetensors trailing data>", length, region_opener(artifact.open, start, length)
        )


SCANNER = Scanner(_NAME, _sniff, _scan)
