"""Symbolic evaluation of the byte decoders a payload wraps a nested pickle in.

A ``pickle.loads`` call on the output of ``base64.b64decode`` hides its payload from a scanner that
only reads opcodes; evaluating these pure decoders on constant arguments (bounded in output size) exposes
it for re-scanning. Decompressors are bounded with ``max_length`` so a bomb cannot inflate.
"""

from __future__ import annotations

import base64
import binascii
import bz2
import lzma
import zlib
from collections.abc import Callable

_TEXT_CODECS = ("base64", "base_64", "base64_codec", "hex", "hex_codec", "zlib", "zip", "zlib_codec", "bz2")


def _bounded_zlib(data: bytes, limit: int, wbits: int = zlib.MAX_WBITS) -> bytes:
    return zlib.decompressobj(wbits).decompress(data, limit)


def _bounded_bz2(data: bytes, limit: int) -> bytes:
    return bz2.BZ2Decompressor().decompress(data, limit)


def _bounded_lzma(data: bytes, limit: int) -> bytes:
    return lzma.LZMADecompressor().decompress(data, limit)


def _codec(data: bytes, encoding: str, limit: int) -> bytes | None:
    enc = encoding.lower().replace("-", "_")
    if enc.startswith("base") or enc.startswith("base_"):
        return base64.b64decode(data)
    if enc.startswith("hex"):
        return binascii.unhexlify(data)
    if enc.startswith(("zlib", "zip")):
        return _bounded_zlib(data, limit)
    if enc.startswith("bz2"):
        return _bounded_bz2(data, limit)
    if enc in ("latin1", "latin_1", "iso_8859_1", "iso8859_1", "l1", "ascii", "utf8", "utf_8"):
        return data
    return None


_DECODERS: dict[str, Callable[[bytes, int], bytes]] = {
    "base64.b64decode": lambda d, n: base64.b64decode(d),
    "base64.standard_b64decode": lambda d, n: base64.standard_b64decode(d),
    "base64.urlsafe_b64decode": lambda d, n: base64.urlsafe_b64decode(d),
    "base64.decodebytes": lambda d, n: base64.decodebytes(d),
    "base64.b32decode": lambda d, n: base64.b32decode(d),
    "base64.b16decode": lambda d, n: base64.b16decode(d, casefold=True),
    "base64.b85decode": lambda d, n: base64.b85decode(d),
    "base64.a85decode": lambda d, n: base64.a85decode(d),
    "binascii.a2b_base64": lambda d, n: binascii.a2b_base64(d),
    "binascii.a2b_hex": lambda d, n: binascii.a2b_hex(d),
    "binascii.unhexlify": lambda d, n: binascii.unhexlify(d),
    "builtins.bytes.fromhex": lambda d, n: bytes.fromhex(d.decode("latin-1")),
    "builtins.bytearray.fromhex": lambda d, n: bytes.fromhex(d.decode("latin-1")),
    "zlib.decompress": _bounded_zlib,
    "gzip.decompress": lambda d, n: _bounded_zlib(d, n, 31),
    "bz2.decompress": _bounded_bz2,
    "lzma.decompress": _bounded_lzma,
    "builtins.bytes": lambda d, n: d,
    "builtins.bytearray": lambda d, n: d,
}
"""Pure functions from bytes to bytes, keyed by the qualified name a pickle would use."""

CODEC_FUNCTIONS = frozenset({"codecs.decode", "_codecs.decode", "codecs.encode", "_codecs.encode"})


def is_decoder(name: str) -> bool:
    return name in _DECODERS or name in CODEC_FUNCTIONS


def evaluate(name: str, args: list[object], limit: int) -> bytes | None:
    """The decoded bytes, or None when the call is not a decoder over constants (or fails)."""
    if not args or not isinstance(args[0], (bytes, str)):
        return None
    data = args[0].encode("latin-1", "replace") if isinstance(args[0], str) else args[0]
    if len(data) > 4 * limit:
        return None
    try:
        if name in CODEC_FUNCTIONS:
            encoding = args[1] if len(args) > 1 and isinstance(args[1], str) else "utf-8"
            out = _codec(data, encoding, limit)
        else:
            out = _DECODERS[name](data, limit)
    except (ValueError, TypeError, zlib.error, OSError, EOFError, lzma.LZMAError, UnicodeError):
        return None
    return out[:limit] if out is not None else None
