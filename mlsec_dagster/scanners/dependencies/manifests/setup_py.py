"""``setup.py``: the requirement keywords of its ``setup(...)`` call, read from the syntax tree only.

Running a ``setup.py`` is exactly the attack this gate exists to stop, so it is parsed with ``ast``
and never executed. What can be known without running it is read: literal lists, tuples and dicts of
strings, a module-level name bound once to such a literal, ``+`` of those, and ``**`` of a literal
dict. Anything else (``open("requirements.txt")...``, a comprehension, a function call) is computed at
install time: it is reported as not checked rather than trusted.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from mlsec_dagster.scanners.dependencies.manifests._entries import from_strings
from mlsec_dagster.scanners.dependencies.model import (
    Dependency,
    Manifest,
    ManifestParser,
    Problem,
    ReadInclude,
)

_LIST_KEYWORDS = frozenset({"install_requires", "setup_requires", "tests_require"})
"""``setup_requires`` is fetched and imported by the build itself, before anything is installed."""
_EXTRAS = "extras_require"
_SETUP_MODULES = frozenset({"setuptools", "distutils.core"})
_MUTATORS = frozenset({"append", "extend", "insert", "update", "setdefault", "__setitem__"})
_MAX_NAME_HOPS = 8
"""``A = B``, ``B = [...]``: how many names are followed before giving up (and reporting)."""
_UNSET: ast.expr = ast.Constant(None)
"""Marks a module-level name bound more than once or changed in place: its value is not literal."""

Item = tuple[int | None, str]


def parse(text: str, name: str, read_include: ReadInclude | None) -> Manifest:
    manifest = Manifest("setup.py")
    try:
        tree = ast.parse(text, filename=name)
    except SyntaxError as err:
        manifest.problems.append(
            Problem(f"setup.py is not valid Python ({err.msg}); pip cannot build it either", err.lineno)
        )
        return manifest
    except (ValueError, RecursionError, MemoryError) as err:
        manifest.problems.append(Problem(f"setup.py could not be parsed: {type(err).__name__}", None))
        return manifest
    reader = _Reader(tree, manifest)
    for call in _setup_calls(tree):
        for keyword, value in reader.keywords(call):
            if keyword in _LIST_KEYWORDS:
                reader.add(keyword, value)
            elif keyword == _EXTRAS:
                reader.extras(value)
    return manifest


class _Reader:
    def __init__(self, tree: ast.Module, manifest: Manifest) -> None:
        self.names = _module_names(tree)
        self.manifest = manifest

    def resolve(self, node: ast.expr) -> ast.expr:
        for _ in range(_MAX_NAME_HOPS):
            if not isinstance(node, ast.Name) or node.id not in self.names:
                return node
            node = self.names[node.id]
        return node

    def computed(self, label: str, node: ast.expr) -> None:
        source = ast.unparse(node)
        source = source if len(source) <= 80 else source[:77] + "..."
        self.manifest.problems.append(
            Problem(
                f"{label} is computed ({source}) and was not checked; write the requirements as a literal "
                "list in setup.py, setup.cfg or pyproject.toml so they can be reviewed",
                node.lineno,
                "unsupported",
            )
        )

    def keywords(self, call: ast.Call) -> Iterator[tuple[str, ast.expr]]:
        for keyword in call.keywords:
            if keyword.arg is not None:
                yield keyword.arg, keyword.value
                continue
            spread = self.resolve(keyword.value)
            pairs = _literal_dict(spread)
            if pairs is None:
                self.computed("setup(**...) keyword arguments", keyword.value)
                continue
            for key, value in pairs:
                if key is None:
                    self.computed("setup(**...) keyword arguments", value)
                else:
                    yield key, value

    def add(self, label: str, node: ast.expr) -> None:
        items = list(self.strings(label, node))
        for entry in from_strings([text for _, text in items], label, [line for line, _ in items]):
            if isinstance(entry, Dependency):
                self.manifest.dependencies.append(entry)
            else:
                self.manifest.problems.append(entry)

    def strings(self, label: str, written: ast.expr) -> Iterator[Item]:
        """The requirement strings of ``written``, each with the line of its literal."""
        node = self.resolve(written)
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            for element in node.elts:
                inner = element.value if isinstance(element, ast.Starred) else element
                yield from self.strings(label, inner)
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            yield from self.strings(label, node.left)
            yield from self.strings(label, node.right)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield from _string_lines(node)
        else:
            self.computed(label, written if node is _UNSET else node)

    def extras(self, written: ast.expr) -> None:
        node = self.resolve(written)
        pairs = _literal_dict(node)
        if pairs is None:
            self.computed(_EXTRAS, written if node is _UNSET else node)
            return
        for key, value in pairs:
            if key is None:
                self.computed(_EXTRAS, value)
            else:
                self.add(f"{_EXTRAS}.{key}", value)


def _literal_dict(node: ast.expr) -> list[tuple[str | None, ast.expr]] | None:
    """``{"k": v}`` or ``dict(k=v)`` as (key, value node) pairs; a key that is not a literal string is
    None. Anything else: None."""
    if isinstance(node, ast.Dict):
        return [
            (k.value if isinstance(k, ast.Constant) and isinstance(k.value, str) else None, v)
            for k, v in zip(node.keys, node.values, strict=True)
        ]
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "dict"
        and not node.args
    ):
        return [(k.arg, k.value) for k in node.keywords]
    return None


def _string_lines(node: ast.Constant) -> Iterator[Item]:
    """setuptools also takes one string, one requirement per line. Its lines are exact when the literal
    spans as many source lines as it has newlines (no escapes or implicit concatenation)."""
    text = str(node.value)
    exact = node.end_lineno is not None and node.end_lineno - node.lineno == text.count("\n")
    for offset, piece in enumerate(text.split("\n")):
        stripped = piece.strip()
        if stripped and not stripped.startswith("#"):
            yield (node.lineno + offset if exact else node.lineno), stripped


def _setup_calls(tree: ast.Module) -> Iterator[ast.Call]:
    aliases = {"setup"}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in _SETUP_MODULES:
            aliases.update(a.asname or a.name for a in node.names if a.name == "setup")
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if (isinstance(func, ast.Name) and func.id in aliases) or (
            isinstance(func, ast.Attribute) and func.attr == "setup"
        ):
            yield node


def _module_names(tree: ast.Module) -> dict[str, ast.expr]:
    """Module-level names bound exactly once and never changed in place, with their values."""
    names: dict[str, ast.expr] = {}
    for node in tree.body:
        targets: list[ast.expr] = []
        value: ast.expr | None = None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign):
            targets, value = [node.target], node.value
        elif isinstance(node, ast.AugAssign):
            targets = [node.target]
        for target in targets:
            if isinstance(target, ast.Name):
                names[target.id] = _UNSET if target.id in names or value is None else value
    for call in ast.walk(tree):
        if (
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Attribute)
            and call.func.attr in _MUTATORS
            and isinstance(call.func.value, ast.Name)
            and call.func.value.id in names
        ):
            names[call.func.value.id] = _UNSET
    return names


PARSER = ManifestParser("setup.py", lambda name: name == "setup.py", parse)
