"""An artifact is a byte stream to judge: a file on disk or a member nested inside one.

Scanners receive artifacts, never paths, so the same pickle scanner reads a ``.pkl`` on disk,
``archive/data.pkl`` inside a zip and a gzip-wrapped member of a tar the same way.
"""

from __future__ import annotations

import io
import os
import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from mlsec_dagster.engine.findings import Location

HEAD_BYTES = 64 * 1024
"""How much of every artifact is read up front for format sniffing."""

Opener = Callable[[], BinaryIO]


@dataclass(frozen=True)
class Artifact:
    path: str
    """The top-level file, relative to the scan root, POSIX separators."""
    member: tuple[str, ...]
    """Chain of container members leading to this stream; empty for the file itself."""
    size: int
    """Size in bytes of this stream (after any decompression), or -1 when unknown."""
    head: bytes
    """The first ``HEAD_BYTES`` bytes (fewer for short streams)."""
    open: Opener
    """Returns a fresh, seekable binary stream positioned at 0. The caller closes it."""
    depth: int = 0
    """Nesting depth: 0 for a file on disk."""
    os_path: str | None = None
    """Absolute path on disk for top-level files (lets scanners read siblings, e.g. ONNX external data)."""

    @property
    def name(self) -> str:
        """Base name of the innermost stream: what an extension check should look at."""
        last = self.member[-1] if self.member else self.path
        return posixpath.basename(last.replace("\\", "/"))

    @property
    def display(self) -> str:
        return self.path + "".join(f"!{m}" for m in self.member)

    def location(self, **kwargs: object) -> Location:
        """A location inside this artifact (``offset``, ``line``...) that carries the member chain."""
        return Location(member=self.member, **kwargs)  # type: ignore[arg-type]

    @classmethod
    def from_file(cls, os_path: str, rel_path: str) -> Artifact:
        size = os.path.getsize(os_path)
        with open(os_path, "rb") as fh:
            head = fh.read(HEAD_BYTES)
        return cls(
            path=rel_path,
            member=(),
            size=size,
            head=head,
            open=lambda: open(os_path, "rb"),
            os_path=os_path,
        )

    def child(self, member: str, size: int, opener: Opener) -> Artifact:
        with opener() as fh:
            head = fh.read(HEAD_BYTES)
        return Artifact(
            path=self.path,
            member=(*self.member, member),
            size=size,
            head=head,
            open=opener,
            depth=self.depth + 1,
        )

    def child_from_bytes(self, member: str, data: bytes) -> Artifact:
        return self.child(member, len(data), lambda: io.BytesIO(data))
