"""Compressed streams (threat 26): joblib end to end, bombs, truncation, trailing data, strict sniffs."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import tarfile
import zlib
from pathlib import Path

import joblib
import numpy as np
import pytest
from container_helpers import CanaryPayload, assert_pickle_payload, canary_pickle
from sklearn.linear_model import LogisticRegression

from mlsec_dagster import scan_path
from mlsec_dagster.engine.findings import Finding, Severity
from mlsec_dagster.engine.scan import ScanResult

JOBLIB_COMPRESSIONS = {
    "zlib": (3, "<zlib body>"),
    "lzma": (("lzma", 3), "<lzma body>"),
    "bz2": (("bz2", 3), "<bzip2 body>"),
    "gzip": (("gzip", 3), "<gzip body>"),
    "xz": (("xz", 3), "<xz body>"),
}


def _scan(tmp_path: Path) -> ScanResult:
    return scan_path(str(tmp_path), root=str(tmp_path))


def _mine(result: ScanResult) -> list[Finding]:
    return [f for f in result.findings if f.rule_id.startswith("MLS-CMP-")]


def _members(result: ScanResult, path: str) -> dict[tuple[str, ...], str]:
    return {a.member: a.format for a in result.artifacts if a.path == path}


@pytest.mark.parametrize("kind", sorted(JOBLIB_COMPRESSIONS))
def test_joblib_compressed_benign_model(tmp_path: Path, kind: str) -> None:
    compress, body = JOBLIB_COMPRESSIONS[kind]
    model = LogisticRegression().fit(np.random.default_rng(0).random((20, 3)), np.arange(20) % 2)
    joblib.dump(model, tmp_path / "model.joblib", compress=compress)
    result = _scan(tmp_path)
    assert [f for f in result.findings if f.severity >= Severity.HIGH] == []
    assert _mine(result) == []
    assert (body,) in _members(result, "model.joblib")


@pytest.mark.parametrize("kind", sorted(JOBLIB_COMPRESSIONS))
def test_joblib_compressed_payload(tmp_path: Path, canary: Path, kind: str) -> None:
    compress, body = JOBLIB_COMPRESSIONS[kind]
    joblib.dump(CanaryPayload(canary), tmp_path / "model.joblib", compress=compress)
    result = _scan(tmp_path)
    assert _mine(result) == []
    assert (body,) in _members(result, "model.joblib")
    assert_pickle_payload(result, "model.joblib", (body,))


def test_legacy_joblib_zfile_and_raw_streams(tmp_path: Path, canary: Path) -> None:
    body = canary_pickle(canary)
    (tmp_path / "old.pkl").write_bytes(b"ZF" + hex(len(body)).encode().ljust(19) + zlib.compress(body))
    (tmp_path / "raw.bin").write_bytes(zlib.compress(body))
    (tmp_path / "alone.dat").write_bytes(lzma.compress(body, format=lzma.FORMAT_ALONE))
    result = _scan(tmp_path)
    assert _mine(result) == []
    assert _members(result, "old.pkl")[()] == "compressed-joblib-zfile"
    assert _members(result, "raw.bin")[()] == "compressed-zlib"
    assert _members(result, "alone.dat")[()] == "compressed-lzma"
    for path, member in (
        ("old.pkl", "<joblib-zfile body>"),
        ("raw.bin", "<zlib body>"),
        ("alone.dat", "<lzma body>"),
    ):
        assert (member,) in _members(result, path)
        assert_pickle_payload(result, path, (member,))


def test_gzip_name_concatenated_members_and_tar_inside(tmp_path: Path, canary: Path) -> None:
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w") as tf:
        body = canary_pickle(canary)
        info = tarfile.TarInfo("ckpt/weights.dat")
        info.size = len(body)
        tf.addfile(info, io.BytesIO(body))
    raw = tar_bytes.getvalue()
    half = len(raw) // 2
    first = gzip.GzipFile(filename="model.tar", mode="wb", fileobj=(buf := io.BytesIO()))
    first.write(raw[:half])
    first.close()
    (tmp_path / "model.tgz").write_bytes(buf.getvalue() + gzip.compress(raw[half:]))
    result = _scan(tmp_path)
    assert _mine(result) == []
    members = _members(result, "model.tgz")
    assert members[("model.tar",)] == "tar"
    assert_pickle_payload(result, "model.tgz", ("model.tar", "ckpt/weights.dat"))


def test_gzip_bomb_stops_at_ratio_limit(tmp_path: Path) -> None:
    (tmp_path / "bomb.pkl.gz").write_bytes(gzip.compress(bytes(16 << 20), 9))
    result = _scan(tmp_path)
    limits = [f for f in result.findings if f.rule_id == "MLS-SCN-002"]
    assert [f.key for f in limits] == ["max_compression_ratio"]
    assert limits[0].severity is Severity.HIGH


def test_truncated_stream_is_reported_and_prefix_still_scanned(tmp_path: Path, canary: Path) -> None:
    packed = gzip.compress(canary_pickle(canary) + os.urandom(300_000))
    (tmp_path / "cut.gz").write_bytes(packed[: len(packed) // 2])
    (tmp_path / "cut.bz2").write_bytes(bz2.compress(os.urandom(1000))[:-40])
    result = _scan(tmp_path)
    hits = {(f.path, f.rule_id, f.severity) for f in _mine(result)}
    assert hits == {("cut.gz", "MLS-CMP-001", Severity.HIGH), ("cut.bz2", "MLS-CMP-001", Severity.HIGH)}
    assert_pickle_payload(result, "cut.gz", ("<gzip body>",))


def test_trailing_data_after_stream_is_scanned(tmp_path: Path, canary: Path) -> None:
    (tmp_path / "x.gz").write_bytes(gzip.compress(b"hello") + canary_pickle(canary))
    result = _scan(tmp_path)
    assert [(f.rule_id, f.severity) for f in _mine(result)] == [("MLS-CMP-003", Severity.MEDIUM)]
    assert_pickle_payload(result, "x.gz", ("<data after stream>",))


@pytest.mark.parametrize(("name", "magic"), [("m.lz4", b"\x04\x22\x4d\x18"), ("m.zst", b"\x28\xb5\x2f\xfd")])
def test_codecs_without_decoder_fail_closed(tmp_path: Path, name: str, magic: bytes) -> None:
    (tmp_path / name).write_bytes(magic + os.urandom(64))
    result = _scan(tmp_path)
    assert [(f.rule_id, f.severity) for f in _mine(result)] == [("MLS-CMP-002", Severity.HIGH)]


def test_strict_sniffs_do_not_claim_text(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x^ this is text that starts with a valid zlib header\n")
    (tmp_path / "bz.txt").write_text("BZh9 but not a bzip2 stream at all\n")
    (tmp_path / "zf.txt").write_text("ZF is a fine abbreviation\n")
    result = _scan(tmp_path)
    assert result.findings == []
    assert [a.format for a in result.artifacts if a.format.startswith("compressed")] == []
