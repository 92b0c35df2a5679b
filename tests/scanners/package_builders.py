"""Real wheels and sdists for the package scanner tests: built by setuptools from tiny local projects
(benign code only; nothing malicious is ever built or run), then rewritten into malicious variants."""

from __future__ import annotations

import base64
import csv
import gzip
import hashlib
import io
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from pathlib import Path

from mlsec_dagster import ScanResult, scan_path
from mlsec_dagster.engine.findings import Finding

PLAIN_SETUP = """\
from setuptools import setup

setup(
    name="mytool",
    version="1.0",
    packages=["mytool"],
    install_requires=["requests>=2.31"],
    entry_points={"console_scripts": ["mytool=mytool:main"]},
)
"""


def make_project(root: Path, setup_py: str = PLAIN_SETUP, files: dict[str, bytes] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "setup.py").write_text(textwrap.dedent(setup_py))
    (root / "mytool").mkdir(exist_ok=True)
    (root / "mytool" / "__init__.py").write_text("def main():\n    print('mytool')\n")
    for name, data in (files or {}).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def _setup(project: Path, *args: str) -> None:
    subprocess.run(
        [sys.executable, "setup.py", "-q", *args],
        cwd=project,
        check=True,
        capture_output=True,
        timeout=120,
    )


def build_wheel(project: Path, out: Path, *extra: str) -> Path:
    _setup(project, "bdist_wheel", "-d", str(out), *extra)
    return next(out.glob("*.whl"))


def build_sdist(project: Path, out: Path, fmt: str = "gztar") -> Path:
    _setup(project, "sdist", "-d", str(out), f"--formats={fmt}")
    return next(p for p in out.iterdir() if p.name.endswith((".tar.gz", ".zip")))


def record_line(name: str, data: bytes) -> list[str]:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return [name, f"sha256={digest}", str(len(data))]


def rewrite_wheel(
    src: Path,
    dst: Path,
    *,
    replace: dict[str, bytes | None] | None = None,
    add: dict[str, bytes] | None = None,
    fix_record: bool = True,
) -> Path:
    """Copy a wheel, replacing/removing/adding members; ``fix_record`` rewrites RECORD to match."""
    replace, add = replace or {}, add or {}
    with zipfile.ZipFile(src) as zin:
        members = {i.filename: zin.read(i) for i in zin.infolist()}
    record_name = next(n for n in members if n.endswith(".dist-info/RECORD"))
    for name, data in replace.items():
        if data is None:
            members.pop(name, None)
        else:
            members[name] = data
    members.update(add)
    if fix_record and record_name in members:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        for name, data in members.items():
            if name != record_name:
                writer.writerow(record_line(name, data))
        writer.writerow([record_name, "", ""])
        members[record_name] = out.getvalue().encode()
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for name, data in members.items():
            zout.writestr(name, data)
    return dst


def rewrite_sdist(src: Path, dst: Path, files: dict[str, bytes]) -> Path:
    """Copy a .tar.gz sdist, replacing or adding files (paths relative to its top folder)."""
    with tarfile.open(src, "r:gz") as tin:
        top = tin.getnames()[0].split("/")[0]
        members = [(m, tin.extractfile(m).read() if m.isreg() else None) for m in tin.getmembers()]  # type: ignore[union-attr]
    wanted = {f"{top}/{k}": v for k, v in files.items()}
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tout:
        for info, data in members:
            if info.name in wanted:
                data = wanted.pop(info.name)
                info.size = len(data)
            tout.addfile(info, io.BytesIO(data) if data is not None else None)
        for name, data in wanted.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tout.addfile(info, io.BytesIO(data))
    with gzip.open(dst, "wb") as out:  # keeps the FNAME header: the body is "<name>.tar"
        out.write(raw.getvalue())
    return dst


def scan(path: Path) -> ScanResult:
    return scan_path(path, root=path.parent)


def by_rule(result: ScanResult | list[Finding], rule_id: str) -> list[Finding]:
    findings = result.findings if isinstance(result, ScanResult) else result
    return [f for f in findings if f.rule_id == rule_id]


def rules_of(result: ScanResult) -> set[str]:
    return {f.rule_id for f in result.findings}
