"""Decoding of constant payloads (base64, hex, zlib, rot13...) so hidden code can be analysed.

These decode *data*; nothing decoded is ever run. Every output is capped at ``MAX_CONST`` bytes, so a
compressed constant cannot become a bomb.
"""

from __future__ import annotations

import base64
import binascii
import bz2
import codecs
import lzma
import zlib
from collections.abc import Callable

MAX_CONST = 1024 * 1024
"""Longest string folded or decoded from constants (payloads are small; bombs are not followed)."""

_Decoder = Callable[[bytes, list[str | bytes | None]], bytes | str | None]


def _bounded_inflate(data: bytes, wbits: int) -> bytes:
    out = zlib.decompressobj(wbits).decompress(data, MAX_CONST + 1)
    if len(out) > MAX_CONST:
        raise ValueError("payload too large")
    return out


def _codecs_decode(data: bytes, rest: list[str | bytes | None]) -> bytes | str | None:
    encoding = rest[0] if rest else "utf-8"
    if not isinstance(encoding, str):
        return None
    if encoding.replace("_", "").lower() in ("rot13", "rot-13"):
        return codecs.decode(data.decode("latin-1"), "rot13")
    if encoding.lower() in ("zlib", "zlib_codec", "zip"):
        return _bounded_inflate(data, 15)
    if encoding.lower() in ("bz2", "bz2_codec", "lzma", "xz"):
        return None
    return codecs.decode(data, encoding)


_DECODE: dict[str, _Decoder] = {
    "base64.b64decode": lambda d, r: base64.b64decode(d),
    "base64.standard_b64decode": lambda d, r: base64.standard_b64decode(d),
    "base64.urlsafe_b64decode": lambda d, r: base64.urlsafe_b64decode(d),
    "base64.b32decode": lambda d, r: base64.b32decode(d),
    "base64.b16decode": lambda d, r: base64.b16decode(d),
    "base64.b85decode": lambda d, r: base64.b85decode(d),
    "base64.a85decode": lambda d, r: base64.a85decode(d),
    "base64.decodebytes": lambda d, r: base64.decodebytes(d),
    "binascii.a2b_base64": lambda d, r: binascii.a2b_base64(d),
    "zlib.decompress": lambda d, r: _bounded_inflate(d, 15),
    "gzip.decompress": lambda d, r: _bounded_inflate(d, 31),
    "bz2.decompress": lambda d, r: bz2.BZ2Decompressor().decompress(d, MAX_CONST),
    "lzma.decompress": lambda d, r: lzma.LZMADecompressor().decompress(d, MAX_CONST),
    "codecs.decode": _codecs_decode,
}
"""Data decoders applied to constants to reveal payloads; they decode bytes and never run them."""


def decode_const(names: set[str], data: str | bytes, rest: list[str | bytes | None]) -> bytes | str | None:
    raw = data.encode("latin-1") if isinstance(data, str) else data
    for name in sorted(names):
        decoder = _DECODE.get(name)
        if decoder is not None:
            return decoder(raw, rest)
    return None
