"""The JSON report: ``ScanResult.to_dict()`` plus a schema version and the tool's identity.

Consumers (dashboards, baselines, other CI steps) parse this, so its shape is versioned:
``schema_version`` changes only when a field is removed or changes meaning; new fields may be
added at any time.
"""

from __future__ import annotations

import json
from importlib import metadata
from typing import Any

from mlsec_dagster.engine.rules import get_rule
from mlsec_dagster.engine.scan import ScanResult

TOOL_NAME = "mlsec-dagster"
SCHEMA_VERSION = 1


def tool_version() -> str:
    try:
        return metadata.version(TOOL_NAME)
    except metadata.PackageNotFoundError:
        return "0+unknown"


def clean(value: Any) -> Any:
    """Strings that encode as UTF-8: scanned files can put lone surrogates into evidence.

    A report that cannot be written (or that strict parsers reject) would hide every finding, so
    unencodable code points become visible ``\\udcxx`` escapes instead.
    """
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "backslashreplace").decode("utf-8")
        return value
    if isinstance(value, dict):
        return {clean(k): clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return value


def _rule_title(rule_id: str) -> str:
    try:
        return get_rule(rule_id).title
    except KeyError:
        return ""


def report_dict(result: ScanResult) -> dict[str, Any]:
    base = result.to_dict()
    for entry in (*base["findings"], *base["suppressed"]):
        entry["title"] = _rule_title(entry["rule_id"])
    return clean(
        {"schema_version": SCHEMA_VERSION, "tool": {"name": TOOL_NAME, "version": tool_version()}, **base}
    )


def render_json(result: ScanResult) -> str:
    return json.dumps(report_dict(result), indent=2, ensure_ascii=False) + "\n"
