"""Streaming opcode reader: decodes one opcode at a time from a file handle, never the whole file.

The opcode table comes from the standard library's ``pickletools`` (protocols 0-5), so the reader
cannot drift from what ``pickle`` accepts. Payloads of more than ``BIG_PAYLOAD`` bytes are seeked
past and kept as :class:`Blob` placeholders (offset + length), so a 2 GB legacy checkpoint costs
its opcode count, not its size. Declared lengths longer than the rest of the stream are
malformed input, detected before anything is allocated.
"""

from __future__ import annotations

import codecs
import pickletools
import struct
from dataclasses import dataclass
from typing import Any, BinaryIO, NamedTuple

BIG_PAYLOAD = 1024 * 1024
"""Byte/str operands larger than this are skipped and kept as placeholders."""
MAX_LINE = 1024 * 1024
"""Text-protocol operands (protocol 0 lines) longer than this are malformed."""

OPS: dict[int, tuple[str, str | None]] = {
    ord(op.code): (op.name, op.arg.name if op.arg is not None else None) for op in pickletools.opcodes
}
"""Opcode byte -> (name, operand kind), from ``pickletools``."""


class PickleFormatError(Exception):
    """The bytes at ``pos`` are not a valid pickle opcode stream."""

    def __init__(self, pos: int, message: str, truncated: bool = False) -> None:
        super().__init__(message)
        self.pos = pos
        self.truncated = truncated


@dataclass(frozen=True)
class Blob:
    """A large bytes/str operand left on disk: where it is and how long, never its content."""

    kind: str
    offset: int
    length: int


class Op(NamedTuple):
    """One decoded opcode (a tuple: millions are created per large pickle)."""

    pos: int
    name: str
    arg: Any
    """The decoded operand: int, float, str, bytes, a (module, name) pair, a Blob, or None."""


class OpReader:
    """Reads opcodes from ``fh`` between the current position and ``end`` (exclusive)."""

    def __init__(self, fh: BinaryIO, end: int) -> None:
        self.fh = fh
        self.end = end
        self.pos = fh.tell()
        """Tracked here: ``tell()`` on a buffered file costs a system call per opcode."""
        self.skipped = 0
        """Bytes seeked past (large payloads, raw array data): not counted as opcode stream read."""

    def seek(self, pos: int) -> None:
        self.fh.seek(pos)
        self.pos = pos

    def remaining(self) -> int:
        return self.end - self.pos

    def read_exact(self, n: int, at: int) -> bytes:
        if n < 0 or n > self.end - self.pos:
            raise PickleFormatError(
                at, f"declared length {n} exceeds the {self.remaining()} bytes left", True
            )
        data = self.fh.read(n)
        self.pos += len(data)
        if len(data) != n:
            raise PickleFormatError(at, "unexpected end of data", True)
        return data

    def skip(self, n: int, at: int) -> None:
        if n < 0 or n > self.end - self.pos:
            raise PickleFormatError(
                at, f"declared length {n} exceeds the {self.remaining()} bytes left", True
            )
        self.seek(self.pos + n)
        self.skipped += n

    def _line(self, at: int) -> bytes:
        left = self.remaining()
        line = self.fh.readline(min(MAX_LINE, left) + 1) if left > 0 else b""
        self.pos += len(line)
        if not line.endswith(b"\n") or len(line) > left:
            raise PickleFormatError(at, "unterminated text operand", truncated=len(line) >= left)
        return line[:-1]

    def _sized(self, size: int, kind: str, at: int) -> bytes | Blob:
        if size < 0 or size > self.remaining():
            raise PickleFormatError(
                at, f"declared length {size} exceeds the {self.remaining()} bytes left", True
            )
        if size > BIG_PAYLOAD:
            blob = Blob(kind, self.pos, size)
            self.skip(size, at)
            return blob
        return self.read_exact(size, at)

    def _uint(self, fmt: str, size: int, at: int) -> int:
        return int(struct.unpack(fmt, self.read_exact(size, at))[0])

    def next(self) -> Op:
        """The next opcode; :class:`PickleFormatError` on bad or truncated input."""
        at = self.pos
        byte = self.fh.read(1) if at < self.end else b""
        if not byte:
            raise PickleFormatError(at, "stream ended before STOP", True)
        self.pos = at + 1
        info = OPS.get(byte[0])
        if info is None:
            raise PickleFormatError(at, f"invalid opcode 0x{byte[0]:02x}")
        name, kind = info
        if kind is None:
            return Op(at, name, None)
        return Op(at, name, self._argument(kind, at))

    def _argument(self, kind: str, at: int) -> object:
        if kind == "uint1":
            return self.read_exact(1, at)[0]
        if kind == "uint2":
            return self._uint("<H", 2, at)
        if kind == "uint4":
            return self._uint("<I", 4, at)
        if kind == "int4":
            return self._uint("<i", 4, at)
        if kind == "uint8":
            return self._uint("<Q", 8, at)
        if kind == "float8":
            return float(struct.unpack(">d", self.read_exact(8, at))[0])
        if kind == "long1":
            return int.from_bytes(self.read_exact(self.read_exact(1, at)[0], at), "little", signed=True)
        if kind == "long4":
            raw = self._sized(self._uint("<i", 4, at), "long", at)
            return raw if isinstance(raw, Blob) else int.from_bytes(raw, "little", signed=True)
        if kind in ("string1", "bytes1", "unicodestring1"):
            return self._decode(kind, self._sized(self.read_exact(1, at)[0], kind, at), at)
        if kind in ("string4", "unicodestring4"):
            return self._decode(
                kind, self._sized(self._uint("<i" if kind == "string4" else "<I", 4, at), kind, at), at
            )
        if kind == "bytes4":
            return self._sized(self._uint("<I", 4, at), kind, at)
        if kind in ("bytes8", "bytearray8", "unicodestring8"):
            return self._decode(kind, self._sized(self._uint("<Q", 8, at), kind, at), at)
        return self._text_argument(kind, at)

    def _decode(self, kind: str, raw: bytes | Blob, at: int) -> object:
        if isinstance(raw, Blob) or kind.startswith("bytes") or kind == "bytearray8":
            return raw
        if kind.startswith("unicode"):
            try:
                return raw.decode("utf-8", "surrogatepass")
            except UnicodeDecodeError:
                raise PickleFormatError(at, "invalid UTF-8 in a unicode operand") from None
        return raw.decode("latin-1")

    def _text_argument(self, kind: str, at: int) -> object:
        line = self._line(at)
        if kind == "stringnl_noescape":
            return line.decode("latin-1")
        if kind == "stringnl_noescape_pair":
            return (line.decode("latin-1"), self._line(at).decode("latin-1"))
        if kind == "stringnl":
            return _quoted(line, at)
        if kind == "unicodestringnl":
            try:
                return line.decode("raw-unicode-escape")
            except UnicodeDecodeError:
                raise PickleFormatError(at, "invalid UNICODE operand") from None
        text = line.decode("latin-1").strip()
        try:
            if kind == "floatnl":
                return float(text)
            if kind == "decimalnl_long":
                return int(text[:-1] if text.endswith("L") else text)
            if text in ("00", "01"):
                return text == "01"
            return int(text)
        except ValueError:
            raise PickleFormatError(at, f"invalid numeric operand {text[:40]!r}") from None


def _quoted(line: bytes, at: int) -> str:
    """Protocol 0 STRING: a quoted Python literal with escapes."""
    if len(line) >= 2 and line[0] == line[-1] and line[:1] in (b"'", b'"'):
        try:
            return codecs.escape_decode(line[1:-1])[0].decode("latin-1")
        except ValueError:
            raise PickleFormatError(at, "invalid escape in STRING operand") from None
    raise PickleFormatError(at, "STRING operand is not quoted")
