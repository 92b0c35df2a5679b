"""The human report: findings grouped by file, waivers with their reasons, one verdict line.

Messages and evidence quote hostile files, so every string is made inert before it reaches a
terminal: control characters (ANSI escapes could repaint a FAIL as a PASS) and bidirectional
overrides (which reorder what a reviewer reads) are shown as escapes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import TextIO

from mlsec_dagster.engine.findings import Finding, Severity
from mlsec_dagster.engine.policy import Suppressed
from mlsec_dagster.engine.scan import ScanResult
from mlsec_dagster.reports.json_report import TOOL_NAME, tool_version

MAX_EVIDENCE_LINES = 12
MAX_LINE_CHARS = 160
INDENT = "    "

_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")
_SEVERITY_STYLE = {
    Severity.CRITICAL: "1;31",
    Severity.HIGH: "31",
    Severity.MEDIUM: "33",
    Severity.LOW: "36",
    Severity.INFO: "2",
}


def printable(text: str) -> str:
    """``text`` with terminal control, bidi and surrogate code points shown as escapes."""
    return _UNSAFE.sub(lambda m: m.group().encode("unicode_escape", "backslashreplace").decode("ascii"), text)


def use_color(stream: TextIO, disabled: bool = False) -> bool:
    """ANSI colours only for a terminal, and never when NO_COLOR (https://no-color.org) is set."""
    if disabled or os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and os.environ.get("TERM") != "dumb"


class _Style:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.enabled else text


def _clip(line: str) -> str:
    line = printable(line.replace("\t", "    "))
    return line if len(line) <= MAX_LINE_CHARS else line[: MAX_LINE_CHARS - 3] + "..."


def _evidence(evidence: str) -> list[str]:
    """Head and tail of long evidence: the tail is where decompiled payloads end up."""
    lines = evidence.rstrip("\n").splitlines()
    if len(lines) > MAX_EVIDENCE_LINES:
        tail = MAX_EVIDENCE_LINES // 2
        skipped = len(lines) - MAX_EVIDENCE_LINES + 1
        marker = f"... {skipped} lines omitted (see --format json) ..."
        lines = [*lines[: MAX_EVIDENCE_LINES - tail - 1], marker, *lines[-tail:]]
    return [f"{INDENT}| {_clip(line)}".rstrip() for line in lines]


def _finding_lines(finding: Finding, blocking: bool, style: _Style) -> list[str]:
    severity = style(_SEVERITY_STYLE[finding.severity], f"{finding.severity.name:<8}")
    gate = style("1;31", "BLOCKING") if blocking else "warning "
    where = printable(finding.location.describe()) or "whole file"
    lines = [f"  {severity}  {finding.rule_id}  {gate}  {where}"]
    lines.append(INDENT + printable(finding.message))
    if finding.evidence:
        lines.extend(_evidence(finding.evidence))
    return lines


def _grouped(findings: Iterable[Finding]) -> dict[str, list[Finding]]:
    groups: dict[str, list[Finding]] = {}
    for finding in findings:
        groups.setdefault(finding.path, []).append(finding)
    return groups


def _suppressed_lines(suppressed: list[Suppressed]) -> list[str]:
    lines = [f"Suppressed by policy waivers ({len(suppressed)}):"]
    for item in suppressed:
        f = item.finding
        where = f.location.describe()
        place = printable(f.path + (f" ({where})" if where else ""))
        lines.append(f"  {f.severity.name:<8}  {f.rule_id}  {place}")
        lines.append(f"{INDENT}reason: {printable(item.reason)}")
    return lines


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def summary_line(result: ScanResult, *, color: bool = False) -> str:
    """One line: counts per severity, files, time and the verdict against the threshold."""
    style = _Style(color)
    decision = result.decision
    counts = ", ".join(f"{name} {n}" for name, n in result.counts().items())
    files = f"{_count(result.files_scanned, 'file')} scanned, {result.files_excluded} excluded"
    if result.suppressed:
        files += f", {_count(len(result.suppressed), 'finding')} waived"
    threshold = decision.fail_on.name
    if decision.passed:
        verdict = style("1;32", "PASS") + f" (nothing blocking at or above {threshold})"
    else:
        verdict = style("1;31", "FAIL") + f" ({len(decision.blocking)} blocking at or above {threshold})"
    return f"{counts} | {files} | {result.duration_seconds:.2f} s | {verdict}"


def render_text(result: ScanResult, *, color: bool = False, quiet: bool = False) -> str:
    """The report; ``quiet`` keeps only blocking findings and the summary line."""
    style = _Style(color)
    policy = result.policy.source or "built-in defaults"
    lines = [
        f"{TOOL_NAME} {tool_version()}: scan of {printable(result.root)}",
        f"policy: {printable(policy)} (fail on {result.decision.fail_on.name} and above)",
        "",
    ]
    shown = [f for f in result.findings if not quiet or result.policy.is_blocking(f)]
    for path, findings in _grouped(shown).items():
        lines.append(style("1", printable(path)))
        for finding in findings:
            lines.extend(_finding_lines(finding, result.policy.is_blocking(finding), style))
        lines.append("")
    if not result.findings:
        lines += ["No findings.", ""]
    if result.suppressed and not quiet:
        lines += [*_suppressed_lines(result.suppressed), ""]
    lines.append(summary_line(result, color=color))
    return "\n".join(lines) + "\n"
