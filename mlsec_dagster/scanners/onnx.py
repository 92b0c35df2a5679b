"""ONNX models: protobuf ``ModelProto`` walked with the wire reader, tensor bytes skipped.

ONNX has no magic number, so the sniff checks the ModelProto field layout strictly. The scan
visits every graph (main graph, If/Loop/Scan bodies, training graphs, model-local functions) and
judges two things that reach outside the file at load time: tensors stored in external files
(path traversal) and operators from non-standard domains (native or Python custom-op libraries).
"""

from __future__ import annotations

import ntpath
import os
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass

from mlsec_dagster.engine.artifact import Artifact
from mlsec_dagster.engine.context import ScanContext, Scanner
from mlsec_dagster.engine.findings import Finding, Severity
from mlsec_dagster.engine.policy import CODE_EXECUTION_TAG
from mlsec_dagster.engine.rules import define
from mlsec_dagster.scanners._protobuf import LEN, VARINT, Field, ProtoError, ProtoReader, parse_head

_FAMILY = "onnx"

EXTERNAL_DATA_ESCAPE = define(
    "MLS-ONX-001",
    "ONNX external data path escapes the model folder",
    Severity.HIGH,
    "A tensor's `external_data` location is absolute, a URL, contains `..` or resolves outside the "
    "model's folder. Loading the model then reads (and may leak into outputs) arbitrary files of the "
    "host, e.g. `../../../../etc/passwd`.",
    "Keep external data files next to the model and reference them by a plain relative name; reject "
    "models that do not.",
    family=_FAMILY,
)
CUSTOM_OP = define(
    "MLS-ONX-002",
    "ONNX operator from a custom domain",
    Severity.MEDIUM,
    "The graph uses an operator outside the standard ONNX / ONNX-ML / training / Microsoft contrib "
    "domains. Running it requires loading a native custom-op library, code the scan did not see.",
    "Make sure the custom-op library is a reviewed, pinned dependency; otherwise export the model with "
    "standard operators.",
    family=_FAMILY,
)
PYTHON_OP = define(
    "MLS-ONX-003",
    "ONNX operator that executes Python",
    Severity.HIGH,
    "The graph uses a Python-backed custom operator (onnxruntime-extensions `PyOp`/`Py*` ops, or a "
    "domain naming Python). Whatever Python function is registered under that name runs at inference.",
    "Replace the Python op with standard operators, or review and pin the code that registers it.",
    family=_FAMILY,
    tags=(CODE_EXECUTION_TAG,),
)
MALFORMED = define(
    "MLS-ONX-004",
    "Malformed ONNX protobuf",
    Severity.HIGH,
    "The model is not well-formed protobuf (truncated fields, lengths past the end, unknown wire "
    "types) or nests graphs too deeply, so the rest of it was not checked.",
    "Re-export the model; if it came from outside, treat it as hostile.",
    family=_FAMILY,
)

STANDARD_DOMAINS = frozenset({
    "", "ai.onnx", "ai.onnx.ml", "ai.onnx.preview.training", "ai.onnx.training", "com.microsoft",
    "com.microsoft.nchwc", "com.microsoft.experimental", "com.ms.internal.nhwc",
})  # fmt: skip
"""Domains implemented by ONNX itself and by onnxruntime's documented contrib operators."""
_PYTHON_OP = re.compile(r"^Py[A-Z_]|^PyOp|python", re.IGNORECASE)
_MODEL_FIELDS = {1: VARINT, 2: LEN, 3: LEN, 4: LEN, 5: VARINT, 6: LEN, 7: LEN, 8: LEN, 14: LEN, 20: LEN,
                 25: LEN, 26: LEN}  # fmt: skip
_TEXT_FIELDS = (2, 3, 4, 6)
_STRING_FIELDS = {"node": (3, 4, 7), "function": (1, 10), "tensor": (8,)}
"""Short strings read per message kind: node name/op_type/domain, function name/domain, tensor name."""
_MAX_GRAPH_DEPTH = 64
_SMALL = 64 * 1024
"""Largest name/domain/location string read; longer ones are malformed for our purposes."""


def _sniff(artifact: Artifact) -> bool:
    fields = parse_head(artifact.head, artifact.size)
    if not fields or len(fields) < 2 or fields[0][:2] != (1, VARINT):
        return False
    ir_version = fields[0][2]
    if not isinstance(ir_version, int) or not 3 <= ir_version <= 30:
        return False
    for number, wire, value in fields:
        if _MODEL_FIELDS.get(number) != wire:
            return False
        if number in _TEXT_FIELDS and isinstance(value, bytes):
            try:
                if not value.decode("utf-8").isprintable():
                    return False
            except UnicodeDecodeError:
                return False
    return any(number in (7, 8) for number, _, _ in fields) or len(artifact.head) < artifact.size


@dataclass
class _Walk:
    reader: ProtoReader
    artifact: Artifact
    ctx: ScanContext
    ops: list[tuple[str, str, int]]
    """(domain, op_type, offset) of every node outside the standard domains."""
    functions: set[tuple[str, str]]
    findings: list[Finding]


def _scan(artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
    with artifact.open() as fh:
        walk = _Walk(ProtoReader(fh, artifact.size), artifact, ctx, [], set(), [])
        try:
            _walk(walk, "model", 0, artifact.size, 0)
        except _OutOfTime:
            walk.findings.append(ctx.timeout_finding(artifact))
        except ProtoError as exc:
            walk.findings.append(
                MALFORMED.finding(
                    artifact.path,
                    f"{artifact.display} is not a well-formed ONNX model ({exc}); the rest was not checked. "
                    "Re-export it from trusted code.",
                    location=artifact.location(offset=exc.offset),
                    evidence=str(exc),
                    key=str(exc).split(" at byte ")[0][:120],
                )
            )
    yield from walk.findings
    yield from _op_findings(walk)


_CHILDREN: dict[str, dict[int, str]] = {
    "model": {7: "graph", 25: "function", 20: "training"},
    "training": {1: "graph", 2: "graph"},
    "graph": {1: "node", 5: "tensor", 15: "sparse"},
    "function": {7: "node"},
    "node": {5: "attribute"},
    "attribute": {5: "tensor", 6: "graph", 10: "tensor", 11: "graph", 22: "sparse", 23: "sparse"},
    "sparse": {1: "tensor", 2: "tensor"},
}
"""Which fields of each message kind hold sub-messages worth visiting (ONNX field numbers)."""


class _OutOfTime(Exception):
    pass


def _walk(walk: _Walk, kind: str, start: int, end: int, depth: int) -> None:
    """Visits one message and, depth first, its sub-messages: the stream is read front to back."""
    if depth > _MAX_GRAPH_DEPTH:
        raise ProtoError(f"graphs nested more than {_MAX_GRAPH_DEPTH} deep", start)
    if walk.ctx.out_of_time():
        raise _OutOfTime
    r = walk.reader
    strings: dict[int, str] = {}
    entries: list[tuple[str, str]] = []
    for field in r.fields(start, end):
        child = _CHILDREN.get(kind, {}).get(field.number)
        if child is not None and field.wire == LEN:
            _walk(walk, child, field.start, field.end, depth + (child == "graph"))
        elif field.wire == LEN and field.number in _STRING_FIELDS.get(kind, ()):
            strings[field.number] = r.text(field, _SMALL)
        elif kind == "tensor" and field.number == 13 and field.wire == LEN:
            entries.append(_entry(r, field))
    if kind == "node":
        domain, op_type = strings.get(7, ""), strings.get(4, "")
        if domain not in STANDARD_DOMAINS:
            walk.ops.append((domain, op_type, start))
    elif kind == "function":
        walk.functions.add((strings.get(10, ""), strings.get(1, "")))
    elif kind == "tensor" and entries:
        _external_data(walk, strings.get(8, "?"), entries, start)


def _entry(r: ProtoReader, field: Field) -> tuple[str, str]:
    key = value = ""
    for sub in r.fields(field.start, field.end):
        if sub.wire == LEN and sub.number == 1:
            key = r.text(sub, _SMALL)
        elif sub.wire == LEN and sub.number == 2:
            value = r.text(sub, _SMALL)
    return key, value


def _escapes(location: str, os_path: str | None) -> str:
    """Why ``location`` escapes the model folder, or '' when it stays inside."""
    norm = location.replace("\\", "/")
    if "://" in location:
        return "it is a URL"
    if norm.startswith("/") or ntpath.isabs(location) or re.match(r"^[A-Za-z]:", location):
        return "it is an absolute path"
    if ".." in norm.split("/"):
        return "it climbs out with '..'"
    if os_path is not None:
        folder = os.path.realpath(os.path.dirname(os_path))
        target = os.path.realpath(os.path.join(folder, posixpath.normpath(norm)))
        if os.path.commonpath([folder, target]) != folder:
            return "it resolves (through a symlink) outside the model folder"
    return ""


def _external_data(walk: _Walk, tensor: str, entries: list[tuple[str, str]], offset: int) -> None:
    for key, value in entries:
        if key != "location":
            continue
        why = _escapes(value, walk.artifact.os_path)
        if why:
            walk.findings.append(
                EXTERNAL_DATA_ESCAPE.finding(
                    walk.artifact.path,
                    f"Tensor {tensor!r} in {walk.artifact.display} stores its data at {value!r}, but {why}: "
                    "loading the model would read that file. Keep external data next to the model under a "
                    "plain relative name.",
                    location=walk.artifact.location(offset=offset),
                    evidence=f"external_data location={value!r} (tensor {tensor!r})",
                    key=value,
                )
            )


def _op_findings(walk: _Walk) -> Iterator[Finding]:
    seen: set[tuple[str, str]] = set()
    for domain, op_type, offset in walk.ops:
        if (domain, op_type) in walk.functions or (domain, op_type) in seen:
            continue
        seen.add((domain, op_type))
        python = bool(_PYTHON_OP.search(op_type) or "python" in domain.lower())
        rule = PYTHON_OP if python else CUSTOM_OP
        what = "a Python-backed custom operator" if python else "a custom operator"
        yield rule.finding(
            walk.artifact.path,
            f"{walk.artifact.display} uses {what} `{domain}::{op_type}`; loading it requires a custom-op "
            "library the scan did not see. Review and pin that library or export with standard operators.",
            location=walk.artifact.location(offset=offset),
            evidence=f"node domain={domain!r} op_type={op_type!r}",
            key=f"{domain}::{op_type}",
            severity=Severity.HIGH if python else Severity.MEDIUM,
        )


SCANNER = Scanner("onnx", _sniff, _scan)
