"""A minimal protobuf wire-format reader over a seekable stream.

ONNX and TensorFlow files keep megabytes-to-gigabytes of tensor bytes inside length-delimited
fields. Decoding them with a generated protobuf class loads everything; this reader walks field
headers and seeks past payloads, so scan cost follows the size of the graph, not the weights.
Every sub-message is a byte range of the same stream; nothing is parsed until asked for.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

VARINT, FIXED64, LEN, FIXED32 = 0, 1, 2, 5


class ProtoError(ValueError):
    """The bytes are not a well-formed protobuf message; ``offset`` is where it broke."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(f"{message} at byte {offset}")
        self.offset = offset


@dataclass(frozen=True)
class Field:
    number: int
    wire: int
    offset: int
    """Where the field's tag starts."""
    value: int
    """The integer for VARINT/FIXED fields; the payload length for LEN fields."""
    start: int
    """Where a LEN payload starts (== end of the tag for scalar fields)."""

    @property
    def end(self) -> int:
        return self.start + self.value if self.wire == LEN else self.start


class ProtoReader:
    """Walks the messages stored in ``fh``: every message is a ``[start, end)`` byte range."""

    _WINDOW = 64 * 1024

    def __init__(self, fh: BinaryIO, size: int) -> None:
        self.fh = fh
        self.size = size
        self._buf = b""
        self._buf_start = 0

    def _bytes(self, pos: int, n: int) -> bytes:
        """Up to ``n`` bytes at ``pos`` through a read-ahead window, so that tags and varints cost
        no system call and the stream only ever seeks forward between windows (cheap even for
        compressed archive members)."""
        if not (self._buf_start <= pos and pos + n <= self._buf_start + len(self._buf)):
            self.fh.seek(pos)
            self._buf = self.fh.read(max(n, self._WINDOW))
            self._buf_start = pos
        offset = pos - self._buf_start
        return self._buf[offset : offset + n]

    def _varint(self, pos: int, end: int) -> tuple[int, int]:
        raw = self._bytes(pos, min(10, end - pos))
        result = 0
        for i, byte in enumerate(raw):
            result |= (byte & 0x7F) << (7 * i)
            if not byte & 0x80:
                return result, pos + i + 1
        raise ProtoError("truncated or overlong varint", pos)

    def fields(self, start: int, end: int) -> Iterator[Field]:
        """Fields of the message stored in ``[start, end)``; malformed input raises ProtoError."""
        pos = start
        while pos < end:
            tag, after = self._varint(pos, end)
            number, wire = tag >> 3, tag & 7
            if number == 0:
                raise ProtoError("field number 0", pos)
            if wire == VARINT:
                value, nxt = self._varint(after, end)
                field = Field(number, wire, pos, value, nxt)
            elif wire in (FIXED64, FIXED32):
                width = 8 if wire == FIXED64 else 4
                if after + width > end:
                    raise ProtoError("truncated fixed-width field", pos)
                nxt = after + width
                field = Field(number, wire, pos, int.from_bytes(self._bytes(after, width), "little"), nxt)
            elif wire == LEN:
                length, data = self._varint(after, end)
                nxt = data + length
                if nxt > end:
                    raise ProtoError(f"field {number} claims {length} bytes past the end of its message", pos)
                field = Field(number, wire, pos, length, data)
            else:
                raise ProtoError(f"unsupported wire type {wire} (field {number})", pos)
            yield field
            pos = nxt

    def read(self, field: Field, limit: int) -> bytes:
        """The payload of a LEN field, refusing anything larger than ``limit`` bytes."""
        if field.wire != LEN:
            raise ProtoError(f"field {field.number} is not length-delimited", field.offset)
        if field.value > limit:
            raise ProtoError(
                f"field {field.number} is {field.value} bytes, over the {limit}-byte limit", field.offset
            )
        data = self._bytes(field.start, field.value)
        if len(data) != field.value:
            raise ProtoError("stream ended inside a field", field.start)
        return data

    def text(self, field: Field, limit: int) -> str:
        return self.read(field, limit).decode("utf-8", "replace")


def parse_head(
    data: bytes, total_size: int, max_fields: int = 64
) -> list[tuple[int, int, bytes | int]] | None:
    """Top-level fields visible in ``data`` (a file's head), or None when it is not protobuf.

    A LEN field running past the head is kept with the bytes that are visible; one running past
    the end of the file ends the list (the scan then reports the truncation).
    """
    out: list[tuple[int, int, bytes | int]] = []
    pos = 0
    while pos < len(data) and len(out) < max_fields:
        try:
            tag, pos = _varint_bytes(data, pos)
            number, wire = tag >> 3, tag & 7
            if number == 0:
                return None
            if wire == VARINT:
                value, pos = _varint_bytes(data, pos)
                out.append((number, wire, value))
            elif wire == LEN:
                length, pos = _varint_bytes(data, pos)
                out.append((number, wire, data[pos : pos + length]))
                if pos + length > total_size:
                    return out  # truncated file: let the scanner report it as malformed
                pos += length
            elif wire in (FIXED64, FIXED32):
                width = 8 if wire == FIXED64 else 4
                if pos + width > len(data):
                    return out
                out.append((number, wire, int.from_bytes(data[pos : pos + width], "little")))
                pos += width
            else:
                return None
        except IndexError:
            return out  # the head ended inside a tag or varint: fine, the file goes on
        except ValueError:
            return None
    return out


def _varint_bytes(data: bytes, pos: int) -> tuple[int, int]:
    result = 0
    for i in range(10):
        byte = data[pos + i]
        result |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return result, pos + i + 1
    raise ValueError("overlong varint")
