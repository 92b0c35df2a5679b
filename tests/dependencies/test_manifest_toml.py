"""pyproject.toml and Pipfile/Pipfile.lock parsers, and the TOML line locator they share.

Lines are asserted exactly (they become SARIF regions): expected lines come from the fixture text itself
(``line_of``), so a parser that points one line off fails.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from mlsec_dagster import scan_path
from mlsec_dagster.scanners.dependencies.manifests import parser_for
from mlsec_dagster.scanners.dependencies.manifests._toml_lines import TomlLines, load
from mlsec_dagster.scanners.dependencies.model import Dependency, IndexSetting, Manifest, Problem


def line_of(text: str, needle: str, nth: int = 1) -> int:
    """1-based line of the ``nth`` occurrence of ``needle``."""
    pos = -1
    for _ in range(nth):
        pos = text.index(needle, pos + 1)
    return text.count("\n", 0, pos) + 1


def parse(name: str, text: str) -> Manifest:
    parser = parser_for(name)
    assert parser is not None, name
    return parser.parse(text, name, None)


def dep(manifest: Manifest, name: str, section: str | None = None) -> Dependency:
    found = [d for d in manifest.dependencies if d.name == name and (section is None or d.section == section)]
    assert len(found) == 1, (name, section, manifest.dependencies)
    return found[0]


def index(manifest: Manifest, url: str) -> IndexSetting:
    found = [i for i in manifest.indexes if i.url == url]
    assert len(found) == 1, (url, manifest.indexes)
    return found[0]


# --- the line locator ------------------------------------------------------------------------------

TRICKY = """\
# comment with [brackets] and "quotes"
title = "a [not a table]"
multi = \"\"\"
[not.a.table]
key = "not a key"
\"\"\"
literal = '''
x = [1, 2]
'''
"quoted.key" = 1
site."google.com" = true
dotted.inner.leaf = "v"   # trailing ] comment
dt = 1979-05-27 07:32:00
arr = [ # comment ]
  "one", 'two',
  # "commented"
  [3, [4, 5]],
  { a = "x]", b = { c = 1 } },
]

[table."with.dot"]
"esc\\"aped" = "y"

[[fruit]]
name = "apple"

[fruit.physical]
color = "red"

[[fruit.variety]]
name = "red delicious"

[[fruit.variety]]
name = "granny smith"

[[fruit]]
name = "banana"

[[fruit.variety]]
name = "plantain"
"""


def test_locator_finds_every_key_and_element_where_it_is_written() -> None:
    loaded = load(TRICKY)
    assert not isinstance(loaded, Problem)
    data, lines = loaded
    assert data["multi"].startswith("[not.a.table]")
    assert lines.exact("title") == 2
    assert lines.exact("multi") == 3
    assert lines.exact("literal") == 7
    assert lines.exact("not") is None  # inside a multi-line string
    assert lines.exact("x") is None
    assert lines.exact("quoted.key") == 10
    assert lines.exact("site", "google.com") == 11
    assert lines.exact("dotted", "inner", "leaf") == 12
    assert lines.exact("dt") == 13
    assert lines.exact("arr", 0) == 15
    assert lines.exact("arr", 1) == 15
    assert lines.exact("arr", 2) == 17
    assert lines.exact("arr", 2, 1, 0) == 17
    assert lines.exact("arr", 3, "b", "c") == 18
    assert lines.exact("arr", 4) is None  # the commented element does not exist
    assert lines.exact("table", "with.dot", 'esc"aped') == 22
    assert lines.exact("fruit", 0, "name") == 25
    assert lines.exact("fruit", 0, "physical", "color") == 28
    assert lines.exact("fruit", 0, "variety", 0, "name") == 31
    assert lines.exact("fruit", 0, "variety", 1, "name") == 34
    assert lines.exact("fruit", 1, "name") == 37
    assert lines.exact("fruit", 1, "variety", 0, "name") == 40
    assert lines.line("fruit", 1, "variety", 0, "missing") == 39  # falls back to the table header


def _paths(value: Any, path: tuple[str | int, ...] = ()) -> list[tuple[tuple[str | int, ...], Any]]:
    out: list[tuple[tuple[str | int, ...], Any]] = [(path, value)] if path else []
    if isinstance(value, dict):
        for key, inner in value.items():
            out += _paths(inner, (*path, key))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            out += _paths(inner, (*path, i))
    return out


def assert_locator_agrees(text: str) -> None:
    """Every leaf ``tomllib`` sees is located, and a one-line string leaf sits on the line it names."""
    data = tomllib.loads(text)
    lines = TomlLines(text)
    source = text.splitlines()
    for path, value in _paths(data):
        if isinstance(value, (dict, list)):
            continue
        line = lines.exact(*path)
        assert line is not None, path
        if isinstance(value, str) and value.isprintable() and '"' not in value and "\\" not in value:
            assert value in source[line - 1], (path, value, line)


def test_locator_handles_crlf_and_a_file_without_final_newline() -> None:
    text = '[project]\r\ndependencies = [\r\n  "a",\r\n  "b"]'
    lines = TomlLines(text)
    assert (lines.exact("project", "dependencies", 0), lines.exact("project", "dependencies", 1)) == (3, 4)


def test_invalid_toml_is_a_problem_with_the_line_tomllib_names() -> None:
    text = '[project]\nname = "x"\ndependencies = ["requests"\n\n[tool.x]\n'
    found = load(text)
    assert isinstance(found, Problem)
    assert found.kind == "unreadable" and found.line == 5
    assert "invalid TOML" in found.message


# --- pyproject: Poetry ----------------------------------------------------------------------------

POETRY = """\
[tool.poetry]
name = "acme-trainer"
version = "0.4.0"
description = "Training pipelines"
authors = ["ML Platform <ml@acme.example>"]
packages = [{ include = "acme_trainer" }]

[tool.poetry.dependencies]
python = "^3.11"
torch = { version = "2.3.1", source = "pytorch-cpu" }
transformers = "^4.41"
numpy = "1.26.4"
pandas = "==2.2.2"
"ruamel.yaml" = ">=0.18,<0.19"
acme-feature-store = { version = "^1.2", source = "acme" }
acme-utils = "^0.9"
tokenizers = { version = "0.19.1", extras = ["testing"], markers = "sys_platform != 'win32'" }
evaluate = { git = "https://github.com/huggingface/evaluate.git", tag = "v0.4.2" }
wandb-sdk = { url = "https://files.example.com/wandb_sdk-0.17.0-py3-none-any.whl" }
local-kernels = { path = "../kernels", develop = true }
pyarrow = [
    { version = "16.1.0", python = "<3.12" },
    { version = "^17.0", python = ">=3.12" },
]

[tool.poetry.group.dev.dependencies]
pytest = "^8.2"
ruff = "0.4.8"

[tool.poetry.group.docs]
optional = true

[tool.poetry.group.docs.dependencies]
mkdocs-material = "*"

[tool.poetry.dev-dependencies]
black = "^24.4"

[[tool.poetry.source]]
name = "pytorch-cpu"
url = "https://download.pytorch.org/whl/cpu"
priority = "explicit"

[[tool.poetry.source]]
name = "acme"
url = "https://pypi.acme.example/simple/"
priority = "supplemental"

[[tool.poetry.source]]
name = "mirror"
url = "https://mirror.acme.example/simple/"

[[tool.poetry.source]]
name = "legacy-default"
url = "https://old.acme.example/simple/"
default = true

[[tool.poetry.source]]
name = "PyPI"
priority = "primary"

[build-system]
requires = ["poetry-core>=1.9.0"]
build-backend = "poetry.core.masonry.api"
"""


def test_poetry_dependencies_groups_and_constraints() -> None:
    m = parse("pyproject.toml", POETRY)
    assert m.problems == []
    assert m.format == "pyproject" and not m.locked
    main = "tool.poetry.dependencies"
    assert all(d.name != "python" for d in m.dependencies)
    torch = dep(m, "torch")
    assert (torch.line, torch.specifier, torch.pinned, torch.source, torch.section) == (
        line_of(POETRY, "torch ="),
        "2.3.1",
        True,
        "pytorch-cpu",
        main,
    )
    assert not dep(m, "transformers").pinned and dep(m, "transformers").specifier == "^4.41"
    assert dep(m, "numpy").pinned and dep(m, "pandas").pinned
    yaml = dep(m, "ruamel.yaml")
    assert (yaml.line, yaml.pinned, yaml.normalized) == (
        line_of(POETRY, '"ruamel.yaml"'),
        False,
        "ruamel-yaml",
    )
    assert dep(m, "acme-feature-store").source == "acme"
    assert dep(m, "acme-utils").source is None
    assert dep(m, "tokenizers").pinned
    evaluate = dep(m, "evaluate")
    assert (evaluate.kind, evaluate.url, evaluate.line) == (
        "vcs",
        "git+https://github.com/huggingface/evaluate.git@v0.4.2",
        line_of(POETRY, "evaluate ="),
    )
    assert dep(m, "wandb-sdk").kind == "url"
    kernels = dep(m, "local-kernels")
    assert (kernels.kind, kernels.url) == ("path", "../kernels")
    arrow = [d for d in m.dependencies if d.name == "pyarrow"]
    assert [(d.line, d.specifier, d.pinned) for d in arrow] == [
        (line_of(POETRY, '{ version = "16.1.0"'), "16.1.0", True),
        (line_of(POETRY, '{ version = "^17.0"'), "^17.0", False),
    ]
    pytest_dep = dep(m, "pytest")
    assert (pytest_dep.section, pytest_dep.line) == (
        "tool.poetry.group.dev.dependencies",
        line_of(POETRY, "pytest ="),
    )
    assert dep(m, "ruff").pinned
    assert dep(m, "mkdocs-material").section == "tool.poetry.group.docs.dependencies"
    assert dep(m, "black").section == "tool.poetry.dev-dependencies"
    core = dep(m, "poetry-core")
    assert (core.section, core.line, core.specifier) == (
        "build-system.requires",
        line_of(POETRY, '"poetry-core'),
        ">=1.9.0",
    )


def test_poetry_source_priorities() -> None:
    m = parse("pyproject.toml", POETRY)
    roles = {(i.name, i.role, i.line) for i in m.indexes}
    assert roles == {
        ("pytorch-cpu", "source", line_of(POETRY, 'url = "https://download.pytorch.org')),
        ("acme", "extra", line_of(POETRY, 'url = "https://pypi.acme.example')),
        ("mirror", "primary", line_of(POETRY, 'url = "https://mirror.acme.example')),
        ("legacy-default", "primary", line_of(POETRY, 'url = "https://old.acme.example')),
        ("PyPI", "primary", line_of(POETRY, 'name = "PyPI"')),
    }
    assert index(m, "https://pypi.org/simple").name == "PyPI"


def test_poetry_unknown_priority_is_reported_and_read_as_merging() -> None:
    text = '[[tool.poetry.source]]\nname = "x"\nurl = "https://x.example/simple"\npriority = "sometimes"\n'
    m = parse("pyproject.toml", text)
    assert [(p.kind, p.line) for p in m.problems] == [("unsupported", 4)]
    assert [(i.role, i.line) for i in m.indexes] == [("extra", 3)]


@pytest.mark.parametrize(
    ("flags", "role"),
    [("secondary = true", "extra"), ("default = false", "primary"), ('priority = "Supplemental"', "extra")],
)
def test_poetry_legacy_source_flags(flags: str, role: str) -> None:
    text = f'[[tool.poetry.source]]\nname = "x"\nurl = "https://x.example/simple"\n{flags}\n'
    assert [(i.role, i.line) for i in parse("pyproject.toml", text).indexes] == [(role, 3)]


def test_uv_pip_settings_and_a_pdm_source_replacing_pypi() -> None:
    text = """\
[tool.uv.pip]
index-url = "https://mirror.example/simple"
extra-index-url = ["https://extra.example/simple"]

[[tool.pdm.source]]
name = "pypi"
url = "https://pypi-mirror.example/simple"
"""
    m = parse("pyproject.toml", text)
    assert [(i.url, i.role, i.line) for i in m.indexes] == [
        ("https://pypi-mirror.example/simple", "primary", 7),
        ("https://mirror.example/simple", "primary", 2),
        ("https://extra.example/simple", "extra", 3),
    ]


def test_poetry_bad_entries_are_problems_at_their_line() -> None:
    text = '[tool.poetry.dependencies]\nok = "^1"\nbad = 3\nworse = { version = 2 }\n'
    m = parse("pyproject.toml", text)
    assert [d.name for d in m.dependencies] == ["ok"]
    assert [(p.kind, p.line) for p in m.problems] == [("unsupported", 3), ("unsupported", 4)]


# --- pyproject: PEP 621 / 735 with uv ---------------------------------------------------------------

UV_PROJECT = """\
[project]
name = "vision-service"
version = "1.0.0"
requires-python = ">=3.11"
dependencies = [
    "fastapi>=0.111",
    "pillow==10.3.0",
    "torch==2.3.1",
    "acme-auth",
    "timm @ git+https://github.com/huggingface/pytorch-image-models@v1.0.3",
    "onnx @ https://files.example.com/onnx-1.16.1-cp311-cp311-manylinux_x86_64.whl",
    "shared-lib",
    "opencv-python-headless>=4.9; sys_platform == 'linux'",
]
dynamic = ["readme"]

[project.optional-dependencies]
gpu = [
    "nvidia-cudnn-cu12==8.9.2.26",
]
export = ["onnxruntime>=1.18", "tensorrt"]

[dependency-groups]
test = ["pytest>=8", "httpx==0.27.0"]
lint = [{ include-group = "test" }, "ruff"]

[tool.uv]
dev-dependencies = ["ipython"]
index-url = "https://mirror.acme.example/simple"
extra-index-url = [
    "http://old-mirror.acme.example/simple",
]
find-links = ["./wheels"]
allow-insecure-host = ["old-mirror.acme.example"]

[[tool.uv.index]]
name = "pytorch"
url = "https://download.pytorch.org/whl/cu121"
explicit = true

[[tool.uv.index]]
name = "acme"
url = "https://pypi.acme.example/simple"

[[tool.uv.index]]
name = "corp"
url = "https://corp.acme.example/simple"
default = true

[tool.uv.sources]
torch = { index = "pytorch" }
acme-auth = { index = "acme" }
shared-lib = { workspace = true }
tensorrt = [
    { git = "https://github.com/NVIDIA/TensorRT", rev = "abc123", marker = "sys_platform == 'linux'" },
    { path = "./vendor/tensorrt", marker = "sys_platform != 'linux'" },
]

[build-system]
requires = ["hatchling==1.25.0"]
build-backend = "hatchling.build"
"""


def test_pep621_and_pep735_requirements() -> None:
    m = parse("pyproject.toml", UV_PROJECT)
    assert m.problems == []
    fastapi = dep(m, "fastapi")
    assert (fastapi.line, fastapi.specifier, fastapi.pinned, fastapi.section) == (
        line_of(UV_PROJECT, '"fastapi'),
        ">=0.111",
        False,
        "project.dependencies",
    )
    assert dep(m, "pillow").pinned
    timm = dep(m, "timm")
    assert (timm.kind, timm.url, timm.line) == (
        "vcs",
        "git+https://github.com/huggingface/pytorch-image-models@v1.0.3",
        line_of(UV_PROJECT, '"timm'),
    )
    assert dep(m, "onnx").kind == "url"
    assert dep(m, "opencv-python-headless").line == line_of(UV_PROJECT, '"opencv')
    cudnn = dep(m, "nvidia-cudnn-cu12")
    assert (cudnn.section, cudnn.line, cudnn.pinned) == (
        "project.optional-dependencies.gpu",
        line_of(UV_PROJECT, '"nvidia'),
        True,
    )
    onnxruntime = dep(m, "onnxruntime")
    assert (onnxruntime.line, onnxruntime.section) == (
        line_of(UV_PROJECT, '"onnxruntime'),
        "project.optional-dependencies.export",
    )
    assert dep(m, "httpx").section == "dependency-groups.test"
    ruff = dep(m, "ruff")
    assert (ruff.section, ruff.line) == ("dependency-groups.lint", line_of(UV_PROJECT, '"ruff"'))
    assert dep(m, "ipython").section == "tool.uv.dev-dependencies"
    hatch = dep(m, "hatchling")
    assert (hatch.section, hatch.pinned) == ("build-system.requires", True)


def test_uv_indexes_and_settings() -> None:
    m = parse("pyproject.toml", UV_PROJECT)
    got = {(i.url, i.role, i.name, i.line) for i in m.indexes}
    assert got == {
        ("https://mirror.acme.example/simple", "primary", None, line_of(UV_PROJECT, "index-url =")),
        ("http://old-mirror.acme.example/simple", "extra", None, line_of(UV_PROJECT, '"http://old')),
        ("./wheels", "find-links", None, line_of(UV_PROJECT, "find-links")),
        ("old-mirror.acme.example", "trusted-host", None, line_of(UV_PROJECT, "allow-insecure-host")),
        (
            "https://download.pytorch.org/whl/cu121",
            "source",
            "pytorch",
            line_of(UV_PROJECT, 'url = "https://download'),
        ),
        (
            "https://pypi.acme.example/simple",
            "extra",
            "acme",
            line_of(UV_PROJECT, 'url = "https://pypi.acme'),
        ),
        ("https://corp.acme.example/simple", "primary", "corp", line_of(UV_PROJECT, 'url = "https://corp')),
    }


def test_uv_sources_rewrite_the_declared_dependency() -> None:
    m = parse("pyproject.toml", UV_PROJECT)
    torch = dep(m, "torch")
    assert (torch.source, torch.line, torch.pinned) == ("pytorch", line_of(UV_PROJECT, '"torch=='), True)
    assert dep(m, "acme-auth").source == "acme"
    shared = dep(m, "shared-lib")
    assert (shared.kind, shared.line, shared.section) == (
        "path",
        line_of(UV_PROJECT, "shared-lib = {"),
        "tool.uv.sources",
    )
    tensorrt = [d for d in m.dependencies if d.name == "tensorrt"]
    assert [(d.kind, d.url, d.line) for d in tensorrt] == [
        (
            "vcs",
            "git+https://github.com/NVIDIA/TensorRT@abc123",
            line_of(UV_PROJECT, '{ git = "https://github.com/NVIDIA'),
        ),
        ("path", "./vendor/tensorrt", line_of(UV_PROJECT, '{ path = "./vendor')),
    ]


def test_pep621_invalid_requirement_and_non_string_are_problems() -> None:
    text = '[project]\nname = "x"\ndependencies = [\n  "requests>=2",\n  "bad name ==1",\n  42,\n]\n'
    m = parse("pyproject.toml", text)
    assert [d.name for d in m.dependencies] == ["requests"]
    assert [(p.kind, p.line) for p in m.problems] == [("unsupported", 5), ("unsupported", 6)]
    assert "PEP 508" in m.problems[0].message


def test_homoglyph_name_is_a_problem_and_still_reaches_the_judges() -> None:
    text = '[project]\nname = "x"\ndependencies = [\n  "num\u0440y>=1.26",\n]\n'
    m = parse("pyproject.toml", text)
    assert [(p.kind, p.line) for p in m.problems] == [("unsupported", 4)]
    assert "\n" not in m.problems[0].message
    assert [(d.name, d.line, d.section) for d in m.dependencies] == [
        ("num\u0440y", 4, "project.dependencies")
    ]


def test_dynamic_dependencies_are_not_a_problem() -> None:
    text = '[project]\nname = "x"\ndynamic = ["dependencies", "version"]\n\n[tool.setuptools.dynamic]\n'
    text += 'dependencies = { file = ["requirements.txt"] }\n'
    m = parse("pyproject.toml", text)
    assert (m.dependencies, m.problems, m.indexes) == ([], [], [])


def test_poetry2_enriches_pep621_entries_instead_of_duplicating() -> None:
    text = """\
[project]
name = "x"
dependencies = ["acme-core>=2", "requests==2.32.3", "tools"]

[tool.poetry.dependencies]
acme-core = { source = "acme" }
tools = { git = "https://github.com/acme/tools.git", branch = "main" }

[[tool.poetry.source]]
name = "acme"
url = "https://pypi.acme.example/simple"
priority = "explicit"
"""
    m = parse("pyproject.toml", text)
    assert [d.name for d in m.dependencies] == ["acme-core", "requests", "tools"]
    core = dep(m, "acme-core")
    assert (core.source, core.line, core.specifier) == ("acme", 3, ">=2")
    tools = dep(m, "tools")
    assert (tools.kind, tools.url, tools.line) == ("vcs", "git+https://github.com/acme/tools.git@main", 7)


PDM_HATCH = """\
[project]
name = "x"
dependencies = ["requests"]

[tool.pdm.dev-dependencies]
test = [
    "pytest>=8",
    "-e file:///${PROJECT_ROOT}/packages/acme-testing#egg=acme-testing",
]

[[tool.pdm.source]]
name = "private"
url = "https://pypi.acme.example/simple"
verify_ssl = false

[[tool.pdm.source]]
name = "torch"
url = "https://download.pytorch.org/whl/cpu"
include_packages = ["torch", "torchvision"]

[[tool.pdm.source]]
name = "wheels"
url = "file:///${PROJECT_ROOT}/wheels"
type = "find_links"

[tool.hatch.envs.default]
dependencies = ["coverage[toml]>=7"]

[tool.hatch.envs.docs]
extra-dependencies = ["mkdocs"]
"""


def test_pdm_and_hatch() -> None:
    m = parse("pyproject.toml", PDM_HATCH)
    assert m.problems == []
    assert dep(m, "pytest").section == "tool.pdm.dev-dependencies.test"
    editable = dep(m, "acme-testing")
    assert (editable.kind, editable.line) == ("path", line_of(PDM_HATCH, '"-e file'))
    assert {(i.name, i.role, i.url) for i in m.indexes} == {
        ("private", "extra", "https://pypi.acme.example/simple"),
        ("private", "trusted-host", "pypi.acme.example"),
        ("torch", "source", "https://download.pytorch.org/whl/cpu"),
        ("wheels", "find-links", "file:///${PROJECT_ROOT}/wheels"),
    }
    assert index(m, "pypi.acme.example").line == line_of(PDM_HATCH, "verify_ssl = false")
    assert dep(m, "coverage").section == "tool.hatch.envs.default.dependencies"
    assert dep(m, "mkdocs").line == line_of(PDM_HATCH, '"mkdocs"')


@pytest.mark.parametrize("text", [POETRY, UV_PROJECT, PDM_HATCH, TRICKY])
def test_locator_agrees_with_tomllib_on_realistic_files(text: str) -> None:
    assert_locator_agrees(text)


# --- Pipfile / Pipfile.lock -----------------------------------------------------------------------

PIPFILE = """\
[[source]]
url = "https://pypi.org/simple"
verify_ssl = true
name = "pypi"

[[source]]
url = "https://pypi.acme.example/simple"
verify_ssl = false
name = "acme"

[packages]
requests = "*"
django = "==4.2.13"
celery = ">=5.3,<6"
acme-billing = { version = "==3.1.0", index = "acme" }
acme-ledger = "*"
mylib = { git = "https://github.com/acme/mylib.git", ref = "v2.0.1", editable = true }
localpkg = { path = "./localpkg", editable = true }
remote = { file = "https://files.example.com/remote-1.0.tar.gz" }
gunicorn = { version = "*", markers = "sys_platform == 'linux'" }

[dev-packages]
pytest = ">=8"

[docs]
sphinx = "==7.3.7"

[requires]
python_version = "3.11"

[scripts]
serve = "python manage.py runserver"
"""


def test_pipfile_sources_packages_and_categories() -> None:
    m = parse("Pipfile", PIPFILE)
    assert m.problems == [] and m.format == "Pipfile"
    assert [(i.url, i.role, i.name, i.line) for i in m.indexes] == [
        ("https://pypi.org/simple", "primary", "pypi", 2),
        ("https://pypi.acme.example/simple", "extra", "acme", 7),
        ("pypi.acme.example", "trusted-host", "acme", 8),
    ]
    requests = dep(m, "requests")
    assert (requests.specifier, requests.pinned, requests.line, requests.section) == (
        "",
        False,
        line_of(PIPFILE, "requests ="),
        "packages",
    )
    assert dep(m, "django").pinned and not dep(m, "celery").pinned
    billing = dep(m, "acme-billing")
    assert (billing.source, billing.pinned) == ("acme", True)
    assert dep(m, "acme-ledger").source is None
    assert (dep(m, "mylib").kind, dep(m, "mylib").url) == (
        "vcs",
        "git+https://github.com/acme/mylib.git@v2.0.1",
    )
    assert dep(m, "localpkg").kind == "path"
    assert dep(m, "remote").kind == "url"
    assert dep(m, "pytest").section == "dev-packages"
    assert (dep(m, "sphinx").section, dep(m, "sphinx").line) == ("docs", line_of(PIPFILE, "sphinx"))
    assert {d.name for d in m.dependencies}.isdisjoint({"python_version", "serve"})


def test_pipfile_bad_version_is_a_problem() -> None:
    m = parse("Pipfile", '[packages]\nok = "*"\nbad = "latest please"\n')
    assert [(p.kind, p.line) for p in m.problems] == [("unsupported", 3)]


def _pipfile_lock() -> str:
    data = {
        "_meta": {
            "hash": {"sha256": "ab" * 32},
            "pipfile-spec": 6,
            "requires": {"python_version": "3.11"},
            "sources": [
                {"name": "pypi", "url": "https://pypi.org/simple", "verify_ssl": True},
                {"name": "acme", "url": "https://pypi.acme.example/simple", "verify_ssl": True},
            ],
        },
        "default": {
            "acme-billing": {
                "hashes": ["sha256:" + "1" * 64],
                "index": "acme",
                "version": "==3.1.0",
            },
            "certifi": {
                "hashes": ["sha256:" + "2" * 64, "sha256:" + "3" * 64],
                "index": "pypi",
                "markers": "python_version >= '3.6'",
                "version": "==2024.6.2",
            },
            "mylib": {"editable": True, "git": "https://github.com/acme/mylib.git", "ref": "0a1b2c3d"},
            "nohash": {"version": "==1.0"},
        },
        "develop": {"pytest": {"hashes": ["sha256:" + "4" * 64], "index": "pypi", "version": "==8.2.2"}},
    }
    return json.dumps(data, indent=4, sort_keys=True) + "\n"


def test_pipfile_lock_entries() -> None:
    text = _pipfile_lock()
    m = parse("Pipfile.lock", text)
    assert m.problems == [] and m.locked
    assert [(i.role, i.name, i.line) for i in m.indexes] == [
        ("primary", "pypi", line_of(text, '"url": "https://pypi.org')),
        ("extra", "acme", line_of(text, '"url": "https://pypi.acme')),
    ]
    billing = dep(m, "acme-billing")
    assert (billing.line, billing.source, billing.pinned, billing.hashes, billing.section) == (
        line_of(text, '"acme-billing"'),
        "https://pypi.acme.example/simple",
        True,
        ("sha256:" + "1" * 64,),
        "default",
    )
    certifi = dep(m, "certifi")
    assert (certifi.specifier, len(certifi.hashes), certifi.line) == (
        "==2024.6.2",
        2,
        line_of(text, '"certifi"'),
    )
    mylib = dep(m, "mylib")
    assert (mylib.kind, mylib.url) == ("vcs", "git+https://github.com/acme/mylib.git@0a1b2c3d")
    assert dep(m, "nohash").hashes == ()
    pytest_dep = dep(m, "pytest")
    assert (pytest_dep.section, pytest_dep.line) == ("develop", line_of(text, '"pytest"'))


def test_pipfile_lock_compact_json_still_gets_lines() -> None:
    text = '{"_meta": {"sources": []},\n "default": {"a": {"version": "==1"},\n  "b": {"version": "==2"}}}'
    m = parse("Pipfile.lock", text)
    assert [(d.name, d.line) for d in m.dependencies] == [("a", 2), ("b", 3)]


# --- end to end: malformed files are findings -----------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text", "line"),
    [
        ("pyproject.toml", '[project]\nname = "x"\ndependencies = [\n  "a"\n  "b",\n]\n', 5),
        ("Pipfile", "[packages]\nrequests = *\n", 2),
        ("Pipfile.lock", '{\n  "default": {\n    "a": {"version": "==1",}\n  }\n}\n', 3),
        ("poetry.lock", '[[package]]\nname = "a"\nversion = "1.0"\nversion = "1.1"\n', 4),
        ("uv.lock", 'version = 1\n\n[[package]]\nname = "a"\nsource = { registry = "x" \n', 5),
        ("pylock.toml", 'lock-version = "1.0"\n[[packages]\nname = "a"\n', 2),
    ],
)
def test_unreadable_manifest_is_mls_dep_030(tmp_path: Path, name: str, text: str, line: int) -> None:
    path = tmp_path / name
    path.write_text(text)
    findings = [f for f in scan_path(path, root=tmp_path).findings if f.rule_id.startswith("MLS-DEP-03")]
    assert [(f.rule_id, f.location.line) for f in findings] == [("MLS-DEP-030", line)]


def test_bad_entry_is_mls_dep_031_and_the_rest_is_read(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[project]\nname = "x"\ndependencies = [\n  "requests==2.32.3",\n  "torch >= = 2",\n]\n')
    findings = [f for f in scan_path(path, root=tmp_path).findings if f.rule_id.startswith("MLS-DEP-03")]
    assert [(f.rule_id, f.location.line) for f in findings] == [("MLS-DEP-031", 5)]
    assert "torch >= = 2" in findings[0].message
