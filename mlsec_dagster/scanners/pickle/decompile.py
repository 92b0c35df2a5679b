"""Evidence: readable Python for a flagged stream (fickling), plus the opcodes around the finding.

fickling decompiles symbolically (it never imports or calls anything). It runs only on flagged
streams small enough to decompile cheaply; when it fails, the opcode context alone is the proof.
"""

from __future__ import annotations

import ast
import logging

from mlsec_dagster.scanners.pickle.opcodes import Blob, Op

log = logging.getLogger(__name__)

MAX_DECOMPILE_BYTES = 8 * 1024 * 1024
MAX_LINES = 60
MAX_EVIDENCE = 3800


def decompile(data: bytes) -> str:
    """Python source equivalent to the pickle, or an empty string when fickling cannot produce it."""
    try:
        from fickling.fickle import Pickled

        pickled = Pickled.load(data, fail_on_decode_error=False)
        source = ast.unparse(pickled.ast)
    except Exception:  # fickling raises many kinds of errors on hostile input; evidence is best effort
        log.debug("fickling could not decompile a flagged pickle", exc_info=True)
        return ""
    lines = source.splitlines()
    if len(lines) > MAX_LINES:
        lines = [*lines[: MAX_LINES - 1], f"# ... {len(lines) - MAX_LINES + 1} more lines"]
    return "\n".join(lines)


def disassemble(ops: list[Op]) -> str:
    return "\n".join(f"{op.pos:>10}: {op.name:<16} {_arg(op.arg)}" for op in ops)


def _arg(arg: object) -> str:
    if arg is None:
        return ""
    if isinstance(arg, Blob):
        return f"<{arg.length} bytes at {arg.offset}, not read>"
    text = repr(arg)
    return text if len(text) <= 80 else text[:77] + "..."


def evidence(detail: str, context: list[Op], source: str) -> str:
    parts = [detail, "", "opcodes up to the finding:", disassemble(context)]
    if source:
        parts += ["", "decompiled (fickling):", source]
    text = "\n".join(parts)
    return text if len(text) <= MAX_EVIDENCE else text[: MAX_EVIDENCE - 20] + "\n... (truncated)"
