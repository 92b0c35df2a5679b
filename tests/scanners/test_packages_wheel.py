"""Wheels built by setuptools, then tampered with: RECORD, .pth start-up code, shadowed commands, binaries."""

from __future__ import annotations

import random
import shutil
import tarfile
import zipfile
from pathlib import Path

import numpy
import pytest
from container_helpers import assert_pickle_payload, canary_pickle
from package_builders import build_wheel, by_rule, make_project, rewrite_wheel, rules_of, scan

from mlsec_dagster import Severity, scan_path
from mlsec_dagster.engine.limits import Limits
from mlsec_dagster.engine.policy import Policy

INIT = "mytool/__init__.py"
INFO = "mytool-1.0.dist-info"


def _small_elf() -> Path:
    found = sorted(Path(numpy.__file__).parent.rglob("*.so"), key=lambda p: p.stat().st_size)
    return found[0]


@pytest.fixture(scope="module")
def clean_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("clean")
    return build_wheel(make_project(root / "proj"), root / "dist")


def test_clean_wheel_with_console_script_passes(clean_wheel: Path) -> None:
    result = scan(clean_wheel)
    assert result.findings == []
    assert any(a.format == "wheel" for a in result.artifacts)
    with zipfile.ZipFile(clean_wheel) as zf:
        assert "mytool" in zf.read(f"{INFO}/entry_points.txt").decode()


def test_pth_that_imports_is_high(clean_wheel: Path, tmp_path: Path, canary: Path) -> None:
    payload = f"import os; os.system('touch {canary}')\n".encode()
    evil = rewrite_wheel(clean_wheel, tmp_path / "mytool-1.0-py3-none-any.whl", add={"zz_evil.pth": payload})
    result = scan(evil)
    hits = by_rule(result, "MLS-PKG-001")
    assert len(hits) == 1
    assert hits[0].severity == Severity.HIGH
    assert hits[0].location.member == ("zz_evil.pth",) and hits[0].location.line == 1
    assert "os.system" in hits[0].evidence and "os.system" in hits[0].message
    assert not {"MLS-PKG-002", "MLS-PKG-003", "MLS-PKG-004"} & rules_of(result)  # RECORD was kept honest


def test_pth_with_only_paths_passes(clean_wheel: Path, tmp_path: Path) -> None:
    ok = rewrite_wheel(
        clean_wheel, tmp_path / "mytool-1.0-py3-none-any.whl", add={"extra.pth": b"# paths\nlib\n"}
    )
    assert scan(ok).findings == []


def test_tampered_file_breaks_record_hash(clean_wheel: Path, tmp_path: Path, canary: Path) -> None:
    code = f"import os\nos.system('touch {canary}')\ndef main(): pass\n".encode()
    evil = rewrite_wheel(clean_wheel, tmp_path / "w.whl", replace={INIT: code}, fix_record=False)
    result = scan(evil)
    hits = by_rule(result, "MLS-PKG-002")
    assert [h.location.member for h in hits] == [(INIT,)]
    assert hits[0].severity == Severity.HIGH and "sha256=" in hits[0].evidence


def test_file_not_in_record_and_record_naming_missing_file(clean_wheel: Path, tmp_path: Path) -> None:
    evil = rewrite_wheel(
        clean_wheel,
        tmp_path / "w.whl",
        replace={INIT: None},
        add={"mytool/extra.py": b"x = 1\n"},
        fix_record=False,
    )
    result = scan(evil)
    unlisted = by_rule(result, "MLS-PKG-003")
    assert [(f.severity, f.location.member) for f in unlisted] == [(Severity.MEDIUM, ("mytool/extra.py",))]
    missing = by_rule(result, "MLS-PKG-004")
    assert [(f.severity, f.location.member, f.location.line) for f in missing] == [
        (Severity.MEDIUM, (f"{INFO}/RECORD",), 1)
    ]
    assert "mytool/__init__.py" in missing[0].message


def test_missing_record_is_high(clean_wheel: Path, tmp_path: Path) -> None:
    evil = rewrite_wheel(
        clean_wheel, tmp_path / "mytool-1.0-py3-none-any.whl", replace={f"{INFO}/RECORD": None}
    )
    result = scan(evil)
    assert [(f.severity, f.location.member) for f in by_rule(result, "MLS-PKG-005")] == [
        (Severity.HIGH, (f"{INFO}/RECORD",))
    ]
    assert "MLS-PKG-003" not in rules_of(result)  # no per-file noise on top


def test_weak_hash_row_cannot_be_verified(clean_wheel: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(clean_wheel) as zf:
        record = zf.read(f"{INFO}/RECORD").decode().splitlines()
    record[0] = f"{INIT},md5=abc,{len(b'')}"
    evil = rewrite_wheel(
        clean_wheel,
        tmp_path / "w.whl",
        replace={f"{INFO}/RECORD": "\n".join(record).encode()},
        fix_record=False,
    )
    hits = by_rule(scan(evil), "MLS-PKG-006")
    assert [(f.severity, f.location.line) for f in hits] == [(Severity.MEDIUM, 1)]


def test_entry_point_named_pip_is_high(tmp_path: Path) -> None:
    setup = """\
        from setuptools import setup
        setup(name="mytool", version="1.0", packages=["mytool"],
              entry_points={"console_scripts": ["pip=mytool:main", "mytool=mytool:main"]})
    """
    wheel = build_wheel(make_project(tmp_path / "proj", setup), tmp_path / "dist")
    hits = by_rule(scan(wheel), "MLS-PKG-007")
    assert len(hits) == 1
    assert hits[0].severity == Severity.HIGH
    with zipfile.ZipFile(wheel) as zf:
        lines = zf.read(f"{INFO}/entry_points.txt").decode().splitlines()
    assert hits[0].location.member == (f"{INFO}/entry_points.txt",)
    assert lines[hits[0].location.line - 1].startswith("pip ")
    assert "pip" in hits[0].message


def test_data_script_named_like_a_versioned_python_is_high(clean_wheel: Path, tmp_path: Path) -> None:
    evil = rewrite_wheel(
        clean_wheel, tmp_path / "w.whl", add={"mytool-1.0.data/scripts/python3.11": b"#!/bin/sh\n"}
    )
    hits = by_rule(scan(evil), "MLS-PKG-007")
    assert [h.location.member for h in hits] == [("mytool-1.0.data/scripts/python3.11",)]


def _wheel_with_so(tmp_path: Path, *extra: str) -> Path:
    setup = """\
        from setuptools import setup
        setup(name="mytool", version="1.0", packages=["mytool"], package_data={"mytool": ["*.so"]})
    """
    project = make_project(tmp_path / "proj", setup)
    shutil.copy(_small_elf(), project / "mytool" / "_speedups.so")
    return build_wheel(project, tmp_path / "dist", *extra)


def test_elf_in_pure_wheel_is_medium(tmp_path: Path) -> None:
    wheel = _wheel_with_so(tmp_path)
    assert wheel.name.endswith("py3-none-any.whl")
    hits = by_rule(scan(wheel), "MLS-PKG-008")
    assert [(h.severity, h.location.member) for h in hits] == [(Severity.MEDIUM, ("mytool/_speedups.so",))]
    assert "ELF" in hits[0].message


def test_elf_in_platform_wheel_passes(tmp_path: Path) -> None:
    wheel = _wheel_with_so(tmp_path, "--plat-name", "manylinux2014_x86_64")
    assert "manylinux2014_x86_64" in wheel.name
    assert scan(wheel).findings == []


def test_missing_wheel_metadata_is_medium(clean_wheel: Path, tmp_path: Path) -> None:
    evil = rewrite_wheel(clean_wheel, tmp_path / "w.whl", replace={f"{INFO}/WHEEL": None})
    hits = by_rule(scan(evil), "MLS-PKG-009")
    assert [(h.severity, h.location.member) for h in hits] == [(Severity.MEDIUM, (f"{INFO}/WHEEL",))]


def test_zip_with_dist_info_but_no_whl_name_is_still_a_wheel(clean_wheel: Path, tmp_path: Path) -> None:
    evil = rewrite_wheel(clean_wheel, tmp_path / "bundle.zip", add={"evil.pth": b"import os\n"})
    result = scan(evil)
    assert by_rule(result, "MLS-PKG-001") and any(a.format == "wheel" for a in result.artifacts)


def test_nested_wheel_in_tar_gz_is_checked(clean_wheel: Path, tmp_path: Path, canary: Path) -> None:
    evil = rewrite_wheel(
        clean_wheel,
        tmp_path / "mytool-1.0-py3-none-any.whl",
        add={"a.pth": f"import os;os.system('touch {canary}')".encode()},
    )
    bundle = tmp_path / "out" / "bundle.tar.gz"
    bundle.parent.mkdir()
    with tarfile.open(bundle, "w:gz") as tf:
        tf.add(evil, arcname="wheels/mytool-1.0-py3-none-any.whl")
    hits = by_rule(scan(bundle), "MLS-PKG-001")
    assert len(hits) == 1 and hits[0].location.member[-2:] == ("wheels/mytool-1.0-py3-none-any.whl", "a.pth")


def test_archive_protections_still_apply_inside_wheels(
    clean_wheel: Path, tmp_path: Path, canary: Path
) -> None:
    """The wheel is still walked by the zip scanner: a pickle payload and a traversal member are found."""
    evil = rewrite_wheel(
        clean_wheel,
        tmp_path / "w.whl",
        add={"mytool/model.pkl": canary_pickle(canary), "../escape.py": b"x=1\n"},
    )
    result = scan(evil)
    assert_pickle_payload(result, "w.whl", ("mytool/model.pkl",))
    assert any(f.rule_id == "MLS-ARC-007" and f.location.member == ("../escape.py",) for f in result.findings)


def test_member_limit_is_reported(clean_wheel: Path) -> None:
    result = scan_path(
        clean_wheel, root=clean_wheel.parent, policy=Policy(limits=Limits(max_archive_members=2))
    )
    assert any(f.rule_id == "MLS-SCN-002" and f.key == "max_archive_members" for f in result.findings)
    assert "MLS-PKG-004" not in rules_of(result)  # unlisted members are not "missing"


def test_record_check_reads_members_in_bounded_chunks(clean_wheel: Path, tmp_path: Path) -> None:
    """A 3 MB member is hashed while streaming; a one-byte change in its middle is still caught."""
    big = random.Random(7).randbytes(3_000_000)
    good = rewrite_wheel(clean_wheel, tmp_path / "good.whl", add={"mytool/data.dat": big})
    assert scan(good).findings == []
    tampered = bytearray(big)
    tampered[1_500_000] ^= 1
    evil = rewrite_wheel(
        good, tmp_path / "evil.whl", replace={"mytool/data.dat": bytes(tampered)}, fix_record=False
    )
    assert [h.location.member for h in by_rule(scan(evil), "MLS-PKG-002")] == [("mytool/data.dat",)]


def test_pth_file_on_disk_is_checked_and_torch_pth_checkpoints_are_not_claimed(
    tmp_path: Path, canary: Path
) -> None:
    (tmp_path / "evil.pth").write_text(f"lib\nimport\tos; os.system('touch {canary}')\n")
    (tmp_path / "model.pth").write_bytes(canary_pickle(canary))
    (tmp_path / "old.pth").write_bytes(canary_pickle(canary, protocol=0))
    result = scan_path(tmp_path, root=tmp_path)
    hits = by_rule(result, "MLS-PKG-001")
    assert [(h.path, h.location.line, h.severity) for h in hits] == [("evil.pth", 2, Severity.HIGH)]
    formats = {a.path: a.format for a in result.artifacts}
    assert formats["model.pth"] == "pickle" and formats["old.pth"] == "pickle"


def test_decompressed_bytes_budget_stops_the_record_pass(clean_wheel: Path, tmp_path: Path) -> None:
    big = random.Random(3).randbytes(2_000_000)
    wheel = rewrite_wheel(clean_wheel, tmp_path / "w.whl", add={"mytool/data.dat": big})
    policy = Policy(limits=Limits(max_decompressed_bytes=500_000))
    result = scan_path(wheel, root=tmp_path, policy=policy)
    assert any(f.rule_id == "MLS-SCN-002" and f.key == "max_decompressed_bytes" for f in result.findings)
    assert not {"MLS-PKG-002", "MLS-PKG-004"} & rules_of(result)  # unread is not reported as tampered


DISTUTILS_SHIM = (
    "import os; var = 'SETUPTOOLS_USE_DISTUTILS'; enabled = os.environ.get(var, 'local') == 'local'; "
    "enabled and __import__('_distutils_hack').add_shim(); "
)


def test_setuptools_own_pth_line_is_low_but_the_same_line_elsewhere_is_high(
    clean_wheel: Path, tmp_path: Path
) -> None:
    """The shim imports `_distutils_hack`: harmless from setuptools, a loader for anyone else's module."""
    shim = {"distutils-precedence.pth": DISTUTILS_SHIM.encode()}
    own = rewrite_wheel(clean_wheel, tmp_path / "setuptools-65.5.0-py3-none-any.whl", add=shim)
    other = rewrite_wheel(clean_wheel, tmp_path / "mytool-1.0-py3-none-any.whl", add=shim)
    assert [f.severity for f in by_rule(scan(own), "MLS-PKG-001")] == [Severity.LOW]
    assert [f.severity for f in by_rule(scan(other), "MLS-PKG-001")] == [Severity.HIGH]
    tampered = {"distutils-precedence.pth": (DISTUTILS_SHIM + "__import__('os').system('id')").encode()}
    evil = rewrite_wheel(clean_wheel, tmp_path / "setuptools-99.0-py3-none-any.whl", add=tampered)
    assert [f.severity for f in by_rule(scan(evil), "MLS-PKG-001")] == [Severity.HIGH]


def test_short_pe_named_dll_in_pure_wheel_is_medium(clean_wheel: Path, tmp_path: Path) -> None:
    evil = rewrite_wheel(
        clean_wheel, tmp_path / "w.whl", add={"mytool/helper.dll": b"MZ\x90\x00\x03" + b"\x00" * 20}
    )
    assert [h.location.member for h in by_rule(scan(evil), "MLS-PKG-008")] == [("mytool/helper.dll",)]
    text = rewrite_wheel(
        clean_wheel, tmp_path / "t.whl", add={"mytool/notes.txt": b"MZ is a postcode area\n"}
    )
    assert not by_rule(scan(text), "MLS-PKG-008")
