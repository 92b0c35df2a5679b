"""What the team decided: which findings fail the gate, which are trusted or waived.

Scanners never decide pass/fail; they report. This module turns findings into a decision, and
is the only place that does. Loading and validating the YAML file lives in ``policy_file``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from types import MappingProxyType

import pathspec

from mlsec_dagster.engine.baseline import Baseline
from mlsec_dagster.engine.findings import Finding, Severity
from mlsec_dagster.engine.limits import Limits

CODE_EXECUTION_TAG = "code-execution"
"""Rules carrying this tag are the ones ``artifact_rules.block_pickle_execution`` governs."""


@dataclass(frozen=True)
class IgnoreRule:
    """A waiver: findings of ``rules`` (all rules when empty) under ``path`` (gitignore glob)."""

    path: str
    reason: str
    rules: tuple[str, ...] = ()

    @cached_property
    def _spec(self) -> pathspec.GitIgnoreSpec:
        return pathspec.GitIgnoreSpec.from_lines([self.path])

    def matches(self, finding: Finding) -> bool:
        if self.rules and finding.rule_id not in self.rules:
            return False
        return self._spec.match_file(finding.path)


@dataclass(frozen=True)
class ArtifactRules:
    block_pickle_execution: bool = True
    """False reports pickle code-execution findings but lets them pass the gate (not advised)."""
    require_safetensors_format: bool = False
    """True makes every pickle-based weight file a HIGH finding (``MLS-POL-001``)."""
    trusted_globals: frozenset[str] = frozenset()
    """Exact ``module.name`` callables the team vouches for; no prefixes unless ending in ``.*``."""
    strict_unknown_classes: bool = False
    """True raises 'unverified class reconstructed' findings from LOW to HIGH."""


@dataclass(frozen=True)
class LicenseRules:
    fail_on_missing_license: bool = False
    """A folder holding a model or dataset with no licence declared anywhere is a HIGH finding."""
    custom_restricted_licenses: tuple[str, ...] = ()
    """Lowercase SPDX ids or families with ``*`` (``cc-by-nc-*``, ``agpl-*``): declared anywhere, HIGH."""
    allowed_licenses: tuple[str, ...] = ()
    """When non-empty, an allow-list (same syntax): any other declared licence is HIGH."""
    unknown_license_severity: Severity | None = Severity.MEDIUM
    """Severity of a declaration that cannot be identified or is ``other``/``unknown`` (None: silent)."""

    def matches(self, spdx_id: str, patterns: tuple[str, ...]) -> bool:
        """True when one SPDX id (any case) is named by ``patterns`` (ids or ``*`` families)."""
        import fnmatch

        lowered = spdx_id.lower()
        return any(fnmatch.fnmatchcase(lowered, p) for p in patterns)


DATASET_FAMILIES = (
    "html", "links", "injection", "unicode", "formula", "terminal", "binary", "secrets", "code", "custom",
)  # fmt: skip
"""Detector families a dataset column rule can allow. ``code`` covers what code snippets look like
(script tags, shell pipelines) in programming Q&A columns."""


def column_matches(column: str, glob: str) -> bool:
    """Column globs are ``fnmatch`` patterns, except that ``[]`` (a list level in a nested column name,
    ``messages[].content``) is literal rather than an empty character class."""
    return fnmatch.fnmatchcase(column, glob.replace("[]", "[[]]"))


@dataclass(frozen=True)
class ColumnRule:
    """What the team expects in some columns: findings of ``allow`` families there drop to INFO."""

    name: str
    """Glob over column names (``fnmatch``); nested values are named ``parent.child`` / ``items[]``."""
    allow: frozenset[str]
    reason: str

    def matches(self, column: str) -> bool:
        return column_matches(column, self.name)


@dataclass(frozen=True)
class CustomPattern:
    """A team's own regex (polars/Rust syntax) run over every string cell as rule MLS-DSC-001."""

    name: str
    pattern: str
    severity: Severity
    description: str
    columns: tuple[str, ...] = ("*",)


@dataclass(frozen=True)
class DatasetRules:
    enabled: bool = True
    disabled_detectors: frozenset[str] = frozenset()
    """Families not run at all (the report says so)."""
    columns: tuple[ColumnRule, ...] = ()
    custom_patterns: tuple[CustomPattern, ...] = ()
    sample_rows: int | None = None
    """Opt-in sampling: only the first N rows of each file are checked (reported as MLS-DAT-012)."""
    max_cell_bytes: int = 8 * 1024 * 1024
    """A cell larger than this is an oversized-cell finding (it still gets scanned)."""
    max_findings_per_column: int = 20
    """Per rule and column, findings listed one by one; the rest are counted in one summary finding."""
    max_nesting_depth: int = 32
    """Nested list/struct/map levels (or JSON depth) above which a value is pathological."""

    def allowances(self, column: str) -> frozenset[str]:
        allowed: set[str] = set()
        for rule in self.columns:
            if rule.matches(column):
                allowed |= rule.allow
        return frozenset(allowed)


PYPI_INDEX = "https://pypi.org/simple"
"""The public index every resolver falls back to unless told otherwise."""


@dataclass(frozen=True)
class DependencyRules:
    """How the team installs packages: where from, which names are theirs, how strictly pinned."""

    enabled: bool = True
    internal_prefixes: tuple[str, ...] = ()
    """PEP 503-normalised name prefixes of the organisation's private packages (``acme-``). Such a name
    must be pinned to an allowed private index; resolved from PyPI it is dependency confusion."""
    allowed_indexes: tuple[str, ...] = ()
    """Index URLs the team trusts besides PyPI (normalised: no trailing slash). Any other index a
    manifest names is a finding."""
    allowlist: frozenset[str] = frozenset()
    """Normalised names never reported as typosquats (your own packages, vetted look-alikes)."""
    unpinned_severity: Severity | None = Severity.LOW
    """Severity of a requirement without an exact version (None: not reported)."""
    missing_hashes_severity: Severity | None = None
    """Severity of a pinned requirement without ``--hash``/lock hashes (None: not reported)."""
    advisory_db: str | None = None
    """Folder of an offline OSV export (``<ecosystem>/<id>.json`` or flat ``*.json``); None: the
    vulnerability check is skipped and the report says so."""

    def is_internal(self, normalized_name: str) -> bool:
        return any(normalized_name.startswith(prefix) for prefix in self.internal_prefixes)

    def index_allowed(self, url: str) -> bool:
        wanted = url.rstrip("/").lower()
        return wanted in {PYPI_INDEX, *(u.rstrip("/").lower() for u in self.allowed_indexes)}


@dataclass(frozen=True)
class Suppressed:
    finding: Finding
    reason: str


@dataclass(frozen=True)
class Decision:
    passed: bool
    fail_on: Severity
    blocking: tuple[Finding, ...]
    warnings: tuple[Finding, ...]

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1


@dataclass(frozen=True)
class Policy:
    fail_on_severity: Severity = Severity.HIGH
    artifact_rules: ArtifactRules = field(default_factory=ArtifactRules)
    license_rules: LicenseRules = field(default_factory=LicenseRules)
    dataset_rules: DatasetRules = field(default_factory=DatasetRules)
    dependency_rules: DependencyRules = field(default_factory=DependencyRules)
    severity_overrides: Mapping[str, Severity] = field(default_factory=lambda: MappingProxyType({}))
    ignores: tuple[IgnoreRule, ...] = ()
    exclude: tuple[str, ...] = ()
    """Extra gitignore-style patterns of paths not to scan (on top of ``.mlsecignore``)."""
    limits: Limits = field(default_factory=Limits)
    baseline: Baseline | None = None
    """Accepted findings (``mlsec baseline``): reported as suppressed, never blocking."""
    version: str = "1.0"
    source: str | None = None
    """The file this policy came from, or None for built-in defaults."""

    def trusts_global(self, qualified_name: str) -> bool:
        trusted = self.artifact_rules.trusted_globals
        if qualified_name in trusted:
            return True
        return any(t.endswith(".*") and qualified_name.startswith(t[:-1]) for t in trusted)

    def apply(self, findings: Iterable[Finding]) -> tuple[list[Finding], list[Suppressed]]:
        """Severity overrides, then waivers. Suppressed findings are kept for the report."""
        kept: list[Finding] = []
        suppressed: list[Suppressed] = []
        for finding in findings:
            override = self.severity_overrides.get(finding.rule_id)
            if override is not None:
                finding = finding.with_severity(override)
            waiver = next((w for w in self.ignores if w.matches(finding)), None)
            if waiver is not None:
                suppressed.append(Suppressed(finding, waiver.reason))
            elif finding.waiver:
                suppressed.append(Suppressed(finding, f"inline waiver: {finding.waiver}"))
            elif self.baseline is not None and self.baseline.accepts(finding):
                suppressed.append(Suppressed(finding, f"accepted in the baseline {self.baseline.source}"))
            else:
                kept.append(finding)
        return kept, suppressed

    def is_blocking(self, finding: Finding) -> bool:
        if finding.severity < self.fail_on_severity:
            return False
        if not self.artifact_rules.block_pickle_execution:
            from mlsec_dagster.engine.rules import get_rule

            if CODE_EXECUTION_TAG in get_rule(finding.rule_id).tags:
                return False
        return True

    def decide(self, findings: Iterable[Finding]) -> Decision:
        blocking: list[Finding] = []
        warnings: list[Finding] = []
        for finding in findings:
            (blocking if self.is_blocking(finding) else warnings).append(finding)
        return Decision(
            passed=not blocking,
            fail_on=self.fail_on_severity,
            blocking=tuple(blocking),
            warnings=tuple(warnings),
        )


def with_sampling(policy: Policy, *, sample_rows: int | None = None, full_scan: bool = False) -> Policy:
    """The CLI's and resource's ``--sample-rows N`` / ``--full-scan`` on top of the policy file.

    Sampling is always an explicit choice: ``full_scan`` wins over a policy's ``sample_rows``.
    """
    if full_scan and sample_rows is not None:
        raise ValueError("choose either full scan or sample_rows, not both")
    if sample_rows is not None and sample_rows <= 0:
        raise ValueError(f"sample_rows must be a positive number of rows, got {sample_rows}")
    if full_scan:
        return replace(policy, dataset_rules=replace(policy.dataset_rules, sample_rows=None))
    if sample_rows is not None:
        return replace(policy, dataset_rules=replace(policy.dataset_rules, sample_rows=sample_rows))
    return policy
