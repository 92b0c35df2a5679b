"""Load and validate the policy file: ``mlsec.yaml``, else ``veritensor.yaml``, in the scan root.

The policy file gates releases, so a key that is misspelt and silently ignored would be a gate the
team believes in but does not have. Every key is therefore checked against the schema below:
unknown keys, wrong types and bad values are errors that name the file, the key path and the
line, with the closest valid key for typos. The YAML is only *composed* into nodes by the safe
loader and read node by node; no object is ever constructed from a tag in the file.

The schema is data (``_TOP``): the validator, ``policy_to_dict`` and the README's key reference
(``policy_reference_markdown``) all read it, so a documented key is a key that exists.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pathspec
import yaml
from yaml.constructor import SafeConstructor

from mlsec_dagster.engine.findings import Finding, Severity
from mlsec_dagster.engine.limits import Limits
from mlsec_dagster.engine.policy import (
    DATASET_FAMILIES,
    ArtifactRules,
    ColumnRule,
    CustomPattern,
    DatasetRules,
    DependencyRules,
    IgnoreRule,
    LicenseRules,
    Policy,
)
from mlsec_dagster.engine.rules import all_rules
from mlsec_dagster.engine.textfile import read_team_file

POLICY_FILE_NAMES = ("mlsec.yaml", "mlsec.yml", "veritensor.yaml", "veritensor.yml")
"""Looked up in this order in the scan root; the first that exists is the policy."""
SUPPORTED_VERSIONS = {"1": "1.0", "1.0": "1.0"}
"""Accepted spellings of ``version`` and the canonical version each means."""
MAX_POLICY_BYTES = 1024 * 1024
"""A policy file is a few hundred bytes; anything this large is not one."""

_TAG = "tag:yaml.org,2002:"
_KIND = {"str": "a string", "bool": "a boolean", "int": "an integer", "float": "a number", "null": "empty"}
_TRUSTED_GLOBAL = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+$")
_TRUSTED_PREFIX = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*\.\*$")
_PROBE_PATHS = ("mlsec-probe.bin", "mlsec-probe/deeper/model.pkl")
"""A waiver without ``rules`` matching both of these waives every finding in the repository."""


class PolicyError(ValueError):
    """An unusable policy file; ``errors`` holds one ``file:line:column: key: problem`` per issue."""

    def __init__(self, message: str, errors: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.errors = tuple(errors) or (message,)


class _Invalid:
    """Marks a value that failed validation (its error is already recorded)."""


_INVALID = _Invalid()

Reader = Callable[["_Context", yaml.Node, str], Any]
Builder = Callable[["_Context", yaml.Node, str, dict[str, Any]], Any]


def _as_dict(ctx: _Context, node: yaml.Node, path: str, values: dict[str, Any]) -> Any:
    return values


@dataclass(frozen=True)
class Key:
    """One policy key: how to read it and what to tell the user about it."""

    read: Reader
    type: str
    doc: str


@dataclass(frozen=True)
class Section:
    """A mapping of keys; ``build`` turns the validated values into what the engine reads."""

    keys: Mapping[str, Key | Section]
    build: Builder = _as_dict
    required: frozenset[str] = frozenset()


@dataclass
class _Context:
    source: str
    errors: list[tuple[int, int, str]] = field(default_factory=list)
    constructor: SafeConstructor = field(default_factory=SafeConstructor)

    def error(self, node: yaml.Node, path: str, problem: str) -> _Invalid:
        mark = node.start_mark
        self.errors.append((mark.line, mark.column, f"{path or '(top level)'}: {problem}"))
        return _INVALID

    def messages(self) -> list[str]:
        """``file:line:column: key.path: problem`` lines, in file order."""
        return [f"{self.source}:{line + 1}:{col + 1}: {text}" for line, col, text in sorted(self.errors)]


# -- node readers -------------------------------------------------------------------------


def _kind(node: yaml.Node) -> str:
    tag = node.tag.removeprefix(_TAG)
    if isinstance(node, yaml.MappingNode) and tag == "map":
        return "a mapping"
    if isinstance(node, yaml.SequenceNode) and tag == "seq":
        return "a list"
    if isinstance(node, yaml.ScalarNode) and tag in _KIND:
        return _KIND[tag]
    shown = "!!" + tag if node.tag.startswith(_TAG) else node.tag
    return f"a value tagged {shown!r} (YAML tags are not supported)"


def _scalar(ctx: _Context, node: yaml.Node, path: str, wanted: tuple[str, ...], what: str) -> Any:
    if not isinstance(node, yaml.ScalarNode) or _kind(node) not in {_KIND[w] for w in wanted}:
        return ctx.error(node, path, f"expected {what}, got {_kind(node)}")
    return ctx.constructor.construct_object(node)


def _bool(ctx: _Context, node: yaml.Node, path: str) -> Any:
    return _scalar(ctx, node, path, ("bool",), "true or false")


def _string(ctx: _Context, node: yaml.Node, path: str) -> Any:
    value = _scalar(ctx, node, path, ("str",), "a string")
    if isinstance(value, str) and not value.strip():
        return ctx.error(node, path, "must not be empty")
    return value.strip() if isinstance(value, str) else value


def _suggest(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]!r}?"
    return "; expected one of: " + ", ".join(choices)


def _severity(ctx: _Context, node: yaml.Node, path: str) -> Any:
    names = [s.name for s in sorted(Severity, reverse=True)]
    value = _scalar(ctx, node, path, ("str",), "a severity (" + ", ".join(names) + ")")
    if not isinstance(value, str):
        return value
    try:
        return Severity.parse(value)
    except ValueError:
        return ctx.error(node, path, f"unknown severity {value!r}" + _suggest(value.strip().upper(), names))


def _version(ctx: _Context, node: yaml.Node, path: str) -> Any:
    value = _scalar(ctx, node, path, ("str", "int", "float"), 'a version such as "1.0"')
    if isinstance(value, _Invalid):
        return value
    text = str(value).strip()
    if text not in SUPPORTED_VERSIONS:
        return ctx.error(
            node, path, f'unsupported policy version {text!r}; this mlsec-dagster reads version "1.0"'
        )
    return SUPPORTED_VERSIONS[text]


def _rule_id(ctx: _Context, node: yaml.Node, path: str) -> Any:
    value = _string(ctx, node, path)
    if not isinstance(value, str):
        return value
    known = [r.id for r in all_rules()]
    if value.upper() in known:
        return value.upper()
    close = difflib.get_close_matches(value.upper(), known, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else "; `mlsec rules` lists the catalogue"
    return ctx.error(node, path, f"unknown rule id {value!r}{hint}")


def _trusted_global(ctx: _Context, node: yaml.Node, path: str) -> Any:
    value = _string(ctx, node, path)
    if not isinstance(value, str):
        return value
    if not (_TRUSTED_GLOBAL.match(value) or _TRUSTED_PREFIX.match(value)):
        return ctx.error(
            node,
            path,
            f"{value!r} is not a `module.name` callable (e.g. `mypkg.models.Net`) nor an explicit "
            "prefix ending in `.*` (e.g. `mypkg.*`)",
        )
    if _covers_denied(value):
        return ctx.error(
            node,
            path,
            f"{value!r} is or covers a known-dangerous callable and cannot be trusted; if one file is a "
            "false positive, waive it under `policy.ignores` with a reason (it stays visible as suppressed)",
        )
    return value


def _covers_denied(entry: str) -> bool:
    """Trust must not silence the pickle deny list: a waiver would keep the finding visible."""
    from mlsec_dagster.scanners.pickle import callables  # the deny list is the pickle scanner's data

    module, _, name = entry.rpartition(".")
    qualified = callables.qualify(module, name if name != "*" else "x")
    if name != "*":
        return callables.is_denied(qualified)
    prefix = qualified[:-1]  # "module." after Python 2 renames
    return (
        callables.is_denied(qualified)
        or any(n.startswith(prefix) for n in callables.DENY_NAMES)
        or any(m.startswith(prefix) for m in callables.DENY_MODULES)
    )


def _licence(ctx: _Context, node: yaml.Node, path: str) -> Any:
    value = _string(ctx, node, path)
    return value.lower() if isinstance(value, str) else value


def _compiles(ctx: _Context, node: yaml.Node, path: str, pattern: str) -> Any:
    try:
        pathspec.GitIgnoreSpec.from_lines([pattern])
    except (ValueError, TypeError) as exc:
        return ctx.error(node, path, f"invalid gitignore pattern {pattern!r}: {exc}")
    return pattern


def _exclude_pattern(ctx: _Context, node: yaml.Node, path: str) -> Any:
    value = _string(ctx, node, path)
    return _compiles(ctx, node, path, value) if isinstance(value, str) else value


def _waiver_glob(ctx: _Context, node: yaml.Node, path: str) -> Any:
    value = _string(ctx, node, path)
    if isinstance(value, str) and value.startswith("!"):
        return ctx.error(node, path, "a waiver path cannot be a negated pattern ('!...')")
    return _compiles(ctx, node, path, value) if isinstance(value, str) else value


def _list_of(item: Reader, container: Callable[[list[Any]], Any]) -> Reader:
    def read(ctx: _Context, node: yaml.Node, path: str) -> Any:
        if _kind(node) == "empty":
            return container([])
        if _kind(node) != "a list":
            return ctx.error(node, path, f"expected a list, got {_kind(node)}")
        values = [item(ctx, child, f"{path}[{i}]") for i, child in enumerate(node.value)]
        if any(isinstance(v, _Invalid) for v in values):
            return _INVALID
        return container(list(dict.fromkeys(values)))

    return read


def _mapping_items(
    ctx: _Context, node: yaml.Node, path: str
) -> list[tuple[yaml.Node, str, yaml.Node]] | None:
    """(key node, key, value node) of a mapping; None (error recorded) if it is not one."""
    if _kind(node) == "empty":
        return []
    if _kind(node) != "a mapping":
        ctx.error(node, path, f"expected a mapping, got {_kind(node)}")
        return None
    items: list[tuple[yaml.Node, str, yaml.Node]] = []
    seen: set[str] = set()
    for key_node, value_node in node.value:
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
        if not isinstance(key, str) or key_node.tag.removeprefix(_TAG) not in ("str", "int", "float", "bool"):
            ctx.error(key_node, path, f"keys must be plain strings, got {_kind(key_node)}")
            continue
        if key in seen:
            ctx.error(key_node, f"{path}.{key}" if path else key, "duplicate key")
            continue
        seen.add(key)
        items.append((key_node, key, value_node))
    return items


def _read_section(ctx: _Context, section: Section, node: yaml.Node, path: str) -> dict[str, Any] | _Invalid:
    items = _mapping_items(ctx, node, path)
    if items is None:
        return _INVALID
    values: dict[str, Any] = {}
    valid = list(section.keys)
    failed = False
    for key_node, key, value_node in items:
        key_path = f"{path}.{key}" if path else key
        spec = section.keys.get(key)
        if spec is None:
            ctx.error(key_node, key_path, _unknown_key_problem(key, valid, path))
            failed = True
            continue
        value = (
            spec.read(ctx, value_node, key_path)
            if isinstance(spec, Key)
            else _section_value(ctx, spec, value_node, key_path)
        )
        if isinstance(value, _Invalid):
            failed = True
        else:
            values[key] = value
    for missing in sorted(section.required - {k for _, k, _ in items}):
        ctx.error(node, f"{path}.{missing}", "required key is missing")
        failed = True
    return _INVALID if failed else values


def _unknown_key_problem(key: str, valid: Sequence[str], parent: str) -> str:
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
    if close:
        return f"unknown key {key!r}; did you mean {close[0]!r}?"
    elsewhere = [p for p in _all_key_paths() if p.rsplit(".", 1)[-1] == key]
    if elsewhere:
        return f"unknown key {key!r} here; it belongs at {elsewhere[0]!r}"
    where = f"under {parent!r}" if parent else "at the top level"
    return f"unknown key {key!r}; valid keys {where}: " + ", ".join(valid)


def _section_value(ctx: _Context, section: Section, node: yaml.Node, path: str) -> Any:
    values = _read_section(ctx, section, node, path)
    return values if isinstance(values, _Invalid) else section.build(ctx, node, path, values)


def _items_of(section: Section) -> Reader:
    """Reads one list item that is itself a mapping (e.g. a waiver)."""

    def read(ctx: _Context, node: yaml.Node, path: str) -> Any:
        return _section_value(ctx, section, node, path)

    return read


def _overrides(ctx: _Context, node: yaml.Node, path: str) -> Any:
    items = _mapping_items(ctx, node, path)
    if items is None:
        return _INVALID
    out: dict[str, Severity] = {}
    for key_node, key, value_node in items:
        rule = _rule_id(ctx, key_node, f"{path}.{key}")
        severity = _severity(ctx, value_node, f"{path}.{key}")
        if not isinstance(rule, _Invalid) and not isinstance(severity, _Invalid):
            out[rule] = severity
    if len(out) != len(items):
        return _INVALID
    return MappingProxyType(out)


def _positive_number(kind: type) -> Reader:
    def read(ctx: _Context, node: yaml.Node, path: str) -> Any:
        wanted = ("int",) if kind is int else ("int", "float")
        value = _scalar(ctx, node, path, wanted, "a whole number" if kind is int else "a number")
        if isinstance(value, _Invalid):
            return value
        if not (math.isfinite(value) and value > 0):
            return ctx.error(node, path, f"must be a positive number, got {value!r}")
        return kind(value)

    return read


# -- section builders: validated key values -> the dataclass the engine reads --------------


def _build_artifact_rules(ctx: _Context, node: yaml.Node, path: str, values: dict[str, Any]) -> Any:
    return ArtifactRules(**values)


def _build_license_rules(ctx: _Context, node: yaml.Node, path: str, values: dict[str, Any]) -> Any:
    both = sorted(set(values.get("allowed_licenses", ())) & set(values.get("custom_restricted_licenses", ())))
    if both:
        return ctx.error(node, path, f"licences both allowed and restricted: {', '.join(both)}")
    return LicenseRules(**values)


def _build_ignore(ctx: _Context, node: yaml.Node, path: str, values: dict[str, Any]) -> Any:
    waiver = IgnoreRule(path=values["path"], reason=values["reason"], rules=values.get("rules", ()))
    if not waiver.rules and all(waiver.matches(_probe(p)) for p in _PROBE_PATHS):
        return ctx.error(
            node,
            f"{path}.path",
            f"{waiver.path!r} waives every finding in the repository; list the `rules` it waives, "
            "or raise `policy.fail_on_severity` instead",
        )
    return waiver


def _probe(path: str) -> Finding:
    return Finding(rule_id="MLS-SCN-000", severity=Severity.INFO, path=path, message="")


def _family(ctx: _Context, node: yaml.Node, path: str) -> Any:
    value = _string(ctx, node, path)
    if isinstance(value, str) and value.lower() not in DATASET_FAMILIES:
        return ctx.error(
            node, path, f"unknown detector family {value!r}" + _suggest(value.lower(), DATASET_FAMILIES)
        )
    return value.lower() if isinstance(value, str) else value


def _regex(ctx: _Context, node: yaml.Node, path: str) -> Any:
    """Compiled by the engine that runs it (polars, Rust regex syntax), so errors match what runs."""
    value = _string(ctx, node, path)
    if not isinstance(value, str):
        return value
    import polars as pl

    try:
        pl.Series([""], dtype=pl.String).str.contains(value)
    except Exception as exc:  # polars raises ComputeError with the regex parser's explanation
        detail = " ".join(str(exc).split()) or type(exc).__name__
        return ctx.error(node, path, f"invalid regular expression (Rust regex syntax): {detail[:300]}")
    return value


def _build_column_rule(ctx: _Context, node: yaml.Node, path: str, values: dict[str, Any]) -> Any:
    allow = set(values.get("allow", ()))
    for family in ("html", "links", "code"):
        if values.get(f"{family}_allowed"):
            allow.add(family)
    if not allow:
        return ctx.error(
            node, path, "a column rule must allow something (`allow: [html, ...]` or `html_allowed: true`)"
        )
    return ColumnRule(name=values["name"], allow=frozenset(allow), reason=values["reason"])


def _build_custom_pattern(ctx: _Context, node: yaml.Node, path: str, values: dict[str, Any]) -> Any:
    return CustomPattern(
        name=values["name"],
        pattern=values["pattern"],
        severity=values.get("severity", Severity.HIGH),
        description=values.get("description", f"custom pattern {values['name']}"),
        columns=values.get("columns", ("*",)),
    )


def _build_dataset_rules(ctx: _Context, node: yaml.Node, path: str, values: dict[str, Any]) -> Any:
    if "code" in values.get("disabled_detectors", ()):
        return ctx.error(
            node,
            f"{path}.disabled_detectors",
            "`code` is a column allowance, not a detector; it cannot be disabled",
        )
    return DatasetRules(**values)


def _package_name(ctx: _Context, node: yaml.Node, path: str) -> Any:
    """Names and prefixes are compared PEP 503-normalised (``Acme_Tools`` is ``acme-tools``)."""
    from packaging.utils import canonicalize_name

    value = _string(ctx, node, path)
    if not isinstance(value, str):
        return value
    if not re.fullmatch(r"[A-Za-z0-9._-]+", value):
        return ctx.error(node, path, f"{value!r} is not a package name or prefix (letters, digits, . _ -)")
    return canonicalize_name(value, validate=False)


def _index_url(ctx: _Context, node: yaml.Node, path: str) -> Any:
    value = _string(ctx, node, path)
    if not isinstance(value, str):
        return value
    if not re.match(r"(?i)^(https?|file)://[^\s]+$", value):
        return ctx.error(node, path, f"{value!r} is not an index URL (https://host/simple)")
    return value.rstrip("/")


def _severity_or_off(ctx: _Context, node: yaml.Node, path: str) -> Any:
    if isinstance(node, yaml.ScalarNode) and str(node.value).strip().lower() in ("off", "none", "false"):
        return None
    return _severity(ctx, node, path)


def _folder(ctx: _Context, node: yaml.Node, path: str) -> Any:
    """Relative paths are taken from the policy file's folder, so CI and laptops agree."""
    value = _string(ctx, node, path)
    if not isinstance(value, str):
        return value
    folder = Path(value).expanduser()
    source = Path(ctx.source)
    if not folder.is_absolute() and source.is_file():
        folder = source.parent / folder
    return str(folder)


def _baseline(ctx: _Context, node: yaml.Node, path: str) -> Any:
    """Loaded (and validated) with the policy, relative to the policy file's folder."""
    from mlsec_dagster.engine.baseline import BaselineError, load_baseline

    folder = _folder(ctx, node, path)
    if not isinstance(folder, str):
        return folder
    try:
        return load_baseline(folder)
    except BaselineError as exc:
        return ctx.error(node, path, str(exc))


def _build_dependency_rules(ctx: _Context, node: yaml.Node, path: str, values: dict[str, Any]) -> Any:
    return DependencyRules(**values)


def _build_limits(ctx: _Context, node: yaml.Node, path: str, values: dict[str, Any]) -> Any:
    return Limits().replace(**values)


# -- the schema ----------------------------------------------------------------------------

_LIMIT_EFFECTS = {
    "max_nesting_depth": "Containers inside containers (zip in zip, gzip in tar...).",
    "max_archive_members": "Members read from one archive.",
    "max_decompressed_bytes": "Bytes inflated from compressed streams for one top-level file.",
    "max_compression_ratio": "Inflated/compressed ratio above which a stream counts as a bomb; for datasets "
    "also the bytes a file may decode to, as a multiple of its size (after 256 MiB).",
    "max_pickle_bytes": "Bytes of pickle opcode stream read from one member.",
    "max_pickle_opcodes": "Pickle opcodes interpreted per stream.",
    "max_pickle_memo": "Pickle memo entries per stream.",
    "max_pickle_stack_depth": "Pickle stack depth.",
    "max_nested_pickle_bytes": "Bytes of a payload embedded in a pickle decoded for re-analysis.",
    "max_header_bytes": "JSON/metadata headers (safetensors, GGUF, Keras configs) parsed into memory.",
    "timeout_seconds": "Wall-clock budget for one top-level file, nested content included.",
}

_LIMITS = Section(
    {
        f.name: Key(
            _positive_number(type(f.default)),
            "positive integer" if isinstance(f.default, int) else "positive number",
            _LIMIT_EFFECTS.get(f.name, ""),
        )
        for f in fields(Limits)
    },
    build=_build_limits,
)

_IGNORE = Section(
    {
        "path": Key(
            _waiver_glob,
            "gitignore glob (required)",
            "Findings in files matching this pattern (relative to the scan root) are waived.",
        ),
        "rules": Key(
            _list_of(_rule_id, tuple),
            "list of rule ids",
            "Only these rules are waived; omitted means every rule (then `path` may not match everything).",
        ),
        "reason": Key(
            _string,
            "string (required)",
            "Why the waiver is safe; shown in every report next to the suppressed finding.",
        ),
    },
    build=_build_ignore,
    required=frozenset({"path", "reason"}),
)

_ARTIFACT_RULES = Section(
    {
        "block_pickle_execution": Key(
            _bool,
            "boolean",
            "`false` still reports pickle code-execution findings but lets them pass the gate (not advised).",
        ),
        "require_safetensors_format": Key(
            _bool,
            "boolean",
            "Every pickle-based weight file (`.pt`, `.bin`, `.pkl`, joblib...) becomes an `MLS-POL-001` "
            "HIGH finding, malicious or not.",
        ),
        "trusted_globals": Key(
            _list_of(_trusted_global, frozenset),
            "list of `module.name`",
            "Callables/classes your pickles may reference without a finding. Exact names; a trailing `.*` "
            "(e.g. `mypkg.*`) is an explicit opt-in to a whole module tree. Known-dangerous names "
            "(`os.system`, `builtins.eval`...) and prefixes covering them (`torch.*`, `numpy.*`) are "
            "refused.",
        ),
        "strict_unknown_classes": Key(
            _bool, "boolean", "Raise 'unverified class reconstructed' findings from LOW to HIGH."
        ),
    },
    build=_build_artifact_rules,
)

_LICENSE_RULES = Section(
    {
        "fail_on_missing_license": Key(
            _bool, "boolean", "A model or dataset without a declared licence is a finding."
        ),
        "custom_restricted_licenses": Key(
            _list_of(_licence, tuple),
            "list of SPDX ids (any case)",
            "Licences that are findings wherever they are declared (e.g. `cc-by-nc-4.0`).",
        ),
        "allowed_licenses": Key(
            _list_of(_licence, tuple),
            "list of SPDX ids (any case)",
            "When non-empty, any licence not listed is a finding (an allow-list).",
        ),
        "unknown_license_severity": Key(
            _severity_or_off,
            "severity or `off`",
            "Severity of a licence that cannot be identified, or is declared as `other`/`unknown`.",
        ),
    },
    build=_build_license_rules,
)

_COLUMN_RULE = Section(
    {
        "name": Key(
            _string,
            "glob (required)",
            "Column names this rule applies to (`fnmatch`; nested: `a.b`, `items[]`).",
        ),
        "allow": Key(
            _list_of(_family, frozenset),
            "list of detector families",
            "Families expected in these columns ("
            + ", ".join(DATASET_FAMILIES)
            + "); their findings drop to "
            "INFO there and stay in the report.",
        ),
        "html_allowed": Key(_bool, "boolean", "Shorthand for `allow: [html]` (a raw-HTML crawl column)."),
        "links_allowed": Key(_bool, "boolean", "Shorthand for `allow: [links]`."),
        "code_allowed": Key(_bool, "boolean", "Shorthand for `allow: [code]` (code snippets in Q&A data)."),
        "reason": Key(
            _string, "string (required)", "Why this content is expected there; shown with the findings."
        ),
    },
    build=_build_column_rule,
    required=frozenset({"name", "reason"}),
)

_CUSTOM_PATTERN = Section(
    {
        "name": Key(_string, "string (required)", "Stable name; the finding's key and title."),
        "pattern": Key(
            _regex, "regex (required)", "Rust/polars regex syntax, e.g. `(?i)project[ -]bluebird`."
        ),
        "severity": Key(_severity, "severity", "Severity of a match (default HIGH)."),
        "description": Key(_string, "string", "What a match means and what to do; shown in the finding."),
        "columns": Key(_list_of(_string, tuple), "list of globs", "Columns searched (default every column)."),
    },
    build=_build_custom_pattern,
    required=frozenset({"name", "pattern"}),
)

_DATASET_RULES = Section(
    {
        "enabled": Key(_bool, "boolean", "`false` skips cell content checks (structure is still verified)."),
        "disabled_detectors": Key(
            _list_of(_family, frozenset),
            "list of detector families",
            "Families not run at all: " + ", ".join(DATASET_FAMILIES) + ".",
        ),
        "columns": Key(
            _list_of(_items_of(_COLUMN_RULE), tuple),
            "list of {name, allow, reason}",
            "Per-column allowances, e.g. `{name: html_body, html_allowed: true, reason: raw crawl}`.",
        ),
        "custom_patterns": Key(
            _list_of(_items_of(_CUSTOM_PATTERN), tuple),
            "list of {name, pattern, severity, description, columns}",
            "Your own patterns (e.g. internal code names, extra injection phrases), reported as MLS-DSC-001.",
        ),
        "sample_rows": Key(
            _positive_number(int),
            "positive integer",
            "Opt-in sampling: check only the first N rows of each file (reported as a finding). "
            "Default: every row. `mlsec scan --full-scan` overrides it.",
        ),
        "max_cell_bytes": Key(
            _positive_number(int), "positive integer", "Cells larger than this are reported."
        ),
        "max_findings_per_column": Key(
            _positive_number(int),
            "positive integer",
            "Findings listed one by one per rule and column; the rest are counted in one summary finding.",
        ),
        "max_nesting_depth": Key(
            _positive_number(int),
            "positive integer",
            "Nesting (list/struct/JSON depth) above which a value is reported.",
        ),
    },
    build=_build_dataset_rules,
)

_DEPENDENCY_RULES = Section(
    {
        "enabled": Key(_bool, "boolean", "`false` skips dependency manifests entirely."),
        "internal_prefixes": Key(
            _list_of(_package_name, tuple),
            "list of name prefixes",
            "Your private package names (e.g. `acme-`): they must come from an explicit private index; "
            "resolved from PyPI they are dependency confusion (MLS-DEP-014).",
        ),
        "allowed_indexes": Key(
            _list_of(_index_url, tuple),
            "list of index URLs",
            "Indexes trusted besides PyPI; any other index a manifest names is a finding (MLS-DEP-013).",
        ),
        "allowlist": Key(
            _list_of(_package_name, frozenset),
            "list of package names",
            "Names never reported as typosquats (your own packages, vetted look-alikes).",
        ),
        "unpinned_severity": Key(
            _severity_or_off,
            "severity or `off`",
            "Severity of a requirement without an exact version in an application manifest (MLS-DEP-017).",
        ),
        "missing_hashes_severity": Key(
            _severity_or_off,
            "severity or `off`",
            "Severity of a pinned requirement without a hash (MLS-DEP-018); off by default.",
        ),
        "advisory_db": Key(
            _folder,
            "folder path",
            "Unzipped offline OSV export (PyPI) for known-vulnerability checks (MLS-DEP-040); relative to "
            "the policy file. Without it the check is skipped and reported as INFO.",
        ),
    },
    build=_build_dependency_rules,
)

_POLICY = Section(
    {
        "fail_on_severity": Key(
            _severity,
            "severity: INFO, LOW, MEDIUM, HIGH, CRITICAL (any case)",
            "Findings at or above this severity fail the gate (exit code 1, failed Dagster check).",
        ),
        "artifact_rules": _ARTIFACT_RULES,
        "license_rules": _LICENSE_RULES,
        "dataset_rules": _DATASET_RULES,
        "dependency_rules": _DEPENDENCY_RULES,
        "severity_overrides": Key(
            _overrides,
            "map rule id -> severity",
            "Re-grade a rule for this repository (e.g. `MLS-SCN-003: LOW`); unknown rule ids are errors.",
        ),
        "ignores": Key(
            _list_of(_items_of(_IGNORE), tuple),
            "list of {path, rules, reason}",
            "Waivers. Waived findings do not fail the gate but stay in every report as suppressed, with "
            "their reason.",
        ),
        "exclude": Key(
            _list_of(_exclude_pattern, tuple),
            "list of gitignore patterns",
            "Paths not scanned at all (on top of `.mlsecignore` and the default VCS/venv folders).",
        ),
        "baseline": Key(
            _baseline,
            "file path",
            "Findings accepted when the gate was adopted (`mlsec baseline -o FILE`): reported as suppressed, "
            "so only new findings fail. Relative to the policy file.",
        ),
        "limits": _LIMITS,
    }
)

_TOP = Section(
    {
        "version": Key(_version, 'string `"1.0"`', "Policy format version; omitted means 1.0."),
        "policy": _POLICY,
    }
)


def _all_key_paths() -> list[str]:
    out: list[str] = []

    def walk(section: Section, prefix: str) -> None:
        for name, spec in section.keys.items():
            path = f"{prefix}.{name}" if prefix else name
            out.append(path)
            if isinstance(spec, Section):
                walk(spec, path)
            if path == "policy.ignores":
                walk(_IGNORE, "policy.ignores[]")
            if path == "policy.dataset_rules.columns":
                walk(_COLUMN_RULE, "policy.dataset_rules.columns[]")
            if path == "policy.dataset_rules.custom_patterns":
                walk(_CUSTOM_PATTERN, "policy.dataset_rules.custom_patterns[]")

    walk(_TOP, "")
    return out


# -- public API ----------------------------------------------------------------------------


def find_policy_file(root: str | Path) -> Path | None:
    """The policy file governing ``root`` (a folder, or a file whose folder is used), if any."""
    folder = Path(root)
    if folder.is_file():
        folder = folder.parent
    for name in POLICY_FILE_NAMES:
        candidate = folder / name
        if candidate.is_file():
            return candidate
    return None


def parse_policy(text: str, source: str = "<policy>") -> Policy:
    """Validate policy YAML text; ``source`` names it in error messages and ``Policy.source``."""
    ctx = _Context(source)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise PolicyError(f"{where}: not valid YAML: {problem}") from None
    if node is None:
        return Policy(source=source)
    values = _read_section(ctx, _TOP, node, "")
    if ctx.errors or isinstance(values, _Invalid):
        messages = ctx.messages()
        raise PolicyError("\n".join(messages), messages)
    policy_values = values.get("policy", {})
    return Policy(**policy_values, version=values.get("version", "1.0"), source=source)


def load_policy(path: str | Path) -> Policy:
    """Read and validate one policy file; raises :class:`PolicyError` naming file, key and line."""
    path = Path(path)
    text = read_team_file(path, MAX_POLICY_BYTES, "policy file", PolicyError)
    return parse_policy(text, str(path))


def load_policy_for_root(root: str | Path) -> Policy:
    """The policy file found in ``root`` (see ``POLICY_FILE_NAMES``), else the built-in defaults."""
    found = find_policy_file(root)
    return Policy() if found is None else load_policy(found)


def policy_to_dict(policy: Policy) -> dict[str, Any]:
    """The effective policy in the file's own schema (``load`` of its YAML gives it back)."""
    artifact, licence = policy.artifact_rules, policy.license_rules
    return {
        "version": policy.version,
        "policy": {
            "fail_on_severity": policy.fail_on_severity.name,
            "artifact_rules": {
                "block_pickle_execution": artifact.block_pickle_execution,
                "require_safetensors_format": artifact.require_safetensors_format,
                "trusted_globals": sorted(artifact.trusted_globals),
                "strict_unknown_classes": artifact.strict_unknown_classes,
            },
            "license_rules": {
                "fail_on_missing_license": licence.fail_on_missing_license,
                "custom_restricted_licenses": list(licence.custom_restricted_licenses),
                "allowed_licenses": list(licence.allowed_licenses),
                "unknown_license_severity": (
                    licence.unknown_license_severity.name if licence.unknown_license_severity else "off"
                ),
            },
            "severity_overrides": {rule: sev.name for rule, sev in sorted(policy.severity_overrides.items())},
            "ignores": [
                {"path": w.path, **({"rules": list(w.rules)} if w.rules else {}), "reason": w.reason}
                for w in policy.ignores
            ],
            "dataset_rules": _dataset_rules_to_dict(policy.dataset_rules),
            "dependency_rules": _dependency_rules_to_dict(policy.dependency_rules),
            "exclude": list(policy.exclude),
            **({"baseline": policy.baseline.source} if policy.baseline is not None else {}),
            "limits": {name: getattr(policy.limits, name) for name in Limits.field_names()},
        },
    }


def _dataset_rules_to_dict(rules: DatasetRules) -> dict[str, Any]:
    out: dict[str, Any] = {
        "enabled": rules.enabled,
        "disabled_detectors": sorted(rules.disabled_detectors),
        "columns": [{"name": c.name, "allow": sorted(c.allow), "reason": c.reason} for c in rules.columns],
        "custom_patterns": [
            {
                "name": p.name,
                "pattern": p.pattern,
                "severity": p.severity.name,
                "description": p.description,
                "columns": list(p.columns),
            }
            for p in rules.custom_patterns
        ],
        "max_cell_bytes": rules.max_cell_bytes,
        "max_findings_per_column": rules.max_findings_per_column,
        "max_nesting_depth": rules.max_nesting_depth,
    }
    if rules.sample_rows is not None:
        out["sample_rows"] = rules.sample_rows
    return out


def _dependency_rules_to_dict(rules: DependencyRules) -> dict[str, Any]:
    def severity(value: Severity | None) -> str:
        return value.name if value is not None else "off"

    out: dict[str, Any] = {
        "enabled": rules.enabled,
        "internal_prefixes": list(rules.internal_prefixes),
        "allowed_indexes": list(rules.allowed_indexes),
        "allowlist": sorted(rules.allowlist),
        "unpinned_severity": severity(rules.unpinned_severity),
        "missing_hashes_severity": severity(rules.missing_hashes_severity),
    }
    if rules.advisory_db is not None:
        out["advisory_db"] = rules.advisory_db
    return out


def policy_reference_markdown() -> str:
    """The README's policy key table: every key, its type, default and effect."""
    defaults = policy_to_dict(Policy())
    rows = ["| Key | Type | Default | Effect |", "|---|---|---|---|"]
    for path in _all_key_paths():
        spec = _spec_at(path)
        if isinstance(spec, Section):
            continue
        value: Any = defaults
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        default = "—" if value is None else "`" + json.dumps(value) + "`"
        effect = spec.doc.replace("|", "\\|")
        rows.append(f"| `{path}` | {spec.type} | {default} | {effect} |")
    return "\n".join(rows)


_LIST_ITEMS = {"ignores[]": _IGNORE, "columns[]": _COLUMN_RULE, "custom_patterns[]": _CUSTOM_PATTERN}


def _spec_at(path: str) -> Key | Section:
    spec: Key | Section = _TOP
    for part in path.split("."):
        if part in _LIST_ITEMS:
            spec = _LIST_ITEMS[part]
            continue
        assert isinstance(spec, Section)
        spec = spec.keys[part]
    return spec
