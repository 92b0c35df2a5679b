"""Jinja2 chat templates that escape the sandbox (CVE-2024-34359, llama-cpp-python).

Loaders render ``tokenizer.chat_template`` with a plain (non-sandboxed) Jinja2 environment, so a
template can walk ``''.__class__.__mro__`` or a global helper's ``__globals__`` to ``os``. Real
chat templates never need dunder attributes or module access; the patterns below are what every
public exploit uses, and none of them occurs in Llama, ChatML, Mistral or Gemma templates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_PATTERNS: tuple[tuple[str, str], ...] = (
    (
        r"__(?:class|mro|subclasses|globals|builtins|import|base|bases|init|dict|getattribute|code|"
        r"reduce|reduce_ex|self|func|module|loader|spec)__",
        "dunder attribute access",
    ),
    (r"\|\s*attr\s*\(", "attr() filter (dynamic attribute lookup)"),
    (r"\battr\s*\(\s*['\"]_", "attr() on a private name"),
    (
        r"\b(?:lipsum|cycler|joiner|namespace|url_for|get_flashed_messages)\s*\.\s*_",
        "global helper internals",
    ),
    (r"\b(?:os|subprocess|sys|builtins|importlib)\s*\.\s*\w+\s*\(", "module call"),
    (r"\.\s*(?:popen|system|spawn\w*|exec\w*|check_output|getoutput)\s*\(", "process execution"),
    (r"\b(?:request|config|self)\s*\.\s*(?:environ|application|__|_TemplateReference)", "framework object"),
    (r"\\x5f\\x5f|\\u005f|\\137", "escaped underscores (obfuscated dunder)"),
    (r"\b(?:eval|exec|__import__|getattr)\s*\(", "Python builtin call"),
)
_COMPILED = tuple((re.compile(p), why) for p, why in _PATTERNS)


@dataclass(frozen=True)
class TemplateHit:
    offset: int
    line: int
    reason: str
    snippet: str


def template_escapes(template: str) -> list[TemplateHit]:
    hits: list[TemplateHit] = []
    for pattern, why in _COMPILED:
        for match in pattern.finditer(template):
            start = max(0, match.start() - 80)
            hits.append(
                TemplateHit(
                    match.start(),
                    template.count("\n", 0, match.start()) + 1,
                    why,
                    template[start : match.end() + 80],
                )
            )
    return sorted(hits, key=lambda h: h.offset)
