"""Static analysis of install-time Python (``setup.py``, its helpers, in-tree backends, ``.pth`` lines).

``_pysource`` judges model code, where any process or network call is a gadget. Install-time code
needs a different verdict table (``git describe`` in ``setup.py`` is normal, an ``install`` command
override is not) and must see through the obfuscation malicious packages use: aliases and
re-bindings (``s = os.system``), ``getattr`` with concatenated names, ``__import__``/``importlib`` on
constants, ``__builtins__``/``vars()``/``sys.modules`` lookups, and payloads decoded from base64/zlib
before ``exec``. Constants are folded and encoded payloads decoded as data (bounded); nothing is run.
Resolution is flow-insensitive on purpose: any binding of a name counts, so re-assignment tricks
cannot hide a callable.
"""

from __future__ import annotations

import ast
import binascii
import builtins
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from mlsec_dagster.engine.findings import Severity
from mlsec_dagster.scanners.packages.calls import (
    BUILD_TOOLS,
    CODE_RUNNERS,
    DECODERS,
    DOWNLOAD_AND_RUN,
    FILE_LOADERS,
    GIT_READ_ONLY,
    HOME_VARIABLES,
    IMPORTERS,
    NETWORK_MODULES,
    OPENERS,
    OUTSIDE_FRAGMENTS,
    OUTSIDE_MARKERS,
    PATH_READ_METHODS,
    PATH_WRITE_METHODS,
    PIP_COMMANDS,
    SECRET_FRAGMENTS,
    SENSITIVE_MODULES,
    SHELL_META,
    WRITE_DEST_ARG,
    Kind,
    classify,
    strip_call,
)
from mlsec_dagster.scanners.packages.payloads import MAX_CONST, decode_const

MAX_DEPTH = 12
"""Nesting of name/expression resolution (cycles like ``a = b; b = a`` stop here)."""
MAX_PAYLOAD_DEPTH = 3
"""exec-of-decoded-exec chains analysed recursively."""
MAX_NAMES = 16
"""Distinct qualified names one expression may resolve to (flow-insensitive bindings multiply)."""

_BUILTINS = frozenset(dir(builtins))


@dataclass(frozen=True)
class Hit:
    kind: Kind
    name: str
    """The qualified callable (``os.system``) or what was reached; part of the finding key."""
    line: int
    severity: Severity
    detail: str
    snippet: str
    scope: str = ""
    """Enclosing ``Class.method`` or ``function``; empty at module level."""
    payload: str = ""
    """Decoded payload text, when the code runs something it decoded from a constant."""


@dataclass(frozen=True)
class Override:
    """A class that replaces a setuptools/distutils command (``cmdclass``)."""

    command: str
    class_name: str
    line: int
    snippet: str
    dangerous: tuple[Hit, ...]
    """HIGH hits in the class's methods and in the functions they call."""


@dataclass
class Analysis:
    hits: list[Hit] = field(default_factory=list)
    overrides: list[Override] = field(default_factory=list)
    follows: list[tuple[str, int]] = field(default_factory=list)
    """Relative files this code executes (``exec`` of ``open("pkg/version.py").read()``), with the line."""
    imports: set[str] = field(default_factory=set)
    """Top-level module names imported (sibling helper modules of setup.py run too)."""


def analyse(source: str) -> Analysis:
    """Everything ``source`` does at install time. Raises SyntaxError/ValueError if it is not Python."""
    tree = ast.parse(source)
    return _Analyser(tree, source.splitlines()).run()


def analyse_payload(source: str, depth: int = 0) -> list[Hit]:
    """Hits of decoded code (no line information of its own); [] when it is not Python."""
    if depth >= MAX_PAYLOAD_DEPTH:
        return []
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError):
        return []
    return _Analyser(tree, source.splitlines(), depth).run().hits


class _Bindings(ast.NodeVisitor):
    """Every name binding in the file, scope-insensitive: imports, assignments, defs, ``with ... as``."""

    def __init__(self) -> None:
        self.aliases: dict[str, str] = {}
        self.values: dict[str, list[ast.expr]] = {}
        self.items: dict[tuple[str, str], list[ast.expr]] = {}
        """``cmdclass["install"] = X``: (name, key) -> values."""
        self.star: list[str] = []
        self.functions: set[str] = set()
        self.classes: dict[str, ast.ClassDef] = {}

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.asname:
                self.aliases[alias.asname] = alias.name
            else:
                top = alias.name.split(".")[0]
                self.aliases[top] = top

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            return
        module = node.module or ""
        for alias in node.names:
            if alias.name == "*":
                self.star.append(module)
            else:
                self.aliases[alias.asname or alias.name] = f"{module}.{alias.name}"

    def _bind(self, target: ast.expr, value: ast.expr) -> None:
        if isinstance(target, ast.Name):
            self.values.setdefault(target.id, []).append(value)
        elif isinstance(target, (ast.Tuple, ast.List)) and isinstance(value, (ast.Tuple, ast.List)):
            for t, v in zip(target.elts, value.elts, strict=False):
                self._bind(t, v)
        elif isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name):
            key = _literal_str(target.slice)
            if key is not None:
                self.items.setdefault((target.value.id, key), []).append(value)

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self._bind(target, node.value)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self._bind(node.target, node.value)
        self.generic_visit(node)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self._bind(node.target, node.value)
        self.generic_visit(node)

    def visit_For(self, node: ast.For) -> None:
        """A loop variable is bound to each element: recorded as bound to the iterable (not a constant)."""
        self._bind(node.target, node.iter)
        self.generic_visit(node)

    visit_AsyncFor = visit_For  # type: ignore[assignment]

    def visit_comprehension(self, node: ast.comprehension) -> None:
        self._bind(node.target, node.iter)
        self.generic_visit(node)

    def visit_withitem(self, node: ast.withitem) -> None:
        if node.optional_vars is not None:
            self._bind(node.optional_vars, node.context_expr)
        self.generic_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self.functions.add(node.name)
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.classes[node.name] = node
        self.generic_visit(node)


def _literal_str(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


class _Analyser(ast.NodeVisitor):
    def __init__(self, tree: ast.Module, lines: list[str], payload_depth: int = 0) -> None:
        self.tree = tree
        self.lines = lines
        self.payload_depth = payload_depth
        self.b = _Bindings()
        self.b.visit(tree)
        self.out = Analysis()
        self.scope: list[str] = []
        self.calls: dict[str, set[str]] = {}
        """scope -> names of functions/methods it calls (for what a command's run() reaches)."""
        self._seen: set[tuple[str, int, str]] = set()
        self.guards: list[str] = []
        """Custom setup.py commands the current block is conditional on."""
        self._active: set[str] = set()
        self._names: dict[str, set[str]] = {}
        self._consts: dict[str, str | bytes | None] = {}

    def run(self) -> Analysis:
        self.visit(self.tree)
        self.out.overrides = self._overrides()
        return self.out

    # -- resolution -------------------------------------------------------------------------
    def resolve(self, node: ast.AST, depth: int = 0) -> set[str]:
        """Qualified names an expression may denote (``o.system`` after ``import os as o`` -> os.system)."""
        if depth > MAX_DEPTH:
            return set()
        out = self._resolve(node, depth + 1)
        return set(sorted(out)[:MAX_NAMES])

    def _resolve(self, node: ast.AST, depth: int) -> set[str]:
        if isinstance(node, ast.Name):
            return self._resolve_name(node.id, depth)
        if isinstance(node, ast.Attribute):
            return {f"{base}.{node.attr}" for base in self.resolve(node.value, depth)}
        if isinstance(node, ast.Call):
            return self._resolve_call(node, depth)
        if isinstance(node, ast.Subscript):
            return self._resolve_subscript(node, depth)
        return set()

    def _resolve_name(self, name: str, depth: int) -> set[str]:
        """Cached, and cut on cycles (``x = x + y`` in a loop must not explode)."""
        if name in self._names:
            return self._names[name]
        if "n:" + name in self._active:
            return set()
        self._active.add("n:" + name)
        try:
            found = self._resolve_name_uncached(name, depth)
        finally:
            self._active.discard("n:" + name)
        self._names[name] = found
        return found

    def _resolve_name_uncached(self, name: str, depth: int) -> set[str]:
        if name in self.b.aliases:
            return {self.b.aliases[name]}
        if name == "__builtins__":
            return {"builtins"}
        if name in self.b.values:
            out: set[str] = set()
            for value in self.b.values[name][:MAX_NAMES]:
                out |= self.resolve(value, depth)
            return out
        if name in self.b.functions or name in self.b.classes:
            return {name}
        for module in self.b.star:
            if classify(f"{module}.{name}") is not None:
                return {f"{module}.{name}"}
        if name in _BUILTINS:
            return {f"builtins.{name}"}
        return {name}

    def _resolve_call(self, node: ast.Call, depth: int) -> set[str]:
        funcs = self.resolve(node.func, depth)
        out: set[str] = set()
        for func in funcs:
            if func == "builtins.getattr" and len(node.args) >= 2:
                attr = self.const_str(node.args[1], depth)
                if attr is not None:
                    out |= {f"{base}.{attr}" for base in self.resolve(node.args[0], depth)}
            elif func in IMPORTERS and node.args:
                module = self.const_str(node.args[0], depth)
                if module is not None:
                    fromlist = len(node.args) >= 4 or any(k.arg == "fromlist" for k in node.keywords)
                    top = func == "builtins.__import__" and not fromlist
                    out.add(module.split(".")[0] if top else module)
            elif func == "builtins.vars" and node.args:
                out |= {f"{base}.__dict__" for base in self.resolve(node.args[0], depth)}
            elif func in ("builtins.vars", "builtins.globals", "builtins.locals"):
                out.add("<globals>")
            elif func == "sys.modules.get" and node.args:
                module = self.const_str(node.args[0], depth)
                if module is not None:
                    out.add(module)
            else:
                out.add(f"{func}()")
        return out

    def _resolve_subscript(self, node: ast.Subscript, depth: int) -> set[str]:
        key = self.const_str(node.slice, depth)
        if key is None:
            return set()
        out: set[str] = set()
        for base in self.resolve(node.value, depth):
            if base == "<globals>":
                out |= self._resolve_name(key, depth + 1)
            elif base.endswith(".__dict__"):
                out.add(f"{base[: -len('.__dict__')]}.{key}")
            elif base in ("builtins", "sys.modules"):
                out.add(key if base == "sys.modules" else f"builtins.{key}")
        return out

    # -- constant folding -------------------------------------------------------------------
    def const_str(self, node: ast.AST, depth: int = 0) -> str | None:
        value = self.const(node, depth)
        if isinstance(value, bytes):
            return value.decode("latin-1")
        return value

    def const(self, node: ast.AST, depth: int = 0) -> str | bytes | None:
        """The value of a constant expression (concatenation, join, chr, reversal, decoding...)."""
        if depth > MAX_DEPTH:
            return None
        try:
            value = self._const(node, depth + 1)
        except (ValueError, TypeError, binascii.Error, zlib.error, OSError, EOFError, LookupError):
            return None
        if value is not None and len(value) > MAX_CONST:
            return None
        return value

    def _const(self, node: ast.AST, depth: int) -> str | bytes | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
            return node.value
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left, right = self.const(node.left, depth), self.const(node.right, depth)
            if isinstance(left, str) and isinstance(right, str):
                return left + right
            if isinstance(left, bytes) and isinstance(right, bytes):
                return left + right
            return None
        if isinstance(node, ast.JoinedStr):
            parts = [
                self.const(v.value if isinstance(v, ast.FormattedValue) else v, depth) for v in node.values
            ]
            return (
                "".join(p for p in parts if isinstance(p, str))
                if all(isinstance(p, str) for p in parts)
                else None
            )
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice):
            base = self.const(node.value, depth)
            step = node.slice.step
            reversal = isinstance(step, ast.UnaryOp) and isinstance(step.op, ast.USub)
            if base is not None and reversal and node.slice.lower is None and node.slice.upper is None:
                return base[::-1]
            return None
        if isinstance(node, ast.Name):
            return self._const_name(node.id, depth)
        if isinstance(node, ast.Call):
            return self._const_call(node, depth)
        return None

    def _const_name(self, name: str, depth: int) -> str | bytes | None:
        """A name bound only to one constant value (cached, cut on cycles)."""
        if name in self._consts:
            return self._consts[name]
        if "c:" + name in self._active:
            return None
        self._active.add("c:" + name)
        try:
            values = self.b.values.get(name, [])[:MAX_NAMES]
            folded = {self.const(v, depth) for v in values}
        finally:
            self._active.discard("c:" + name)
        result = folded.pop() if len(folded) == 1 and values else None
        self._consts[name] = result
        return result

    def _const_call(self, node: ast.Call, depth: int) -> str | bytes | None:
        func = node.func
        if isinstance(func, ast.Attribute):
            method = func.attr
            base = self.const(func.value, depth)
            if method == "join" and isinstance(base, str) and len(node.args) == 1:
                items = self._const_items(node.args[0], depth)
                return base.join(items) if items is not None else None
            if isinstance(base, bytes) and method == "decode":
                return base.decode("utf-8", "replace")
            if isinstance(base, str) and method == "encode":
                return base.encode("utf-8")
            if base is not None and method in ("lower", "upper", "strip") and not node.args:
                return getattr(base, method)()
            if base is not None and method == "replace" and len(node.args) == 2:
                old, new = self.const(node.args[0], depth), self.const(node.args[1], depth)
                if type(old) is type(base) and type(new) is type(base):
                    return base.replace(old, new)  # type: ignore[arg-type]
        names = self.resolve(func, depth)
        args = [self.const(a, depth) for a in node.args]
        if "builtins.chr" in names and len(node.args) == 1:
            number = node.args[0]
            if isinstance(number, ast.Constant) and isinstance(number.value, int):
                return chr(number.value)
        if (
            names & {"builtins.bytes.fromhex", "binascii.unhexlify", "binascii.a2b_hex"}
            and args
            and args[0] is not None
        ):
            text = args[0] if isinstance(args[0], str) else args[0].decode("latin-1")
            return bytes.fromhex(text)
        if "builtins.bytes" in names and len(node.args) == 1:
            ints = node.args[0]
            if isinstance(ints, (ast.List, ast.Tuple)):
                values = [
                    e.value for e in ints.elts if isinstance(e, ast.Constant) and isinstance(e.value, int)
                ]
                return bytes(values) if len(values) == len(ints.elts) else None
        if args and args[0] is not None:
            decoded = decode_const(names, args[0], args[1:])
            if decoded is not None:
                return decoded
        return None

    def _const_items(self, node: ast.AST, depth: int) -> list[str] | None:
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [self.const_str(e, depth) for e in node.elts]
            return None if any(i is None for i in items) else [i for i in items if i is not None]
        if (
            isinstance(node, ast.Call)
            and len(node.args) == 2
            and "builtins.map" in self.resolve(node.func, depth)
            and "builtins.chr" in self.resolve(node.args[0], depth)
        ):
            return _char_codes(node.args[1])
        if isinstance(node, (ast.GeneratorExp, ast.ListComp)) and len(node.generators) == 1:
            gen = node.generators[0]
            elt = node.elt
            is_chr = isinstance(elt, ast.Call) and "builtins.chr" in self.resolve(elt.func, depth)
            if is_chr and not gen.ifs:
                return _char_codes(gen.iter)
        return None

    # -- visiting ---------------------------------------------------------------------------
    def _snippet(self, line: int) -> str:
        return self.lines[line - 1].strip()[:300] if 0 < line <= len(self.lines) else ""

    def _hit(
        self, node: ast.AST, kind: Kind, name: str, detail: str, severity: Severity, payload: str = ""
    ) -> None:
        line = getattr(node, "lineno", 0)
        if (name, line, kind) in self._seen:
            return
        self._seen.add((name, line, kind))
        scope = ".".join(self.scope)
        if self.guards and severity > Severity.MEDIUM:
            severity = Severity.MEDIUM
            detail += f" (only when setup.py is run by hand with {self.guards[-1]!r}, which pip never does)"
        self.out.hits.append(Hit(kind, name, line, severity, detail, self._snippet(line), scope, payload))

    def visit_If(self, node: ast.If) -> None:
        """``if sys.argv[-1] == "publish":`` blocks run only for a maintainer's own command."""
        guard = self._manual_command(node.test)
        self.visit(node.test)
        if guard:
            self.guards.append(guard)
        for stmt in node.body:
            self.visit(stmt)
        if guard:
            self.guards.pop()
        for stmt in node.orelse:
            self.visit(stmt)

    def _manual_command(self, test: ast.expr) -> str | None:
        """The custom command a test requires (``sys.argv[-1] == "publish"``, ``"upload" in sys.argv``)."""
        if not (isinstance(test, ast.Compare) and len(test.ops) == 1):
            return None
        left, right = test.left, test.comparators[0]
        if isinstance(test.ops[0], ast.Eq):
            sides = [(left, right), (right, left)]
        elif isinstance(test.ops[0], ast.In):
            sides = [(right, left)]
        else:
            return None
        for argv, value in sides:
            base = argv.value if isinstance(argv, ast.Subscript) else argv
            command = self.const_str(value)
            plain = command is not None and re.fullmatch(r"[a-z][a-z0-9_]*", command) is not None
            if plain and "sys.argv" in self.resolve(base) and command not in PIP_COMMANDS:
                return command
        return None

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.out.imports.add(alias.name.split(".")[0])
            if alias.name in NETWORK_MODULES:
                self._hit(node, "network", alias.name, "imports a network module", Severity.MEDIUM)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if not node.level:
            self.out.imports.add(module.split(".")[0])
        for alias in node.names:
            qualified = f"{module}.{alias.name}"
            if module in NETWORK_MODULES or qualified in NETWORK_MODULES:
                self._hit(node, "network", qualified, "imports a network module", Severity.MEDIUM)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if isinstance(node.ctx, ast.Load):
            self._reach(node)
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self._reach(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        self._reach(node)
        self.generic_visit(node)

    def _reach(self, node: ast.expr) -> None:
        """A dangerous callable taken as a value (``f = os.system``, ``map(os.system, cmds)``)."""
        for name in self.resolve(node):
            kind = None if "()" in name else classify(name, exact=True)
            if kind is not None and not self._is_called(node):
                self._hit(node, kind, name, f"takes {name} as a value (to call it indirectly)", Severity.HIGH)

    def _is_called(self, node: ast.expr) -> bool:
        parent = getattr(node, "_mlsec_parent", None)
        return isinstance(parent, ast.Call) and parent.func is node

    def generic_visit(self, node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            child._mlsec_parent = node  # type: ignore[attr-defined]
        super().generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        names = self.resolve(node.func)
        if self.scope:
            self.calls.setdefault(".".join(self.scope), set()).update(_callee_names(node, self.scope))
        for name in sorted(names):
            if "()" not in name:
                self._judge_call(node, name)
        self._reach(node)
        self._judge_path_methods(node)
        self.generic_visit(node)

    def _judge_call(self, node: ast.Call, name: str) -> None:
        if name in CODE_RUNNERS:
            self._judge_code_runner(node, name)
        elif name in IMPORTERS:
            if not node.args or self.const_str(node.args[0]) is None:
                self._hit(node, "dynamic", name, "imports a module whose name is computed", Severity.HIGH)
        elif name == "builtins.getattr" and len(node.args) >= 2 and self.const_str(node.args[1]) is None:
            targets = self.resolve(node.args[0]) & SENSITIVE_MODULES
            if targets:
                target = sorted(targets)[0]
                self._hit(node, "dynamic", f"{target}.<computed>", f"looks up a computed name on {target}",
                          Severity.HIGH)  # fmt: skip
        elif name in FILE_LOADERS:
            self._judge_file_loader(node, name, FILE_LOADERS[name])
        else:
            kind = classify(name)
            if kind == "process":
                severity, detail = self._process_severity(node, name)
                self._hit(node, "process", strip_call(name), detail, severity)
            elif kind is not None:
                detail = "reaches the network" if kind == "network" else "runs code it loads at run time"
                self._hit(node, kind, strip_call(name), detail, Severity.HIGH)
        self._judge_file_access(node, name)

    def _judge_file_loader(self, node: ast.Call, name: str, index: int) -> None:
        """Loading a module from a file of the package (a version file) is followed, not reported."""
        target = node.args[index] if len(node.args) > index else None
        path = self._relative_path(target) if target is not None else None
        if path:
            self.out.follows.append((path, node.lineno))
        else:
            detail = f"loads code from a file whose path could not be resolved ({name})"
            self._hit(node, "dynamic", name, detail, Severity.MEDIUM)

    def _judge_code_runner(self, node: ast.Call, name: str) -> None:
        arg = node.args[0] if node.args else None
        if arg is None:
            return
        followed = self._file_read(arg)
        if followed:
            self.out.follows.append((followed, node.lineno))
            return
        if followed == "":
            detail = f"runs code read from a file whose path could not be resolved ({name.split('.')[-1]})"
            self._hit(node, "dynamic", name, detail, Severity.MEDIUM)
            return
        decoders = sorted(n for sub in ast.walk(arg) if isinstance(sub, ast.Call)
                          for n in self.resolve(sub.func) if n in DECODERS)  # fmt: skip
        value = self.const(arg)
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        verb = name.split(".")[-1]
        if decoders:
            detail = f"runs code decoded with {', '.join(dict.fromkeys(decoders))} ({verb}): a hidden payload"
        elif text is not None:
            detail = f"runs code built from a string constant ({verb})"
        else:
            detail = f"runs code computed at install time ({verb})"
        self._hit(node, "dynamic", name, detail, Severity.HIGH, payload=(text or "")[:2000])
        if text is not None:
            for inner in analyse_payload(text, self.payload_depth + 1):
                self._hit(node, inner.kind, inner.name, f"{inner.detail} (inside the {verb}'d payload)",
                          inner.severity, payload=inner.snippet)  # fmt: skip

    def _file_read(self, node: ast.AST, depth: int = 0) -> str | None:
        """For ``open(p).read()``, ``Path(p).read_text()`` or ``f.read()`` after ``with open(p) as f``: the
        relative path ``p`` ('' when it cannot be told); None when ``node`` is not a file read."""
        if isinstance(node, ast.Name) and depth < 2:
            reads = [self._file_read(v, depth + 1) for v in self.b.values.get(node.id, [])[:4]]
            return next((r for r in reads if r), next((r for r in reads if r is not None), None))
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            return None
        if node.func.attr not in ("read", "read_text", "read_bytes"):
            return None
        opened = node.func.value
        candidates = self.b.values.get(opened.id, [])[:4] if isinstance(opened, ast.Name) else [opened]
        for candidate in candidates:
            if (
                isinstance(candidate, ast.Call)
                and candidate.args
                and self.resolve(candidate.func) & (OPENERS | {"pathlib.Path"})
            ):
                return self._relative_path(candidate.args[0]) or ""
        return None

    def _relative_path(self, node: ast.AST) -> str | None:
        """``"pkg/v.py"``, ``os.path.join(here, "pkg", "v.py")``, ``Path(__file__).parent / "v.py"``."""
        text = self.const_str(node)
        if text is not None:
            return text if _relative(text) else None
        parts = self._path_parts(node, 0)
        if parts is None:
            return None
        out: list[str] = []
        for part in parts:
            text = self.const_str(part)
            if text is None:
                if out or not self._is_base_dir(part):
                    return None
                continue
            if not _relative(text):
                return None
            out.append(text)
        return "/".join(out) if out else None

    def _path_parts(self, node: ast.AST, depth: int) -> list[ast.expr] | None:
        if depth > 6:
            return None
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            left = self._path_parts(node.left, depth + 1) or [node.left]
            return [*left, node.right]
        if isinstance(node, ast.Call) and self.resolve(node.func) & {
            "os.path.join",
            "pathlib.Path",
            "posixpath.join",
        }:
            parts: list[ast.expr] = []
            for arg in node.args:
                parts.extend(self._path_parts(arg, depth + 1) or [arg])
            return parts
        return None

    def _is_base_dir(self, node: ast.AST, depth: int = 0) -> bool:
        """An expression for the project folder (built from ``__file__`` or the working directory)."""
        if depth > 3:
            return False
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name) and sub.id == "__file__":
                return True
            if isinstance(sub, ast.Call) and self.resolve(sub.func) & {"os.getcwd", "pathlib.Path.cwd"}:
                return True
            bound = self.b.values.get(sub.id, [])[:4] if isinstance(sub, ast.Name) else []
            if any(self._is_base_dir(v, depth + 1) for v in bound):
                return True
        return False

    def _process_severity(self, node: ast.Call, name: str) -> tuple[Severity, str]:
        """HIGH for shells, literal commands that are not build tools and anything that looks like a
        download-and-run; MEDIUM for build-tool commands and for computed argv lists passed to
        ``subprocess`` without a shell (versioneer's ``git`` runner, CMake builds), which need review."""
        shell = any(
            k.arg == "shell" and not (isinstance(k.value, ast.Constant) and not k.value.value)
            for k in node.keywords
        )
        argv = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "args"), None)
        if argv is None:
            return Severity.HIGH, "starts a process"
        texts = [t for t, _ in self._fragments(argv) if not t.startswith("<")]
        if any(marker in t for t in texts for marker in DOWNLOAD_AND_RUN) or self._decodes(argv):
            return Severity.HIGH, "starts a process that downloads or decodes what it runs"
        words = self._argv_words(argv)
        if words is None:
            if shell or not name.startswith("subprocess."):
                return Severity.HIGH, "runs a computed shell command"
            return Severity.MEDIUM, "starts a process with a computed command"
        if not words:
            return Severity.HIGH, "starts a process"
        tool = words[0].rsplit("/", 1)[-1]
        build = tool in BUILD_TOOLS or (tool == "git" and len(words) > 1 and words[1] in GIT_READ_ONLY)
        if build and not (shell and any(c in SHELL_META for w in words for c in w)):
            return Severity.MEDIUM, f"runs the build tool {tool!r}"
        return (
            Severity.HIGH,
            "runs a shell command" if shell or "subprocess." not in name else "starts a process",
        )

    def _argv_words(self, argv: ast.AST) -> list[str] | None:
        """First words of a literal command (None when the command is computed)."""
        while isinstance(argv, ast.BinOp) and isinstance(argv.op, ast.Add):
            argv = argv.left
        if isinstance(argv, (ast.List, ast.Tuple)):
            first = [self.const_str(e) for e in argv.elts[:2]]
            if not first or first[0] is None:
                return None
            return [w for w in first if w is not None]
        command = self.const_str(argv)
        if command is None:
            return None
        if any(c in SHELL_META for c in command):
            return ["sh"]
        return command.split()[:2]

    def _decodes(self, node: ast.AST) -> bool:
        return any(isinstance(sub, ast.Call) and self.resolve(sub.func) & DECODERS for sub in ast.walk(node))

    def _judge_file_access(self, node: ast.Call, name: str) -> None:
        index = WRITE_DEST_ARG.get(name)
        if index is None:
            return
        writes = name not in OPENERS or self._write_mode(node)
        target = node.args[index] if len(node.args) > index else None
        if target is None:
            return
        if writes:
            reason = self._outside(target)
            if reason:
                self._hit(node, "write", name, f"writes to {reason}", Severity.HIGH)
        source = node.args[0] if node.args else None
        secret = self._secret(source) if source is not None and (not writes or index == 1) else None
        if secret:
            self._hit(node, "secret", name, f"reads {secret}", Severity.HIGH)

    def _judge_path_methods(self, node: ast.Call) -> None:
        func = node.func
        if not isinstance(func, ast.Attribute):
            return
        writes = func.attr in PATH_WRITE_METHODS or (func.attr == "open" and self._write_mode(node, 0))
        if writes and not self.resolve(func) & set(WRITE_DEST_ARG):
            reason = self._outside(func.value)
            if reason:
                self._hit(node, "write", f"Path.{func.attr}", f"writes to {reason}", Severity.HIGH)
        if func.attr in PATH_READ_METHODS:
            secret = self._secret(func.value)
            if secret:
                self._hit(node, "secret", f"Path.{func.attr}", f"reads {secret}", Severity.HIGH)

    def _write_mode(self, node: ast.Call, index: int = 1) -> bool:
        mode_node = node.args[index] if len(node.args) > index else None
        for keyword in node.keywords:
            if keyword.arg == "mode":
                mode_node = keyword.value
        if mode_node is None:
            return False
        mode = self.const_str(mode_node)
        return mode is None or any(c in mode for c in "wax+")

    def _fragments(self, node: ast.AST, depth: int = 0) -> Iterator[tuple[str, ast.AST]]:
        """Strings and resolved names inside a path expression, following variable bindings."""
        if depth > 4:
            return
        for sub in ast.walk(node):
            if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                yield sub.value, sub
            elif isinstance(sub, (ast.Attribute, ast.Call)):
                target = sub.func if isinstance(sub, ast.Call) else sub
                for name in self.resolve(target):
                    yield f"<{name}>", sub
                variable = self._env_key(sub)
                if variable in HOME_VARIABLES:
                    yield f"<env {variable}>", sub
            elif isinstance(sub, ast.Subscript):
                variable = self._env_key(sub)
                if variable in HOME_VARIABLES:
                    yield f"<env {variable}>", sub
            elif isinstance(sub, ast.Name) and len(self.b.values.get(sub.id, [])) == 1:
                yield from self._fragments(self.b.values[sub.id][0], depth + 1)

    def _env_key(self, node: ast.AST) -> str | None:
        """``os.environ["HOME"]``, ``os.getenv("HOME")``, ``os.environ.get("HOME")`` -> ``HOME``."""
        if isinstance(node, ast.Subscript) and "os.environ" in self.resolve(node.value):
            return self.const_str(node.slice)
        if (
            isinstance(node, ast.Call)
            and node.args
            and self.resolve(node.func) & {"os.getenv", "os.environ.get"}
        ):
            return self.const_str(node.args[0])
        return None

    def _leading(self, node: ast.AST, depth: int = 0) -> str | None:
        """The first string of a path expression (what decides whether it is absolute)."""
        if depth > 4:
            return None
        if isinstance(node, ast.BinOp):
            return self._leading(node.left, depth + 1)
        if isinstance(node, ast.JoinedStr) and node.values:
            return self._leading(node.values[0], depth + 1)
        if isinstance(node, ast.Call) and node.args:
            return self._leading(node.args[0], depth + 1)
        if isinstance(node, ast.Name) and len(self.b.values.get(node.id, [])) == 1:
            return self._leading(self.b.values[node.id][0], depth + 1)
        return self.const_str(node)

    def _outside(self, node: ast.AST) -> str:
        """Why a destination is outside the build folder ('' when it is not, or cannot be told)."""
        leading = self._leading(node) or ""
        if leading.startswith(("/", "~", "\\")) or (
            len(leading) > 2 and leading[1] == ":" and leading[2] in "/\\"
        ):
            return f"an absolute or home path ({leading[:80]!r})"
        for text, _ in self._fragments(node):
            if text.startswith("<env "):
                return f"a location under ${text[5:-1]}"
            if text.startswith("<") and text[1:-1] in OUTSIDE_MARKERS:
                return f"a location outside the build folder ({text[1:-1]})"
            if text.startswith("<"):
                continue
            if text.endswith(".pth"):
                return f"a .pth file ({text[:80]!r}), which runs at every interpreter start"
            hit = next((f for f in OUTSIDE_FRAGMENTS if f in text), None)
            if hit:
                return f"{hit} ({text[:80]!r})"
        absolute = [self.const_str(a) for a in node.args] if isinstance(node, ast.Call) else []
        joined = next((a for a in absolute if a and a.startswith("/") and len(a) > 1), None)
        if joined:
            return f"an absolute path ({joined[:80]!r})"
        return ""

    def _secret(self, node: ast.AST) -> str:
        for text, _ in self._fragments(node):
            hit = next((f for f in SECRET_FRAGMENTS if f in text), None)
            if hit:
                return f"credentials ({text[:80]!r})"
        return ""

    # -- command overrides ------------------------------------------------------------------
    def _overrides(self) -> list[Override]:
        registered = self._cmdclass_entries()
        out: list[Override] = []
        for cls_name, cls in self.b.classes.items():
            command = registered.get(cls_name) or self._command_base(cls, set())
            if command is None:
                continue
            dangerous = tuple(
                h for h in self.out.hits if h.severity >= Severity.HIGH and self._reaches(cls_name, h)
            )
            line = cls.lineno
            out.append(Override(command, cls_name, line, self._snippet(line), dangerous))
        return out

    def _cmdclass_entries(self) -> dict[str, str]:
        """class name -> command it replaces, from ``cmdclass={...}``/``dict(...)``/``cmdclass[k] = X``."""
        out: dict[str, str] = {}
        for node in ast.walk(self.tree):
            if isinstance(node, ast.keyword) and node.arg == "cmdclass":
                for key, value in self._dict_entries(node.value, 0):
                    for name in self.resolve(value):
                        out.setdefault(name.split(".")[-1], key)
        for (_, key), values in self.b.items.items():
            for value in values:
                for name in self.resolve(value):
                    if name in self.b.classes:
                        out.setdefault(name, key)
        return out

    def _dict_entries(self, node: ast.AST, depth: int) -> Iterator[tuple[str, ast.expr]]:
        if depth > 4:
            return
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=False):
                text = self.const_str(key) if key is not None else None
                if text is not None:
                    yield text, value
        elif isinstance(node, ast.Call) and "builtins.dict" in self.resolve(node.func):
            for keyword in node.keywords:
                if keyword.arg:
                    yield keyword.arg, keyword.value
        elif isinstance(node, ast.Name):
            for value in self.b.values.get(node.id, []):
                yield from self._dict_entries(value, depth + 1)

    def _command_base(self, cls: ast.ClassDef, seen: set[str]) -> str | None:
        """The setuptools/distutils command a class derives from (``setuptools.command.install.install``)."""
        seen.add(cls.name)
        for base in cls.bases:
            for name in self.resolve(base):
                parts = name.split(".")
                if (parts[0] in ("setuptools", "distutils", "wheel") and "command" in parts[:-1]) or (
                    parts[0] == "wheel" and parts[-1] == "bdist_wheel"
                ):
                    return parts[-1]
                if name in self.b.classes and name not in seen:
                    found = self._command_base(self.b.classes[name], seen)
                    if found:
                        return found
        return None

    def _reaches(self, cls_name: str, hit: Hit) -> bool:
        """Whether the hit sits in a method of the class or a function those methods call."""
        scopes = {*self.calls, *(h.scope for h in self.out.hits)}
        frontier = [s for s in scopes if s == cls_name or s.startswith(cls_name + ".")]
        reached: set[str] = set()
        while frontier and len(reached) < 200:
            scope = frontier.pop()
            if scope in reached:
                continue
            reached.add(scope)
            frontier.extend(self.calls.get(scope, ()))
        return any(hit.scope == s or hit.scope.startswith(s + ".") for s in reached)


def _char_codes(node: ast.AST) -> list[str] | None:
    """``[105, 109, ...]`` fed to ``chr``: the characters, when every item is an int constant."""
    if not isinstance(node, (ast.List, ast.Tuple)):
        return None
    codes = [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, int)]
    return [chr(c) for c in codes if 0 <= c < 0x110000] if len(codes) == len(node.elts) else None


def _callee_names(node: ast.Call, scope: list[str]) -> set[str]:
    func = node.func
    if isinstance(func, ast.Name):
        return {func.id}
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        if func.value.id in ("self", "cls") and len(scope) >= 2:
            return {f"{scope[0]}.{func.attr}"}
        return {f"{func.value.id}.{func.attr}"}
    return set()


def _relative(path: str | None) -> bool:
    return bool(path) and not str(path).startswith(("/", "~", "\\")) and ".." not in str(path).split("/")
