"""ONNX: external data escapes, custom-domain and Python operators, strict sniffing (threat 30)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from mlsec_dagster import scan_path
from mlsec_dagster.engine.findings import Finding, Severity

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

X = helper.make_tensor_value_info("X", TensorProto.FLOAT, [4])
Y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, [4])


def benign_model(weights: int = 4) -> onnx.ModelProto:
    w = numpy_helper.from_array(np.ones(weights, dtype=np.float32)[:4], "W")
    big = numpy_helper.from_array(np.zeros(weights, dtype=np.float32), "unused_big")
    nodes = [
        helper.make_node("Add", ["X", "W"], ["H"]),
        helper.make_node("Relu", ["H"], ["Y"]),
        helper.make_node("LinearRegressor", ["X"], ["R"], domain="ai.onnx.ml", coefficients=[1.0] * 4),
        helper.make_node("Gelu", ["X"], ["G"], domain="com.microsoft"),
    ]
    graph = helper.make_graph(nodes, "g", [X], [Y], [w, big])
    return helper.make_model(
        graph,
        producer_name="pytorch",
        opset_imports=[
            helper.make_opsetid("", 17),
            helper.make_opsetid("ai.onnx.ml", 3),
            helper.make_opsetid("com.microsoft", 1),
        ],
    )


def save(tmp_path: Path, model: onnx.ModelProto, name: str = "model.onnx") -> list[Finding]:
    (tmp_path / name).write_bytes(model.SerializeToString())
    result = scan_path(tmp_path / name)
    assert [a.format for a in result.artifacts] == ["onnx"]
    return result.findings


def external(name: str, location: str) -> TensorProto:
    tensor = numpy_helper.from_array(np.ones(4, dtype=np.float32), name)
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "16")):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    return tensor


def test_benign_model_with_large_initializer(tmp_path: Path) -> None:
    findings = save(tmp_path, benign_model(weights=4 * 1024 * 1024))
    assert findings == []


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_real_torch_export_with_external_data(tmp_path: Path) -> None:
    import torch

    net = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.LayerNorm(32))
    torch.onnx.export(net, (torch.randn(1, 64),), str(tmp_path / "exported.onnx"), dynamo=False)
    model = onnx.load(str(tmp_path / "exported.onnx"))
    onnx.save_model(
        model,
        str(tmp_path / "external.onnx"),
        save_as_external_data=True,
        location="external.onnx.data",
        size_threshold=0,
    )
    result = scan_path(tmp_path)
    assert result.findings == []
    assert sorted(a.path for a in result.artifacts if a.format == "onnx") == [
        "exported.onnx",
        "external.onnx",
    ]


def test_benign_external_data_next_to_model(tmp_path: Path) -> None:
    (tmp_path / "weights.bin").write_bytes(b"\x00" * 16)
    model = benign_model()
    model.graph.initializer.append(external("E", "weights.bin"))
    assert save(tmp_path, model) == []


@pytest.mark.parametrize(
    "location",
    [
        "../../../../etc/passwd",
        "/etc/passwd",
        "sub/../../secret",
        "C:\\Windows\\win.ini",
        "https://evil.example/w.bin",
    ],
)
def test_external_data_escape_is_high(tmp_path: Path, location: str) -> None:
    model = benign_model()
    model.graph.initializer.append(external("E", location))
    findings = save(tmp_path, model)
    assert [(f.rule_id, f.severity, f.key) for f in findings] == [("MLS-ONX-001", Severity.HIGH, location)]
    assert findings[0].location.offset is not None


def test_external_data_through_symlink(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "link").symlink_to(outside)
    model = benign_model()
    model.graph.initializer.append(external("E", "link/data.bin"))
    (model_dir / "m.onnx").write_bytes(model.SerializeToString())
    findings = scan_path(model_dir / "m.onnx", root=tmp_path).findings
    assert [f.rule_id for f in findings] == ["MLS-ONX-001"]
    assert "symlink" in findings[0].message


def test_custom_ops_in_subgraphs_and_functions(tmp_path: Path) -> None:
    py_op = helper.make_node("PyReverseMatrix", ["X"], ["Y"], domain="ai.onnx.contrib")
    body = helper.make_graph([py_op], "then", [], [Y])
    cond = helper.make_tensor_value_info("C", TensorProto.BOOL, [])
    if_node = helper.make_node("If", ["C"], ["Y"], then_branch=body, else_branch=body)
    loop_body = helper.make_graph(
        [helper.make_node("Fancy", ["X"], ["Y"], domain="vendor.ops")], "loop", [], [Y]
    )
    loop = helper.make_node("Loop", ["", "C"], ["Z"], body=loop_body)
    local = helper.make_node("MyFn", ["X"], ["L"], domain="local.fns")
    function = helper.make_function(
        "local.fns",
        "MyFn",
        ["A"],
        ["B"],
        [helper.make_node("Secret", ["A"], ["B"], domain="native.lib")],
        [helper.make_opsetid("", 17), helper.make_opsetid("native.lib", 1)],
    )
    graph = helper.make_graph([if_node, loop, local], "g", [cond, X], [Y])
    model = helper.make_model(
        graph,
        functions=[function],
        opset_imports=[
            helper.make_opsetid("", 17),
            helper.make_opsetid("ai.onnx.contrib", 1),
            helper.make_opsetid("vendor.ops", 1),
            helper.make_opsetid("local.fns", 1),
        ],
    )
    findings = save(tmp_path, model)
    got = {(f.rule_id, f.severity, f.key) for f in findings}
    assert got == {
        ("MLS-ONX-003", Severity.HIGH, "ai.onnx.contrib::PyReverseMatrix"),
        ("MLS-ONX-002", Severity.MEDIUM, "vendor.ops::Fancy"),
        ("MLS-ONX-002", Severity.MEDIUM, "native.lib::Secret"),
    }


def test_truncated_model_fails_closed(tmp_path: Path) -> None:
    data = benign_model(weights=1024).SerializeToString()
    (tmp_path / "cut.onnx").write_bytes(data[: len(data) - 100])
    findings = scan_path(tmp_path / "cut.onnx").findings
    assert [(f.rule_id, f.severity) for f in findings] == [("MLS-ONX-004", Severity.HIGH)]


@pytest.mark.parametrize(
    "payload",
    [
        bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8)),
        b"ir_version: 8\nproducer_name: 'x'\n",
        pickle.dumps({"a": 1}, protocol=2),
        pickle.dumps({"a": 1}, protocol=0),
        b"\x08\x01\x12\x04\x0a\x02\x08\x01",  # SavedModel layout: schema version 1, meta graph
    ],
    ids=["random", "text", "pickle2", "pickle0", "savedmodel"],
)
def test_sniff_is_strict(tmp_path: Path, payload: bytes) -> None:
    (tmp_path / "thing.bin").write_bytes(payload)
    assert "onnx" not in {a.format for a in scan_path(tmp_path / "thing.bin").artifacts}
