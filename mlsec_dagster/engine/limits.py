"""Budgets every scanner works within.

A scanner that hits one stops reading and reports ``MLS-SCN-002`` naming the limit and the
policy key that raises it: an unscanned remainder is never a silent pass.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

MiB = 1024 * 1024
GiB = 1024 * MiB


@dataclass(frozen=True)
class Limits:
    max_nesting_depth: int = 6
    """Containers inside containers (zip in zip, gzip in tar, ...)."""
    max_archive_members: int = 100_000
    max_decompressed_bytes: int = 4 * GiB
    """Total bytes inflated from compressed streams for one top-level file."""
    max_compression_ratio: float = 250.0
    """Inflated/compressed ratio above which a stream counts as a bomb (after the first MiB)."""
    max_pickle_bytes: int = 2 * GiB
    """Bytes of pickle opcode stream read from one member."""
    max_pickle_opcodes: int = 50_000_000
    max_pickle_memo: int = 5_000_000
    max_pickle_stack_depth: int = 10_000
    max_nested_pickle_bytes: int = 64 * MiB
    """Bytes of an embedded payload (e.g. an argument of ``pickle.loads``) decoded for re-analysis."""
    max_header_bytes: int = 100 * MiB
    """JSON/metadata headers (safetensors, GGUF, Keras configs) parsed into memory."""
    timeout_seconds: float = 300.0
    """Wall-clock budget for one top-level file, including everything nested in it."""

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def replace(self, **changes: Any) -> Limits:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data.update(changes)
        return Limits(**data)
