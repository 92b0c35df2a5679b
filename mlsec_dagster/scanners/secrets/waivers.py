"""Inline waivers: ``mlsec: ignore[MLS-SEC-004] <reason>`` on a finding's line or the line above.

A waiver must carry its reason (it is shown in the report next to the suppressed finding); one
without is ignored and reported itself, so "silence the scanner" never passes review unnoticed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_WAIVER = re.compile(r"mlsec:[ \t]*ignore(?:\[(?P<rules>[^\]\n]*)\])?(?P<reason>[^\n]*)")
_TRAILER = re.compile(r"(?:\\n)?[\"',]*[ \t]*(?:-->|\*/|%>|#\})?[ \t]*$")
"""Comment closers and the JSON string end of a notebook source line: not part of the reason."""


@dataclass(frozen=True)
class Waiver:
    line: int
    rules: frozenset[str]
    """Rule ids it names; empty = every rule on that line."""
    reason: str

    def covers(self, rule_id: str) -> bool:
        return not self.rules or rule_id in self.rules


def parse(text: str) -> dict[int, Waiver]:
    """Waivers by 1-based line number."""
    found: dict[int, Waiver] = {}
    for m in _WAIVER.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        rules = frozenset(r.strip().upper() for r in (m.group("rules") or "").split(",") if r.strip())
        reason = _TRAILER.sub("", m.group("reason")).strip(" \t-:")
        found[line] = Waiver(line, rules, reason)
    return found


def waiver_for(waivers: dict[int, Waiver], line: int, rule_id: str) -> Waiver | None:
    """The waiver on ``line`` or the line above that covers ``rule_id`` (reasonless ones included)."""
    for candidate in (waivers.get(line), waivers.get(line - 1)):
        if candidate is not None and candidate.covers(rule_id):
            return candidate
    return None
