"""A baseline: the findings a team accepted when it adopted the gate, so only new ones fail it.

Adopting a scanner on a repository with history means hundreds of known findings; failing every
build on them teaches people to switch the gate off. ``mlsec baseline`` records the current
findings' fingerprints (rule, file, member and stable key: never a line number, so edits above a
finding do not resurrect it); a scan with that baseline reports them as suppressed (still visible,
with the baseline named as the reason) and fails only on findings that are not in it. The file
holds no evidence, so no secret value is ever written to it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlsec_dagster.engine.findings import Finding
from mlsec_dagster.engine.textfile import read_team_file

BASELINE_VERSION = 1
MAX_BASELINE_BYTES = 64 * 1024 * 1024


class BaselineError(ValueError):
    """A baseline file that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class Baseline:
    source: str
    fingerprints: frozenset[str]

    def accepts(self, finding: Finding) -> bool:
        return finding.fingerprint in self.fingerprints


def baseline_document(findings: Iterable[Finding], tool: str) -> dict[str, Any]:
    entries = sorted(
        {
            f.fingerprint: {
                "fingerprint": f.fingerprint,
                "rule_id": f.rule_id,
                "severity": f.severity.name,
                "path": f.path,
                "location": f.location.describe(),
            }
            for f in findings
        }.values(),
        key=lambda e: (e["path"], e["rule_id"], e["fingerprint"]),
    )
    return {"version": BASELINE_VERSION, "tool": tool, "findings": entries}


def write_baseline(findings: Iterable[Finding], path: str | Path, tool: str) -> int:
    document = baseline_document(findings, tool)
    Path(path).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return len(document["findings"])


def load_baseline(path: str | Path) -> Baseline:
    path = Path(path)
    text = read_team_file(path, MAX_BASELINE_BYTES, "baseline file", BaselineError)
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise BaselineError(f"{path}: not a JSON baseline ({exc})") from None
    if not isinstance(document, dict) or document.get("version") != BASELINE_VERSION:
        raise BaselineError(
            f"{path}: not an mlsec baseline (version {BASELINE_VERSION}); create one with `mlsec baseline`"
        )
    entries = document.get("findings")
    if not isinstance(entries, list):
        raise BaselineError(f"{path}: `findings` must be a list")
    fingerprints: set[str] = set()
    for index, entry in enumerate(entries):
        value = entry.get("fingerprint") if isinstance(entry, dict) else None
        if not isinstance(value, str) or len(value) != 32:
            raise BaselineError(f"{path}: findings[{index}] has no valid `fingerprint`")
        fingerprints.add(value)
    return Baseline(str(path), frozenset(fingerprints))
