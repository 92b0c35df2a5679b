"""A tolerant reader of ZIP directories (EOCD, ZIP64, central directory, local headers).

Python's ``zipfile`` raises on exactly the tricks attackers use against scanners (encrypted flag,
name mismatch, bad CRC) while PyTorch's miniz reads such files happily, so this reader records
oddities instead of refusing them. It only ever reads the directory and the 30-byte local headers:
member data is left to the caller, which windows or inflates it on demand.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import BinaryIO

EOCD_SIG = b"PK\x05\x06"
EOCD64_SIG = b"PK\x06\x06"
LOCATOR_SIG = b"PK\x06\x07"
CENTRAL_SIG = b"PK\x01\x02"
LOCAL_SIG = b"PK\x03\x04"
SPANNED_SIG = b"PK\x07\x08"

_EOCD = struct.Struct("<4s4H2LH")
_LOCATOR = struct.Struct("<4sLQL")
_EOCD64 = struct.Struct("<4sQ2H2L4Q")
_CENTRAL = struct.Struct("<4s6H3L5H2L")
_LOCAL = struct.Struct("<4s5H3L2H")
_MAX_COMMENT = 0xFFFF
_U32 = 0xFFFFFFFF
_U16 = 0xFFFF
UTF8_FLAG = 0x0800


class ZipFormatError(Exception):
    """The archive cannot be located or walked at all."""


@dataclass(frozen=True)
class End:
    """Where the central directory really is, and how far the archive's own offsets are shifted."""

    cd_start: int
    cd_size: int
    shift: int
    """Bytes prepended before the archive (offsets in the directory are relative to its start)."""
    end: int
    """Offset just past the EOCD record and its comment: anything after it is trailing data."""
    declared_entries: int


@dataclass(frozen=True)
class Entry:
    name: str
    raw_name: bytes
    flags: int
    method: int
    crc: int
    csize: int
    usize: int
    header_offset: int
    """Absolute offset of the local header in the file (shift applied)."""
    external_attr: int
    create_system: int

    @property
    def unix_mode(self) -> int:
        return self.external_attr >> 16 if self.create_system == 3 else 0

    @property
    def is_dir(self) -> bool:
        return self.name.endswith("/") and self.usize == 0


def decode_name(raw: bytes, flags: int) -> str:
    return raw.decode("utf-8", "replace") if flags & UTF8_FLAG else raw.decode("cp437")


def _read_at(fh: BinaryIO, offset: int, n: int) -> bytes:
    fh.seek(offset)
    return fh.read(n)


def find_end(fh: BinaryIO, size: int) -> End:
    """Locate the EOCD (the last one whose comment length fits; else the last one found)."""
    tail_start = max(0, size - _EOCD.size - _MAX_COMMENT)
    tail = _read_at(fh, tail_start, size - tail_start)
    candidates: list[int] = []
    pos = tail.rfind(EOCD_SIG)
    while pos >= 0:
        if pos + _EOCD.size <= len(tail):
            candidates.append(pos)
        pos = tail.rfind(EOCD_SIG, 0, pos)
    if not candidates:
        raise ZipFormatError("no end-of-central-directory record found")
    exact = [p for p in candidates if p + _EOCD.size + _EOCD.unpack_from(tail, p)[-1] == len(tail)]
    pos = exact[0] if exact else candidates[0]
    _, _, _, _, entries, cd_size, cd_offset, comment_len = _EOCD.unpack_from(tail, pos)
    eocd_at = tail_start + pos
    end = min(size, eocd_at + _EOCD.size + comment_len)
    record_at = eocd_at
    if eocd_at >= _LOCATOR.size:
        locator = _read_at(fh, eocd_at - _LOCATOR.size, _LOCATOR.size)
        if locator.startswith(LOCATOR_SIG):
            record_at, entries, cd_size, cd_offset = _read_zip64(fh, eocd_at - _LOCATOR.size, locator)
    cd_start = record_at - cd_size
    if cd_start < 0:
        raise ZipFormatError(f"central directory size {cd_size} is larger than the archive")
    shift = cd_start - cd_offset
    if shift < 0:
        raise ZipFormatError(f"central directory offset {cd_offset} points past the directory at {cd_start}")
    return End(cd_start, cd_size, shift, end, entries)


def _read_zip64(fh: BinaryIO, locator_at: int, locator: bytes) -> tuple[int, int, int, int]:
    _, _, declared_at, _ = _LOCATOR.unpack(locator)
    for at in (locator_at - _EOCD64.size, declared_at):
        if at < 0:
            continue
        record = _read_at(fh, at, _EOCD64.size)
        if len(record) == _EOCD64.size and record.startswith(EOCD64_SIG):
            fields = _EOCD64.unpack(record)
            return at, fields[7], fields[8], fields[9]
    raise ZipFormatError("ZIP64 locator present but no ZIP64 end record found")


def _zip64_extra(extra: bytes, usize: int, csize: int, offset: int) -> tuple[int, int, int]:
    pos = 0
    while pos + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, pos)
        body = extra[pos + 4 : pos + 4 + length]
        if tag == 0x0001:
            values = list(struct.unpack_from(f"<{len(body) // 8}Q", body)) if len(body) >= 8 else []
            if usize == _U32 and values:
                usize = values.pop(0)
            if csize == _U32 and values:
                csize = values.pop(0)
            if offset == _U32 and values:
                offset = values.pop(0)
            break
        pos += 4 + length
    return usize, csize, offset


def parse_central(data: bytes, shift: int, max_members: int) -> tuple[list[Entry], str | None, bool]:
    """Entries of the central directory; (entries, problem, truncated_by_member_limit)."""
    entries: list[Entry] = []
    pos = 0
    while pos + _CENTRAL.size <= len(data):
        if len(entries) >= max_members:
            return entries, None, True
        fields = _CENTRAL.unpack_from(data, pos)
        if fields[0] != CENTRAL_SIG:
            return entries, f"bad central directory signature at directory offset {pos}", False
        made_by, flags, method = fields[1], fields[3], fields[4]
        crc, csize, usize = fields[7], fields[8], fields[9]
        name_len, extra_len, comment_len = fields[10], fields[11], fields[12]
        external_attr, offset = fields[15], fields[16]
        name_start = pos + _CENTRAL.size
        raw_name = data[name_start : name_start + name_len]
        extra = data[name_start + name_len : name_start + name_len + extra_len]
        usize, csize, offset = _zip64_extra(extra, usize, csize, offset)
        entries.append(
            Entry(
                name=decode_name(raw_name, flags),
                raw_name=raw_name,
                flags=flags,
                method=method,
                crc=crc,
                csize=csize,
                usize=usize,
                header_offset=offset + shift,
                external_attr=external_attr,
                create_system=made_by >> 8,
            )
        )
        pos = name_start + name_len + extra_len + comment_len
    problem = None if pos == len(data) else f"central directory ends inside an entry at offset {pos}"
    return entries, problem, False


@dataclass(frozen=True)
class Local:
    raw_name: bytes
    method: int
    data_offset: int


def read_local(fh: BinaryIO, entry: Entry) -> Local:
    header = _read_at(fh, entry.header_offset, _LOCAL.size)
    if len(header) < _LOCAL.size or not header.startswith(LOCAL_SIG):
        raise ZipFormatError(f"no local header at offset {entry.header_offset}")
    fields = _LOCAL.unpack(header)
    name_len, extra_len = fields[9], fields[10]
    raw_name = _read_at(fh, entry.header_offset + _LOCAL.size, name_len)
    return Local(raw_name, fields[3], entry.header_offset + _LOCAL.size + name_len + extra_len)
