"""NumPy .npy/.npz: headers validated, numeric data never read, object arrays scanned as pickles."""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
from container_helpers import CanaryPayload, assert_pickle_payload
from shared_fixtures import counting_opener

from mlsec_dagster import Policy, scan_path
from mlsec_dagster.engine.artifact import HEAD_BYTES, Artifact
from mlsec_dagster.engine.context import ScanContext
from mlsec_dagster.engine.findings import Finding, Severity
from mlsec_dagster.engine.scan import ScanResult
from mlsec_dagster.scanners import SCANNERS
from mlsec_dagster.scanners.numpy_files import dtype_size


def _scan(tmp_path: Path) -> ScanResult:
    return scan_path(str(tmp_path), root=str(tmp_path))


def _mine(result: ScanResult) -> list[Finding]:
    return [f for f in result.findings if f.rule_id.startswith("MLS-NPY-")]


def _npy(header: str, data: bytes = b"") -> bytes:
    text = header.encode("latin-1")
    pad = 64 - (10 + len(text) + 1) % 64
    text += b" " * pad + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + data


def _object_array(canary: Path) -> np.ndarray:
    arr = np.empty(2, dtype=object)
    arr[0], arr[1] = {"ok": 1}, CanaryPayload(canary)
    return arr


def test_benign_arrays_of_every_kind(tmp_path: Path) -> None:
    np.save(tmp_path / "ints.npy", np.arange(100, dtype=np.int64).reshape(10, 10))
    np.save(tmp_path / "fortran.npy", np.asfortranarray(np.ones((3, 4), dtype=np.float32)))
    np.save(tmp_path / "text.npy", np.array(["a", "bcd"]))
    np.save(tmp_path / "dates.npy", np.array(["2024-01-01"], dtype="datetime64[ns]"))
    np.save(tmp_path / "empty.npy", np.zeros((0, 5)))
    structured = np.zeros(3, dtype=[("x", "<f4"), ("y", "<i8", (2,)), ("s", [("a", "u1"), ("b", "<c16")])])
    np.save(tmp_path / "structured.npy", structured)
    for version in ((2, 0), (3, 0)):
        with open(tmp_path / f"v{version[0]}.npy", "wb") as fh:
            np.lib.format.write_array(fh, np.arange(7, dtype=np.int16), version=version)
    result = _scan(tmp_path)
    assert result.findings == []
    assert {a.path for a in result.artifacts if a.format == "numpy"} == {
        "ints.npy", "fortran.npy", "text.npy", "dates.npy", "empty.npy", "structured.npy", "v2.npy", "v3.npy",
    }  # fmt: skip


def test_dtype_sizes_match_numpy() -> None:
    for dtype in ("<f8", "|b1", "<U7", "|S3", "<M8[ns]", "<c8", "|V5", "<f2"):
        assert dtype_size(dtype) == (np.dtype(dtype).itemsize, False)
    structured = np.dtype([("o", "O"), ("p", "<i4", (3, 2))], align=True)
    assert dtype_size(np.lib.format.dtype_to_descr(structured)) == (structured.itemsize, True)


def test_object_array_is_scanned_as_pickle(tmp_path: Path, canary: Path) -> None:
    np.save(tmp_path / "objects.npy", _object_array(canary), allow_pickle=True)
    result = _scan(tmp_path)
    assert _mine(result) == []
    assert_pickle_payload(result, "objects.npy", ("<npy object data>",))


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed])
def test_object_array_inside_npz(tmp_path: Path, canary: Path, save: object) -> None:
    save(tmp_path / "bundle.npz", weights=np.ones(3), extra=_object_array(canary))  # type: ignore[operator]
    save(tmp_path / "benign.npz", weights=np.ones(3), extra=np.array([{"a": 1}], dtype=object))  # type: ignore[operator]
    result = _scan(tmp_path)
    assert _mine(result) == []
    assert {m.member for m in result.artifacts if m.path == "bundle.npz" and m.format == "numpy"} == {
        ("weights.npy",),
        ("extra.npy",),
    }
    assert_pickle_payload(result, "bundle.npz", ("extra.npy", "<npy object data>"))
    assert ("extra.npy", "<npy object data>") in {
        a.member for a in result.artifacts if a.path == "benign.npz"
    }
    assert not [f for f in result.findings if f.path == "benign.npz" and f.severity >= Severity.HIGH]


def test_truncated_and_trailing_data(tmp_path: Path, canary: Path) -> None:
    np.save(tmp_path / "cut.npy", np.arange(1000, dtype=np.float64))
    data = (tmp_path / "cut.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(data[:-100])
    np.save(tmp_path / "tail.npy", np.arange(10, dtype=np.int32))
    (tmp_path / "tail.npy").write_bytes(
        (tmp_path / "tail.npy").read_bytes() + pickle.dumps(CanaryPayload(canary))
    )
    result = _scan(tmp_path)
    assert {(f.path, f.rule_id, f.severity) for f in _mine(result)} == {
        ("cut.npy", "MLS-NPY-002", Severity.MEDIUM),
        ("tail.npy", "MLS-NPY-003", Severity.MEDIUM),
    }
    assert_pickle_payload(result, "tail.npy", ("<npy trailing data>",))


@pytest.mark.parametrize(
    "header",
    [
        "{'descr': __import__('os').system('id'), 'fortran_order': False, 'shape': (1,)}",
        "{'descr': '<f8', 'fortran_order': False}",
        "{'descr': '<f8', 'fortran_order': False, 'shape': (-1,)}",
        "{'descr': '<q9z', 'fortran_order': False, 'shape': (1,)}",
        "[1, 2, 3]",
    ],
)
def test_malformed_headers_fail_closed(tmp_path: Path, header: str) -> None:
    (tmp_path / "bad.npy").write_bytes(_npy(header, b"\x00" * 8))
    result = _scan(tmp_path)
    assert [(f.rule_id, f.severity) for f in _mine(result)] == [("MLS-NPY-001", Severity.HIGH)]


def test_numeric_data_is_never_read(tmp_path: Path) -> None:
    path = tmp_path / "big.npy"
    np.save(path, np.zeros((2048, 2048), dtype=np.float32))  # 16 MiB
    opener, counted = counting_opener(path)

    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(HEAD_BYTES)
    ctx = ScanContext(Policy(), SCANNERS)
    ctx.start_file()
    findings = list(ctx.scan(Artifact("big.npy", (), size, head, opener)))
    assert findings == []
    assert [r.format for r in ctx.records] == ["numpy"]
    assert counted["bytes"] < 4096
