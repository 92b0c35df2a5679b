"""safetensors: real files pass untouched, every header abuse of threat 35 is reported, tensors never read."""

from __future__ import annotations

import io
import json
import pickle
import struct
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from container_helpers import CanaryPayload, assert_pickle_payload
from safetensors.numpy import save_file as save_numpy
from safetensors.torch import save_file as save_torch
from shared_fixtures import counting_opener

from mlsec_dagster import Policy, scan_path
from mlsec_dagster.engine.artifact import HEAD_BYTES, Artifact
from mlsec_dagster.engine.context import ScanContext
from mlsec_dagster.engine.findings import Finding, Severity
from mlsec_dagster.engine.limits import Limits
from mlsec_dagster.engine.scan import ScanResult
from mlsec_dagster.scanners import SCANNERS
from mlsec_dagster.scanners.safetensors import DTYPE_BITS


def _scan(tmp_path: Path, policy: Policy | None = None) -> ScanResult:
    return scan_path(str(tmp_path), root=str(tmp_path), policy=policy)


def _mine(result: ScanResult) -> list[Finding]:
    return [f for f in result.findings if f.rule_id.startswith("MLS-STF-")]


def _file(header: Any, data: bytes, raw_header: bytes | None = None) -> bytes:
    text = raw_header if raw_header is not None else json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def _tensor(dtype: str, shape: list[int], begin: int, end: int) -> dict[str, Any]:
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


def test_files_written_by_safetensors_have_no_findings(tmp_path: Path) -> None:
    save_torch(
        {
            "w": torch.randn(4, 3),
            "bf": torch.ones(5, dtype=torch.bfloat16),
            "empty": torch.zeros(0, 7),
            "scalar": torch.tensor(3, dtype=torch.int64),
            "f8": torch.zeros(3, dtype=torch.float8_e4m3fn),
        },
        str(tmp_path / "model.safetensors"),
        metadata={"format": "pt", "note": '{"json": "in a string is fine"}'},
    )
    save_numpy({"a": np.arange(6, dtype=np.uint16).reshape(2, 3), "b": np.zeros(0, dtype=np.bool_)},
               str(tmp_path / "np.safetensors"))  # fmt: skip
    result = _scan(tmp_path)
    assert result.findings == []
    assert {a.path: a.format for a in result.artifacts} == {
        "model.safetensors": "safetensors",
        "np.safetensors": "safetensors",
    }


def test_dtype_table_knows_every_dtype_the_writer_emits() -> None:
    for dtype in ("F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL", "F8_E4M3", "F8_E5M2"):
        assert dtype in DTYPE_BITS
    assert DTYPE_BITS["F4"] == 4 and DTYPE_BITS["F6_E3M2"] == 6


CASES: dict[str, tuple[bytes, str, Severity]] = {
    "overlap": (
        _file({"a": _tensor("F32", [2], 0, 8), "b": _tensor("F32", [2], 4, 12)}, bytes(12)),
        "MLS-STF-005",
        Severity.MEDIUM,
    ),
    "gap": (
        _file({"a": _tensor("F32", [1], 0, 4), "b": _tensor("F32", [1], 8, 12)}, bytes(12)),
        "MLS-STF-005",
        Severity.MEDIUM,
    ),
    "out_of_bounds": (_file({"a": _tensor("F32", [4], 0, 16)}, bytes(8)), "MLS-STF-005", Severity.MEDIUM),
    "size_mismatch": (_file({"a": _tensor("F32", [3], 0, 8)}, bytes(8)), "MLS-STF-004", Severity.MEDIUM),
    "unknown_dtype": (_file({"a": _tensor("F128", [1], 0, 16)}, bytes(16)), "MLS-STF-004", Severity.MEDIUM),
    "negative_shape": (_file({"a": _tensor("U8", [-1], 0, 0)}, b""), "MLS-STF-004", Severity.MEDIUM),
    "extra_key": (
        _file({"a": {**_tensor("U8", [1], 0, 1), "loader": "pickle"}}, b"\x00"),
        "MLS-STF-004",
        Severity.MEDIUM,
    ),
    "metadata_not_strings": (
        _file({"__metadata__": {"n": 1, "nested": {"x": "y"}}, "a": _tensor("U8", [1], 0, 1)}, b"\x00"),
        "MLS-STF-006",
        Severity.MEDIUM,
    ),
    "duplicate_key": (
        _file(
            None,
            b"\x00",
            b'{"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}, '
            b'"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}',
        ),
        "MLS-STF-003",
        Severity.HIGH,
    ),
    "not_json": (_file(None, b"", b"{not json at all"), "MLS-STF-002", Severity.HIGH),
    "json_array": (_file(None, b"", b"{}"[:1] + b"]"), "MLS-STF-002", Severity.HIGH),
    "length_past_eof": (struct.pack("<Q", 10_000) + b'{"a": 1}', "MLS-STF-001", Severity.HIGH),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_header_abuse(tmp_path: Path, case: str) -> None:
    data, rule, severity = CASES[case]
    (tmp_path / "m.safetensors").write_bytes(data)
    result = _scan(tmp_path)
    assert {(f.rule_id, f.severity) for f in _mine(result)} == {(rule, severity)}, _mine(result)


def test_oversized_header_is_a_limit_not_a_parse(tmp_path: Path) -> None:
    header = {"a": _tensor("U8", [1], 0, 1), "__metadata__": {"pad": "x" * 5000}}
    (tmp_path / "m.safetensors").write_bytes(_file(header, b"\x00"))
    result = _scan(tmp_path, Policy(limits=Limits(max_header_bytes=1024)))
    assert [(f.rule_id, f.key) for f in result.findings] == [("MLS-SCN-002", "max_header_bytes")]


def test_trailing_pickle_and_zip_are_found(tmp_path: Path, canary: Path) -> None:
    base = _file({"a": _tensor("F32", [2], 0, 8)}, bytes(8))
    (tmp_path / "pickle.safetensors").write_bytes(base + pickle.dumps(CanaryPayload(canary), protocol=2))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("archive/data.pkl", pickle.dumps(CanaryPayload(canary), protocol=2))
    (tmp_path / "zip.safetensors").write_bytes(base + buffer.getvalue())
    result = _scan(tmp_path)
    assert {(f.path, f.rule_id) for f in _mine(result)} == {
        ("pickle.safetensors", "MLS-STF-007"),
        ("zip.safetensors", "MLS-STF-007"),
    }
    formats = {(a.path, a.member): a.format for a in result.artifacts}
    assert formats[("zip.safetensors", ("<safetensors trailing data>",))] == "zip"
    assert_pickle_payload(result, "pickle.safetensors", ("<safetensors trailing data>",))
    assert_pickle_payload(result, "zip.safetensors", ("<safetensors trailing data>", "archive/data.pkl"))


def test_only_the_header_is_read(tmp_path: Path) -> None:
    path = tmp_path / "big.safetensors"
    save_torch({"w": torch.zeros(2048, 2048), "b": torch.zeros(10)}, str(path))  # 16 MiB of tensors
    opener, counted = counting_opener(path)

    size = path.stat().st_size
    head = path.read_bytes()[:HEAD_BYTES]
    ctx = ScanContext(Policy(), SCANNERS)
    ctx.start_file()
    findings = list(ctx.scan(Artifact("big.safetensors", (), size, head, opener)))
    assert findings == []
    assert counted["bytes"] <= 256


def test_pickle_crafted_to_sniff_as_safetensors_is_still_judged_as_pickle(
    tmp_path: Path, canary: Path
) -> None:
    data = pickle.dumps(('\x00{"abc', CanaryPayload(canary)), protocol=2)
    assert data[8:10] == b'{"'
    (tmp_path / "model.bin").write_bytes(data)
    result = _scan(tmp_path)
    assert [(f.rule_id, f.severity) for f in _mine(result)] == [("MLS-STF-001", Severity.HIGH)]
    assert_pickle_payload(result, "model.bin", ())
