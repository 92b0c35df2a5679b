"""What a manifest says, in one shape for every format: parsers produce it, judges read it.

A parser knows one file format (requirements.txt, poetry.lock, a notebook...) and nothing about
attacks; a judge (typosquatting, dependency confusion, pinning) knows one attack and nothing about
formats. ``scanner.py`` joins them, so adding a manifest format or a check touches one module.
Nothing here imports or runs the project being described: ``setup.py`` is read as an AST.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from packaging.utils import canonicalize_name

DependencyKind = Literal["registry", "url", "vcs", "path"]
IndexRole = Literal["primary", "extra", "find-links", "trusted-host", "source"]


@dataclass(frozen=True)
class Dependency:
    """One requirement as declared, with where it was declared."""

    name: str
    """As written (``Django``, ``scikit_learn``); judges compare ``normalized``."""
    line: int | None
    """1-based line in the manifest; None only when the format has no lines to point at."""
    specifier: str = ""
    """Version constraint as written (``==2.31.0``, ``>=1,<2``); empty when there is none."""
    pinned: bool = False
    """An exact version (``==``/``===`` without wildcard, or an entry of a lock file)."""
    hashes: tuple[str, ...] = ()
    """``sha256:...`` values declared for it (``--hash``, lock-file hashes)."""
    kind: DependencyKind = "registry"
    url: str | None = None
    """Direct URL, VCS URL (``git+https://...@ref``) or local path, for the non-registry kinds."""
    source: str | None = None
    """The named index/source it is explicitly pinned to (Poetry ``source =``, uv ``index =``, Pipfile
    ``index =``, a lock entry's registry URL); None means "whatever the resolver's indexes offer"."""
    section: str = ""
    """Where in the manifest (``project.dependencies``, ``tool.poetry.group.dev.dependencies``,
    ``pip`` for the pip part of a conda file, ``cell 3`` for a notebook...)."""
    file: str = ""
    """Set by parsers that follow includes (``-r base.txt``): the included file it came from; empty means
    the manifest itself."""

    @property
    def normalized(self) -> str:
        """PEP 503 name: lowercase, runs of ``-``, ``_`` and ``.`` become one ``-``."""
        return canonicalize_name(self.name, validate=False)


@dataclass(frozen=True)
class IndexSetting:
    """A place packages are fetched from, or a trust setting about one."""

    url: str
    """Index URL, find-links location, or host (for ``trusted-host``)."""
    role: IndexRole
    """``primary`` replaces PyPI (``--index-url``, a default/primary source); ``extra`` is searched
    alongside it (``--extra-index-url``, Poetry ``supplemental``/``secondary``, uv ``[[tool.uv.index]]``
    without ``explicit``); ``source`` is a named index packages must opt into (``explicit``);
    ``find-links`` a page or folder of archives; ``trusted-host`` turns off TLS checks for a host."""
    line: int | None
    name: str | None = None
    """The source's name when the format names it (Poetry/PDM/uv/Pipfile)."""
    file: str = ""


@dataclass(frozen=True)
class ShellCommand:
    """A shell line found in a manifest-like file (notebook ``!curl ... | sh``, ``%pip install``)."""

    text: str
    line: int | None
    section: str = ""


@dataclass(frozen=True)
class Problem:
    """Something the parser could not read or follow; the scanner reports it (fail closed)."""

    message: str
    """What is wrong and how to fix it, e.g. "-r base.txt: the file does not exist"."""
    line: int | None = None
    kind: Literal["unreadable", "include-missing", "include-loop", "include-outside", "unsupported"] = (
        "unreadable"
    )
    file: str = ""


@dataclass
class Manifest:
    """Everything one manifest file declares."""

    format: str
    """``requirements``, ``pyproject``, ``setup.cfg``, ``setup.py``, ``poetry.lock``, ``uv.lock``,
    ``Pipfile``, ``Pipfile.lock``, ``pylock``, ``conda``, ``notebook``."""
    dependencies: list[Dependency] = field(default_factory=list)
    indexes: list[IndexSetting] = field(default_factory=list)
    commands: list[ShellCommand] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    locked: bool = False
    """A lock file: every entry is pinned by construction; missing hashes still matter."""


ReadInclude = Callable[[str], str | None]
"""Given a path relative to the manifest's folder, its text, or None when it does not exist or lies
outside the repository (undecodable bytes come back as U+FFFD, so the parser reports the lines). Parsers
that follow includes get one; inside archives there is none (includes are then reported, not read)."""


@dataclass(frozen=True)
class ManifestParser:
    """One manifest format: which file names it reads, and how."""

    format: str
    matches: Callable[[str], bool]
    """Called with the file's base name (``requirements-dev.txt``); True when this parser reads it."""
    parse: Callable[[str, str, ReadInclude | None], Manifest]
    """``parse(text, name, read_include)``: never raises on bad input; puts it in ``Manifest.problems``."""
