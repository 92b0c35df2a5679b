"""TensorFlow SavedModel / frozen GraphDef op checks (threat 29), fixtures hand-encoded as protobuf."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlsec_dagster import scan_path
from mlsec_dagster.engine.findings import Finding, Severity


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def fld(number: int, value: bytes | str | int) -> bytes:
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    raw = value.encode() if isinstance(value, str) else value
    return varint(number << 3 | 2) + varint(len(raw)) + raw


def node(name: str, op: str, *inputs: str, tensor_bytes: int = 0) -> bytes:
    """NodeDef: name=1, op=2, input=3, attr=5 (map entry: key=1, AttrValue=2 with tensor=8)."""
    body = fld(1, name) + fld(2, op) + b"".join(fld(3, i) for i in inputs)
    if tensor_bytes:
        tensor = fld(4, b"\x00" * tensor_bytes)  # TensorProto.tensor_content
        body += fld(5, fld(1, "value") + fld(2, fld(8, tensor)))
    return body


def function(name: str, *nodes: bytes) -> bytes:
    """FunctionDef: signature (OpDef, name=1) = 1, node_def = 3."""
    return fld(1, fld(1, name)) + b"".join(fld(3, n) for n in nodes)


def graph(nodes: list[bytes], functions: list[bytes] = ()) -> bytes:  # type: ignore[assignment]
    library = fld(2, b"".join(fld(1, f) for f in functions)) if functions else b""
    return b"".join(fld(1, n) for n in nodes) + library + fld(4, fld(1, 1987))


def saved_model(graph_def: bytes) -> bytes:
    meta_info = fld(1, fld(4, "serve"))
    return fld(1, 1) + fld(2, meta_info + fld(2, graph_def))


BENIGN_NODES = [
    node("x", "Placeholder"),
    node("w", "Const", tensor_bytes=256 * 1024),
    node("mm", "MatMul", "x", "w"),
    node("save/filename", "Const"),
    node("save/SaveV2", "SaveV2", "save/filename"),
    node("save/RestoreV2", "RestoreV2"),
    node("save/ShardedFilename", "ShardedFilename"),
]
BENIGN_FUNCTIONS = [
    function(
        "__inference__traced_save_123",
        node("SaveV2", "SaveV2"),
        node("MergeV2Checkpoints", "MergeV2Checkpoints"),
    ),
    function("__inference_serving_default_77", node("relu", "Relu")),
]


def scan(tmp_path: Path, data: bytes, name: str = "saved_model.pb") -> list[Finding]:
    (tmp_path / name).write_bytes(data)
    result = scan_path(tmp_path / name)
    assert [a.format for a in result.artifacts] == ["savedmodel"]
    return result.findings


def test_benign_saved_model(tmp_path: Path) -> None:
    assert scan(tmp_path, saved_model(graph(BENIGN_NODES, BENIGN_FUNCTIONS))) == []


def test_pyfunc_in_main_graph_is_critical(tmp_path: Path) -> None:
    data = saved_model(graph([*BENIGN_NODES, node("evil", "PyFunc", "x")], BENIGN_FUNCTIONS))
    findings = scan(tmp_path, data)
    assert [(f.rule_id, f.severity, f.key) for f in findings] == [
        ("MLS-TFS-001", Severity.CRITICAL, "PyFunc@")
    ]
    offset = findings[0].location.offset
    assert offset is not None and data[offset:].startswith(fld(1, "evil")[:2])


@pytest.mark.parametrize(
    "op", ["ReadFile", "WriteFile", "MatchingFiles", "ImmutableConst", "TFRecordDataset"]
)
def test_file_ops_in_function_library_are_high(tmp_path: Path, op: str) -> None:
    functions = [*BENIGN_FUNCTIONS, function("__inference_serving_default_9", node("leak", op))]
    findings = scan(tmp_path, saved_model(graph(BENIGN_NODES, functions)))
    assert [(f.rule_id, f.severity) for f in findings] == [("MLS-TFS-002", Severity.HIGH)]
    assert "__inference_serving_default_9" in findings[0].message


def test_checkpoint_op_outside_saver_is_high(tmp_path: Path) -> None:
    findings = scan(tmp_path, saved_model(graph([*BENIGN_NODES, node("serving/write", "SaveV2")])))
    assert [(f.rule_id, f.key) for f in findings] == [("MLS-TFS-002", "SaveV2@")]


def test_eager_pyfunc_in_function(tmp_path: Path) -> None:
    findings = scan(tmp_path, saved_model(graph([], [function("f", node("p", "EagerPyFunc"))])))
    assert [(f.rule_id, f.severity) for f in findings] == [("MLS-TFS-001", Severity.CRITICAL)]


def test_frozen_graph_def(tmp_path: Path) -> None:
    data = graph([node("x", "Placeholder"), node("w", "WriteFile", "x")])
    findings = scan(tmp_path, data, name="frozen_graph.pb")
    assert [f.rule_id for f in findings] == ["MLS-TFS-002"]


def test_truncated_saved_model_fails_closed(tmp_path: Path) -> None:
    data = saved_model(graph(BENIGN_NODES))
    findings = scan(tmp_path, data[:-300])
    assert [(f.rule_id, f.severity) for f in findings] == [("MLS-TFS-003", Severity.HIGH)]


def test_not_sniffed_without_pb_name_or_structure(tmp_path: Path) -> None:
    (tmp_path / "saved_model.bin").write_bytes(saved_model(graph(BENIGN_NODES)))
    (tmp_path / "other.pb").write_bytes(b"\x00\x01 not a graph")
    formats = {a.format for a in scan_path(tmp_path).artifacts}
    assert "savedmodel" not in formats
