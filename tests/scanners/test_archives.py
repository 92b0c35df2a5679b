"""Zip, tar and uninspected archives: real checkpoints pass, every trick from threats 23-27 is reported."""

from __future__ import annotations

import io
import os
import pickle
import stat
import struct
import tarfile
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from container_helpers import assert_pickle_payload, canary_pickle

from mlsec_dagster import Policy, scan_path
from mlsec_dagster.engine.artifact import HEAD_BYTES, Artifact
from mlsec_dagster.engine.context import ScanContext
from mlsec_dagster.engine.findings import Finding, Severity
from mlsec_dagster.engine.limits import Limits
from mlsec_dagster.engine.scan import ScanResult
from mlsec_dagster.scanners import SCANNERS


def _scan(tmp_path: Path) -> ScanResult:
    return scan_path(str(tmp_path), root=str(tmp_path))


def _mine(result: ScanResult, prefix: str = "MLS-ARC-") -> list[Finding]:
    return [f for f in result.findings if f.rule_id.startswith(prefix)]


def _rules(result: ScanResult, prefix: str = "MLS-ARC-") -> set[str]:
    return {f.rule_id for f in _mine(result, prefix)}


def _zip(path: Path, members: dict[str, bytes], method: int = zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


# -- benign -------------------------------------------------------------------------------------------
def test_torch_checkpoints_and_npz_have_no_archive_findings(tmp_path: Path) -> None:
    torch.save({"w": torch.zeros(4, 4), "b": torch.ones(4)}, tmp_path / "model.pt")
    torch.save({"w": torch.zeros(2)}, tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    np.savez(tmp_path / "plain.npz", x=np.arange(5), y=np.ones((3, 3)))
    np.savez_compressed(tmp_path / "packed.npz", x=np.arange(5), y=np.zeros((50, 50)))
    result = _scan(tmp_path)
    assert _mine(result) == []
    assert not [f for f in result.findings if f.rule_id == "MLS-SCN-002"]
    formats = {(a.path, a.member): a.format for a in result.artifacts}
    assert formats[("model.pt", ())] == "zip"
    assert ("model.pt", ("model/data.pkl",)) in formats
    assert formats[("plain.npz", ("y.npy",))] == "numpy"
    assert formats[("packed.npz", ("y.npy",))] == "numpy"
    assert formats[("legacy.pt", ())] != "zip"


def test_large_stored_member_is_never_read(tmp_path: Path) -> None:
    path = tmp_path / "big.pt"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("archive/data.pkl", pickle.dumps({"w": 1}, protocol=2))
        with zf.open("archive/data/0", "w", force_zip64=True) as member:
            block = b"\x01" * (1 << 20)
            for _ in range(24):
                member.write(block)
    counted = {"bytes": 0}

    class Counting(io.FileIO):
        def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
            n = super().readinto(buffer) or 0
            counted["bytes"] += n
            return n

        def read(self, size: int | None = -1) -> bytes:
            data = super().read(size if size is not None else -1) or b""
            counted["bytes"] += len(data)
            return data

    size = path.stat().st_size
    artifact = Artifact("big.pt", (), size, b"PK\x03\x04", lambda: Counting(str(path), "rb"))
    ctx = ScanContext(Policy(), SCANNERS)
    ctx.start_file()
    findings = list(ctx.scan(artifact))
    assert not [f for f in findings if f.severity >= Severity.HIGH]
    assert {r.member for r in ctx.records} >= {(), ("archive/data.pkl",)}
    assert counted["bytes"] < 4 * HEAD_BYTES, counted["bytes"]
    assert size > 24 * (1 << 20)


# -- pickles wherever they hide -----------------------------------------------------------------------
def test_pickle_in_renamed_folder_and_txt_member(tmp_path: Path, canary: Path) -> None:
    _zip(
        tmp_path / "weights.png",
        {
            "renamed/data.pkl": canary_pickle(canary),
            "renamed/version": b"3\n",
            "renamed/payload.txt": canary_pickle(canary),
        },
    )
    result = _scan(tmp_path)
    assert _mine(result) == []
    members = {a.member for a in result.artifacts if a.path == "weights.png"}
    assert {("renamed/data.pkl",), ("renamed/payload.txt",)} <= members
    assert_pickle_payload(result, "weights.png", ("renamed/payload.txt",))


def test_nested_zip_inside_tar_inside_deflated_zip(tmp_path: Path, canary: Path) -> None:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zf:
        zf.writestr("archive/data.pkl", canary_pickle(canary))
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w") as tf:
        info = tarfile.TarInfo("model.pt")
        info.size = len(inner.getvalue())
        tf.addfile(info, io.BytesIO(inner.getvalue()))
    _zip(tmp_path / "bundle.zip", {"ckpt.tar": tar_bytes.getvalue()}, zipfile.ZIP_DEFLATED)
    result = _scan(tmp_path)
    chain = ("ckpt.tar", "model.pt", "archive/data.pkl")
    assert ("bundle.zip", chain) in {(a.path, a.member) for a in result.artifacts}
    assert _mine(result) == []
    assert_pickle_payload(result, "bundle.zip", chain)


# -- zip tricks -----------------------------------------------------------------------------------------
def _patch(path: Path, old: bytes, new: bytes, count: int = 1) -> None:
    data = path.read_bytes()
    assert data.count(old) >= count
    path.write_bytes(data.replace(old, new, count))


def test_local_header_name_mismatch(tmp_path: Path, canary: Path) -> None:
    path = _zip(tmp_path / "m.pt", {"archive/data.pkl": canary_pickle(canary)})
    _patch(path, b"archive/data.pkl", b"archive/evil.pkl", 1)  # first occurrence: the local header
    result = _scan(tmp_path)
    hits = [f for f in _mine(result) if f.rule_id == "MLS-ARC-002"]
    assert len(hits) == 1 and hits[0].severity is Severity.HIGH
    assert hits[0].location.member == ("archive/data.pkl",)
    assert_pickle_payload(result, "m.pt", ("archive/data.pkl",))


def _set_flags(path: Path, flags: int) -> None:
    data = bytearray(path.read_bytes())
    for sig, at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        pos = data.find(sig)
        struct.pack_into("<H", data, pos + at, flags)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_encrypted_flag_is_reported_and_member_still_read(tmp_path: Path, canary: Path, method: int) -> None:
    path = _zip(tmp_path / "m.pt", {"archive/data.pkl": canary_pickle(canary)}, method)
    _set_flags(path, 0x0001)
    with pytest.raises(RuntimeError), zipfile.ZipFile(path) as zf:
        zf.read("archive/data.pkl")  # what blinded zipfile-based scanners
    result = _scan(tmp_path)
    hits = [f for f in _mine(result) if f.rule_id == "MLS-ARC-003"]
    assert [(f.severity, f.location.member) for f in hits] == [(Severity.MEDIUM, ("archive/data.pkl",))]
    assert "MLS-ARC-012" not in _rules(result)
    assert_pickle_payload(result, "m.pt", ("archive/data.pkl",))


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_bad_crc(tmp_path: Path, canary: Path, method: int) -> None:
    body = canary_pickle(canary)
    path = _zip(tmp_path / "m.pt", {"archive/data.pkl": body}, method)
    good = struct.pack("<L", zlib.crc32(body))
    _patch(path, good, struct.pack("<L", zlib.crc32(body) ^ 1), 2)
    result = _scan(tmp_path)
    hits = [f for f in _mine(result) if f.rule_id == "MLS-ARC-004"]
    assert [(f.severity, f.location.member) for f in hits] == [(Severity.MEDIUM, ("archive/data.pkl",))]
    assert_pickle_payload(result, "m.pt", ("archive/data.pkl",))


def test_spanned_marker_duplicates_traversal_and_symlink(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("a.txt", b"one")
        zf.writestr("a.txt", b"two")
        zf.writestr("../../home/user/.bashrc", b"echo hi")
        link = zipfile.ZipInfo("link")
        link.create_system = 3
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, b"/etc/passwd")
    (tmp_path / "odd.zip").write_bytes(b"PK\x07\x08" + buffer.getvalue())
    result = _scan(tmp_path)
    by_rule = {(f.rule_id, f.location.member, f.severity) for f in _mine(result)}
    assert by_rule == {
        ("MLS-ARC-005", (), Severity.MEDIUM),
        ("MLS-ARC-006", ("a.txt",), Severity.HIGH),
        ("MLS-ARC-007", ("../../home/user/.bashrc",), Severity.HIGH),
        ("MLS-ARC-008", ("link",), Severity.HIGH),
    }


def test_data_after_zip_is_reported_and_scanned(tmp_path: Path, canary: Path) -> None:
    path = _zip(tmp_path / "m.pt", {"archive/version": b"3\n"})
    path.write_bytes(path.read_bytes() + canary_pickle(canary))
    result = _scan(tmp_path)
    hits = [f for f in _mine(result) if f.rule_id == "MLS-ARC-010"]
    assert len(hits) == 1 and hits[0].key == "<data after zip>"
    assert ("m.pt", ("<data after zip>",)) in {(a.path, a.member) for a in result.artifacts}
    assert_pickle_payload(result, "m.pt", ("<data after zip>",))


def test_unsupported_method_and_overlap(tmp_path: Path) -> None:
    path = _zip(tmp_path / "m.zip", {"a.bin": b"x" * 100, "b.bin": b"y" * 100})
    data = bytearray(path.read_bytes())
    central = data.find(b"PK\x01\x02")
    struct.pack_into("<H", data, central + 10, 93)  # method 93 = zstd, which we do not decode
    second = data.find(b"PK\x01\x02", central + 4)
    struct.pack_into("<L", data, second + 42, 0)  # b.bin now points at a.bin's header
    path.write_bytes(bytes(data))
    result = _scan(tmp_path)
    assert {"MLS-ARC-009", "MLS-ARC-011", "MLS-ARC-002"} <= _rules(result)
    unsupported = next(f for f in _mine(result) if f.rule_id == "MLS-ARC-009")
    assert unsupported.severity is Severity.HIGH and unsupported.location.member == ("a.bin",)


def test_unparseable_zip_fails_closed(tmp_path: Path) -> None:
    (tmp_path / "m.pt").write_bytes(b"PK\x03\x04" + os.urandom(200))
    result = _scan(tmp_path)
    assert [(f.rule_id, f.severity) for f in _mine(result)] == [("MLS-ARC-001", Severity.HIGH)]


def test_truncated_deflated_member(tmp_path: Path) -> None:
    body = b",".join(str(i * i).encode() for i in range(3000))
    path = _zip(tmp_path / "m.zip", {"a.bin": body}, zipfile.ZIP_DEFLATED)
    data = bytearray(path.read_bytes())
    central = data.find(b"PK\x01\x02")
    csize = struct.unpack_from("<L", data, central + 20)[0]
    struct.pack_into("<L", data, central + 20, csize // 2)  # the directory now cuts the stream in half
    path.write_bytes(bytes(data))
    result = _scan(tmp_path)
    hits = [f for f in _mine(result) if f.rule_id == "MLS-ARC-012"]
    assert [(f.severity, f.location.member) for f in hits] == [(Severity.HIGH, ("a.bin",))]
    assert "truncated" in hits[0].evidence


# -- bombs and budgets --------------------------------------------------------------------------------
def test_ratio_bomb_stops_at_the_limit(tmp_path: Path) -> None:
    _zip(tmp_path / "bomb.zip", {"zeros.pkl": bytes(8 << 20)}, zipfile.ZIP_DEFLATED)
    result = _scan(tmp_path)
    limits = [f for f in result.findings if f.rule_id == "MLS-SCN-002"]
    assert limits and limits[0].key == "max_compression_ratio"
    assert limits[0].location.member == ("zeros.pkl",)


def test_nesting_beyond_depth_is_a_limit_finding(tmp_path: Path) -> None:
    data = pickle.dumps([1, 2, 3], protocol=2)
    for level in range(8):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as zf:
            zf.writestr(f"level{level}.zip" if level else "data.pkl", data)
        data = buffer.getvalue()
    (tmp_path / "deep.zip").write_bytes(data)
    result = _scan(tmp_path)
    limits = [f for f in result.findings if f.rule_id == "MLS-SCN-002"]
    assert [f.key for f in limits] == ["max_nesting_depth"]


def test_member_count_limit(tmp_path: Path) -> None:
    _zip(tmp_path / "many.zip", {f"m{i}.txt": b"x" for i in range(30)})
    policy = Policy(limits=Limits(max_archive_members=10))
    result = scan_path(str(tmp_path), root=str(tmp_path), policy=policy)
    assert [f.key for f in result.findings if f.rule_id == "MLS-SCN-002"] == ["max_archive_members"]
    assert len([a for a in result.artifacts if a.path == "many.zip"]) == 1


# -- tar and friends ----------------------------------------------------------------------------------
def test_tar_members_links_and_traversal(tmp_path: Path, canary: Path) -> None:
    path = tmp_path / "ckpt.tar"
    with tarfile.open(path, "w") as tf:
        body = canary_pickle(canary)
        info = tarfile.TarInfo("weights.png")
        info.size = len(body)
        tf.addfile(info, io.BytesIO(body))
        for name, kind, target in (("ln", tarfile.SYMTYPE, "/etc/passwd"), ("hard", tarfile.LNKTYPE, "x")):
            link = tarfile.TarInfo(name)
            link.type, link.linkname = kind, target
            tf.addfile(link)
        escape = tarfile.TarInfo("../../evil.sh")
        escape.size = 2
        tf.addfile(escape, io.BytesIO(b"hi"))
    result = _scan(tmp_path)
    by_rule = {(f.rule_id, f.location.member) for f in _mine(result)}
    assert by_rule == {
        ("MLS-ARC-008", ("ln",)),
        ("MLS-ARC-007", ("ln",)),
        ("MLS-ARC-008", ("hard",)),
        ("MLS-ARC-007", ("../../evil.sh",)),
    }
    assert ("ckpt.tar", ("weights.png",)) in {(a.path, a.member) for a in result.artifacts}
    assert_pickle_payload(result, "ckpt.tar", ("weights.png",))


def test_corrupt_tar_fails_closed(tmp_path: Path) -> None:
    path = tmp_path / "x.tar"
    with tarfile.open(path, "w") as tf:
        for i in range(3):
            info = tarfile.TarInfo(f"f{i}")
            info.size = 600
            tf.addfile(info, io.BytesIO(b"z" * 600))
    data = bytearray(path.read_bytes())
    data[1536 + 148 : 1536 + 156] = b"9999999\x00"  # break the second header's checksum
    path.write_bytes(bytes(data))
    result = _scan(tmp_path)
    assert "MLS-ARC-001" in _rules(result)


def test_7z_is_not_inspected(tmp_path: Path) -> None:
    (tmp_path / "model.7z").write_bytes(b"7z\xbc\xaf\x27\x1c\x00\x04" + os.urandom(100))
    result = _scan(tmp_path)
    assert [(f.rule_id, f.severity) for f in _mine(result)] == [("MLS-ARC-013", Severity.HIGH)]


def test_zip64_directory_and_extra_fields(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, canary: Path
) -> None:
    # Shrink zipfile's ZIP64 thresholds so a small archive gets a ZIP64 end record and ZIP64 extras.
    monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 1)
    monkeypatch.setattr(zipfile, "ZIP64_LIMIT", 16)
    _zip(
        tmp_path / "m.pt",
        {"archive/version": b"3\n", "archive/data.pkl": canary_pickle(canary)},
        zipfile.ZIP_DEFLATED,
    )
    monkeypatch.undo()
    data = (tmp_path / "m.pt").read_bytes()
    assert b"PK\x06\x06" in data and b"PK\x06\x07" in data
    result = _scan(tmp_path)
    assert _mine(result) == []
    assert {a.member for a in result.artifacts if a.path == "m.pt"} >= {(), ("archive/data.pkl",)}
    assert_pickle_payload(result, "m.pt", ("archive/data.pkl",))


def test_symlink_flagged_member_is_still_scanned(tmp_path: Path, canary: Path) -> None:
    # miniz ignores the unix mode, so torch.load would read this "link" as the pickle it contains.
    with zipfile.ZipFile(tmp_path / "m.pt", "w") as zf:
        info = zipfile.ZipInfo("archive/data.pkl")
        info.create_system = 3
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, canary_pickle(canary))
    result = _scan(tmp_path)
    assert [(f.rule_id, f.location.member) for f in _mine(result)] == [("MLS-ARC-008", ("archive/data.pkl",))]
    assert_pickle_payload(result, "m.pt", ("archive/data.pkl",))


def test_torchscript_archive_has_no_archive_findings(tmp_path: Path) -> None:
    torch.jit.save(torch.jit.script(torch.nn.Linear(3, 2)), str(tmp_path / "scripted.pt"))
    result = _scan(tmp_path)
    assert _mine(result) == []
    members = {a.member for a in result.artifacts if a.path == "scripted.pt"}
    assert any(m and m[-1].endswith("constants.pkl") for m in members)


def test_local_entry_missing_from_directory_is_found(tmp_path: Path, canary: Path) -> None:
    path = _zip(
        tmp_path / "m.pt", {"archive/version": b"3\n", "hidden.pkl": canary_pickle(canary), "archive/x": b"1"}
    )
    data = path.read_bytes()
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
    cd_start = data.find(b"PK\x01\x02")
    entries = [cd_start, data.find(b"PK\x01\x02", cd_start + 4), -1]
    entries[2] = data.find(b"PK\x01\x02", entries[1] + 4)
    eocd = data.rfind(b"PK\x05\x06")
    kept = data[entries[0] : entries[1]] + data[entries[2] : eocd]
    tail = bytearray(data[eocd:])
    struct.pack_into("<HHL", tail, 8, 2, 2, len(kept))
    path.write_bytes(data[:cd_start] + kept + bytes(tail))
    assert infos[1].filename == "hidden.pkl"
    result = _scan(tmp_path)
    hits = [f for f in _mine(result) if f.rule_id == "MLS-ARC-010"]
    assert [f.key for f in hits] == ["<data between members>"]
    assert hits[0].location.offset == infos[1].header_offset
    assert ("m.pt", ("<data between members>",)) in {(a.path, a.member) for a in result.artifacts}
