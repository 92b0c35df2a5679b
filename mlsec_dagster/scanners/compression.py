"""Compressed streams: gzip, bzip2, xz, legacy lzma, raw zlib, joblib's ``ZF`` files; lz4/zstd recognised.

A compressed pickle is still a pickle (threat 26): the body is inflated within the byte and ratio
budgets into a spooled temp file and handed back to the registry, which finds the pickle, tar or
``.npy`` inside. A stream that breaks midway is reported, and what came out before the break is
still scanned.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from mlsec_dagster.engine.artifact import Artifact
from mlsec_dagster.engine.context import ScanContext, Scanner
from mlsec_dagster.engine.findings import Finding, Severity
from mlsec_dagster.engine.rules import define
from mlsec_dagster.scanners import _streams
from mlsec_dagster.scanners._streams import Inflater, region_opener

_FAMILY = "compression"

CORRUPT = define(
    "MLS-CMP-001",
    "Compressed stream is truncated or corrupt",
    Severity.HIGH,
    "The stream could not be decompressed to its end. What came out before the error was scanned; what "
    "follows could not be (fail closed). Loaders that tolerate the damage may still read a payload.",
    "Re-create the file from trusted sources; do not load a file that does not decompress cleanly.",
    family=_FAMILY,
)
NOT_INSPECTED = define(
    "MLS-CMP-002",
    "Compression format not inspected",
    Severity.HIGH,
    "The file is compressed with a codec the scanner has no decoder for (lz4, zstd), so its content "
    "was not checked (fail closed). joblib writes such files with `compress='lz4'`.",
    "Re-save with gzip, bz2 or xz compression (e.g. `joblib.dump(obj, path, compress=3)`), or better "
    "as safetensors/skops/ONNX.",
    family=_FAMILY,
)
TRAILING = define(
    "MLS-CMP-003",
    "Data after the end of the compressed stream",
    Severity.MEDIUM,
    "Bytes after the compressed stream are ignored by decompressors but can be read by another loader "
    "(a polyglot). They were scanned as a separate stream.",
    "Re-create the file so it contains only the compressed stream.",
    family=_FAMILY,
)

_ZF_HEADER = re.compile(rb"ZF0x[0-9a-fA-F]{1,16} *")
_ZF_LEN = 2 + 19
"""joblib < 0.10: ``ZF`` + the hex length left-justified to 19 characters, then a zlib stream."""


def _zlib_header_ok(data: bytes) -> bool:
    if len(data) < 2:
        return False
    cmf, flg = data[0], data[1]
    return cmf & 0x0F == 8 and cmf >> 4 <= 7 and (cmf << 8 | flg) % 31 == 0 and not flg & 0x20


def _inflates(data: bytes, codec: _streams.Codec) -> bool:
    """A strict sniff: the first bytes must really decompress to something."""
    try:
        return bool(codec.decompress(data, 64))
    except Exception:
        return False


def _gzip(head: bytes) -> bool:
    return head.startswith(b"\x1f\x8b\x08") and len(head) > 3 and not head[3] & 0xE0


def _bzip2(head: bytes) -> bool:
    return (
        len(head) >= 10
        and head[:3] == b"BZh"
        and head[3:4] in b"123456789"
        and head[4:10] in (b"1AY&SY", b"\x17rE8P\x90")
    )


def _xz(head: bytes) -> bool:
    return head.startswith(b"\xfd7zXZ\x00")


def _lzma_alone(head: bytes) -> bool:
    if len(head) < 14 or head[0] >= 9 * 5 * 5:
        return False
    dict_size = int.from_bytes(head[1:5], "little")
    declared = int.from_bytes(head[5:13], "little")
    plausible_dict = any(dict_size in (1 << n, 3 << (n - 1)) for n in range(12, 31))
    plausible_size = declared == 0xFFFFFFFFFFFFFFFF or declared < 1 << 40
    return plausible_dict and plausible_size and _inflates(head, _streams.CODECS["lzma"]())


def _zlib(head: bytes) -> bool:
    return _zlib_header_ok(head) and _inflates(head, _streams.CODECS["zlib"]())


def _joblib_zf(head: bytes) -> bool:
    return bool(_ZF_HEADER.fullmatch(head[:_ZF_LEN])) and _zlib_header_ok(head[_ZF_LEN:])


@dataclass(frozen=True)
class _Format:
    name: str
    sniff: Callable[[bytes], bool]
    codec: str | None
    """Key in ``_streams.CODECS``; None when no decoder is installed."""
    skip: int = 0
    """Bytes of container header before the compressed stream."""
    restart_magic: bytes = b""
    """Concatenated streams of this magic are one body (``cat a.gz b.gz``)."""


FORMATS: tuple[_Format, ...] = (
    _Format("gzip", _gzip, "gzip", restart_magic=b"\x1f\x8b"),
    _Format("bzip2", _bzip2, "bzip2", restart_magic=b"BZh"),
    _Format("xz", _xz, "xz", restart_magic=b"\xfd7zXZ\x00"),
    _Format("joblib-zfile", _joblib_zf, "zlib", skip=_ZF_LEN),
    _Format("lz4", lambda h: h.startswith((b"\x04\x22\x4d\x18", b"\x02\x21\x4c\x18")), None),
    _Format("zstd", lambda h: h.startswith(b"\x28\xb5\x2f\xfd"), None),
    _Format("lzma", _lzma_alone, "lzma"),
    _Format("zlib", _zlib, "zlib"),
)


def _gzip_name(head: bytes) -> str | None:
    """The FNAME field of a gzip header, if present (what ``gunzip -N`` would restore)."""
    flags = head[3]
    pos = 10
    if flags & 0x04:
        if len(head) < 12:
            return None
        pos += 2 + int.from_bytes(head[10:12], "little")
    if not flags & 0x08:
        return None
    end = head.find(b"\x00", pos, pos + 1024)
    return head[pos:end].decode("latin-1") if end > pos else None


def _body_name(fmt: _Format, artifact: Artifact) -> str:
    if fmt.name == "gzip":
        name = _gzip_name(artifact.head)
        if name:
            return name
    return f"<{fmt.name} body>"


def _make_scanner(fmt: _Format) -> Scanner:
    def sniff(artifact: Artifact) -> bool:
        return fmt.sniff(artifact.head)

    def scan(artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
        yield from _scan(fmt, artifact, ctx)

    return Scanner(f"compressed-{fmt.name}", sniff, scan)


def _scan(fmt: _Format, artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
    if fmt.codec is None:
        yield NOT_INSPECTED.finding(
            artifact.path,
            f"{artifact.display} is {fmt.name}-compressed and no {fmt.name} decoder is installed, so its "
            "content was not checked. Re-save it with gzip/bz2/xz compression or as safetensors.",
            location=artifact.location(offset=0),
            evidence=f"{fmt.name} signature {artifact.head[:4].hex(' ')}",
            key=fmt.name,
        )
        return
    size = artifact.size if artifact.size >= 0 else _measure(artifact)
    factory = _streams.CODECS[fmt.codec]
    source = region_opener(artifact.open, fmt.skip, size - fmt.skip)
    inflater = Inflater(ctx, source, factory(), restart=factory, restart_magic=fmt.restart_magic)
    try:
        inflater.fill()
        body = _body_name(fmt, artifact)
        yield from ctx.scan_child(artifact, body, inflater.produced, inflater.opener(inflater.produced))
    finally:
        inflater.close()
    if inflater.limit:
        yield ctx.limit_finding(artifact, inflater.limit, inflater.limit_detail)
    elif inflater.error:
        yield CORRUPT.finding(
            artifact.path,
            f"{artifact.display} ({fmt.name}) does not decompress cleanly: {inflater.error}. "
            "The rest was not checked; re-create the file from trusted sources.",
            location=artifact.location(offset=fmt.skip + inflater.consumed),
            evidence=inflater.error,
            key=fmt.name,
        )
    if inflater.trailing_at is not None:
        yield from _trailing(artifact, ctx, fmt.skip + inflater.trailing_at, size)


_PADDING_MAX = 64 * 1024


def _measure(artifact: Artifact) -> int:
    with artifact.open() as fh:
        return fh.seek(0, 2)


def _trailing(artifact: Artifact, ctx: ScanContext, start: int, size: int) -> Iterator[Finding]:
    length = size - start
    if length <= _PADDING_MAX and not _streams.read_region(artifact.open, start, length).strip(b"\x00"):
        return  # zero padding (tape blocking) is what gzip itself tolerates
    head = _streams.read_region(artifact.open, start, 32)
    yield TRAILING.finding(
        artifact.path,
        f"{artifact.display} has {length} bytes after its compressed stream; another loader may read them. "
        "Re-create the file without them.",
        location=artifact.location(offset=start),
        evidence=head.hex(" "),
        key="trailing",
    )
    yield from ctx.scan_child(
        artifact, "<data after stream>", length, region_opener(artifact.open, start, length)
    )


SCANNERS: tuple[Scanner, ...] = tuple(_make_scanner(fmt) for fmt in FORMATS)

__all__ = ["SCANNERS"]
