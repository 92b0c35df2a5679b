"""setup.cfg and setup.py parsers: exact lines, setuptools' splitting rules, computed values reported.

setup.py fixtures carry a canary payload at module level: the parser must read them without running
a line of them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlsec_dagster import scan_path
from mlsec_dagster.scanners.dependencies.manifests import parser_for
from mlsec_dagster.scanners.dependencies.model import Dependency, Manifest


def line_of(text: str, needle: str, nth: int = 1) -> int:
    pos = -1
    for _ in range(nth):
        pos = text.index(needle, pos + 1)
    return text.count("\n", 0, pos) + 1


def parse(name: str, text: str) -> Manifest:
    parser = parser_for(name)
    assert parser is not None and parser.format == name
    return parser.parse(text, name, None)


def dep(manifest: Manifest, name: str) -> Dependency:
    found = [d for d in manifest.dependencies if d.name == name]
    assert len(found) == 1, (name, manifest.dependencies)
    return found[0]


SETUP_CFG = """\
[metadata]
name = acme-ingest
version = 2.1.0
description = Ingestion jobs: install_requires = not-a-package

[options]
packages = find:
python_requires = >=3.10
install_requires =
    requests>=2.31
    # pinned for the parquet writer
    pyarrow==16.1.0

    pandas>=2.2; python_version >= "3.10"
    acme-schemas==1.4.2
setup_requires = setuptools-scm==8.1.0; cython
tests-require =
    pytest

[options.extras_require]
s3 =
    boto3==1.34.131
    s3fs
gpu = cupy-cuda12x==13.2.0

[options.entry_points]
console_scripts =
    ingest = acme_ingest.cli:main

[flake8]
max-line-length = 110
"""


def test_setup_cfg_requirements_with_exact_lines() -> None:
    m = parse("setup.cfg", SETUP_CFG)
    assert m.problems == []
    got = [(d.name, d.line, d.section, d.pinned) for d in m.dependencies]
    assert got == [
        ("requests", line_of(SETUP_CFG, "requests>="), "options.install_requires", False),
        ("pyarrow", line_of(SETUP_CFG, "pyarrow=="), "options.install_requires", True),
        ("pandas", line_of(SETUP_CFG, "pandas>="), "options.install_requires", False),
        ("acme-schemas", line_of(SETUP_CFG, "acme-schemas"), "options.install_requires", True),
        ("setuptools-scm", line_of(SETUP_CFG, "setup_requires"), "options.setup_requires", True),
        ("cython", line_of(SETUP_CFG, "setup_requires"), "options.setup_requires", False),
        ("pytest", line_of(SETUP_CFG, "    pytest"), "options.tests_require", False),
        ("boto3", line_of(SETUP_CFG, "boto3"), "options.extras_require.s3", True),
        ("s3fs", line_of(SETUP_CFG, "s3fs"), "options.extras_require.s3", False),
        ("cupy-cuda12x", line_of(SETUP_CFG, "gpu ="), "options.extras_require.gpu", True),
    ]


def test_setup_cfg_invalid_requirement_is_a_problem_at_its_line() -> None:
    text = "[options]\ninstall_requires =\n    numpy\n    torch ==\n"
    m = parse("setup.cfg", text)
    assert [d.name for d in m.dependencies] == ["numpy"]
    assert [(p.kind, p.line) for p in m.problems] == [("unsupported", 4)]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("install_requires = requests\n", 1),  # no section header
        ("[options]\ninstall_requires = a\ninstall_requires = b\n", 3),  # duplicate option
        ("[options]\ninstall_requires = a\n[options]\n", 3),  # duplicate section
    ],
)
def test_setup_cfg_unreadable_is_mls_dep_030(tmp_path: Path, text: str, line: int) -> None:
    path = tmp_path / "setup.cfg"
    path.write_text(text)
    findings = [f for f in scan_path(path, root=tmp_path).findings if f.rule_id.startswith("MLS-DEP-03")]
    assert [(f.rule_id, f.location.line) for f in findings] == [("MLS-DEP-030", line)]


def test_setup_cfg_inline_comments_are_dropped_like_setuptools_does() -> None:
    text = "[options]\ninstall_requires =\n    numpy==1.26.4  # BLAS build\n    scipy#not-a-comment\n"
    m = parse("setup.cfg", text)
    assert [(d.name, d.specifier, d.line) for d in m.dependencies] == [("numpy", "==1.26.4", 3)]
    assert [(p.kind, p.line) for p in m.problems] == [("unsupported", 4)]


def test_setup_cfg_file_directive_is_followed_inside_the_project(tmp_path: Path) -> None:
    (tmp_path / "reqs").mkdir()
    (tmp_path / "reqs" / "base.in").write_text("# base\nrequests==2.32.3\n\nbad ==\n")
    cfg = "[options]\ninstall_requires = file: reqs/base.in, missing.in, ../../etc/passwd\n"
    (tmp_path / "setup.cfg").write_text(cfg)
    parser = parser_for("setup.cfg")
    assert parser is not None
    m = parser.parse(
        cfg, "setup.cfg", lambda rel: (tmp_path / rel).read_text() if (tmp_path / rel).exists() else None
    )
    assert [(d.name, d.line, d.file) for d in m.dependencies] == [("requests", 2, "reqs/base.in")]
    assert [(p.kind, p.line, p.file) for p in m.problems] == [
        ("unsupported", 4, "reqs/base.in"),
        ("include-missing", 2, ""),
        ("include-outside", 2, ""),
    ]
    findings = [
        f
        for f in scan_path(tmp_path / "setup.cfg", root=tmp_path).findings
        if f.rule_id.startswith("MLS-DEP-03")
    ]
    assert sorted((f.rule_id, f.location.line) for f in findings) == [
        ("MLS-DEP-031", 4),
        ("MLS-DEP-032", 2),
        ("MLS-DEP-032", 2),
    ]


def _setup_py(canary: Path) -> str:
    return f'''\
import os
from setuptools import find_packages, setup as _setup

os.system("touch {canary}")

BASE = [
    "numpy>=1.26",
    "scipy==1.13.1",
]
EXTRA_NLP = ("spacy==3.7.5",)

with open("requirements-extra.txt") as fh:
    FROM_FILE = fh.read().splitlines()

_setup(
    name="acme-models",
    version="0.3.0",
    packages=find_packages(),
    install_requires=BASE + [
        "torch==2.3.1",
        "acme-tensors @ git+https://git.acme.example/ml/acme-tensors.git@v0.8.0",
    ],
    setup_requires=["cython>=3"],
    tests_require=FROM_FILE,
    extras_require={{
        "nlp": [*EXTRA_NLP, "tokenizers"],
        "all": [r for r in BASE],
        "docs": """
            sphinx==7.3.7
            furo
        """,
    }},
)
'''


def test_setup_py_literals_names_and_computed_values(canary: Path) -> None:
    text = _setup_py(canary)
    m = parse("setup.py", text)
    got = [(d.name, d.line, d.section, d.pinned, d.kind) for d in m.dependencies]
    assert got == [
        ("numpy", line_of(text, '"numpy'), "install_requires", False, "registry"),
        ("scipy", line_of(text, '"scipy'), "install_requires", True, "registry"),
        ("torch", line_of(text, '"torch'), "install_requires", True, "registry"),
        ("acme-tensors", line_of(text, '"acme-tensors'), "install_requires", False, "vcs"),
        ("cython", line_of(text, '"cython'), "setup_requires", False, "registry"),
        ("spacy", line_of(text, '"spacy'), "extras_require.nlp", True, "registry"),
        ("tokenizers", line_of(text, '"tokenizers'), "extras_require.nlp", False, "registry"),
        ("sphinx", line_of(text, "sphinx=="), "extras_require.docs", True, "registry"),
        ("furo", line_of(text, "furo"), "extras_require.docs", False, "registry"),
    ]
    problems = [(p.kind, p.line) for p in m.problems]
    assert problems == [
        ("unsupported", line_of(text, "tests_require=FROM_FILE")),  # bound inside `with`: not module-level
        ("unsupported", line_of(text, '"all"')),
    ]
    assert "tests_require is computed (FROM_FILE)" in m.problems[0].message
    assert "extras_require.all is computed" in m.problems[1].message


def test_setup_py_values_changed_after_assignment_are_not_trusted() -> None:
    text = 'from setuptools import setup\nREQS = ["a"]\nREQS.append("b")\nsetup(install_requires=REQS)\n'
    m = parse("setup.py", text)
    assert m.dependencies == []
    assert [(p.kind, p.line) for p in m.problems] == [("unsupported", 4)]


def test_setup_py_kwargs_spread_literal_dict_and_computed_kwargs() -> None:
    text = """\
import setuptools
META = dict(install_requires=["click==8.1.7"])
setuptools.setup(**META, **load_config())
"""
    m = parse("setup.py", text)
    assert [(d.name, d.line) for d in m.dependencies] == [("click", 2)]
    assert [(p.kind, p.line) for p in m.problems] == [("unsupported", 3)]
    assert "keyword arguments" in m.problems[0].message


def test_setup_py_syntax_error_is_mls_dep_030_and_nothing_runs(tmp_path: Path, canary: Path) -> None:
    path = tmp_path / "setup.py"
    path.write_text(f'import os\nos.system("touch {canary}")\nsetup(install_requires=["a",\n\ndef broken(:\n')
    findings = [f for f in scan_path(path, root=tmp_path).findings if f.rule_id.startswith("MLS-DEP-03")]
    assert [f.rule_id for f in findings] == ["MLS-DEP-030"]
    assert findings[0].location.line in (3, 5)


def test_setup_py_computed_install_requires_is_mls_dep_031(tmp_path: Path, canary: Path) -> None:
    path = tmp_path / "setup.py"
    path.write_text(
        "from setuptools import setup\n"
        f'__import__("os").system("touch {canary}")\n'
        "setup(\n"
        '    name="x",\n'
        '    install_requires=open("requirements.txt").read().splitlines(),\n'
        ")\n"
    )
    findings = [f for f in scan_path(path, root=tmp_path).findings if f.rule_id.startswith("MLS-DEP-03")]
    assert [(f.rule_id, f.location.line) for f in findings] == [("MLS-DEP-031", 5)]
    assert "computed" in findings[0].message and "not checked" in findings[0].message
