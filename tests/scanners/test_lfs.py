"""Git LFS pointers: a checkout without LFS must fail the gate, not pass it silently."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlsec_dagster import scan_path
from mlsec_dagster.engine.findings import Severity

OID = "4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393"
POINTER = f"version https://git-lfs.github.com/spec/v1\noid sha256:{OID}\nsize 12345\n"


def test_pointer_named_like_weights_is_high(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").write_text(POINTER)
    (tmp_path / "weights.pt").write_text(POINTER.replace("size 12345", "ext-0-foo sha256:x\nsize 9"))
    result = scan_path(str(tmp_path), root=str(tmp_path))
    hits = sorted((f.path, f.rule_id, f.severity) for f in result.findings)
    assert hits == [
        ("model.safetensors", "MLS-LFS-001", Severity.HIGH),
        ("weights.pt", "MLS-LFS-002", Severity.HIGH),  # keys out of order
    ]
    first = next(f for f in result.findings if f.path == "model.safetensors")
    assert OID in first.evidence and "size 12345" in first.evidence
    assert "git lfs pull" in first.message
    assert {a.format for a in result.artifacts} == {"lfs"}


@pytest.mark.parametrize(
    "text",
    [
        POINTER.replace(OID, OID[:-1]),
        POINTER.replace("size 12345\n", ""),
        POINTER.replace("size 12345", "size twelve"),
        POINTER.replace("oid sha256", "oid md5"),
        POINTER + "x" * 2000,
        "version https://git-lfs.github.com/spec/v9\n" + POINTER.split("\n", 1)[1],
    ],
)
def test_malformed_pointer_is_reported(tmp_path: Path, text: str) -> None:
    (tmp_path / "model.bin").write_text(text)
    result = scan_path(str(tmp_path), root=str(tmp_path))
    assert [(f.rule_id, f.severity) for f in result.findings] == [("MLS-LFS-002", Severity.HIGH)]


def test_text_mentioning_lfs_is_not_a_pointer(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("Fetch with git lfs.\n" + POINTER)
    (tmp_path / "notes.txt").write_text("version 1.2\nsize 3\n")
    result = scan_path(str(tmp_path), root=str(tmp_path))
    assert result.findings == []
    assert [a for a in result.artifacts if a.format == "lfs"] == []
