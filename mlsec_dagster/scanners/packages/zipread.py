"""Read members of a zip package for hashing and metadata, with the zip scanner's own directory reader.

The archive walk that reports tricks (name mismatch, bad CRC, bombs, traversal) stays in the zip
scanner, which the package scanners delegate to afterwards. This pass only needs each member's
bytes once: it streams them through a hash in bounded chunks, keeps the first bytes (native-binary
magic) and keeps whole only the small text members it parses (RECORD, METADATA, setup.py...).
Members this pass cannot read (unknown method, corrupt, bomb) are left to the zip scanner's findings.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from mlsec_dagster.engine.artifact import Artifact
from mlsec_dagster.engine.context import ScanContext
from mlsec_dagster.scanners import _streams
from mlsec_dagster.scanners.archives.zipdir import Entry, ZipFormatError, find_end, parse_central, read_local

HEAD = 4096
"""Bytes kept from the start of every member (enough for ELF/PE/Mach-O headers)."""
_CHUNK = 256 * 1024
_METHODS: dict[int, Callable[[], _streams.Codec]] = {
    8: _streams.CODECS["deflate"],
    12: _streams.CODECS["bzip2"],
}


@dataclass
class Member:
    name: str
    size: int
    """Bytes actually read (the uncompressed size when ``complete``)."""
    digests: dict[str, str]
    """hash algorithm -> hex digest."""
    head: bytes
    content: bytes | None
    complete: bool


@dataclass
class ZipPackage:
    """The central directory of a zip, and a budgeted reader of its members."""

    artifact: Artifact
    ctx: ScanContext
    entries: list[Entry]
    truncated: bool
    """The member limit cut the directory short: absent files may simply be unlisted."""
    limit: str = ""
    """Name of the limit that stopped reading ('' while none did)."""
    limit_detail: str = ""

    @classmethod
    def open(cls, artifact: Artifact, ctx: ScanContext) -> ZipPackage | None:
        """None when the directory cannot be read (the zip scanner reports why)."""
        with artifact.open() as fh:
            size = artifact.size if artifact.size >= 0 else fh.seek(0, 2)
            try:
                end = find_end(fh, size)
            except ZipFormatError:
                return None
            if end.cd_size > ctx.limits.max_header_bytes:
                return None
            fh.seek(end.cd_start)
            entries, _, truncated = parse_central(
                fh.read(end.cd_size), end.shift, ctx.limits.max_archive_members
            )
        return cls(artifact, ctx, entries, truncated)

    @property
    def files(self) -> list[Entry]:
        return [e for e in self.entries if not e.is_dir]

    def read(self, fh: BinaryIO, entry: Entry, algorithms: tuple[str, ...], keep: int) -> Member | None:
        """Stream one member; ``keep`` > 0 keeps up to that many bytes whole. None if unreadable."""
        if self.limit:
            return None
        try:
            local = read_local(fh, entry)
        except ZipFormatError:
            return None
        ratio = self.ctx.limits.max_compression_ratio
        if entry.usize > _streams.RATIO_GRACE and entry.usize > ratio * max(entry.csize, 1):
            return None  # a bomb: the zip scanner reports it and does not inflate it either
        codec: _streams.Codec | None = None
        start, length = local.data_offset, entry.csize
        if entry.method in _METHODS:
            codec = _METHODS[entry.method]()
        elif entry.method == 14:
            fh.seek(start)
            header = fh.read(4)
            props_len = int.from_bytes(header[2:4], "little") if len(header) == 4 else 0
            try:
                codec = _streams.zip_lzma_codec(fh.read(props_len))
            except ValueError:
                return None
            start, length = start + 4 + props_len, length - 4 - props_len
        elif entry.method != 0:
            return None
        return self._stream(fh, entry, start, length, codec, algorithms, keep)

    def _stream(
        self,
        fh: BinaryIO,
        entry: Entry,
        start: int,
        length: int,
        codec: _streams.Codec | None,
        algorithms: tuple[str, ...],
        keep: int,
    ) -> Member | None:
        hashers = {a: hashlib.new(a) for a in algorithms}
        head = bytearray()
        kept = bytearray() if keep else None
        produced = 0
        remaining = max(0, length)
        fh.seek(start)
        pending = b""
        stalls = 0
        while produced < entry.usize or (codec is None and remaining):
            if self.ctx.out_of_time():
                self._stop("timeout_seconds", "reading the package members ran out of the time budget")
                return None
            if codec is None:
                out = fh.read(min(_CHUNK, remaining))
                remaining -= len(out)
                if not out:
                    break
            else:
                if not pending and codec.needs_input and remaining:
                    pending = fh.read(min(_CHUNK, remaining))
                    remaining -= len(pending)
                try:
                    out = codec.decompress(pending, min(_CHUNK, entry.usize - produced))
                except Exception:
                    return None  # corrupt data: MLS-ARC-012 from the zip scanner
                pending = b""
                stalls = 0 if out else stalls + 1
                if not out and (codec.eof or not remaining or stalls > 64):
                    break
                if not self.ctx.charge_inflated(len(out)):
                    self._stop("max_decompressed_bytes", "the package inflates to more bytes than allowed")
                    return None
            for hasher in hashers.values():
                hasher.update(out)
            if len(head) < HEAD:
                head += out[: HEAD - len(head)]
            if kept is not None and len(kept) <= keep:
                kept += out[: keep + 1 - len(kept)]
            produced += len(out)
        complete = produced == entry.usize
        content = bytes(kept) if kept is not None and len(kept) <= keep else None
        digests = {a: h.hexdigest() for a, h in hashers.items()}
        return Member(entry.name, produced, digests, bytes(head), content, complete)

    def _stop(self, limit: str, detail: str) -> None:
        self.limit, self.limit_detail = limit, detail
