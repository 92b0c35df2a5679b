"""The rule catalogue: stable ids with their title, default severity, help and remediation.

Each scanner module declares its own rules with :func:`define` at import time (one module per
rule family, as in bandit). The README catalogue and SARIF ``tool.driver.rules`` are both
generated from this registry, so a rule documented is a rule that exists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mlsec_dagster.engine.findings import Finding, Location, Severity

_RULE_ID = re.compile(r"^MLS-[A-Z]{2,5}-\d{3}$")


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    severity: Severity
    description: str
    remediation: str
    family: str
    tags: tuple[str, ...] = ()

    def finding(
        self,
        path: str,
        message: str,
        *,
        location: Location | None = None,
        evidence: str = "",
        key: str = "",
        severity: Severity | None = None,
        waiver: str = "",
    ) -> Finding:
        """The only way scanners create findings: ties the finding to a catalogued rule."""
        return Finding(
            rule_id=self.id,
            severity=self.severity if severity is None else severity,
            path=path,
            message=message,
            location=location or Location(),
            evidence=evidence,
            key=key,
            waiver=waiver,
        )


_REGISTRY: dict[str, Rule] = {}


def define(
    rule_id: str,
    title: str,
    severity: Severity,
    description: str,
    remediation: str,
    *,
    family: str,
    tags: tuple[str, ...] = (),
) -> Rule:
    if not _RULE_ID.match(rule_id):
        raise ValueError(f"rule id {rule_id!r} does not match MLS-<FAMILY>-<NNN>")
    rule = Rule(rule_id, title, severity, description, remediation, family, tags)
    existing = _REGISTRY.get(rule_id)
    if existing is not None and existing != rule:
        raise ValueError(f"rule id {rule_id} defined twice with different content")
    _REGISTRY[rule_id] = rule
    return rule


def all_rules() -> list[Rule]:
    """Every rule, after importing every scanner (which is where rules are declared)."""
    import mlsec_dagster.scanners  # noqa: F401  (registers the scanners' rules)

    return sorted(_REGISTRY.values(), key=lambda r: r.id)


def get_rule(rule_id: str) -> Rule:
    if rule_id not in _REGISTRY:
        all_rules()
    return _REGISTRY[rule_id]


def is_known_rule(rule_id: str) -> bool:
    return rule_id in {r.id for r in all_rules()}


def catalogue_markdown() -> str:
    """The README's rule table; ``python -m mlsec_dagster.engine.rules`` prints it."""
    lines = ["| Rule | Severity | Title | What to do |", "|---|---|---|---|"]
    for rule in all_rules():
        remediation = rule.remediation.replace("|", "\\|").replace("\n", " ")
        lines.append(f"| `{rule.id}` | {rule.severity.name} | {rule.title} | {remediation} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(catalogue_markdown())
