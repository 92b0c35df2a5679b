"""Keras .keras config.json members and legacy .h5 model_config (threat 28)."""

from __future__ import annotations

import base64
import io
import json
import marshal
import os
import zipfile
from pathlib import Path
from typing import Any

import pytest

from mlsec_dagster import scan_path
from mlsec_dagster.engine.artifact import Artifact
from mlsec_dagster.engine.context import ScanContext
from mlsec_dagster.engine.findings import Finding, Severity
from mlsec_dagster.engine.policy import Policy
from mlsec_dagster.scanners import SCANNERS

h5py = pytest.importorskip("h5py")


def scan_member(name: str, data: bytes, path: str = "m.keras") -> tuple[list[Finding], list[str]]:
    artifact = Artifact(
        path=path, member=(name,), size=len(data), head=data[:65536], open=lambda: io.BytesIO(data), depth=1
    )
    ctx = ScanContext(Policy(), SCANNERS)
    findings = list(ctx.scan(artifact))
    return findings, [r.format for r in ctx.records]


def rules(findings: list[Finding]) -> set[tuple[str, Severity]]:
    return {(f.rule_id, f.severity) for f in findings}


def dense(name: str, activation: Any = "relu") -> dict[str, Any]:
    return {
        "module": "keras.layers",
        "class_name": "Dense",
        "registered_name": None,
        "config": {"name": name, "units": 4, "activation": activation, "use_bias": True},
    }


def sequential(*layers: dict[str, Any]) -> dict[str, Any]:
    return {
        "module": "keras",
        "class_name": "Sequential",
        "registered_name": None,
        "config": {"name": "sequential", "trainable": True, "layers": list(layers)},
        "build_config": {"input_shape": [None, 4]},
    }


def lambda_v3(name: str, code: str) -> dict[str, Any]:
    return {
        "module": "keras.layers",
        "class_name": "Lambda",
        "registered_name": None,
        "config": {
            "name": name,
            "function": {
                "class_name": "__lambda__",
                "config": {"code": code, "defaults": None, "closure": None},
            },
            "arguments": {},
        },
    }


def canary_code(canary: Path) -> str:
    """Marshalled bytecode of a lambda that would touch the canary if it ever ran."""
    payload = lambda x: __import__("os").system(f"touch {canary}") or x  # noqa: E731
    return base64.b64encode(marshal.dumps(payload.__code__)).decode()


# --- real Keras 3 models -------------------------------------------------------------------
@pytest.fixture(scope="module")
def keras_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    out = tmp_path_factory.mktemp("keras")
    inputs = keras.Input((5, 4))
    x = keras.layers.TimeDistributed(keras.layers.Dense(3, activation="relu"))(inputs)
    x = keras.layers.Bidirectional(keras.layers.LSTM(2))(x)
    inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    outputs = inner(x)
    benign = keras.Model(inputs, outputs)
    benign.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    benign.save(out / "benign.keras")
    benign.save(out / "benign.h5")
    lam = keras.Sequential([keras.Input((4,)), keras.layers.Lambda(lambda t: t * 2)])
    lam.save(out / "lambda.keras")
    lam.save(out / "lambda.h5")
    return {p.stem + p.suffix: p for p in out.iterdir()}


def test_real_benign_keras_members_have_no_findings(keras_files: dict[str, Path]) -> None:
    with zipfile.ZipFile(keras_files["benign.keras"]) as zf:
        for name in zf.namelist():
            findings, formats = scan_member(name, zf.read(name))
            assert findings == [], (name, findings)
            expected = {
                "config.json": "json_configs",
                "metadata.json": "json_configs",
                "model.weights.h5": "hdf5",
            }
            assert formats == [expected[name]]


def test_real_benign_h5_has_no_findings(keras_files: dict[str, Path]) -> None:
    result = scan_path(keras_files["benign.h5"])
    assert result.findings == []
    assert [a.format for a in result.artifacts] == ["hdf5"]


def test_real_lambda_in_keras_config_is_critical(keras_files: dict[str, Path]) -> None:
    with zipfile.ZipFile(keras_files["lambda.keras"]) as zf:
        findings, _ = scan_member("config.json", zf.read("config.json"))
    assert rules(findings) == {("MLS-KER-001", Severity.CRITICAL)}
    assert findings[0].location.member == ("config.json",)
    assert findings[0].location.line == 1
    assert "lambda" in findings[0].message


def test_real_lambda_in_h5_is_critical(keras_files: dict[str, Path]) -> None:
    findings = scan_path(keras_files["lambda.h5"]).findings
    assert rules(findings) == {("MLS-KER-001", Severity.CRITICAL)}
    assert "CVE-2025-9905" in findings[0].message
    assert findings[0].location.field == "model_config"


def test_end_to_end_keras_zip(keras_files: dict[str, Path]) -> None:
    """Passes once the zip scanner hands members to scan_child."""
    findings = scan_path(keras_files["lambda.keras"]).findings
    lam = [f for f in findings if f.rule_id == "MLS-KER-001"]
    assert lam and lam[0].location.member == ("config.json",)
    assert not [f for f in scan_path(keras_files["benign.keras"]).findings if f.severity >= Severity.HIGH]


# --- hand-built configs (Keras 3 format) ---------------------------------------------------
def test_lambda_nested_in_wrappers_reports_line(canary: Path) -> None:
    wrapped = {
        "module": "keras.layers",
        "class_name": "TimeDistributed",
        "registered_name": None,
        "config": {
            "name": "td",
            "layer": {
                "module": "keras.layers",
                "class_name": "Bidirectional",
                "config": {"name": "bi", "layer": lambda_v3("evil", canary_code(canary))},
            },
        },
    }
    config = sequential(
        dense("d0"),
        {"module": "keras", "class_name": "Sequential", "config": {"name": "inner", "layers": [wrapped]}},
    )
    text = json.dumps(config, indent=2)
    findings, _ = scan_member("config.json", text.encode())
    assert rules(findings) == {("MLS-KER-001", Severity.CRITICAL)}
    line = findings[0].location.line
    assert line is not None and '"class_name": "__lambda__"' in text.splitlines()[line]
    assert "evil" in findings[0].message


@pytest.mark.parametrize(
    ("obj", "rule", "severity"),
    [
        (
            {"module": "builtins", "class_name": "function", "config": "exec", "registered_name": "function"},
            "MLS-KER-002",
            Severity.CRITICAL,
        ),
        (
            {"module": "os", "class_name": "function", "config": "system", "registered_name": "function"},
            "MLS-KER-002",
            Severity.CRITICAL,
        ),
        (
            {"module": "subprocess", "class_name": "Popen", "config": {}, "registered_name": None},
            "MLS-KER-002",
            Severity.CRITICAL,
        ),
        (
            {
                "module": "evilpkg.layers",
                "class_name": "Backdoor",
                "config": {"name": "b"},
                "registered_name": None,
            },
            "MLS-KER-002",
            Severity.HIGH,
        ),
        (
            {
                "module": "keras.config",
                "class_name": "function",
                "config": "enable_unsafe_deserialization",
                "registered_name": "function",
            },
            "MLS-KER-003",
            Severity.CRITICAL,
        ),
        (
            {
                "module": "keras.src.backend.common.global_state",
                "class_name": "function",
                "config": "set_global_attribute",
                "registered_name": "function",
            },
            "MLS-KER-003",
            Severity.CRITICAL,
        ),
        (
            {
                "module": "keras.utils",
                "class_name": "get_file",
                "config": {"origin": "http://x/y"},
                "registered_name": None,
            },
            "MLS-KER-003",
            Severity.CRITICAL,
        ),
        (
            {
                "module": "keras.layers",
                "class_name": "TFSMLayer",
                "config": {"name": "t", "filepath": "/tmp/sm"},
                "registered_name": None,
            },
            "MLS-KER-004",
            Severity.HIGH,
        ),
        (
            {
                "module": "keras.layers",
                "class_name": "StringLookup",
                "config": {"name": "s", "vocabulary": "/etc/passwd"},
                "registered_name": None,
            },
            "MLS-KER-004",
            Severity.HIGH,
        ),
        (
            {
                "module": "keras.src.utils.summary_utils",
                "class_name": "function",
                "config": "print_summary",
                "registered_name": "function",
            },
            "MLS-KER-006",
            Severity.MEDIUM,
        ),
    ],
)
def test_dangerous_objects_in_config(obj: dict[str, Any], rule: str, severity: Severity) -> None:
    config = sequential(dense("d0", activation=obj) if obj.get("class_name") == "function" else obj)
    findings, _ = scan_member("config.json", json.dumps(config, indent=1).encode())
    assert rules(findings) == {(rule, severity)}
    assert findings[0].location.line is not None and findings[0].location.line > 1


def test_safe_mode_false_key() -> None:
    config = sequential(dense("d0"))
    config["safe_mode"] = False
    findings, _ = scan_member("config.json", json.dumps(config).encode())
    assert rules(findings) == {("MLS-KER-003", Severity.CRITICAL)}


def test_keras_functions_from_safe_families_pass() -> None:
    act = {
        "module": "keras.activations",
        "class_name": "function",
        "config": "gelu",
        "registered_name": "function",
    }
    findings, _ = scan_member("config.json", json.dumps(sequential(dense("d0", activation=act))).encode())
    assert findings == []


def test_metadata_json_is_claimed_and_clean() -> None:
    findings, formats = scan_member(
        "metadata.json", b'{"keras_version": "3.15.1", "date_saved": "2026-01-01"}'
    )
    assert findings == [] and formats == ["json_configs"]


def test_malformed_keras_config_fails_closed() -> None:
    data = json.dumps(sequential(dense("d0"))).encode()[:-20]
    findings, _ = scan_member("config.json", data)
    assert rules(findings) == {("MLS-KER-005", Severity.HIGH)}


# --- legacy .h5 built by hand (Keras 2 layout) -----------------------------------------------
def write_h5(path: Path, config: dict[str, Any] | str) -> None:
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = "2.15.0"
        f.attrs["model_config"] = config if isinstance(config, str) else json.dumps(config)
        f.create_dataset("model_weights/dense/kernel", data=[[1.0, 2.0]])


def test_keras2_lambda_in_h5(tmp_path: Path, canary: Path) -> None:
    layer = {
        "class_name": "Lambda",
        "config": {
            "name": "lam",
            "function": [canary_code(canary), None, None],
            "function_type": "lambda",
            "arguments": {},
        },
    }
    write_h5(tmp_path / "legacy.h5", {"class_name": "Sequential", "config": {"name": "s", "layers": [layer]}})
    findings = scan_path(tmp_path / "legacy.h5").findings
    assert rules(findings) == {("MLS-KER-001", Severity.CRITICAL)}
    assert "lam" in findings[0].message


def test_keras2_raw_function_in_h5(tmp_path: Path) -> None:
    layer = {
        "class_name": "Lambda",
        "config": {"name": "raw", "function": "system", "module": "posix", "function_type": "raw"},
    }
    write_h5(tmp_path / "raw.h5", {"class_name": "Sequential", "config": {"name": "s", "layers": [layer]}})
    assert rules(scan_path(tmp_path / "raw.h5").findings) == {("MLS-KER-002", Severity.CRITICAL)}


def test_h5_with_broken_model_config(tmp_path: Path) -> None:
    write_h5(tmp_path / "broken.h5", '{"class_name": "Sequential", "config": {')
    assert rules(scan_path(tmp_path / "broken.h5").findings) == {("MLS-KER-005", Severity.HIGH)}


def test_truncated_hdf5_fails_closed(tmp_path: Path) -> None:
    (tmp_path / "trunc.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 40)
    findings = scan_path(tmp_path / "trunc.h5").findings
    assert rules(findings) == {("MLS-KER-005", Severity.HIGH)}


def test_unrelated_json_files_are_ignored(tmp_path: Path) -> None:
    (tmp_path / "package.json").write_text(json.dumps({"name": "x", "version": "1.0.0", "dependencies": {}}))
    (tmp_path / "tsconfig.json").write_text(json.dumps({"compilerOptions": {"strict": True}}))
    (tmp_path / "report.sarif").write_text(json.dumps({"version": "2.1.0", "runs": [{"results": []}]}))
    result = scan_path(tmp_path)
    assert result.findings == []
    assert "json_configs" not in {a.format for a in result.artifacts}


def test_broken_config_json_inside_a_keras_archive_is_reported(tmp_path: Path) -> None:
    import zipfile

    from mlsec_dagster import scan_path

    path = tmp_path / "broken.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", '{"keras_version": "3.15.1"}')
        archive.writestr("config.json", '{"class_name": "Sequential", "config": {')
    result = scan_path(str(path), root=str(tmp_path))
    hits = [f for f in result.findings if f.location.member == ("config.json",)]
    assert hits and hits[0].severity >= Severity.MEDIUM, result.findings


def test_keras_archive_without_config_json_is_reported(tmp_path: Path) -> None:
    from mlsec_dagster import scan_path

    path = tmp_path / "hollow.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", '{"keras_version": "3.15.1"}')
    result = scan_path(str(path), root=str(tmp_path))
    assert [(f.rule_id, f.severity) for f in result.findings] == [("MLS-KER-005", Severity.HIGH)]
