"""ZIP containers: PyTorch checkpoints, TorchScript, ``.npz``, ``.keras`` and plain or nested zips.

Every member, whatever its name, is handed back to the registry (a pickle named ``payload.txt``
in a renamed folder is still found). Stored members are windows over the file and compressed ones
are inflated lazily, so a 2 GB checkpoint costs its directory, the heads of its tensor members and
its pickles. Oddities that make loaders and scanners disagree are reported, never fatal.
"""

from __future__ import annotations

import itertools
import re
import stat
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from mlsec_dagster.engine.artifact import Artifact, Opener
from mlsec_dagster.engine.context import ScanContext, Scanner
from mlsec_dagster.engine.findings import Finding, Location
from mlsec_dagster.scanners import _streams
from mlsec_dagster.scanners._keras import MALFORMED as KERAS_MALFORMED
from mlsec_dagster.scanners._streams import CrcResult, Inflater, region_opener
from mlsec_dagster.scanners.archives import rules
from mlsec_dagster.scanners.archives.zipdir import (
    SPANNED_SIG,
    End,
    Entry,
    Local,
    ZipFormatError,
    find_end,
    parse_central,
    read_local,
)

SMALL_MEMBER = 1024 * 1024
"""Members up to this size are read to the end even if no scanner did, so their CRC is checked."""

_HARMLESS_FLAGS = 0x0002 | 0x0004 | 0x0008 | 0x0800
"""Deflate level hints, data descriptor and UTF-8 names: what standard writers set."""
_FLAG_NAMES = {0x0001: "encrypted", 0x0040: "strong encryption", 0x2000: "masked directory"}

_METHODS: dict[int, Callable[[], _streams.Codec]] = {
    8: _streams.CODECS["deflate"],
    12: _streams.CODECS["bzip2"],
}
_DESCRIPTOR = 24
"""Room for a data descriptor after a member with flag bit 3 (signature + CRC + two 8-byte sizes)."""
_LZMA_METHOD = 14
_STORED = 0

_DRIVE = re.compile(r"^[A-Za-z]:")


def _sniff(artifact: Artifact) -> bool:
    head = artifact.head
    return head.startswith((b"PK\x03\x04", b"PK\x05\x06")) or head.startswith(SPANNED_SIG + b"PK\x03\x04")


@dataclass
class _Member:
    entry: Entry
    local: Local | None
    problem: str = ""


def _member_location(artifact: Artifact, name: str) -> Location:
    return Location(member=(*artifact.member, name))


def escapes(name: str) -> bool:
    unified = name.replace("\\", "/")
    return unified.startswith("/") or bool(_DRIVE.match(unified)) or ".." in unified.split("/")


def _link_kind(entry: Entry) -> str | None:
    mode = entry.unix_mode
    if stat.S_ISLNK(mode):
        return "symbolic link"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        return "device or special file"
    return None


def _scan(artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
    with artifact.open() as fh:
        size = artifact.size if artifact.size >= 0 else fh.seek(0, 2)
        try:
            end = find_end(fh, size)
        except ZipFormatError as exc:
            yield _unparseable(artifact, str(exc))
            return
        if end.cd_size > ctx.limits.max_header_bytes:
            yield ctx.limit_finding(artifact, "max_header_bytes", f"the zip directory is {end.cd_size} bytes")
            return
        fh.seek(end.cd_start)
        entries, problem, truncated = parse_central(
            fh.read(end.cd_size), end.shift, ctx.limits.max_archive_members
        )
        members = [_read_local(fh, e) for e in entries]
    if not problem and not truncated and len(entries) % 0x10000 != end.declared_entries % 0x10000:
        declared = end.declared_entries
        problem = f"the directory holds {len(entries)} entries, the end record declares {declared}"
    if problem:
        yield _unparseable(artifact, problem)
    if truncated:
        yield ctx.limit_finding(
            artifact, "max_archive_members", f"the zip has more than {len(entries)} members"
        )
    yield from _envelope_findings(artifact, ctx, end, members, size, interior=not truncated)
    yield from _overlaps(artifact, members)
    yield from _missing_keras_config(artifact, members)
    seen: set[bytes] = set()
    for member in members:
        if ctx.out_of_time():
            yield ctx.timeout_finding(artifact)
            return
        yield from _member_findings(artifact, member, seen)
        yield from _scan_member(artifact, ctx, member, size)


def _missing_keras_config(artifact: Artifact, members: list[_Member]) -> Iterator[Finding]:
    """A ``.keras`` archive without ``config.json`` has no model to verify: fail closed."""
    if artifact.name.lower().endswith(".keras") and not any(m.entry.name == "config.json" for m in members):
        yield KERAS_MALFORMED.finding(
            artifact.path,
            f"{artifact.display} is named as a Keras archive but has no config.json, so the model "
            "architecture could not be verified. Re-export it with model.save('model.keras').",
            location=artifact.location(),
            evidence="members: " + ", ".join(m.entry.name for m in members[:20]),
            key="config.json missing",
        )


def _read_local(fh: BinaryIO, entry: Entry) -> _Member:
    try:
        return _Member(entry, read_local(fh, entry))
    except ZipFormatError as exc:
        return _Member(entry, None, str(exc))


def _unparseable(artifact: Artifact, detail: str, location: Location | None = None) -> Finding:
    return rules.UNPARSEABLE.finding(
        artifact.path,
        f"{artifact.display} is not a well-formed zip ({detail}); its members could not all be checked. "
        "Re-create it with a standard tool and do not load it until then.",
        location=location or artifact.location(),
        evidence=detail,
        key=detail.split(" at ")[0],
    )


def _envelope_findings(
    artifact: Artifact, ctx: ScanContext, end: End, members: list[_Member], size: int, *, interior: bool
) -> Iterator[Finding]:
    """Spanning marker, and bytes no member claims or after the EOCD (scanned as streams).

    ``interior`` is False when the member limit cut the directory short: unlisted members are then
    expected, not hidden.
    """
    spanned = artifact.head.startswith(SPANNED_SIG)
    if spanned:
        yield rules.SPANNED.finding(
            artifact.path,
            f"{artifact.display} starts with the split-archive marker PK\\x07\\x08; "
            "re-create it as a plain zip.",
            location=artifact.location(offset=0),
            evidence=artifact.head[:8].hex(" "),
            key="spanned",
        )
    lead = len(SPANNED_SIG) if spanned else 0
    inside = _uncovered(members, lead, end.cd_start) if interior else []
    regions = [*inside, ("<data after zip>", end.end, size)]
    for name, start, stop in regions:
        if stop <= start:
            continue
        yield rules.EXTRA_DATA.finding(
            artifact.path,
            f"{artifact.display} has {stop - start} bytes outside the zip structure "
            f"(offsets {start}-{stop}); a polyglot can be read as another format. Re-create the archive "
            "without them.",
            location=artifact.location(offset=start),
            evidence=_streams.read_region(artifact.open, start, min(stop - start, 32)).hex(" "),
            key=name,
        )
        yield from ctx.scan_child(
            artifact, name, stop - start, region_opener(artifact.open, start, stop - start)
        )


def _uncovered(members: list[_Member], lead: int, cd_start: int) -> list[tuple[str, int, int]]:
    """Byte ranges before the central directory that no listed member claims (hidden local entries)."""
    spans = sorted(
        (
            m.entry.header_offset,
            m.local.data_offset + m.entry.csize + (_DESCRIPTOR if m.entry.flags & 8 else 0),
        )
        for m in members
        if m.local is not None
    )
    regions: list[tuple[str, int, int]] = []
    cursor = lead
    for start, stop in [*spans, (cd_start, cd_start)]:
        if start > cursor:
            regions.append(
                ("<data before zip>" if cursor == lead else "<data between members>", cursor, start)
            )
        cursor = max(cursor, min(stop, cd_start))
    return regions


def _overlaps(artifact: Artifact, members: list[_Member]) -> Iterator[Finding]:
    spans = sorted(
        (m.entry.header_offset, m.local.data_offset + m.entry.csize, m.entry.name)
        for m in members
        if m.local is not None
    )
    reported = 0
    for (_, prev_end, prev_name), (start, _, name) in itertools.pairwise(spans):
        if start < prev_end and reported < 10:
            reported += 1
            yield rules.OVERLAP.finding(
                artifact.path,
                f"Members {prev_name!r} and {name!r} of {artifact.display} share bytes; no standard writer "
                "does this (zip bomb or hidden member). Do not load it.",
                location=_member_location(artifact, name),
                evidence=f"{prev_name!r} ends at {prev_end}, {name!r} starts at {start}",
                key=f"{prev_name}|{name}",
            )


def _member_findings(artifact: Artifact, member: _Member, seen: set[bytes]) -> Iterator[Finding]:
    entry, local = member.entry, member.local
    where = _member_location(artifact, entry.name)
    if local is not None and local.raw_name != entry.raw_name:
        local_name = local.raw_name.decode("utf-8", "replace")
        yield rules.NAME_MISMATCH.finding(
            artifact.path,
            f"Member {entry.name!r} of {artifact.display} is called {local_name!r} in its local header "
            "(CVE-2025-1944); loaders and scanners see different files. Do not load it.",
            location=where,
            evidence=f"central directory: {entry.raw_name!r}; local header: {local.raw_name!r}",
            key=entry.name,
        )
    if entry.raw_name in seen:
        yield rules.DUPLICATE.finding(
            artifact.path,
            f"{artifact.display} holds more than one member named {entry.name!r}; readers disagree on which "
            "one they load. Re-create the archive with unique names.",
            location=where,
            evidence=entry.name,
            key=entry.name,
        )
    seen.add(entry.raw_name)
    if escapes(entry.name):
        yield rules.TRAVERSAL.finding(
            artifact.path,
            f"Member {entry.name!r} of {artifact.display} would be extracted outside the target folder. "
            "Do not extract it; re-create the archive with relative names.",
            location=where,
            evidence=entry.name,
            key=entry.name,
        )
    link = _link_kind(entry)
    if link:
        yield rules.LINK_MEMBER.finding(
            artifact.path,
            f"Member {entry.name!r} of {artifact.display} is a {link}; extracting it can touch files outside "
            "the archive. Re-create the archive with regular files only.",
            location=where,
            evidence=f"unix mode {entry.unix_mode:o}",
            key=entry.name,
        )
    odd = entry.flags & ~_HARMLESS_FLAGS
    if odd:
        names = [label for bit, label in _FLAG_NAMES.items() if odd & bit] or ["unknown"]
        yield rules.ODD_FLAGS.finding(
            artifact.path,
            f"Member {entry.name!r} of {artifact.display} has flag bits 0x{odd:04x} ({', '.join(names)}) "
            "that make strict readers skip it (CVE-2025-1945); it was read as stored/compressed data anyway. "
            "Re-save the model with its framework.",
            location=where,
            evidence=f"general purpose flags 0x{entry.flags:04x}",
            key=entry.name,
        )


def _scan_member(artifact: Artifact, ctx: ScanContext, member: _Member, size: int) -> Iterator[Finding]:
    entry, local = member.entry, member.local
    where = _member_location(artifact, entry.name)
    if local is None:
        yield _unparseable(artifact, f"member {entry.name!r}: {member.problem}", where)
        return
    if entry.is_dir:
        return  # a link member is still scanned: miniz ignores the mode and reads it as a file
    if local.data_offset + entry.csize > size:
        yield _corrupt(
            artifact, entry, f"data runs {local.data_offset + entry.csize - size} bytes past the file end"
        )
    available = max(0, min(entry.csize, size - local.data_offset))
    if entry.method == _STORED:
        yield from _scan_stored(artifact, ctx, entry, local.data_offset, available)
        return
    source = region_opener(artifact.open, local.data_offset, available)
    try:
        codec, source = _codec_for(entry.method, source, available)
    except ValueError as exc:
        yield rules.UNSUPPORTED_METHOD.finding(
            artifact.path,
            f"Member {entry.name!r} of {artifact.display} {exc}, so its content was not checked. Re-create "
            "the archive with stored or deflated members.",
            location=where,
            evidence=f"compression method {entry.method}",
            key=f"{entry.name}|{entry.method}",
        )
        return
    yield from _declared_ratio(artifact, ctx, entry)
    yield from _scan_inflated(artifact, ctx, entry, Inflater(ctx, source, codec, cap=entry.usize))


def _codec_for(method: int, source: Opener, available: int) -> tuple[_streams.Codec, Opener]:
    if method in _METHODS:
        return _METHODS[method](), source
    if method == _LZMA_METHOD:
        head = _streams.read_region(source, 0, 4)
        props_len = int.from_bytes(head[2:4], "little") if len(head) == 4 else 0
        props = _streams.read_region(source, 4, props_len)
        skip = 4 + props_len
        return _streams.zip_lzma_codec(props), _shifted(source, skip, available - skip)
    raise ValueError(f"uses compression method {method}, which the scanner does not decode")


def _shifted(source: Opener, skip: int, length: int) -> Opener:
    return region_opener(source, skip, max(0, length))


def _declared_ratio(artifact: Artifact, ctx: ScanContext, entry: Entry) -> Iterator[Finding]:
    ratio = ctx.limits.max_compression_ratio
    if entry.usize > _streams.RATIO_GRACE and entry.usize > ratio * max(entry.csize, 1):
        yield ctx.limit_finding(
            artifact,
            "max_compression_ratio",
            f"member {entry.name!r} declares {entry.usize} bytes from {entry.csize} compressed "
            f"(ratio above {ratio:g}): a decompression bomb",
            _member_location(artifact, entry.name),
        )


def _scan_stored(
    artifact: Artifact, ctx: ScanContext, entry: Entry, start: int, length: int
) -> Iterator[Finding]:
    crc = CrcResult()
    yield from ctx.scan_child(artifact, entry.name, length, region_opener(artifact.open, start, length, crc))
    if crc.value is None and length <= SMALL_MEMBER:
        crc.value = zlib.crc32(_streams.read_region(artifact.open, start, length))
    if crc.value is not None and length == entry.csize:
        yield from _check_crc(artifact, entry, crc.value)


def _scan_inflated(
    artifact: Artifact, ctx: ScanContext, entry: Entry, inflater: Inflater
) -> Iterator[Finding]:
    try:
        yield from ctx.scan_child(artifact, entry.name, entry.usize, inflater.opener(entry.usize))
        if entry.usize <= SMALL_MEMBER:
            inflater.fill(entry.usize)
    finally:
        inflater.close()
    if inflater.limit:
        yield ctx.limit_finding(
            artifact, inflater.limit, f"member {entry.name!r}: {inflater.limit_detail}",
            _member_location(artifact, entry.name),
        )  # fmt: skip
    elif inflater.error:
        yield _corrupt(artifact, entry, inflater.error)
    elif inflater.produced == entry.usize:
        yield from _check_crc(artifact, entry, inflater.crc)
    elif inflater.done:
        yield _corrupt(
            artifact, entry, f"inflates to {inflater.produced} bytes, not the declared {entry.usize}"
        )


def _corrupt(artifact: Artifact, entry: Entry, detail: str) -> Finding:
    return rules.CORRUPT_MEMBER.finding(
        artifact.path,
        f"Member {entry.name!r} of {artifact.display} could not be read to its end ({detail}); the rest "
        "was not checked. Re-create the archive from trusted sources.",
        location=_member_location(artifact, entry.name),
        evidence=detail,
        key=entry.name,
    )


def _check_crc(artifact: Artifact, entry: Entry, actual: int) -> Iterator[Finding]:
    if actual != entry.crc:
        yield rules.BAD_CRC.finding(
            artifact.path,
            f"Member {entry.name!r} of {artifact.display} does not match its CRC-32 (CVE-2025-10156): the "
            "archive was altered after it was written. Re-create it from trusted sources.",
            location=_member_location(artifact, entry.name),
            evidence=f"declared {entry.crc:08x}, computed {actual:08x}",
            key=entry.name,
        )


SCANNER = Scanner("zip", _sniff, _scan)
