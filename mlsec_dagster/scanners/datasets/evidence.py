"""Evidence snippets of cell values that are safe to print in a terminal, a UI table or SARIF.

A poisoned cell is hostile text: printed raw it could move the cursor (ANSI), reverse the reading
order (bidi) or hide characters. Snippets escape everything that is not plainly visible.
"""

from __future__ import annotations

import unicodedata

SNIPPET_CHARS = 160

_VISIBLE_CATEGORIES = frozenset({"L", "M", "N", "P", "S"})
_INVISIBLE = (
    (0xFE00, 0xFE0F),  # variation selectors: can encode hidden bytes
    (0xE0100, 0xE01EF),  # variation selectors supplement
    (0x034F, 0x034F),  # combining grapheme joiner
    (0x115F, 0x1160),  # Hangul fillers
    (0x3164, 0x3164),
    (0xFFA0, 0xFFA0),
    (0x2800, 0x2800),  # braille blank
)
"""Printable by Unicode's categories, yet invisible on screen: escaped like controls."""


def _invisible(code: int) -> bool:
    return any(low <= code <= high for low, high in _INVISIBLE)


def escape(text: str) -> str:
    """Visible text kept; controls, format and private-use characters written as escapes."""
    out: list[str] = []
    for ch in text:
        visible = ch.isprintable() and unicodedata.category(ch)[0] in _VISIBLE_CATEGORIES
        if ch == " " or (visible and not _invisible(ord(ch))):
            out.append(ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) <= 0xFF:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return "".join(out)


def snippet(value: str, offset: int | None = None, width: int = SNIPPET_CHARS) -> str:
    """An escaped window of ``value`` around ``offset`` with ``…`` where it was cut."""
    if offset is None or offset < 0:
        offset = 0
    start = max(0, offset - width // 4)
    end = min(len(value), start + width)
    window = escape(value[start:end])
    return ("…" if start > 0 else "") + window + ("…" if end < len(value) else "")


def hex_snippet(value: bytes, offset: int = 0, width: int = 48) -> str:
    start = max(0, offset - 8)
    chunk = value[start : start + width]
    text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
    return f"@{start}: {chunk.hex(' ')}  |{text}|"
