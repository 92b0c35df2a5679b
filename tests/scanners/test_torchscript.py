"""TorchScript archive ``code/`` members (threat 33). The pickles beside them are the pickle scanner's."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
import torch

from mlsec_dagster import scan_path
from mlsec_dagster.engine.artifact import Artifact
from mlsec_dagster.engine.context import ScanContext
from mlsec_dagster.engine.findings import Finding, Severity
from mlsec_dagster.engine.policy import Policy
from mlsec_dagster.scanners import SCANNERS


class Tiny(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.linear(x)
        if bool(y.sum() > 0):
            y = torch.relu(y)
        return torch.ops.aten.add(y, 1)


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ts") / "tiny.pt"
    torch.jit.save(torch.jit.script(Tiny()), str(path))
    return path


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def scan_member(name: str, data: bytes) -> tuple[list[Finding], list[str]]:
    artifact = Artifact(
        path="tiny.pt",
        member=(name,),
        size=len(data),
        head=data[:65536],
        open=lambda: io.BytesIO(data),
        depth=1,
    )
    ctx = ScanContext(Policy(), SCANNERS)
    return list(ctx.scan(artifact)), [r.format for r in ctx.records]


def code_member(path: Path) -> str:
    return next(n for n in members(path) if n.endswith("/code/__torch__/test_torchscript.py"))


def tampered(path: Path, extra: str) -> bytes:
    """The main code member with ``extra`` lines appended to forward()."""
    source = members(path)[code_member(path)].decode()
    head, _, tail = source.rpartition("    return ")
    return (head + "".join(f"    {line}\n" for line in extra.splitlines()) + "    return " + tail).encode()


def test_real_archive_code_members_are_clean(archive: Path) -> None:
    code = [n for n in members(archive) if "/code/" in n and n.endswith(".py")]
    assert len(code) >= 2
    for name in code:
        findings, formats = scan_member(name, members(archive)[name])
        assert findings == [] and formats == ["torchscript_code"]


def test_python_internals_are_high(archive: Path, canary: Path) -> None:
    data = tampered(archive, f'os.system("touch {canary}")\nz = x.__class__.__mro__')
    findings, _ = scan_member(code_member(archive), data)
    got = {(f.rule_id, f.severity, f.key) for f in findings}
    assert ("MLS-TSC-001", Severity.HIGH, "os.system") in got
    assert ("MLS-TSC-001", Severity.HIGH, "__mro__") in got
    line = next(f.location.line for f in findings if f.key == "os.system")
    assert line is not None and "os.system" in data.decode().splitlines()[line - 1]


@pytest.mark.parametrize(
    ("extra", "rule", "severity", "key"),
    [
        ("z = torch.ops.evil_ns.run(x)", "MLS-TSC-002", Severity.MEDIUM, "evil_ns::run"),
        ("z = ops.my_lib.op(x)", "MLS-TSC-002", Severity.MEDIUM, "my_lib::op"),
        ('z = torch.from_file("/etc/passwd", False, 10)', "MLS-TSC-003", Severity.HIGH, "aten::from_file"),
        ('z = ops.aten.save(x, "/tmp/out")', "MLS-TSC-003", Severity.HIGH, "aten::save"),
    ],
)
def test_custom_and_file_ops(archive: Path, extra: str, rule: str, severity: Severity, key: str) -> None:
    findings, _ = scan_member(code_member(archive), tampered(archive, extra))
    assert [(f.rule_id, f.severity, f.key) for f in findings] == [(rule, severity, key)]


def test_unparseable_code_member(archive: Path) -> None:
    findings, _ = scan_member(code_member(archive), b"def forward(self:\n  return (\n")
    assert [(f.rule_id, f.severity) for f in findings] == [("MLS-TSC-004", Severity.MEDIUM)]


def test_py_files_outside_code_folder_are_not_claimed() -> None:
    _, formats = scan_member("archive/helpers.py", b"import os\nos.system('x')\n")
    assert "torchscript_code" not in formats


def test_end_to_end_tampered_archive(archive: Path, tmp_path: Path, canary: Path) -> None:
    """Passes once the zip scanner hands members to scan_child."""
    out = tmp_path / "tampered.pt"
    target = code_member(archive)
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in members(archive).items():
            zf.writestr(name, tampered(archive, f'os.system("touch {canary}")') if name == target else data)
    findings = scan_path(out).findings
    hits = [f for f in findings if f.rule_id == "MLS-TSC-001"]
    assert hits and hits[0].location.member == (target,)
    clean = scan_path(archive).findings
    assert not [f for f in clean if f.rule_id.startswith("MLS-TSC")]
