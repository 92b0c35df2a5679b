"""Artifacts that declare licences: safetensors (real library), GGUF, wheels, and scan helpers."""

from __future__ import annotations

import base64
import hashlib
import struct
import zipfile
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

from mlsec_dagster.engine.artifact import Artifact
from mlsec_dagster.engine.context import LicenseRecord, ScanContext
from mlsec_dagster.engine.findings import Finding
from mlsec_dagster.engine.policy import Policy
from mlsec_dagster.engine.policy_file import parse_policy
from mlsec_dagster.scanners import COMPANIONS, SCANNERS
from mlsec_dagster.scanners.licenses import license_findings

DESIGN_POLICY = """\
version: "1.0"
policy:
  license_rules:
    fail_on_missing_license: true
    custom_restricted_licenses: [cc-by-nc-4.0, agpl-3.0]
"""


def policy(text: str = DESIGN_POLICY) -> Policy:
    return parse_policy(text)


def licence_rules(**rules: object) -> Policy:
    body = "".join(f"    {k}: {v}\n" for k, v in rules.items())
    return parse_policy(f'version: "1.0"\npolicy:\n  license_rules:\n{body}')


def weights(path: Path, metadata: dict[str, str] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({"layer.weight": np.arange(12, dtype=np.float32).reshape(3, 4)}, str(path), metadata=metadata)
    return path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _gstr(s: str) -> bytes:
    raw = s.encode()
    return struct.pack("<Q", len(raw)) + raw


def gguf(path: Path, licence: str | None) -> Path:
    """A small GGUF v3 file: architecture, name, optional general.license, one F32 tensor."""
    kvs = [_gstr("general.architecture") + struct.pack("<I", 8) + _gstr("llama")]
    kvs.append(_gstr("general.name") + struct.pack("<I", 8) + _gstr("acme-tiny"))
    if licence is not None:
        kvs.append(_gstr("general.license") + struct.pack("<I", 8) + _gstr(licence))
    out = b"GGUF" + struct.pack("<IQQ", 3, 1, len(kvs)) + b"".join(kvs)
    out += (
        _gstr("tok_embd.weight") + struct.pack("<I", 2) + struct.pack("<QQ", 4, 2) + struct.pack("<IQ", 0, 0)
    )
    out += b"\x00" * (-len(out) % 32)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(out + np.zeros(8, dtype=np.float32).tobytes())
    return path


def wheel(path: Path, metadata_headers: str) -> Path:
    """A valid pure wheel (RECORD with hashes) whose METADATA carries the given licence headers."""
    info = "acmetool-1.0.dist-info"
    files = {
        "acmetool/__init__.py": b"def main():\n    return 0\n",
        f"{info}/METADATA": (
            f"Metadata-Version: 2.4\nName: acmetool\nVersion: 1.0\n{metadata_headers}\nAcme tool.\n"
        ).encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    rows = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        rows.append(f"{name},sha256={digest},{len(data)}")
    rows.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = ("\n".join(rows) + "\n").encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def declarations(root: Path) -> list[LicenseRecord]:
    """What the collectors record for every file under ``root`` (no policy judgement)."""
    ctx = ScanContext(Policy(), SCANNERS, COMPANIONS)
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        ctx.start_file()
        list(ctx.scan(Artifact.from_file(str(file), file.relative_to(root).as_posix())))
    return ctx.licenses


def scan_single(root: Path, rel: str, pol: Policy) -> list[Finding]:
    """A Dagster check's view: one model file scanned, its folder's card/LICENSE read by the post-pass
    (what ``scan_path`` does once it passes ``root``/``scanned`` to ``license_findings``)."""
    ctx = ScanContext(pol, SCANNERS, COMPANIONS)
    ctx.start_file()
    list(ctx.scan(Artifact.from_file(str(root / rel), rel)))
    return list(license_findings(ctx.licenses, ctx.records, pol, root=root, scanned=[rel]))


def lic(findings: list[Finding]) -> list[tuple[str, str, str, int | None]]:
    return sorted(
        (f.rule_id, f.severity.name, f.path, f.location.line)
        for f in findings
        if f.rule_id.startswith("MLS-LIC")
    )
