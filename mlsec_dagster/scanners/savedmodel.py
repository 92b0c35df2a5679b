"""TensorFlow SavedModel (``saved_model.pb``) and frozen GraphDef (``*.pb``) files.

A TensorFlow graph cannot import Python, but some ops reach outside the tensor world: the
``PyFunc`` family calls back into a Python function registered in the loading process, and I/O
ops read, write or list files on the serving host. The protobuf is walked with the wire reader
(graph nodes and every function in the library); constant tensors are skipped, not decoded.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from mlsec_dagster.engine.artifact import Artifact
from mlsec_dagster.engine.context import ScanContext, Scanner
from mlsec_dagster.engine.findings import Finding, Severity
from mlsec_dagster.engine.policy import CODE_EXECUTION_TAG
from mlsec_dagster.engine.rules import define
from mlsec_dagster.scanners._protobuf import LEN, VARINT, ProtoError, ProtoReader, parse_head

_FAMILY = "tf-savedmodel"

PYTHON_OPS = frozenset({"PyFunc", "PyFuncStateless", "EagerPyFunc"})
FILE_OPS = frozenset({
    "ReadFile", "WriteFile", "MatchingFiles", "ImmutableConst", "WholeFileReader", "WholeFileReaderV2",
    "TextLineReader", "TextLineReaderV2", "TFRecordReader", "TFRecordReaderV2", "FixedLengthRecordReader",
    "FixedLengthRecordReaderV2", "TextLineDataset", "TFRecordDataset", "TFRecordDatasetV2",
    "FixedLengthRecordDataset", "FixedLengthRecordDatasetV2", "CSVDataset", "CSVDatasetV2",
    "ExperimentalCSVDataset", "SqlDataset", "ExperimentalSqlDataset", "LMDBDataset",
    "ExperimentalLMDBDataset",
    "SaveDataset", "SaveDatasetV2", "LoadDataset", "DatasetToTFRecord", "ExperimentalDatasetToTFRecord",
    "SnapshotDataset", "SnapshotDatasetV2", "CreateSummaryFileWriter", "CreateSummaryDbWriter",
    "DebugIdentityV2", "DebugIdentityV3", "InitializeTableFromTextFile", "InitializeTableFromTextFileV2",
    "LoadAndRemapMatrix", "PrintV2",
})  # fmt: skip
"""Ops that touch the file system (or, for PrintV2, may write to a file path)."""
CHECKPOINT_OPS = frozenset(
    {
        "Save",
        "SaveV2",
        "SaveSlices",
        "Restore",
        "RestoreV2",
        "RestoreSlice",
        "MergeV2Checkpoints",
        "ShardedFilename",
        "ShardedFilespec",
    }
)
"""File ops that every SavedModel carries in its saver; reported only outside the saver machinery."""
_SAVER_NODE = re.compile(r"^save(_\d+)?/")
_SAVER_FUNCTION = re.compile(r"_traced_(save|restore)_\d+$|^__inference_(save|restore)|saver", re.IGNORECASE)

PYTHON_OP = define(
    "MLS-TFS-001",
    "TensorFlow graph calls back into Python (PyFunc)",
    Severity.CRITICAL,
    "`PyFunc`, `PyFuncStateless` and `EagerPyFunc` nodes run a Python function looked up by token in "
    "the loading process; whatever is registered there runs with the server's privileges.",
    "Re-export the model without tf.py_function / tf.numpy_function, using TensorFlow ops only.",
    family=_FAMILY,
    tags=(CODE_EXECUTION_TAG,),
)
FILE_OP = define(
    "MLS-TFS-002",
    "TensorFlow graph reads or writes files",
    Severity.HIGH,
    "The graph contains ops that touch the serving host's file system: ReadFile, WriteFile, "
    "MatchingFiles, ImmutableConst, file readers and file-backed datasets (TFRecord/TextLine/CSV/SQL/"
    "LMDB/snapshot/save/load), summary and debug writers, InitializeTableFromTextFile, "
    "LoadAndRemapMatrix, PrintV2, and checkpoint ops (Save/SaveV2/Restore/RestoreV2/MergeV2Checkpoints/"
    "ShardedFilename) outside the model's saver. A served model can use them to read secrets or drop files.",
    "Check why the graph needs file access; re-export the serving signature without it.",
    family=_FAMILY,
)
MALFORMED = define(
    "MLS-TFS-003",
    "Malformed TensorFlow graph protobuf",
    Severity.HIGH,
    "The SavedModel or GraphDef is not well-formed protobuf, so the rest of it was not checked.",
    "Re-export the model; if it came from outside, treat it as hostile.",
    family=_FAMILY,
)

_SMALL = 64 * 1024


def _is_node_def(data: bytes | int) -> bool:
    if not isinstance(data, bytes):
        return False
    sub = parse_head(data, len(data), max_fields=2)
    return (
        sub is not None
        and len(sub) > 0
        and sub[0][:2] == (1, LEN)
        and (len(sub) < 2 or sub[1][:2] == (2, LEN))
    )


def _layout(artifact: Artifact) -> str | None:
    """'saved_model' or 'graph' when the head has that structure (and the name fits), else None."""
    name = artifact.name.lower()
    if not name.endswith(".pb"):
        return None
    fields = parse_head(artifact.head, artifact.size, max_fields=4)
    if not fields:
        return None
    if fields[0] == (1, VARINT, 1) and len(fields) > 1 and fields[1][:2] == (2, LEN):
        return "saved_model"
    if fields[0][:2] == (1, LEN) and _is_node_def(fields[0][2]):
        return "graph"
    return None


def _sniff(artifact: Artifact) -> bool:
    return _layout(artifact) is not None


@dataclass
class _Walk:
    reader: ProtoReader
    artifact: Artifact
    findings: list[Finding] = field(default_factory=list)
    seen: set[tuple[str, str]] = field(default_factory=set)


def _scan(artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
    layout = _layout(artifact)
    with artifact.open() as fh:
        walk = _Walk(ProtoReader(fh, artifact.size), artifact)
        try:
            _walk(walk, layout or "graph")
        except ProtoError as exc:
            walk.findings.append(
                MALFORMED.finding(
                    artifact.path,
                    f"{artifact.display} is not a well-formed TensorFlow protobuf ({exc}); the rest was not "
                    "checked. Re-export it from trusted code.",
                    location=artifact.location(offset=exc.offset),
                    evidence=str(exc),
                    key=str(exc).split(" at byte ")[0][:120],
                )
            )
    yield from walk.findings


def _walk(walk: _Walk, layout: str) -> None:
    r = walk.reader
    graphs: list[tuple[int, int]] = []
    if layout == "saved_model":
        for meta in (f for f in r.fields(0, walk.artifact.size) if f.number == 2 and f.wire == LEN):
            graphs.extend(
                (g.start, g.end) for g in r.fields(meta.start, meta.end) if g.number == 2 and g.wire == LEN
            )
    else:
        graphs.append((0, walk.artifact.size))
    for start, end in graphs:
        for item in r.fields(start, end):
            if item.wire != LEN:
                continue
            if item.number == 1:
                _node(walk, item.start, item.end, "")
            elif item.number == 2:
                for function in r.fields(item.start, item.end):
                    if function.number == 1 and function.wire == LEN:
                        _function(walk, function.start, function.end)


def _function(walk: _Walk, start: int, end: int) -> None:
    r = walk.reader
    name = ""
    for item in r.fields(start, end):
        if item.number == 1 and item.wire == LEN:
            name = next((r.text(f, _SMALL) for f in r.fields(item.start, item.end) if f.number == 1), "")
        elif item.number == 3 and item.wire == LEN:
            _node(walk, item.start, item.end, name)


def _node(walk: _Walk, start: int, end: int, function: str) -> None:
    r = walk.reader
    name = op = ""
    for item in r.fields(start, end):
        if item.wire == LEN and item.number == 1:
            name = r.text(item, _SMALL)
        elif item.wire == LEN and item.number == 2:
            op = r.text(item, _SMALL)
    in_saver = bool(_SAVER_NODE.match(name) or _SAVER_FUNCTION.search(function))
    if op in PYTHON_OPS:
        rule, severity, what = PYTHON_OP, Severity.CRITICAL, "calls back into Python"
    elif op in FILE_OPS or (op in CHECKPOINT_OPS and not in_saver):
        rule, severity, what = FILE_OP, Severity.HIGH, "touches the file system"
    else:
        return
    where = f"function {function!r}" if function else "the main graph"
    if (op, where) in walk.seen:
        return
    walk.seen.add((op, where))
    walk.findings.append(
        rule.finding(
            walk.artifact.path,
            f"Node {name!r} in {where} of {walk.artifact.display} is a `{op}` op, which {what} when the "
            "model is served. Re-export the model without it.",
            location=walk.artifact.location(offset=start),
            evidence=f"node name={name!r} op={op!r} in {where}",
            key=f"{op}@{function}",
            severity=severity,
        )
    )


SCANNER = Scanner("savedmodel", _sniff, _scan)
