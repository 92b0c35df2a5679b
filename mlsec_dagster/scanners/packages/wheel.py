"""Wheels: RECORD integrity, shadowing entry points, binaries in pure wheels, unreadable metadata.

A wheel runs no code at install, so what matters is what it drops into the environment and whether
the archive is the one that was built. After these checks the wheel goes through the ordinary zip
scanner (delegated, not re-implemented), so pickles, nested archives and zip tricks inside it are
found as in any zip, and ``.pth`` files by the ``pth`` scanner wherever they sit.
"""

from __future__ import annotations

import base64
import configparser
import csv
import posixpath
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from mlsec_dagster.engine.artifact import Artifact
from mlsec_dagster.engine.context import SCANNER_ERROR, ScanContext, Scanner
from mlsec_dagster.engine.findings import Finding, Location
from mlsec_dagster.engine.rules import Rule
from mlsec_dagster.scanners.archives import zip as zip_scanner
from mlsec_dagster.scanners.archives.zipdir import Entry
from mlsec_dagster.scanners.licenses import metadata as licence_metadata
from mlsec_dagster.scanners.packages import layout, metadata
from mlsec_dagster.scanners.packages import rules as r
from mlsec_dagster.scanners.packages.zipread import Member, ZipPackage

MAX_TEXT = 1024 * 1024
"""WHEEL, METADATA and entry_points.txt are kept whole up to this size (RECORD: max_header_bytes)."""
MAX_PER_RULE = 20
"""Findings of one rule per wheel before the rest is summarised in one finding."""
HASHES = frozenset({"sha256", "sha384", "sha512", "sha3_256", "sha3_384", "sha3_512", "blake2b", "blake2s"})
"""Algorithms the wheel spec allows (sha256 or stronger); md5/sha1 rows are unverifiable."""
UNRECORDED = ("RECORD", "RECORD.jws", "RECORD.p7s")
"""dist-info files the spec exempts from RECORD."""
_FIX = (
    "Do not install this wheel; download it again from the trusted index and pin it by hash "
    "(--require-hashes)."
)


@dataclass(frozen=True)
class RecordRow:
    path: str
    algorithm: str
    digest: str
    """urlsafe base64 without padding, as written."""
    size: int | None
    line: int


def _sniff(artifact: Artifact) -> bool:
    return zip_scanner.SCANNER.sniff(artifact) and layout.zip_layout(artifact) == "wheel"


def _scan(artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
    try:
        yield from _Wheel(artifact, ctx).check()
    except Exception as exc:  # fail closed, but still walk the archive below
        yield SCANNER_ERROR.finding(
            artifact.path,
            f"The wheel checks stopped on {artifact.display}: {type(exc).__name__}: {exc}. RECORD, entry "
            "points "
            "and binaries were not all checked.",
            location=artifact.location(),
            evidence=f"{type(exc).__name__}: {exc}",
            key="wheel",
        )
    yield from zip_scanner.SCANNER.scan(artifact, ctx)


class _Wheel:
    def __init__(self, artifact: Artifact, ctx: ScanContext) -> None:
        self.artifact = artifact
        self.ctx = ctx
        self.counts: dict[str, int] = {}

    def at(self, member: str, line: int | None = None) -> Location:
        return Location(member=(*self.artifact.member, member), line=line)

    def emit(
        self, rule: Rule, member: str, message: str, evidence: str, key: str, line: int | None = None
    ) -> Iterator[Finding]:
        count = self.counts[rule.id] = self.counts.get(rule.id, 0) + 1
        if count <= MAX_PER_RULE:
            yield rule.finding(
                self.artifact.path, message, location=self.at(member, line), evidence=evidence[:4000], key=key
            )

    def summaries(self) -> Iterator[Finding]:
        for rule_id, count in self.counts.items():
            if count > MAX_PER_RULE:
                rule = next(x for x in ALL_RULES if x.id == rule_id)
                yield rule.finding(
                    self.artifact.path,
                    f"{count - MAX_PER_RULE} more {rule.title.lower()} findings in {self.artifact.display} "
                    f"(the first {MAX_PER_RULE} are reported individually). {_FIX}",
                    location=self.artifact.location(),
                    evidence=f"{count} in total",
                    key="more",
                )

    def check(self) -> Iterator[Finding]:
        pkg = ZipPackage.open(self.artifact, self.ctx)
        if pkg is None:
            return  # the zip scanner reports the unreadable directory
        files = pkg.files
        names = [e.name for e in files]
        infos = layout.dist_info_dirs(names)
        wheel_name = self.artifact.name
        stem = wheel_name.removesuffix(".whl").split("-")
        preferred = f"{stem[0]}-{stem[1]}.dist-info" if wheel_name.endswith(".whl") and len(stem) >= 2 else ""
        info = preferred if preferred in infos else (infos[0] if infos else "")
        distribution = info.removesuffix(".dist-info").split("-")[0] if info else (stem[0] if stem else "")
        with self.artifact.open() as fh:
            texts = self._read_texts(pkg, fh, files, info)
            record, record_ok = yield from self._record(info, texts)
            yield from self._metadata(info, texts, distribution, wheel_name)
            pure = metadata.is_pure(self._tags(texts.get(f"{info}/WHEEL"), wheel_name))
            seen: set[str] = set()
            for entry in files:
                row = record.get(entry.name)
                algorithm = row.algorithm if row is not None and row.algorithm in HASHES else "sha256"
                member = pkg.read(fh, entry, (algorithm,), 0)
                if pkg.limit:
                    yield self.ctx.limit_finding(self.artifact, pkg.limit, pkg.limit_detail)
                    return
                seen.add(entry.name)
                yield from self._member(entry, member, row, record_ok, info, pure, distribution)
        if record_ok and not pkg.truncated:
            yield from self._missing(record, seen, info)
        yield from self.summaries()

    def _read_texts(
        self, pkg: ZipPackage, fh: BinaryIO, files: list[Entry], info: str
    ) -> dict[str, bytes | None]:
        wanted = {f"{info}/{n}": MAX_TEXT for n in ("WHEEL", "METADATA", "entry_points.txt")}
        wanted[f"{info}/RECORD"] = self.ctx.limits.max_header_bytes
        out: dict[str, bytes | None] = {}
        for entry in files:
            if entry.name in wanted and entry.name not in out:
                member = pkg.read(fh, entry, (), wanted[entry.name])
                out[entry.name] = member.content if member is not None and member.complete else None
        return out

    def _record(
        self, info: str, texts: dict[str, bytes | None]
    ) -> Generator[Finding, None, tuple[dict[str, RecordRow], bool]]:
        """Yields findings; returns (rows by path, whether RECORD was usable)."""
        path = f"{info}/RECORD" if info else "RECORD"
        data = texts.get(path)
        if data is None:
            what = "has no RECORD" if path not in texts else "has a RECORD that could not be read"
            yield from self.emit(
                r.NO_RECORD, path,
                f"{self.artifact.display} {what}, so none of its files can be verified. {_FIX}",
                f"expected {path}", "RECORD",
            )  # fmt: skip
            return {}, False
        rows: dict[str, RecordRow] = {}
        try:
            text = data.decode("utf-8")
            parsed = list(csv.reader(text.splitlines()))
        except (UnicodeDecodeError, csv.Error) as exc:
            yield from self.emit(
                r.NO_RECORD, path, f"{path} of {self.artifact.display} is not UTF-8 CSV ({exc}). {_FIX}",
                str(exc), "RECORD",
            )  # fmt: skip
            return {}, False
        for line, fields in enumerate(parsed, 1):
            if not fields:
                continue
            row, problem = _parse_row(fields, line)
            if row is None or problem:
                name = fields[0] if fields else "?"
                yield from self.emit(
                    r.RECORD_ENTRY, path,
                    f"RECORD row {line} of {self.artifact.display} ({name!r}) {problem}; that file cannot be "
                    "verified. Rebuild the wheel with a current build backend.",
                    ",".join(fields)[:500], f"{name}", line,
                )  # fmt: skip
            if row is not None:
                rows[row.path] = row
        return rows, True

    def _metadata(
        self, info: str, texts: dict[str, bytes | None], distribution: str, name: str
    ) -> Iterator[Finding]:
        for file in ("WHEEL", "METADATA"):
            path = f"{info}/{file}" if info else file
            data = texts.get(path)
            problem = "is missing" if path not in texts else ("could not be read" if data is None else "")
            if data is not None:
                text = data.decode("utf-8", "replace")
                if file == "WHEEL":
                    problem = metadata.parse_wheel_file(text).problem
                else:
                    problem = metadata.metadata_problem(text)
                    licence_metadata.record_wheel(self.ctx, self.artifact, path, text)  # declared licence
            if problem:
                yield from self.emit(
                    r.BAD_METADATA, path,
                    f"{path} of {self.artifact.display} {problem}; the wheel's identity and tags cannot be "
                    "verified. Rebuild it with a standard build backend.",
                    problem, file,
                )  # fmt: skip
        entry_points = texts.get(f"{info}/entry_points.txt")
        if entry_points is None:
            return
        path = f"{info}/entry_points.txt"
        try:
            scripts = metadata.parse_entry_points(entry_points.decode("utf-8", "replace"))
        except configparser.Error as exc:
            yield from self.emit(
                r.BAD_METADATA, path,
                f"{path} of {self.artifact.display} cannot be parsed ({exc}); its commands were not checked. "
                "Rebuild the wheel with a standard build backend.",
                str(exc)[:500], "entry_points.txt",
            )  # fmt: skip
            return
        for script in scripts:
            yield from self._shadow(
                script.name, distribution, path, f"{script.name} = {script.target}", script.line
            )

    def _shadow(
        self, command: str, distribution: str, member: str, evidence: str, line: int | None
    ) -> Iterator[Finding]:
        common = metadata.shadowed(command, distribution)
        if common is not None:
            yield from self.emit(
                r.SHADOWING_COMMAND, member,
                f"{self.artifact.display} installs a command named {command!r}, which shadows `{common}`: "
                f"whoever runs `{common}` in this environment runs the package's code instead. {_FIX}",
                evidence, f"command:{command}", line,
            )  # fmt: skip

    @staticmethod
    def _tags(wheel_file: bytes | None, name: str) -> tuple[str, ...]:
        if wheel_file is not None:
            tags = metadata.parse_wheel_file(wheel_file.decode("utf-8", "replace")).tags
            if tags:
                return tags
        return metadata.tags_from_filename(name) if name.endswith(".whl") else ()

    def _member(
        self, entry: Entry, member: Member | None, row: RecordRow | None, record_ok: bool, info: str,
        pure: bool,
        distribution: str,
    ) -> Iterator[Finding]:  # fmt: skip
        name = entry.name
        parts = name.split("/")
        if len(parts) == 3 and parts[0].endswith(".data") and parts[1] == "scripts":
            yield from self._shadow(parts[2], distribution, name, f"script {name}", None)
        if member is None:
            return  # unreadable: reported by the zip scanner (method, corruption, bomb)
        kind = metadata.native_kind(member.head, name)
        if pure and kind and not metadata.known_launcher(distribution, name):
            yield from self.emit(
                r.NATIVE_IN_PURE, name,
                f"{name} in {self.artifact.display} is a {kind} binary, but the wheel is tagged pure Python "
                "(none-any): machine code no source review covers. Use the project's platform wheel or build "
                "from reviewed source.",
                f"{kind} magic {member.head[:4].hex(' ')}", name,
            )  # fmt: skip
        if not record_ok or (posixpath.basename(name) in UNRECORDED and posixpath.dirname(name) == info):
            return
        if row is None:
            yield from self.emit(
                r.RECORD_UNLISTED, name,
                f"{name} is in {self.artifact.display} but not in its RECORD: it was added after the wheel "
                f"was "
                f"built. {_FIX}",
                f"{name}: {member.size} bytes, not in RECORD", name,
            )  # fmt: skip
            return
        if row.algorithm not in HASHES or not member.complete:
            return
        actual = _b64(member.digests[row.algorithm])
        if actual != row.digest or (row.size is not None and row.size != member.size):
            yield from self.emit(
                r.RECORD_MISMATCH,
                name,
                f"{name} in {self.artifact.display} does not match its RECORD entry: the file was changed "
                f"after the wheel was built. {_FIX}",
                f"RECORD: {row.algorithm}={row.digest}, {row.size} bytes; "
                f"actual: {row.algorithm}={actual}, {member.size} bytes",
                name,
            )

    def _missing(self, record: dict[str, RecordRow], seen: set[str], info: str) -> Iterator[Finding]:
        for path, row in record.items():
            if path not in seen and not path.endswith("/"):
                yield from self.emit(
                    r.RECORD_MISSING_FILE, f"{info}/RECORD",
                    f"RECORD of {self.artifact.display} lists {path!r}, which the wheel does not contain: it "
                    "was "
                    f"edited after the build. {_FIX}",
                    f"{path},{row.algorithm}={row.digest},{row.size}", f"missing:{path}", row.line,
                )  # fmt: skip


def _parse_row(fields: list[str], line: int) -> tuple[RecordRow | None, str]:
    if len(fields) != 3:
        return None, f"has {len(fields)} fields instead of 3"
    path, digest, size_text = fields
    if not digest:
        return RecordRow(path, "", "", None, line), "" if posixpath.basename(
            path
        ) in UNRECORDED else "has no hash"
    algorithm, _, value = digest.partition("=")
    size: int | None = None
    if size_text:
        if not size_text.isdigit():
            return RecordRow(path, algorithm, value, None, line), f"has a bad size {size_text!r}"
        size = int(size_text)
    row = RecordRow(path, algorithm, value, size, line)
    if algorithm not in HASHES:
        return row, f"uses the hash algorithm {algorithm!r} (sha256 or stronger required)"
    if not value:
        return row, "has an empty hash"
    return row, ""


def _b64(hex_digest: str) -> str:
    return base64.urlsafe_b64encode(bytes.fromhex(hex_digest)).rstrip(b"=").decode("ascii")


ALL_RULES = (
    r.RECORD_MISMATCH, r.RECORD_UNLISTED, r.RECORD_MISSING_FILE, r.NO_RECORD, r.RECORD_ENTRY,
    r.SHADOWING_COMMAND, r.NATIVE_IN_PURE, r.BAD_METADATA,
)  # fmt: skip

SCANNER = Scanner("wheel", _sniff, _scan)

__all__ = ["SCANNER"]
