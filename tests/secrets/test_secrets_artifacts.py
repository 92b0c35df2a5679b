"""Secrets inside binary artifacts: safetensors metadata, GGUF metadata, pickle string constants."""

from __future__ import annotations

import os
import pickle
import struct
from pathlib import Path

import torch
from safetensors.torch import save_file
from secret_tokens import Tokens

from mlsec_dagster import scan_path
from mlsec_dagster.engine.findings import Finding


def secret_findings(path: Path) -> list[Finding]:
    return [f for f in scan_path(path, root=path.parent).findings if f.rule_id.startswith("MLS-SEC")]


def test_safetensors_metadata(tmp_path: Path) -> None:
    t = Tokens(11)
    token = t.hf()
    save_file(
        {"w": torch.zeros(2, 2)},
        str(tmp_path / "model.safetensors"),
        metadata={"format": "pt", "pushed_with": token, "license": "apache-2.0"},
    )
    findings = secret_findings(tmp_path / "model.safetensors")
    assert [(f.rule_id, f.location.field, f.location.offset) for f in findings] == [
        ("MLS-SEC-004", "pushed_with", 8)
    ]
    assert "safetensors metadata value 'pushed_with'" in findings[0].message


def _gstr(s: str) -> bytes:
    raw = s.encode()
    return struct.pack("<Q", len(raw)) + raw


def test_gguf_metadata_string(tmp_path: Path) -> None:
    token = Tokens(12).github()
    kvs = [
        _gstr("general.architecture") + struct.pack("<I", 8) + _gstr("llama"),
        _gstr("general.description") + struct.pack("<I", 8) + _gstr(f"converted by ci with {token}"),
    ]
    data = b"GGUF" + struct.pack("<IQQ", 3, 0, len(kvs)) + b"".join(kvs)
    data += b"\x00" * (-len(data) % 32)
    (tmp_path / "model.gguf").write_bytes(data)
    findings = secret_findings(tmp_path / "model.gguf")
    assert [(f.rule_id, f.location.field) for f in findings] == [("MLS-SEC-007", "general.description")]
    offset = findings[0].location.offset
    assert offset is not None and data[offset + 8 : offset + 8 + 20].startswith(b"converted by ci")


class _Payload:
    def __init__(self, canary: Path) -> None:
        self.canary = canary

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (f"touch {self.canary}",)


def test_pickle_string_constants(tmp_path: Path, canary: Path) -> None:
    t = Tokens(13)
    key, password = t.openai(), t.password()
    config = {"model": "gpt-4o-mini", "openai_api_key": key, "db_password": password, "lr": 3e-4}
    (tmp_path / "config.pkl").write_bytes(pickle.dumps(config, protocol=4))
    findings = secret_findings(tmp_path / "config.pkl")
    assert sorted((f.rule_id, f.location.field) for f in findings) == [
        ("MLS-SEC-005", "openai_api_key"),
        ("MLS-SEC-017", "db_password"),
    ]
    (tmp_path / "hostile.pkl").write_bytes(pickle.dumps({"hf": Tokens(14).hf(), "x": _Payload(canary)}))
    result = scan_path(tmp_path / "hostile.pkl", root=tmp_path)
    rules = {f.rule_id for f in result.findings}
    assert "MLS-SEC-004" in rules and any(r.startswith("MLS-PKL") for r in rules)


def test_torch_checkpoint_without_secrets_is_clean(tmp_path: Path) -> None:
    torch.save({"state_dict": torch.nn.Linear(4, 2).state_dict(), "epoch": 3}, tmp_path / "ckpt.pt")
    assert secret_findings(tmp_path / "ckpt.pt") == []
