"""Tar archives (``.tar``, and ``.tar.gz``/``.tar.xz`` once the compression scanner unwrapped them).

``tarfile`` is used for headers only: it parses, it never extracts or runs anything here. Regular
members go back to the registry as windows over the file; links, devices and escaping names are
what an extraction would be tricked with, so they are reported.
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterator

from mlsec_dagster.engine.artifact import Artifact
from mlsec_dagster.engine.context import ScanContext, Scanner
from mlsec_dagster.engine.findings import Finding, Location
from mlsec_dagster.scanners._streams import read_region, region_opener
from mlsec_dagster.scanners.archives import rules
from mlsec_dagster.scanners.archives.zip import escapes

_BLOCK = 512
_CHKSUM = slice(148, 156)


def _checksum_ok(block: bytes) -> bool:
    field = block[_CHKSUM].split(b"\x00")[0].strip()
    if not field or any(c not in b"01234567" for c in field):
        return False
    expected = int(field, 8)
    computed = sum(block[:148]) + 8 * 0x20 + sum(block[156:_BLOCK])
    return expected == computed


def _sniff(artifact: Artifact) -> bool:
    head = artifact.head
    return len(head) >= _BLOCK and head[257:262] == b"ustar" and _checksum_ok(head[:_BLOCK])


def _special_kind(info: tarfile.TarInfo) -> str | None:
    if info.issym():
        return f"symbolic link to {info.linkname!r}"
    if info.islnk():
        return f"hard link to {info.linkname!r}"
    if info.isdev():
        return "device or FIFO"
    return None


def _scan(artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
    with artifact.open() as fh:
        try:
            archive = tarfile.open(fileobj=fh, mode="r:")  # noqa: SIM115 (headers only; closed below)
        except (tarfile.TarError, EOFError, OSError) as exc:
            yield _unparseable(artifact, str(exc))
            return
        try:
            yield from _walk(artifact, ctx, archive)
        finally:
            archive.close()


def _walk(artifact: Artifact, ctx: ScanContext, archive: tarfile.TarFile) -> Iterator[Finding]:
    seen: set[str] = set()
    for count in range(ctx.limits.max_archive_members + 1):
        if ctx.out_of_time():
            yield ctx.timeout_finding(artifact)
            return
        try:
            info = archive.next()
        except (tarfile.TarError, EOFError, OSError) as exc:
            yield _unparseable(artifact, f"after {count} members: {exc}")
            return
        if info is None:
            yield from _check_end(artifact, archive.offset)
            return
        if count == ctx.limits.max_archive_members:
            yield ctx.limit_finding(artifact, "max_archive_members", f"the tar has more than {count} members")
            return
        yield from _member_findings(artifact, info, seen)
        if info.isreg():
            if info.issparse():
                yield rules.UNSUPPORTED_METHOD.finding(
                    artifact.path,
                    f"Member {info.name!r} of {artifact.display} is a GNU sparse file, which the scanner "
                    "does not reassemble, so its content was not checked. Re-create the tar without "
                    "--sparse.",
                    location=Location(member=(*artifact.member, info.name)),
                    evidence="GNU sparse member",
                    key=info.name,
                )
                continue
            opener = region_opener(artifact.open, info.offset_data, info.size)
            yield from ctx.scan_child(artifact, info.name, info.size, opener)


def _check_end(artifact: Artifact, offset: int) -> Iterator[Finding]:
    """tarfile stops silently at a bad header after the first: anything but zero blocks there is hidden."""
    block = read_region(artifact.open, offset, _BLOCK)
    if block.strip(b"\x00"):
        yield _unparseable(
            artifact, f"unreadable header at offset {offset}; the members after it were skipped"
        )


def _member_findings(artifact: Artifact, info: tarfile.TarInfo, seen: set[str]) -> Iterator[Finding]:
    where = Location(member=(*artifact.member, info.name))
    if info.name in seen and info.isreg():
        yield rules.DUPLICATE.finding(
            artifact.path,
            f"{artifact.display} holds more than one member named {info.name!r}; extraction keeps the last. "
            "Re-create the archive with unique names.",
            location=where,
            evidence=info.name,
            key=info.name,
        )
    seen.add(info.name)
    if escapes(info.name) or (info.issym() and escapes(info.linkname)):
        yield rules.TRAVERSAL.finding(
            artifact.path,
            f"Member {info.name!r} of {artifact.display} escapes the extraction folder. Do not extract it; "
            "re-create the archive with relative names.",
            location=where,
            evidence=f"{info.name} -> {info.linkname}" if info.linkname else info.name,
            key=info.name,
        )
    kind = _special_kind(info)
    if kind:
        yield rules.LINK_MEMBER.finding(
            artifact.path,
            f"Member {info.name!r} of {artifact.display} is a {kind}; extracting it can touch files outside "
            "the archive. Re-create the archive with regular files only.",
            location=where,
            evidence=kind,
            key=info.name,
        )


def _unparseable(artifact: Artifact, detail: str) -> Finding:
    return rules.UNPARSEABLE.finding(
        artifact.path,
        f"{artifact.display} is not a readable tar ({detail}); its members could not all be checked. "
        "Re-create it with a standard tool and do not extract it until then.",
        location=artifact.location(),
        evidence=detail,
        key="tar",
    )


SCANNER = Scanner("tar", _sniff, _scan)
