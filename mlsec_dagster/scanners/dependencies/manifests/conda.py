"""conda environment files: only the ``pip:`` list installs from PyPI, so only it is read.

Which files: ``.yml``/``.yaml`` base names whose stem is or holds the word ``environment``, or starts
with the word ``conda`` (words separated by ``-``, ``_``, ``.``): ``environment.yml``,
``environment-gpu.yaml``, ``dev_environment.yml``, ``conda.yaml`` (MLflow models), ``conda-linux.yml``;
not ``conda-lock.yml`` (a lock file of another shape). Case is ignored.

conda package specs (``numpy=1.26``, ``conda-forge::pytorch``) name conda packages, not PyPI
projects, and ``channels:`` are not PyPI indexes: both are left out (judging them against PyPI data
would only produce noise). The ``- pip:`` entries are what conda writes into a requirements file
for ``pip install -r`` next to the environment file, so each one is read as a requirements line
(options, ``-r`` includes, ``--extra-index-url``...), at the exact line of its YAML scalar.
The YAML is composed into nodes (for line numbers) with the safe loader; nothing is constructed.
"""

from __future__ import annotations

import re

import yaml

from mlsec_dagster.scanners.dependencies.manifests.requirements import Collector, logical_lines
from mlsec_dagster.scanners.dependencies.model import Manifest, ManifestParser, ReadInclude

_STEM = re.compile(r"(?:.*[-_.])?environment(?:[-_.].*)?|conda(?:[-_.].*)?")
_NOT_ENVIRONMENTS = frozenset({"conda-lock"})
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SECTION = "pip"
_NULL = "tag:yaml.org,2002:null"


def matches(name: str) -> bool:
    stem, dot, ext = name.lower().rpartition(".")
    return (
        bool(dot) and ext in ("yml", "yaml") and stem not in _NOT_ENVIRONMENTS and bool(_STEM.fullmatch(stem))
    )


def parse(text: str, name: str, read_include: ReadInclude | None) -> Manifest:
    collector = Collector("conda", name, read_include)
    try:
        root = yaml.compose(text, Loader=_LOADER)
    except yaml.YAMLError as err:
        collector.problem(
            f"not valid YAML ({_reason(err)}); conda cannot read it either",
            _error_line(err, text),
            "unreadable",
        )
        return collector.manifest
    if root is None:
        return collector.manifest  # an empty file declares nothing
    if not isinstance(root, yaml.MappingNode):
        collector.problem(
            f"the top level is {_shape(root)}, not a mapping with a `dependencies:` list; conda rejects it",
            _line(root),
            "unreadable",
        )
        return collector.manifest
    # Duplicate keys: every one is read (the safe loader keeps the last, other loaders differ).
    for key, value in root.value:
        if _scalar(key) == "dependencies":
            _dependencies(value, collector)
    return collector.finish()


def _dependencies(node: yaml.Node, collector: Collector) -> None:
    if node.tag == _NULL:
        return  # `dependencies:` with nothing under it
    if not isinstance(node, yaml.SequenceNode):
        collector.problem(f"`dependencies` is {_shape(node)}, not a list", _line(node))
        return
    for item in node.value:
        if isinstance(item, yaml.ScalarNode):
            continue  # a conda package spec (see module docstring)
        if not isinstance(item, yaml.MappingNode):
            collector.problem(f"a `dependencies` entry is {_shape(item)}", _line(item))
            continue
        for key, value in item.value:
            installer = _scalar(key)
            if installer == _SECTION:
                _pip(value, collector)
            else:
                collector.problem(
                    f"`dependencies` entry `{installer}:` is not an installer conda knows (only `pip:`); "
                    "its packages were not checked",
                    _line(key),
                )


def _pip(node: yaml.Node, collector: Collector) -> None:
    if node.tag == _NULL:
        return
    if not isinstance(node, yaml.SequenceNode):
        collector.problem(f"`pip:` is {_shape(node)}, not a list of requirements", _line(node))
        return
    for entry in node.value:
        text = _scalar(entry)
        if text is None:
            collector.problem(f"a `pip:` entry is {_shape(entry)}, not a requirement string", _line(entry))
        else:
            for _, content in logical_lines(text):  # comments and backslashes, as pip reads the file
                collector.line(content, _line(entry), "", _SECTION, False, 0)


def _reason(err: yaml.YAMLError) -> str:
    said = [getattr(err, "context", None), getattr(err, "problem", None)]
    return " ".join((", ".join(str(part) for part in said if part) or str(err)).split())


def _error_line(err: yaml.YAMLError, text: str) -> int | None:
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    if mark is not None:
        return int(mark.line) + 1
    position = getattr(err, "position", None)  # ReaderError: a character the YAML reader refuses
    return text.count("\n", 0, position) + 1 if isinstance(position, int) else None


def _scalar(node: yaml.Node) -> str | None:
    return node.value if isinstance(node, yaml.ScalarNode) else None


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _shape(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return f"the value {node.value!r}"


PARSER = ManifestParser("conda", matches, parse)
