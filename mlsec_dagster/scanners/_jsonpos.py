"""JSON parsing that remembers where each object starts, so findings can name a line.

The standard decoder's pure-Python scanner is reused with one hook: every object becomes a
``JsonObject`` (a dict) carrying its character offset. Duplicate keys keep the last value, as
``json.loads`` (and so Keras and transformers) would.
"""

from __future__ import annotations

import json
import json.decoder
import json.scanner
from typing import Any


class JsonObject(dict[str, Any]):
    offset: int = 0


def loads_with_offsets(text: str) -> Any:
    decoder = json.JSONDecoder()

    def parse_object(
        s_and_end: tuple[str, int],
        strict: bool,
        scan_once: Any,
        object_hook: Any,
        object_pairs_hook: Any,
        memo: Any = None,
    ) -> tuple[JsonObject, int]:
        start = s_and_end[1] - 1

        def build(pairs: list[tuple[str, Any]]) -> JsonObject:
            obj = JsonObject(pairs)
            obj.offset = start
            return obj

        result: tuple[JsonObject, int] = json.decoder.JSONObject(  # type: ignore[attr-defined]
            s_and_end, strict, scan_once, None, build, memo
        )
        return result

    decoder.parse_object = parse_object  # type: ignore[attr-defined]
    decoder.scan_once = json.scanner.py_make_scanner(decoder)  # type: ignore[attr-defined]
    return decoder.decode(text)


def line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1
