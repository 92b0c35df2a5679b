"""Jupyter notebooks (``*.ipynb``, nbformat 4 and 3): what their code cells install and run in a shell.

Each code cell line is read the way IPython reads it: ``!cmd`` and ``x = !cmd`` run ``cmd`` in a
shell, ``%pip``/``%uv`` are pip magics, ``pip install`` alone is the automagic form of ``%pip``,
``%sx``/``%system`` run a shell, and a ``%%bash``/``%%sh``/``%%script bash`` cell is a shell script;
``%%capture``/``%%time`` cells are still Python, other cell magics (``%%writefile``, ``%%html``...)
are not code and are skipped. A trailing backslash continues a line (the command keeps the line it
starts on). Every shell line becomes a ``ShellCommand`` (so the judges can see ``curl ... | sh``), and
every ``pip install`` / ``python -m pip install`` / ``{sys.executable} -m pip install`` /
``uv pip install`` / ``uv add`` in it is split like a POSIX shell would (quotes, ``&&``, ``;``, pipes,
redirections: an unquoted ``foo>=1`` installs ``foo`` and writes to a file named ``=1``) and its
arguments become requirements, indexes and ``-r``/``-c`` includes (relative to the notebook's folder,
where Jupyter runs it). ``%conda``/``%mamba`` install conda packages: kept as shell commands only.
Arguments IPython fills in at run time (``{pkg}``, ``$pkg``) cannot be checked: each is a Problem.

Sections are ``cell N`` (1-based position among all cells) and lines are lines of the ``.ipynb``
file itself: the JSON decoder records where each source string starts.
"""

from __future__ import annotations

import bisect
import json
import json.decoder
import json.scanner
import posixpath
import re
from typing import Any

from mlsec_dagster.scanners.dependencies.manifests.requirements import Collector, OptionTable, ProblemKind
from mlsec_dagster.scanners.dependencies.model import Manifest, ManifestParser, ReadInclude, ShellCommand

_SHELL_CELLS = frozenset({"bash", "sh", "zsh", "sx", "system"})
_SHELLS = frozenset({"bash", "sh", "zsh", "dash", "ksh"})
_PYTHON_CELLS = frozenset({"capture", "time", "timeit", "prun"})
_SHELL_MAGICS = frozenset({"sx", "system"})
_PACKAGE_MAGICS = {"pip": "pip", "uv": "uv"}
_CONDA_MAGICS = frozenset({"conda", "mamba", "micromamba"})
_ASSIGNED = re.compile(r"^[A-Za-z_][\w.]*\s*=\s*(?=[!%])")
_AUTOMAGIC_PIP = re.compile(r"^pip\s+install\b")
_PYTHON_SHELL = re.compile(
    r"\b(?:os\.(?:system|popen)|subprocess\.(?:run|call|check_call|check_output|Popen|getoutput)"
    r"|get_ipython\(\)\.(?:system|getoutput))\s*\("
)
"""Python that hands a command line to a shell: kept as a shell command so a piped download is judged."""
_RUNTIME = re.compile(r"\{[^}]*\}|\$")
_ENV_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_WRAPPERS = frozenset({"sudo", "env", "time", "nohup", "command", "exec", "nice", "stdbuf"})
_PYTHON = re.compile(
    r"^(?:python(?:\d+(?:\.\d+)*)?|py|pypy3?)(?:\.exe)?$|^\{sys\.executable(?:!r)?\}$|^\$\{?PYTHON\}?$",
    re.IGNORECASE,
)
_PIP = re.compile(r"^pip(?:\d+(?:\.\d+)*)?(?:\.exe)?$", re.IGNORECASE)
_CONTROL = ("&&", "||", ";;", "|&", ";", "|", "&", "(", ")")
_REDIRECTS = ("&>>", "&>", ">>", ">&", "<<<", "<<", "<>", ">|", "<&", ">", "<")
_OPERATORS = sorted(_CONTROL + _REDIRECTS, key=len, reverse=True)

_VALUE_OPTIONS = (
    "-t --target --platform --python-version --implementation --abi --root --prefix --src --upgrade-strategy "
    "--progress-bar --root-user-action --report -C --config-settings --global-option --install-option "
    "--use-feature --use-deprecated --log --log-file --timeout --retries --proxy --cert --client-cert "
    "--cache-dir --exists-action --keyring-provider --python -p --group --index-strategy --resolution "
    "--prerelease --python-platform --torch-backend --link-mode --config-file --directory --project "
    "--override --build-constraint -b --extra --all-releases --only-final --no-binary --only-binary "
    "--upgrade-package -P --reinstall-package --optional --dev-group --target-dir"
)
_FLAG_OPTIONS = (
    "-U --upgrade --force-reinstall -I --ignore-installed --ignore-requires-python --no-deps --pre "
    "--prefer-binary --require-hashes --no-require-hashes --no-index --user --no-build-isolation "
    "--use-pep517 --no-use-pep517 --check-build-dependencies --break-system-packages --compile --no-compile "
    "--no-warn-script-location --no-warn-conflicts --no-clean --dry-run -q --quiet -v --verbose "
    "--no-cache-dir --no-cache -n --no-color --no-input --isolated --disable-pip-version-check "
    "--require-virtualenv --no-python-version-warning --system --all-extras --native-tls --offline --strict "
    "--reinstall --no-build --exact --no-sync --dev --frozen --locked --editable --no-progress"
)
_PIP_COMMAND = OptionTable(
    values={
        **dict.fromkeys(_VALUE_OPTIONS.split(), "ignored"),
        "-i": "primary",
        "--index-url": "primary",
        "--pypi-url": "primary",
        "--default-index": "primary",
        "--extra-index-url": "extra",
        "--index": "extra",  # uv: searched before the default index, next to it
        "-f": "find-links",
        "--find-links": "find-links",
        "--trusted-host": "trusted-host",
        "--allow-insecure-host": "trusted-host",
        "-r": "requirement",
        "--requirement": "requirement",
        "-c": "constraint",
        "--constraint": "constraint",
        "-e": "editable",
    },
    flags=dict.fromkeys(_FLAG_OPTIONS.split(), "ignored"),
)
"""``pip install`` and ``uv pip install``/``uv add`` options (``--editable`` is a uv flag; pip's
``-e``/``--editable`` take a value, and ``-e`` is what notebooks use)."""


class _Located(str):
    """A JSON string value that remembers the character offset of its opening quote."""

    offset: int = 0


def _load(text: str) -> Any:
    decoder = json.JSONDecoder()

    def parse_string(s: str, end: int, strict: bool) -> tuple[_Located, int]:
        value, after = json.decoder.scanstring(s, end, strict)  # type: ignore[attr-defined]
        located = _Located(value)
        located.offset = end - 1
        return located, after

    decoder.parse_string = parse_string  # type: ignore[attr-defined]
    decoder.scan_once = json.scanner.py_make_scanner(decoder)  # type: ignore[attr-defined]
    return decoder.decode(text)


def matches(name: str) -> bool:
    return name.lower().endswith(".ipynb")


def parse(text: str, name: str, read_include: ReadInclude | None) -> Manifest:
    notebook = _Notebook(text, name, read_include)
    try:
        data = _load(text)
    except json.JSONDecodeError as err:
        notebook.problem(
            f"not valid JSON ({err.msg}, column {err.colno}); Jupyter cannot open it", err.lineno
        )
        return notebook.collector.manifest
    except RecursionError:
        notebook.problem("the JSON is nested too deeply to read; Jupyter cannot open it", None)
        return notebook.collector.manifest
    cells = _cells(data)
    if cells is None:
        notebook.problem("no `cells` list (nbformat 4) or `worksheets` (nbformat 3): not a notebook", None)
        return notebook.collector.manifest
    for number, cell in enumerate(cells, 1):
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            notebook.cell(cell.get("source", cell.get("input")), number)
    return notebook.collector.finish()


def _cells(data: Any) -> list[Any] | None:
    if not isinstance(data, dict):
        return None
    if isinstance(data.get("cells"), list):
        return list(data["cells"])
    sheets = data.get("worksheets")
    if not isinstance(sheets, list):
        return None
    return [cell for sheet in sheets if isinstance(sheet, dict) for cell in sheet.get("cells") or []]


class _Notebook:
    def __init__(self, text: str, name: str, read_include: ReadInclude | None) -> None:
        self.collector = Collector("notebook", name, read_include)
        self._text = text
        self._newlines: list[int] | None = None

    def problem(self, message: str, line: int | None, kind: ProblemKind = "unreadable") -> None:
        self.collector.problem(message, line, kind)

    def line_of(self, offset: int) -> int:
        if self._newlines is None:
            self._newlines = [m.start() for m in re.finditer("\n", self._text)]
        return bisect.bisect_right(self._newlines, offset) + 1

    def cell(self, source: Any, number: int) -> None:
        section = f"cell {number}"
        pieces = [source] if isinstance(source, str) else source
        if not isinstance(pieces, list) or not all(isinstance(p, str) for p in pieces):
            self.problem(f"{section}: the source is not text; the cell was not checked", None, "unsupported")
            return
        lines = _logical(self._physical(pieces))
        if not lines:
            return
        head = lines[0][1].strip()
        if head.startswith("%%"):
            magic, _, args = head[2:].partition(" ")
            script = args.split()
            interpreter = posixpath.basename(next((a for a in script if not a.startswith("-")), ""))
            if magic in _SHELL_CELLS or (magic == "script" and interpreter in _SHELLS):
                for line, text in lines[1:]:
                    self.shell_line(text.strip(), line, section)
                return
            if magic not in _PYTHON_CELLS:
                return  # %%writefile, %%html, %%javascript...: the body is not run as code
            lines = lines[1:]
        for line, text in lines:
            self.ipython_line(text.strip(), line, section)

    def _physical(self, pieces: list[str]) -> list[tuple[int, str]]:
        """Source lines with the file line of the JSON string each one starts in."""
        out: list[tuple[int, str]] = []
        buffer = ""
        start = 0
        for piece in pieces:
            where = self.line_of(piece.offset) if isinstance(piece, _Located) else 0
            parts = piece.split("\n")
            for index, part in enumerate(parts):
                if not buffer:
                    start = where
                buffer += part
                if index < len(parts) - 1:
                    out.append((start, buffer.rstrip("\r")))
                    buffer = ""
        if buffer:
            out.append((start, buffer.rstrip("\r")))
        return out

    def ipython_line(self, text: str, line: int, section: str) -> None:
        assigned = _ASSIGNED.match(text)
        code = text[assigned.end() :] if assigned else text
        if code.startswith("!"):
            self.shell_line(text, line, section, code.lstrip("!"))
        elif code.startswith("%") and not code.startswith("%%"):
            magic, _, rest = code[1:].partition(" ")
            if magic in _SHELL_MAGICS:
                self.shell_line(text, line, section, rest)
            elif magic in _PACKAGE_MAGICS or magic in _CONDA_MAGICS:
                self.collector.manifest.commands.append(ShellCommand(text, line, section))
                if magic in _PACKAGE_MAGICS:
                    self.install(_segments(f"{_PACKAGE_MAGICS[magic]} {rest}"), text, line, section)
        elif _AUTOMAGIC_PIP.match(code):
            self.collector.manifest.commands.append(ShellCommand(text, line, section))
            self.install(_segments(code), text, line, section)
        elif _PYTHON_SHELL.search(code):
            self.collector.manifest.commands.append(ShellCommand(text, line, section))

    def shell_line(self, text: str, line: int, section: str, command: str | None = None) -> None:
        if not text or text.startswith("#"):
            return
        self.collector.manifest.commands.append(ShellCommand(text, line, section))
        self.install(_segments(text if command is None else command), text, line, section)

    def install(self, segments: list[list[str]], text: str, line: int, section: str) -> None:
        for words in segments:
            arguments = _install_arguments(words)
            if arguments is None:
                continue
            shown = _shorten(text)
            options, positional, errors = _PIP_COMMAND.parse(arguments)
            for error in errors:
                self.problem(
                    f"{section}: `{shown}`: {error}; the command was not fully checked", line, "unsupported"
                )
            for spec in positional:
                if _RUNTIME.search(spec):
                    self.problem(
                        f"{section}: `{shown}`: {spec!r} is filled in by IPython when the cell runs, so "
                        "the package it installs could not be checked; write the requirement literally",
                        line,
                        "unsupported",
                    )
                else:
                    self.collector.requirement(spec, line, "", section, ())
            self.collector.apply_options(options, line, "", section, False, 0)


def _logical(lines: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Join backslash-continued lines (IPython does for ``!``/``%`` lines, shells for scripts)."""
    out: list[tuple[int, str]] = []
    pending: tuple[int, str] | None = None
    for line, text in lines:
        if pending is not None:
            line, text = pending[0], pending[1] + text
            pending = None
        if text.endswith("\\"):
            pending = (line, text[:-1])
        else:
            out.append((line, text))
    if pending is not None:
        out.append(pending)
    return out


def _segments(command: str) -> list[list[str]]:
    """POSIX shell words of each simple command (split at ``&&``, ``;``, ``|``...), redirections removed."""
    segments: list[list[str]] = [[]]
    word: list[str] = []
    in_word = False
    drop_next = False
    index, size = 0, len(command)

    def end_word() -> None:
        nonlocal word, in_word, drop_next
        if in_word:
            if drop_next:
                drop_next = False
            else:
                segments[-1].append("".join(word))
        word, in_word = [], False

    while index < size:
        char = command[index]
        if char in " \t\r\n":
            end_word()
            index += 1
        elif char == "'":
            close = command.find("'", index + 1)
            close = size if close < 0 else close
            word.append(command[index + 1 : close])
            in_word, index = True, close + 1
        elif char == '"':
            index += 1
            while index < size and command[index] != '"':
                if command[index] == "\\" and index + 1 < size and command[index + 1] in '"\\$`':
                    index += 1
                word.append(command[index])
                index += 1
            in_word, index = True, index + 1
        elif char == "\\":
            word.append(command[index + 1 : index + 2])
            in_word, index = True, index + 2
        elif char == "#" and not in_word:
            break
        elif char in "|&;()<>":
            if char in "<>" and in_word and "".join(word).isdigit():
                word, in_word = [], False  # a file descriptor number (2>&1)
            end_word()
            operator = next(op for op in _OPERATORS if command.startswith(op, index))
            index += len(operator)
            if operator in _REDIRECTS:
                drop_next = True
            else:
                segments.append([])
        else:
            word.append(char)
            in_word, index = True, index + 1
    end_word()
    return [s for s in segments if s]


def _install_arguments(words: list[str]) -> list[str] | None:
    """The arguments after ``install`` (or ``uv add``) when this simple command installs packages."""
    index = 0
    while index < len(words) and (
        _ENV_ASSIGNMENT.match(words[index])
        or words[index] in _WRAPPERS
        or (index and words[index - 1] in _WRAPPERS and words[index].startswith("-"))
    ):
        index += 1
    rest = words[index:]
    if not rest:
        return None
    program = posixpath.basename(rest[0].replace("\\", "/"))
    if _PYTHON.match(rest[0]) or _PYTHON.match(program):
        module_at = next((i for i, w in enumerate(rest[1:], 1) if w.startswith("-m")), None)
        if module_at is None or any(not w.startswith("-") for w in rest[1:module_at]):
            return None
        flag = rest[module_at]
        module = flag[2:] if len(flag) > 2 else (rest[module_at + 1] if module_at + 1 < len(rest) else "")
        tail = rest[module_at + (1 if len(flag) > 2 else 2) :]
        program = module
    else:
        tail = rest[1:]
    tail = tail[_options_end(tail) :]
    if _PIP.match(program):
        return tail[1:] if tail[:1] == ["install"] else None
    if program == "uv":
        if tail[:1] == ["add"]:
            return tail[1:]
        if tail[:1] == ["pip"]:
            tail = tail[1:]
            tail = tail[_options_end(tail) :]
            return tail[1:] if tail[:1] == ["install"] else None
    return None


def _options_end(words: list[str]) -> int:
    """Index of the first word that is not a global option (or its value) before the subcommand."""
    index = 0
    while index < len(words) and words[index].startswith("-"):
        index += 2 if words[index] in _PIP_COMMAND.values else 1
    return index


def _shorten(text: str) -> str:
    return text if len(text) <= 160 else text[:157] + "..."


PARSER = ManifestParser("notebook", matches, parse)
