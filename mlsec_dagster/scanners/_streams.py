"""Streams for nested artifacts: windows over part of a parent stream, and lazy bounded inflation.

Containers hand members to :meth:`ScanContext.scan_child` as openers. A stored member must be a
*window* over the parent (copying it would read tensor data); a compressed member is inflated only
as far as the child scanner reads, into a spooled temp file, so a 2 GB ``.npz`` whose scanner only
reads the ``.npy`` header costs one header. Every inflated byte is charged to the file's budget and
the compression ratio is watched, so a bomb stops at the limit instead of filling the disk.
"""

from __future__ import annotations

import bz2
import io
import lzma
import tempfile
import zlib
from collections.abc import Callable
from typing import BinaryIO, Protocol

from mlsec_dagster.engine.artifact import Opener
from mlsec_dagster.engine.context import ScanContext
from mlsec_dagster.engine.limits import MiB

READ_CHUNK = 256 * 1024
SPOOL_RAM = 64 * MiB
"""Inflated bytes kept in memory before the spool moves to a temp file."""
RATIO_GRACE = MiB
"""Inflated bytes before the ratio check starts (small streams legitimately compress well)."""

ReadAt = Callable[[int, int], bytes]


class CrcResult:
    """Holds the CRC-32 of a stream once some reader has read it from start to end in order."""

    def __init__(self) -> None:
        self.value: int | None = None


class Window(io.RawIOBase):
    """Read-only, seekable bytes ``[0, length)`` served by ``read_at``; tracks a CRC of in-order reads."""

    def __init__(
        self,
        read_at: ReadAt,
        length: int,
        on_close: Callable[[], None] | None = None,
        crc: CrcResult | None = None,
    ) -> None:
        super().__init__()
        self._read_at = read_at
        self._length = length
        self._pos = 0
        self._on_close = on_close
        self._crc_out = crc
        self._crc = 0
        self._crc_next = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._length}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        want = min(len(buffer), self._length - self._pos)
        if want <= 0:
            return 0
        data = self._read_at(self._pos, want)
        n = len(data)
        memoryview(buffer)[:n] = data
        if self._crc_out is not None and self._pos == self._crc_next:
            self._crc = zlib.crc32(data, self._crc)
            self._crc_next += n
            if self._crc_next == self._length:
                self._crc_out.value = self._crc
        self._pos += n
        return n

    def close(self) -> None:
        if not self.closed and self._on_close is not None:
            self._on_close()
        super().close()


def region_opener(parent: Opener, start: int, length: int, crc: CrcResult | None = None) -> Opener:
    """An opener for bytes ``[start, start+length)`` of ``parent``, never reading outside them."""

    def open_region() -> BinaryIO:
        fh = parent()

        def read_at(pos: int, n: int) -> bytes:
            fh.seek(start + pos)
            return fh.read(n)

        return io.BufferedReader(Window(read_at, length, fh.close, crc))

    return open_region


def read_region(parent: Opener, start: int, length: int) -> bytes:
    with parent() as fh:
        fh.seek(start)
        return fh.read(length)


class Codec(Protocol):
    """The common face of zlib/bz2/lzma decompressors (zlib's is adapted by :class:`ZlibCodec`)."""

    @property
    def eof(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...

    @property
    def needs_input(self) -> bool: ...

    def decompress(self, data: bytes, max_length: int = ..., /) -> bytes: ...


class ZlibCodec:
    """zlib's decompressobj keeps unread input in ``unconsumed_tail`` instead of ``needs_input``."""

    def __init__(self, wbits: int) -> None:
        self._d = zlib.decompressobj(wbits)

    @property
    def eof(self) -> bool:
        return self._d.eof

    @property
    def unused_data(self) -> bytes:
        return self._d.unused_data

    @property
    def needs_input(self) -> bool:
        return not self._d.unconsumed_tail

    def decompress(self, data: bytes, max_length: int = 0, /) -> bytes:
        return self._d.decompress(data or self._d.unconsumed_tail, max_length)


def zip_lzma_codec(props: bytes) -> Codec:
    """ZIP method 14: LZMA1 with the 5 property bytes (lc/lp/pb, dictionary size) given up front."""
    if len(props) != 5 or props[0] >= 9 * 5 * 5:
        raise ValueError("invalid LZMA properties")
    d = props[0]
    lc, lp, pb = d % 9, (d // 9) % 5, d // 45
    dict_size = int.from_bytes(props[1:5], "little")
    filt = {"id": lzma.FILTER_LZMA1, "lc": lc, "lp": lp, "pb": pb, "dict_size": dict_size}
    return lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[filt])


CODECS: dict[str, Callable[[], Codec]] = {
    "deflate": lambda: ZlibCodec(-15),
    "zlib": lambda: ZlibCodec(15),
    "gzip": lambda: ZlibCodec(31),
    "bzip2": bz2.BZ2Decompressor,
    "xz": lambda: lzma.LZMADecompressor(lzma.FORMAT_XZ),
    "lzma": lambda: lzma.LZMADecompressor(lzma.FORMAT_ALONE),
}


class Inflater:
    """Inflates one compressed region on demand, within the file's byte and ratio budgets.

    After use, ``error`` says why the stream broke (truncated, corrupt), ``limit`` names the limit
    that stopped it, and ``trailing_at`` is the compressed offset of bytes after the stream's end
    that are not another stream of the same kind (``restart_magic``).
    """

    def __init__(
        self,
        ctx: ScanContext,
        source: Opener,
        codec: Codec,
        *,
        cap: int | None = None,
        restart: Callable[[], Codec] | None = None,
        restart_magic: bytes = b"",
    ) -> None:
        self._ctx = ctx
        self._src = source()
        self._codec = codec
        self._cap = cap
        self._restart = restart
        self._magic = restart_magic
        self._pending = b""
        self.spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_RAM)  # noqa: SIM115 (closed in close())
        self.produced = 0
        self.consumed = 0
        self.crc = 0
        self.done = False
        self.error: str | None = None
        self.limit: str | None = None
        self.limit_detail = ""
        self.trailing_at: int | None = None

    def _stop(self, *, error: str | None = None, limit: str | None = None, detail: str = "") -> None:
        self.done = True
        self.error = error
        self.limit = limit
        self.limit_detail = detail

    def _next_input(self) -> bytes:
        if self._pending:
            data, self._pending = self._pending, b""
            return data
        data = self._src.read(READ_CHUNK)
        self.consumed += len(data)
        return data

    def _on_stream_end(self) -> None:
        rest = self._codec.unused_data + self._pending + self._src.read(len(self._magic) or 1)
        self.consumed += len(rest) - len(self._codec.unused_data) - len(self._pending)
        self._pending = b""
        if not rest:
            self._stop()
            return
        if self._restart is not None and self._magic and rest.startswith(self._magic):
            self._codec = self._restart()
            self._pending = rest
            return
        self.trailing_at = self.consumed - len(rest)
        self._stop()

    def _step(self) -> None:
        if self._codec.eof:
            self._on_stream_end()
            return
        data = b""
        if self._codec.needs_input:
            data = self._next_input()
            if not data:
                self._stop(error=f"stream ends early after {self.produced} inflated bytes (truncated)")
                return
        try:
            out = self._codec.decompress(data, READ_CHUNK)
        except (zlib.error, OSError, EOFError, lzma.LZMAError, ValueError) as exc:
            self._stop(error=f"corrupt compressed data after {self.produced} inflated bytes: {exc}")
            return
        if self._cap is not None and self.produced + len(out) > self._cap:
            out = out[: self._cap - self.produced]
        self._write(out)

    def _write(self, out: bytes) -> None:
        if not out:
            return
        self.spool.seek(self.produced)
        self.spool.write(out)
        self.produced += len(out)
        self.crc = zlib.crc32(out, self.crc)
        if not self._ctx.charge_inflated(len(out)):
            self._stop(limit="max_decompressed_bytes", detail="the file inflates to more bytes than allowed")
        elif self.produced > RATIO_GRACE and self.produced > self._ctx.limits.max_compression_ratio * max(
            self.consumed, 1
        ):
            self._stop(
                limit="max_compression_ratio",
                detail=f"compression ratio above {self._ctx.limits.max_compression_ratio:g} "
                f"({self.produced} bytes from {self.consumed}): a decompression bomb",
            )
        elif self._cap is not None and self.produced >= self._cap:
            self.done = True

    def fill(self, upto: int | None = None) -> None:
        """Inflate until ``upto`` bytes exist (None: to the end), the stream ends, or a limit stops it."""
        stalled = 0
        while not self.done and (upto is None or self.produced < upto):
            if self._ctx.out_of_time():
                self._stop(limit="timeout_seconds", detail="decompression ran out of the time budget")
                break
            before = (self.produced, self.consumed)
            self._step()
            stalled = stalled + 1 if (self.produced, self.consumed) == before else 0
            if stalled > 64:
                self._stop(error="decompressor made no progress")

    def read_at(self, pos: int, n: int) -> bytes:
        self.fill(pos + n)
        if pos >= self.produced:
            return b""
        self.spool.seek(pos)
        return self.spool.read(min(n, self.produced - pos))

    def opener(self, length: int, crc: CrcResult | None = None) -> Opener:
        return lambda: io.BufferedReader(Window(self.read_at, length, None, crc))

    def close(self) -> None:
        self._src.close()
        self.spool.close()
