"""Source distributions: what `setup.py` (and the code it pulls in) does when pip builds the package.

The sniff hooks on the *tar stream*, not on the ``.tar.gz``: the compression scanner inflates gzip,
bzip2 and xz within its budgets and hands the tar back to the registry, so one sniff covers
``.tar.gz``/``.tgz``/``.tar.bz2``/``.tar.xz``/plain ``.tar`` and sdists nested anywhere. Zip sdists are
sniffed from the central directory. An sdist is a tar/zip whose single top folder holds ``setup.py``,
or ``PKG-INFO`` with ``pyproject.toml``/``setup.cfg``.

Analysed as install-time code: ``setup.py``, the top-level modules it imports from the sdist, files it
``exec``s (``exec`` of ``open("pkg/version.py").read()``), and an in-tree build backend (``backend-path``).
After that the archive goes through the ordinary tar/zip scanner, so every member (pickles, nested
wheels, setup.py as a dependency manifest) is still scanned.

A ``setup.py`` on disk (a vendored library, a checkout) gets the same analysis, reading its helpers
from its own folder, and is then handed to the dependency scanner, which reads it as a manifest.
"""

from __future__ import annotations

import os
import posixpath
import re
import tarfile
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from mlsec_dagster.engine.artifact import Artifact
from mlsec_dagster.engine.context import SCANNER_ERROR, ScanContext, Scanner
from mlsec_dagster.engine.findings import Finding, Location, Severity
from mlsec_dagster.engine.rules import Rule
from mlsec_dagster.scanners import dependencies
from mlsec_dagster.scanners._streams import read_region
from mlsec_dagster.scanners.archives import tar as tar_scanner
from mlsec_dagster.scanners.archives import zip as zip_scanner
from mlsec_dagster.scanners.packages import layout, pycode
from mlsec_dagster.scanners.packages import rules as r
from mlsec_dagster.scanners.packages.calls import Kind
from mlsec_dagster.scanners.packages.zipread import ZipPackage

MAX_SOURCE = 4 * 1024 * 1024
"""Largest install-time Python file analysed (setup.py files are a few KB; generated ones ~1 MB)."""
MAX_FILES = 20
"""Install-time files analysed per sdist (setup.py, its helpers, exec'd files, the backend)."""
MAX_HITS = 50
"""Findings per analysed file."""
INSTALL_COMMANDS = frozenset({
    "install", "develop", "egg_info", "build_py", "bdist_wheel", "install_lib", "install_scripts",
    "install_egg_info", "install_data", "easy_install", "bdist_egg", "editable_wheel", "dist_info", "build",
})  # fmt: skip
"""Commands pip runs on every install: replacing one is MEDIUM even when nothing dangerous is seen.
(``build_ext`` overrides are normal for C extensions and only reported when they do something dangerous.)"""
KIND_RULES: dict[Kind, Rule] = {
    "network": r.NETWORK,
    "process": r.PROCESS,
    "dynamic": r.DYNAMIC,
    "write": r.WRITES_OUTSIDE,
    "secret": r.READS_SECRETS,
}
_FIX = (
    "Do not install it: install a wheel from a trusted index pinned by hash (--require-hashes), or review "
    "the code and build it yourself in a sandbox."
)

Reader = Callable[[str, int], bytes | None]
"""Reads a member by name, at most ``n`` + 1 bytes (None when it is not a readable regular file)."""


@dataclass
class _Source:
    root: str
    """The project folder inside the archive ('' for the archive root or a folder on disk)."""
    exists: Callable[[str], bool]
    read: Reader
    loose: bool = False
    """A setup.py on disk: findings name the files themselves instead of archive members."""


def _sniff_tar(artifact: Artifact) -> bool:
    return tar_scanner.SCANNER.sniff(artifact) and layout.tar_layout(artifact) == "sdist"


def _sniff_zip(artifact: Artifact) -> bool:
    return zip_scanner.SCANNER.sniff(artifact) and layout.zip_layout(artifact) == "sdist"


def _scan_tar(artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
    yield from _guarded(artifact, ctx, _tar_source)
    yield from tar_scanner.SCANNER.scan(artifact, ctx)


def _scan_zip(artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
    yield from _guarded(artifact, ctx, _zip_source)
    yield from zip_scanner.SCANNER.scan(artifact, ctx)


def _sniff_setup(artifact: Artifact) -> bool:
    return not artifact.member and artifact.name == "setup.py" and artifact.os_path is not None


def _scan_setup(artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
    """A setup.py on disk (a vendored library, a project checkout): analysed, then read as a manifest."""
    yield from _guarded(artifact, ctx, _disk_source)
    yield from dependencies.SCANNER.scan(artifact, ctx)


def _guarded(
    artifact: Artifact, ctx: ScanContext, source: Callable[[Artifact, ScanContext], _Source | None]
) -> Iterator[Finding]:
    """The package checks; an error in them is a finding, and the archive walk still follows."""
    try:
        found = source(artifact, ctx)
        if found is not None:
            yield from _Sdist(artifact, ctx, found).check()
    except Exception as exc:
        yield SCANNER_ERROR.finding(
            artifact.path,
            f"The sdist checks stopped on {artifact.display}: {type(exc).__name__}: {exc}. Its install-time "
            "code was not all checked.",
            location=artifact.location(),
            evidence=f"{type(exc).__name__}: {exc}",
            key="sdist",
        )


def _tar_source(artifact: Artifact, ctx: ScanContext) -> _Source | None:
    regions: dict[str, tuple[int, int]] = {}
    names: list[str] = []
    with artifact.open() as fh:
        try:
            with tarfile.open(fileobj=fh, mode="r:") as archive:
                for _ in range(ctx.limits.max_archive_members):
                    info = archive.next()
                    if info is None:
                        break
                    names.append(info.name)
                    if info.isreg() and not info.issparse():
                        regions.setdefault(layout.clean(info.name), (info.offset_data, info.size))
        except (tarfile.TarError, EOFError, OSError):
            pass  # the tar scanner reports the broken header; check what was read

    def read(name: str, cap: int) -> bytes | None:
        region = regions.get(name)
        if region is None:
            return None
        return read_region(artifact.open, region[0], min(region[1], cap + 1))

    cleaned = {layout.clean(n) for n in names}
    return _Source(layout.project_root(list(cleaned)), cleaned.__contains__, read)


def _disk_source(artifact: Artifact, ctx: ScanContext) -> _Source | None:
    """The folder of a setup.py on disk; only regular files inside it are read (no symlinks out)."""
    if artifact.os_path is None:
        return None
    base = os.path.realpath(os.path.dirname(artifact.os_path))

    def exists(name: str) -> bool:
        path = os.path.realpath(os.path.join(base, name))
        return (
            path.startswith(base + os.sep)
            and os.path.isfile(path)
            and not os.path.islink(os.path.join(base, name))
        )

    def read(name: str, cap: int) -> bytes | None:
        if not exists(name):
            return None
        with open(os.path.join(base, name), "rb") as fh:
            return fh.read(cap + 1)

    return _Source("", exists, read, loose=True)


def _zip_source(artifact: Artifact, ctx: ScanContext) -> _Source | None:
    pkg = ZipPackage.open(artifact, ctx)
    if pkg is None:
        return None
    entries = {layout.clean(e.name): e for e in reversed(pkg.files)}

    def read(name: str, cap: int) -> bytes | None:
        entry = entries.get(name)
        if entry is None:
            return None
        with artifact.open() as fh:
            member = pkg.read(fh, entry, (), cap)
        return member.content if member is not None and member.content is not None else None

    cleaned = {layout.clean(e.name) for e in pkg.entries}
    return _Source(layout.project_root(list(cleaned)), cleaned.__contains__, read)


class _Sdist:
    def __init__(self, artifact: Artifact, ctx: ScanContext, source: _Source) -> None:
        self.artifact = artifact
        self.ctx = ctx
        self.source = source
        self.top = source.root
        self.queue: list[tuple[str, str]] = []
        """(member path, why it runs at install time)."""
        self.done: set[str] = set()

    def finding(
        self, rule: Rule, member: str, line: int | None, message: str, evidence: str, key: str,
        severity: Severity | None = None,
    ) -> Finding:  # fmt: skip
        """In an archive the file is a member; next to a setup.py on disk it is a file of its own."""
        if self.source.loose:
            path = posixpath.join(posixpath.dirname(self.artifact.path), member)
            location = Location(line=line)
        else:
            path, location = self.artifact.path, Location(member=(*self.artifact.member, member), line=line)
        return rule.finding(
            path, message, location=location, evidence=evidence[:4000], key=key, severity=severity
        )

    def check(self) -> Iterator[Finding]:
        setup_py = layout.join(self.top, "setup.py")
        if self.source.exists(setup_py):
            self.queue.append((setup_py, "setup.py runs on every build and install"))
        yield from self._backend()
        while self.queue and len(self.done) < MAX_FILES:
            path, why = self.queue.pop(0)
            if path not in self.done:
                self.done.add(path)
                yield from self._analyse(path, why)

    def _backend(self) -> Iterator[Finding]:
        path = layout.join(self.top, "pyproject.toml")
        data = self.source.read(path, MAX_SOURCE)
        if data is None:
            return
        try:
            text = data.decode("utf-8")
            build = tomllib.loads(text).get("build-system", {})
        except (UnicodeDecodeError, tomllib.TOMLDecodeError):
            return  # reported by the dependency scanner when it reads the member as a manifest
        backend_path = build.get("backend-path") if isinstance(build, dict) else None
        backend = build.get("build-backend") if isinstance(build, dict) else None
        if not isinstance(backend_path, list) or not isinstance(backend, str):
            return
        line = next(
            (i for i, ln in enumerate(text.splitlines(), 1) if re.match(r"\s*backend-path\b", ln)), None
        )
        yield self.finding(
            r.IN_TREE_BACKEND, path, line,
            f"{path} in {self.artifact.display} builds with {backend!r} from the package itself "
            f"(backend-path {backend_path}): that code runs at install time and was analysed like setup.py. "
            "Review it, or install a wheel from a trusted index instead.",
            f"build-backend = {backend!r}; backend-path = {backend_path!r}", backend,
        )  # fmt: skip
        module = backend.split(":")[0].replace(".", "/")
        for folder in backend_path:
            if not isinstance(folder, str):
                continue
            base = posixpath.normpath(posixpath.join(self.top or ".", folder, module))
            for candidate in (f"{base}.py", f"{base}/__init__.py"):
                if self.source.exists(candidate):
                    self.queue.append((candidate, f"the in-tree build backend {backend!r}"))

    def _analyse(self, path: str, why: str) -> Iterator[Finding]:
        data = self.source.read(path, MAX_SOURCE)
        problem = ""
        analysis = None
        line: int | None = None
        if data is None:
            problem = "could not be read (not a regular file)"
        elif len(data) > MAX_SOURCE:
            problem = f"is larger than {MAX_SOURCE} bytes"
        else:
            try:
                analysis = pycode.analyse(data.decode("utf-8", "replace"))
            except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
                problem = f"is not valid Python for the analyser ({type(exc).__name__}: {exc})"
                line = exc.lineno if isinstance(exc, SyntaxError) else None
        if analysis is None and self.source.loose and path == "setup.py":
            return  # the dependency scanner reports an unreadable setup.py (MLS-DEP-030)
        if analysis is None:
            yield self.finding(
                r.UNANALYSABLE, path, line,
                f"{path} in {self.artifact.display} {problem}; it runs at install time ({why}) and what it "
                "does was not checked. Review it by hand before installing.",
                problem[:500], path,
            )  # fmt: skip
            return
        yield from self._hits(path, why, analysis.hits)
        yield from self._overrides(path, analysis.overrides)
        folder = posixpath.dirname(path)
        for rel, line in analysis.follows:
            target = posixpath.normpath(posixpath.join(folder, rel))
            if self.source.exists(target):
                self.queue.append((target, f"{path} line {line} executes it"))
        if path.endswith("setup.py") or "backend" in why:
            for module in sorted(analysis.imports):
                for candidate in (
                    layout.join(folder, f"{module}.py"),
                    layout.join(folder, f"{module}/__init__.py"),
                ):
                    if candidate != path and self.source.exists(candidate):
                        self.queue.append((candidate, f"{path} imports it"))

    def _hits(self, path: str, why: str, hits: list[pycode.Hit]) -> Iterator[Finding]:
        occurrences: dict[str, int] = {}
        for hit in sorted(hits, key=lambda h: h.line)[:MAX_HITS]:
            occurrences[hit.name] = occurrences.get(hit.name, 0) + 1
            where = f" in {hit.scope}()" if hit.scope else ""
            evidence = f"line {hit.line}: {hit.snippet}"
            if hit.payload:
                evidence += f"\ndecoded payload: {hit.payload[:2000]}"
            yield self.finding(
                KIND_RULES[hit.kind], path, hit.line,
                f"{path} (line {hit.line}{where}) {hit.detail}: {hit.name}. This runs when pip builds or "
                f"installs the package ({why}). {_FIX}",
                evidence, f"{hit.name}#{occurrences[hit.name]}", hit.severity,
            )  # fmt: skip

    def _overrides(self, path: str, overrides: list[pycode.Override]) -> Iterator[Finding]:
        for override in overrides:
            if not override.dangerous and override.command not in INSTALL_COMMANDS:
                continue
            does = "; ".join(
                dict.fromkeys(f"{h.detail} ({h.name}, line {h.line})" for h in override.dangerous)
            )
            evidence = f"line {override.line}: {override.snippet}"
            if does:
                evidence += "\nreaches: " + does
            yield self.finding(
                r.COMMAND_OVERRIDE, path, override.line,
                f"{path} replaces the {override.command!r} command with class {override.class_name} (line "
                f"{override.line}), so its code runs during installation"
                + (f" and it {does}" if does else "") + f". {_FIX}",
                evidence, f"{override.command}:{override.class_name}",
                Severity.HIGH if override.dangerous else None,
            )  # fmt: skip


TAR_SCANNER = Scanner("sdist", _sniff_tar, _scan_tar)
SETUP_SCANNER = Scanner("setup-py", _sniff_setup, _scan_setup)
ZIP_SCANNER = Scanner("sdist-zip", _sniff_zip, _scan_zip)
