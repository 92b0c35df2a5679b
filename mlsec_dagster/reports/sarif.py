"""SARIF 2.1.0 for GitHub code scanning (and any other SARIF consumer).

Shaped by what GitHub actually requires, not just by the schema: every result has a region with
a ``startLine`` (binary files get line 1, plus ``byteOffset`` when the offset is in the file
itself), our own ``partialFingerprints`` (GitHub cannot hash lines of a binary file), rules with
``security-severity`` so alerts get a severity, and at most 25,000 results per run (the rest are
dropped lowest-severity first, with a notification saying so). Waived findings are kept as
suppressed results so the waiver and its reason stay visible and auditable.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from mlsec_dagster.engine.findings import Finding, Severity
from mlsec_dagster.engine.rules import Rule, all_rules
from mlsec_dagster.engine.scan import ScanResult
from mlsec_dagster.reports.json_report import TOOL_NAME, clean, tool_version

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA_URI = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
INFORMATION_URI = "https://pypi.org/project/mlsec-dagster/"
SRCROOT = "%SRCROOT%"
DEFAULT_CATEGORY = "mlsecops-analysis"
FINGERPRINT_KEY = "mlsecFingerprint/v1"
MAX_RESULTS = 25_000
"""GitHub code scanning rejects runs with more results than this."""
MAX_EVIDENCE_CHARS = 1024
"""Per result: 25,000 results must stay under GitHub's 10 MB (gzipped) upload; JSON keeps it all."""

LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "1.0",
}
"""GitHub's bands: >9.0 critical, 7.0-8.9 high, 4.0-6.9 medium, 0.1-3.9 low."""

_SEMVER = re.compile(r"^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]+)?$")


def _rule_name(title: str) -> str:
    return "".join(word[:1].upper() + word[1:] for word in re.findall(r"[A-Za-z0-9]+", title))


def rule_descriptor(rule: Rule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "name": _rule_name(rule.title),
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": rule.description},
        "help": {
            "text": f"{rule.description}\n\nHow to fix: {rule.remediation}",
            "markdown": (
                f"**{rule.title}** ({rule.id})\n\n{rule.description}\n\n**How to fix:** {rule.remediation}"
            ),
        },
        "defaultConfiguration": {"level": LEVEL[rule.severity]},
        "properties": {
            "security-severity": SECURITY_SEVERITY[rule.severity],
            "severity": rule.severity.name,
            "tags": list(dict.fromkeys(("security", rule.family, *rule.tags))),
            "precision": "high",
        },
    }


def artifact_uri(path: str) -> dict[str, str]:
    """A percent-encoded URI: relative to %SRCROOT% for paths in the scan root, else file://."""
    try:
        encoded = quote(path, safe="/", errors="surrogateescape")
    except UnicodeEncodeError:
        encoded = quote(path.encode("utf-8", "backslashreplace").decode("utf-8"), safe="/")
    if path.startswith("/"):
        return {"uri": "file://" + encoded}
    return {"uri": encoded, "uriBaseId": SRCROOT}


def _clip(evidence: str) -> str:
    if len(evidence) <= MAX_EVIDENCE_CHARS:
        return evidence
    marker = f"... [{len(evidence)} chars; full text in the JSON report]"
    return evidence[: MAX_EVIDENCE_CHARS - len(marker)] + marker


def _location(finding: Finding) -> dict[str, Any]:
    loc = finding.location
    region: dict[str, Any] = {"startLine": loc.line if loc.line and loc.line > 0 else 1}
    if loc.column is not None and loc.column > 0 and loc.line:
        region["startColumn"] = loc.column
    if loc.offset is not None and loc.offset >= 0 and not loc.member:
        region["byteOffset"] = loc.offset  # offsets inside a member are not offsets in the file
    out: dict[str, Any] = {
        "physicalLocation": {"artifactLocation": artifact_uri(finding.path), "region": region}
    }
    logical: list[dict[str, Any]] = []
    if loc.member:
        logical.append(
            {
                "name": loc.member[-1],
                "fullyQualifiedName": "!".join((finding.path, *loc.member)),
                "kind": "resource",
            }
        )
    if loc.row is not None or loc.field is not None:
        cell = "".join(
            part
            for part in (
                f"[row {loc.row}]" if loc.row is not None else "",
                f"[{loc.field!r}]" if loc.field is not None else "",
                f"[char {loc.char_offset}]" if loc.char_offset is not None else "",
            )
        )
        logical.append(
            {
                "name": cell,
                "fullyQualifiedName": "!".join((finding.path, *loc.member)) + cell,
                "kind": "value",
            }
        )
    if logical:
        out["logicalLocations"] = logical
    return out


def _result(
    finding: Finding, rule_index: dict[str, int], blocking: bool, waiver: str | None
) -> dict[str, Any]:
    where = finding.location.describe()
    result: dict[str, Any] = {"ruleId": finding.rule_id}
    if finding.rule_id in rule_index:
        result["ruleIndex"] = rule_index[finding.rule_id]
    result |= {
        "level": LEVEL[finding.severity],
        "message": {
            "text": finding.message + (f" [{where}]" if where and where not in finding.message else "")
        },
        "locations": [_location(finding)],
        "partialFingerprints": {FINGERPRINT_KEY: finding.fingerprint},
        "properties": {
            "severity": finding.severity.name,
            "blocking": blocking,
            "mlsecLocation": finding.location.to_dict(),
            "evidence": _clip(finding.evidence),
        },
    }
    if waiver is not None:
        result["suppressions"] = [{"kind": "external", "status": "accepted", "justification": waiver}]
    return result


def _cap(
    entries: list[tuple[Finding, str | None]], max_results: int
) -> tuple[list[tuple[Finding, str | None]], int]:
    """Keep the most important ``max_results`` entries (unwaived, then by severity), in order."""
    if len(entries) <= max_results:
        return entries, 0
    ranked = sorted(
        range(len(entries)), key=lambda i: (entries[i][1] is not None, -entries[i][0].severity, i)
    )
    keep = sorted(ranked[:max_results])
    return [entries[i] for i in keep], len(entries) - max_results


def build_sarif(
    result: ScanResult, *, category: str = DEFAULT_CATEGORY, max_results: int = MAX_RESULTS
) -> dict[str, Any]:
    rules = all_rules()
    rule_index = {rule.id: i for i, rule in enumerate(rules)}
    entries: list[tuple[Finding, str | None]] = [(f, None) for f in result.findings]
    entries += [(s.finding, s.reason) for s in result.suppressed]
    kept, omitted = _cap(entries, max_results)
    decision = result.decision
    notifications = []
    if omitted:
        notifications.append(
            {
                "level": "warning",
                "descriptor": {"id": "mlsec/results-truncated"},
                "message": {
                    "text": f"{omitted} of {len(entries)} results were left out (lowest severity first): "
                    f"GitHub code scanning accepts at most {max_results} results per run. "
                    "The JSON report (--format json) lists every finding."
                },
            }
        )
    version = tool_version()
    driver: dict[str, Any] = {
        "name": TOOL_NAME,
        "version": version,
        "informationUri": INFORMATION_URI,
        "rules": [rule_descriptor(rule) for rule in rules],
    }
    if _SEMVER.match(version):
        driver["semanticVersion"] = version
    run = {
        "tool": {"driver": driver},
        "automationDetails": {"id": category.rstrip("/") + "/"},
        "originalUriBaseIds": {SRCROOT: {"uri": Path(result.root).resolve().as_uri().rstrip("/") + "/"}},
        "invocations": [
            {
                "executionSuccessful": True,
                **({"toolExecutionNotifications": notifications} if omitted else {}),
            }
        ],
        "columnKind": "unicodeCodePoints",
        "results": [
            _result(f, rule_index, waiver is None and result.policy.is_blocking(f), waiver)
            for f, waiver in kept
        ],
        "properties": {
            "passed": decision.passed,
            "failOnSeverity": decision.fail_on.name,
            "policy": result.policy.source,
            "counts": result.counts(),
            "blocking": len(decision.blocking),
            "suppressed": len(result.suppressed),
            "filesScanned": result.files_scanned,
            "filesExcluded": result.files_excluded,
            "durationSeconds": round(result.duration_seconds, 3),
            "resultsOmitted": omitted,
        },
    }
    return clean({"$schema": SARIF_SCHEMA_URI, "version": SARIF_VERSION, "runs": [run]})


def render_sarif(result: ScanResult, *, category: str = DEFAULT_CATEGORY) -> str:
    return json.dumps(build_sarif(result, category=category), indent=2, ensure_ascii=False) + "\n"
