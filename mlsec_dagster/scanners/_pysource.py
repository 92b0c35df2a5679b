"""Static gadget search in Python source (Hugging Face remote code, TorchScript ``code/``).

The source is parsed with :mod:`ast`, never imported or run. Import aliases are resolved so
``import subprocess as sp; sp.run(...)`` and ``from os import system`` are seen for what they
are. Only calls and attribute reaches count as dangerous: a modeling file that merely imports
``os`` for ``os.path.join`` is normal.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, replace

DANGEROUS_CALLS: dict[str, str] = {
    "os.system": "runs a shell command", "os.popen": "runs a shell command",
    "os.execv": "replaces the process", "os.execve": "replaces the process",
    "os.execl": "replaces the process", "os.execlp": "replaces the process",
    "os.execvp": "replaces the process", "os.spawnv": "spawns a process", "os.spawnl": "spawns a process",
    "os.posix_spawn": "spawns a process", "os.fork": "forks the process", "os.remove": "deletes files",
    "os.unlink": "deletes files", "os.rmdir": "deletes folders", "os.chmod": "changes permissions",
    "posix.system": "runs a shell command", "nt.system": "runs a shell command",
    "pty.spawn": "spawns a process", "shutil.rmtree": "deletes folders",
    "builtins.eval": "evaluates code", "builtins.exec": "executes code",
    "builtins.compile": "compiles code", "builtins.__import__": "imports a module by name",
    "builtins.breakpoint": "starts a debugger", "builtins.globals": "reaches interpreter globals",
    "importlib.import_module": "imports a module by name", "runpy.run_path": "runs a script",
    "runpy.run_module": "runs a module", "marshal.loads": "loads code objects",
    "pickle.loads": "unpickles data", "pickle.load": "unpickles data", "dill.loads": "unpickles data",
    "cloudpickle.loads": "unpickles data", "torch.load": "unpickles data",
    "ctypes.CDLL": "loads a native library", "ctypes.cdll.LoadLibrary": "loads a native library",
    "urllib.request.urlopen": "fetches from the network", "urllib.request.urlretrieve": "downloads a file",
    "requests.get": "fetches from the network", "requests.post": "sends data over the network",
    "http.client.HTTPConnection": "opens a network connection",
    "http.client.HTTPSConnection": "opens a network connection",
    "socket.socket": "opens a network socket", "socket.create_connection": "opens a network socket",
    "webbrowser.open": "opens a browser", "torch.hub.load": "downloads and runs code",
    "types.FunctionType": "builds a function from a code object",
    "types.CodeType": "builds a code object",
}  # fmt: skip
"""Qualified callables whose call in model code is a finding (HIGH), with what they do."""

DANGEROUS_PREFIXES: tuple[str, ...] = (
    "subprocess.",
    "asyncio.subprocess.",
    "_posixsubprocess.",
    "multiprocessing.",
    "paramiko.",
    "smtplib.",
    "ftplib.",
)
"""Any call under these modules is a finding."""

DANGEROUS_ATTRIBUTES = frozenset({
    "__globals__", "__builtins__", "__subclasses__", "__code__", "__mro__", "__bases__", "__base__",
    "__reduce__", "__reduce_ex__", "__getattribute__", "f_globals", "f_locals", "f_back", "gi_frame",
})  # fmt: skip
"""Attribute names that walk from an object to interpreter internals (sandbox-escape gadgets)."""

SUSPICIOUS_IMPORTS = frozenset({
    "subprocess", "socket", "ctypes", "pty", "marshal", "pickle", "dill", "cloudpickle", "requests",
    "urllib.request", "http.client", "paramiko", "smtplib", "ftplib", "runpy", "_posixsubprocess",
    "webbrowser", "base64", "codecs", "zlib",
})  # fmt: skip
"""Imports that model code rarely needs; reported as context (MEDIUM), not as proof."""

_BUILTIN_NAMES = frozenset(
    {
        "eval",
        "exec",
        "compile",
        "__import__",
        "breakpoint",
        "globals",
        "getattr",
        "open",
        "setattr",
        "vars",
        "locals",
    }
)


@dataclass(frozen=True)
class Hit:
    line: int
    name: str
    reason: str
    dangerous: bool
    """True for calls/reaches (HIGH); False for suspicious imports (MEDIUM)."""
    snippet: str


class _Visitor(ast.NodeVisitor):
    def __init__(self, lines: list[str]) -> None:
        self.aliases: dict[str, str] = {}
        self.hits: list[Hit] = []
        self.lines = lines

    def _hit(self, node: ast.AST, name: str, reason: str, dangerous: bool = True) -> None:
        line = getattr(node, "lineno", 0)
        snippet = self.lines[line - 1].strip()[:300] if 0 < line <= len(self.lines) else ""
        self.hits.append(Hit(line, name, reason, dangerous, snippet))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.aliases[alias.asname or alias.name.split(".")[0]] = (
                alias.name if alias.asname else alias.name.split(".")[0]
            )
            if alias.name in SUSPICIOUS_IMPORTS:
                self._hit(node, alias.name, "imports a module model code rarely needs", dangerous=False)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        for alias in node.names:
            qualified = f"{module}.{alias.name}" if module else alias.name
            self.aliases[alias.asname or alias.name] = qualified
            if module in SUSPICIOUS_IMPORTS or qualified in SUSPICIOUS_IMPORTS:
                self._hit(node, qualified, "imports a module model code rarely needs", dangerous=False)
            if self._dangerous(qualified):
                self._hit(node, qualified, "imports a callable that " + self._dangerous(qualified))

    def qualify(self, node: ast.AST) -> str | None:
        parts: list[str] = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return None
        root = self.aliases.get(node.id)
        if root is None:
            root = f"builtins.{node.id}" if node.id in _BUILTIN_NAMES else node.id
        return ".".join([root, *reversed(parts)])

    @staticmethod
    def _dangerous(name: str) -> str:
        if name in DANGEROUS_CALLS:
            return DANGEROUS_CALLS[name]
        if any(name.startswith(p) for p in DANGEROUS_PREFIXES):
            return "runs processes or talks to the network"
        return ""

    def visit_Call(self, node: ast.Call) -> None:
        name = self.qualify(node.func)
        if name is not None:
            reason = self._dangerous(name)
            if reason:
                self._hit(node, name, reason)
            elif name in ("builtins.getattr", "builtins.setattr") and len(node.args) >= 2:
                attr = node.args[1]
                target = self.qualify(node.args[0])
                if isinstance(attr, ast.Constant) and isinstance(attr.value, str) and target is not None:
                    if self._dangerous(f"{target}.{attr.value}") or attr.value in DANGEROUS_ATTRIBUTES:
                        self._hit(node, f"{target}.{attr.value}", "reaches a dangerous callable via getattr")
                elif not isinstance(attr, ast.Constant):
                    self._hit(node, name, "looks up an attribute by a computed name")
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in DANGEROUS_ATTRIBUTES:
            self._hit(node, node.attr, "walks to interpreter internals")
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in DANGEROUS_ATTRIBUTES:
            self._hit(node, node.id, "reaches interpreter internals")


def find_gadgets(source: str) -> list[Hit]:
    """Dangerous calls and suspicious imports in ``source``, first occurrence of each name.

    Later occurrences are folded into the first hit's snippet (``line N: ...``) so that one
    finding per name and file keeps fingerprints stable. Raises SyntaxError if it is not Python.
    """
    visitor = _Visitor(source.splitlines())
    visitor.visit(ast.parse(source))
    first: dict[tuple[bool, str], Hit] = {}
    extra: dict[tuple[bool, str], list[str]] = {}
    for hit in sorted(visitor.hits, key=lambda h: h.line):
        ident = (hit.dangerous, hit.name)
        if ident in first:
            extra[ident].append(f"line {hit.line}: {hit.snippet}")
        else:
            first[ident], extra[ident] = hit, []
    return [
        replace(hit, snippet="\n".join([hit.snippet, *extra[ident][:5]])[:4000])
        for ident, hit in first.items()
    ]


def local_imports(source: str) -> set[str]:
    """Relative imports (``from .utils import x``): sibling modules that run along with this one."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
            out.add(node.module.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.level == 1:
            out.update(alias.name for alias in node.names)
    return out
