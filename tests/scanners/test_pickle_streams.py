"""Sniffing, stream reading and evidence: strict recognition, no reading of large payloads."""

from __future__ import annotations

import io
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from mlsec_dagster import scan_path
from mlsec_dagster.engine.artifact import Artifact
from mlsec_dagster.engine.findings import Severity
from mlsec_dagster.scanners.pickle import SCANNER
from mlsec_dagster.scanners.pickle.opcodes import BIG_PAYLOAD, Blob, OpReader, PickleFormatError


def artifact_of(data: bytes, name: str = "blob") -> Artifact:
    return Artifact(
        path=name, member=(), size=len(data), head=data[: 64 * 1024], open=lambda: io.BytesIO(data)
    )


NOT_PICKLES = {
    "python": b"import os\nimport sys\n\ndef main():\n    print('hello')\n",
    "python_class": b"class Model:\n    pass\n",
    "text": b"The quick brown fox jumps over the lazy dog.\n" * 20,
    "csv": b"a,b,c\n1,2,3\n4,5,6\n",
    "json": b'{"architectures": ["Bert"], "hidden_size": 768}',
    "paren_text": b"(hello) this is not a pickle\n",
    "number_line": b"I1\nhello",
    "none_dot": b"N.",
    "yaml": b"cmodel: x\nsystem: y\n",
}


@pytest.mark.parametrize("name", list(NOT_PICKLES))
def test_sniff_rejects_non_pickles(name: str) -> None:
    assert not SCANNER.sniff(artifact_of(NOT_PICKLES[name]))


def test_sniff_rejects_random_float_tensor_bytes() -> None:
    rng = np.random.default_rng(1234)
    for i in range(3000):
        data = rng.standard_normal(256).astype(np.float32 if i % 2 else np.float16).tobytes()
        if i % 3 == 0:
            data = b"\x80" + bytes([2 + i % 4]) + data  # the worst case: a PROTO-looking start
        assert not SCANNER.sniff(artifact_of(data)), data[:16].hex()


def test_sniff_rejects_torch_zip_data_members(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    torch.save({"w": torch.randn(64, 64), "i": torch.arange(100)}, str(tmp_path / "m.pt"))
    with zipfile.ZipFile(tmp_path / "m.pt") as archive:
        for member in archive.namelist():
            if "/data/" in member:
                assert not SCANNER.sniff(artifact_of(archive.read(member), member))


@pytest.mark.parametrize("protocol", range(6))
def test_sniff_accepts_every_protocol(protocol: int) -> None:
    objects: list[object] = [{"a": [1, 2.5, "x"]}, [None, True]]
    if protocol >= 2:
        objects += ["text", 3]  # protocol 0/1 scalars are two opcodes: too little to tell from text
    for obj in objects:
        assert SCANNER.sniff(artifact_of(pickle.dumps(obj, protocol=protocol)))


def test_large_payloads_are_skipped_not_read() -> None:
    big = b"\x80\x04\x8e" + struct.pack("<Q", BIG_PAYLOAD * 3) + b"\0" * (BIG_PAYLOAD * 3) + b"."
    reader = OpReader(io.BytesIO(big), len(big))
    assert reader.next().name == "PROTO"
    op = reader.next()
    assert isinstance(op.arg, Blob) and op.arg.length == BIG_PAYLOAD * 3 and op.arg.offset == 11
    assert reader.next().name == "STOP"


def test_declared_length_past_end_is_an_error_before_allocation() -> None:
    data = b"\x80\x04B" + struct.pack("<I", 0xFFFFFFF0) + b"abc"
    reader = OpReader(io.BytesIO(data), len(data))
    reader.next()
    with pytest.raises(PickleFormatError) as info:
        reader.next()
    assert info.value.truncated and info.value.pos == 2


def test_big_benign_pickle_scans_fast(tmp_path: Path) -> None:
    path = tmp_path / "blob.pkl"
    path.write_bytes(
        pickle.dumps({"blob": b"\1" * (20 * BIG_PAYLOAD), "text": "y" * (3 * BIG_PAYLOAD)}, protocol=5)
    )
    result = scan_path(str(path), root=str(tmp_path))
    assert not result.findings and result.duration_seconds < 5


def test_evidence_has_decompiled_source_and_opcodes(tmp_path: Path, canary: Path) -> None:
    data = f"cos\nsystem\n(S'touch {canary}'\ntR.".encode()
    path = tmp_path / "x.pkl"
    path.write_bytes(data)
    (hit,) = [f for f in scan_path(str(path), root=str(tmp_path)).findings if f.rule_id == "MLS-PKL-001"]
    assert hit.severity is Severity.CRITICAL and hit.key == "os.system"
    assert "from os import system" in hit.evidence  # fickling
    assert "GLOBAL" in hit.evidence and len(hit.evidence) < 4096


def test_benign_trailing_bytes_are_low_only(tmp_path: Path) -> None:
    path = tmp_path / "x.pkl"
    path.write_bytes(pickle.dumps([1, 2], protocol=2) + b"\n\n   some trailing notes\n")
    findings = scan_path(str(path), root=str(tmp_path)).findings
    assert [(f.rule_id, f.severity) for f in findings] == [("MLS-PKL-007", Severity.LOW)]
