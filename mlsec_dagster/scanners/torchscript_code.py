"""TorchScript ``code/`` members: the serialized TorchScript source of a scripted model.

``torch.jit.load`` compiles these files with the TorchScript compiler, which cannot import
Python, but it resolves ``torch.ops.<namespace>.<op>`` to whatever native custom-op library is
loaded, and a tampered archive can carry references to Python/OS internals aimed at other
loaders or at a later ``torch.jit`` bypass. The pickles next to the code (``data.pkl``,
``constants.pkl``) are the pickle scanner's job; this scanner reads the ``.py`` members as text.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from mlsec_dagster.engine.artifact import Artifact
from mlsec_dagster.engine.context import ScanContext, Scanner
from mlsec_dagster.engine.findings import Finding, Severity
from mlsec_dagster.engine.policy import CODE_EXECUTION_TAG
from mlsec_dagster.engine.rules import define
from mlsec_dagster.scanners._pysource import find_gadgets

_FAMILY = "torchscript"

PYTHON_REACH = define(
    "MLS-TSC-001",
    "TorchScript code reaches Python or OS internals",
    Severity.HIGH,
    "The serialized TorchScript source calls process, file, dynamic-code or network functions "
    "(os, subprocess, builtins eval-style calls, pickle loads, ...) or walks dunder attributes to "
    "interpreter internals. `torch.jit.script` never emits such code: the archive was tampered with.",
    "Do not load the archive; re-export the model from trusted source with torch.jit.script/trace.",
    family=_FAMILY,
    tags=(CODE_EXECUTION_TAG,),
)
CUSTOM_OP = define(
    "MLS-TSC-002",
    "TorchScript code calls a custom operator namespace",
    Severity.MEDIUM,
    "The code calls `torch.ops.<namespace>.<op>` outside PyTorch's own namespaces (aten, prim, "
    "quantized, ...) and well-known libraries (torchvision, torchaudio). Loading it requires a native "
    "custom-op library the scan did not see.",
    "Make sure the library registering the namespace is a reviewed, pinned dependency.",
    family=_FAMILY,
)
FILE_OP = define(
    "MLS-TSC-003",
    "TorchScript code reads or writes files",
    Severity.HIGH,
    "The code calls operators that touch the file system at inference time (`from_file`, `save`, "
    "`load`, `_load_for_mobile`...), which can read host files into outputs or drop files.",
    "Remove the file access from the scripted model and re-export it.",
    family=_FAMILY,
)
UNPARSEABLE = define(
    "MLS-TSC-004",
    "TorchScript code member could not be parsed",
    Severity.MEDIUM,
    "A `code/` member is not parseable source, so it was not checked; TorchScript's own parser may "
    "still accept it.",
    "Re-export the model with the current PyTorch version and re-scan.",
    family=_FAMILY,
)

KNOWN_NAMESPACES = frozenset({
    "aten", "prim", "quantized", "_quantized", "prepacked", "mkldnn", "mkldnn_prepacked", "xnnpack",
    "_caffe2", "profiler", "cuda", "sparse", "quantized_decomposed", "_c10d_functional",
    "_c10d_functional_autograd", "c10d", "_dtensor", "_test", "torchvision", "torchaudio", "torchtext",
    "image",
    "_nested", "higher_order", "inductor", "_inductor",
})  # fmt: skip
FILE_OPERATORS = frozenset(
    {
        "from_file",
        "save",
        "load",
        "_load_for_mobile",
        "_save_for_mobile",
        "_save_parameters",
        "_load_parameters",
    }
)
_CODE_MEMBER = re.compile(r"(^|/)code/.+\.py$")


def _sniff(artifact: Artifact) -> bool:
    if not artifact.member or not _CODE_MEMBER.search(artifact.member[-1].replace("\\", "/")):
        return False
    if b"\x00" in artifact.head:
        return False
    try:
        artifact.head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start > len(artifact.head) - 4  # a multi-byte character cut at the head's end
    return True


def _dotted(node: ast.AST) -> list[str] | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return [node.id, *reversed(parts)]


def _op_reference(parts: list[str]) -> tuple[str, str] | None:
    """(namespace, op) for ``torch.ops.ns.op`` / ``ops.ns.op``; also ``torch.<op>`` with ns aten."""
    if parts[:2] == ["torch", "ops"] and len(parts) >= 4:
        return parts[2], parts[3]
    if parts[0] == "ops" and len(parts) >= 3:
        return parts[1], parts[2]
    if parts[0] == "torch" and len(parts) == 2:
        return "aten", parts[1]
    return None


def _scan(artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
    if artifact.size > ctx.limits.max_header_bytes:
        yield ctx.limit_finding(artifact, "max_header_bytes", f"TorchScript source of {artifact.size} bytes")
        return
    with artifact.open() as fh:
        source = fh.read(ctx.limits.max_header_bytes + 1).decode("utf-8", "replace")
    try:
        tree = ast.parse(source)
        hits = [h for h in find_gadgets(source) if h.dangerous]
    except SyntaxError as exc:
        yield UNPARSEABLE.finding(
            artifact.path,
            f"{artifact.display} is not parseable source ({exc.msg}); it was not checked. Re-export it.",
            location=artifact.location(line=exc.lineno),
            evidence=str(exc),
            key="syntax",
        )
        return
    lines = source.splitlines()
    for hit in hits:
        yield PYTHON_REACH.finding(
            artifact.path,
            f"{artifact.display} line {hit.line}: `{hit.name}` {hit.reason}. TorchScript export never "
            "produces this; do not load the archive.",
            location=artifact.location(line=hit.line),
            evidence=hit.snippet,
            key=hit.name,
        )
    yield from _op_findings(artifact, tree, lines)


def _op_findings(artifact: Artifact, tree: ast.AST, lines: list[str]) -> Iterator[Finding]:
    seen: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        parts = _dotted(node.func)
        ref = _op_reference(parts) if parts else None
        if ref is None:
            continue
        namespace, op = ref
        qualified = f"{namespace}::{op}"
        if qualified in seen:
            continue
        snippet = lines[node.lineno - 1].strip()[:300] if node.lineno <= len(lines) else ""
        if op in FILE_OPERATORS:
            rule, severity = FILE_OP, Severity.HIGH
            message = f"calls `{qualified}`, which touches the file system at inference time"
        elif namespace not in KNOWN_NAMESPACES:
            rule, severity = CUSTOM_OP, Severity.MEDIUM
            message = (
                f"calls custom operator `{qualified}`, which needs a native library the scan did not see"
            )
        else:
            continue
        seen.add(qualified)
        yield rule.finding(
            artifact.path,
            f"{artifact.display} line {node.lineno} {message}. Review the library or re-export without it.",
            location=artifact.location(line=node.lineno),
            evidence=snippet,
            key=qualified,
            severity=severity,
        )


SCANNER = Scanner("torchscript_code", _sniff, _scan)
