"""JSON model configs: Keras ``config.json``/``metadata.json`` and Hugging Face configs.

Only JSON objects whose head carries Keras or Hugging Face keys are claimed, so package.json,
tsconfig or SARIF files pass through untouched. Hugging Face ``auto_map`` entries mean
``trust_remote_code`` and Python files imported at load time; those files are read (never
imported) from next to the config and checked statically with :mod:`._pysource`. Standalone
``*.jinja`` chat templates are judged like the ``chat_template`` key.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mlsec_dagster.engine.artifact import Artifact
from mlsec_dagster.engine.context import ScanContext, Scanner
from mlsec_dagster.engine.findings import Finding, Location, Severity
from mlsec_dagster.engine.policy import CODE_EXECUTION_TAG
from mlsec_dagster.engine.rules import define
from mlsec_dagster.scanners import _keras
from mlsec_dagster.scanners._jsonpos import line_of, loads_with_offsets
from mlsec_dagster.scanners._pysource import find_gadgets, local_imports
from mlsec_dagster.scanners._templates import template_escapes
from mlsec_dagster.scanners.datasets.jsonl import has_json_lines_name

_FAMILY = "hf-config"

REMOTE_CODE = define(
    "MLS-HFC-001",
    "Config requires trust_remote_code (auto_map / custom_pipelines)",
    Severity.MEDIUM,
    "An `auto_map` (or `custom_pipelines`) entry makes transformers import Python modules shipped with "
    "the model when it is "
    "loaded with trust_remote_code; that code runs with the pipeline's privileges.",
    "Prefer a model supported natively by transformers. Otherwise review the named modules, pin the "
    "model revision, and keep the remote code under version control.",
    family=_FAMILY,
)
REMOTE_CODE_GADGET = define(
    "MLS-HFC-002",
    "Remote-code module contains dangerous code",
    Severity.HIGH,
    "A Python module imported through `auto_map` calls process, network, dynamic-code or unpickling "
    "functions (os.system, subprocess, eval-style builtins, socket, pickle loads, marshal...) or walks "
    "to interpreter internals. It runs as soon as the model is loaded with trust_remote_code.",
    "Do not load the model with trust_remote_code until the flagged line is understood and removed.",
    family=_FAMILY,
    tags=(CODE_EXECUTION_TAG,),
)
REMOTE_CODE_MISSING = define(
    "MLS-HFC-003",
    "Remote-code module not available for review",
    Severity.MEDIUM,
    "`auto_map` names a module that is not next to the config (or lives in another repository, "
    "`repo--module.Class`), so the code that would run was not checked.",
    "Ship the referenced Python files with the model so they are scanned, or drop the auto_map entry.",
    family=_FAMILY,
)
REMOTE_CODE_IMPORT = define(
    "MLS-HFC-004",
    "Remote-code module imports a module model code rarely needs",
    Severity.MEDIUM,
    "The module imports subprocess, socket, ctypes, marshal, pickle, base64 or similar. Not proof of "
    "malice, but worth a look before trusting the code.",
    "Review why the module needs this import.",
    family=_FAMILY,
)
TEMPLATE_ESCAPE = define(
    "MLS-HFC-005",
    "Chat template reaches Python internals",
    Severity.CRITICAL,
    "The tokenizer's Jinja2 chat template uses dunder attributes, attr() lookups or module calls, the "
    "sandbox escapes used to run code when a template is rendered without a sandbox (CVE-2024-34359).",
    "Replace the chat template with the upstream one; do not render it.",
    family=_FAMILY,
    tags=(CODE_EXECUTION_TAG,),
)
UNPARSEABLE = define(
    "MLS-HFC-006",
    "Model config is not valid JSON",
    Severity.MEDIUM,
    "The file looks like a Hugging Face model config but is not valid JSON, so its auto_map and "
    "templates were not checked.",
    "Fix or regenerate the config file.",
    family=_FAMILY,
)

_HF_KEYS = (
    b'"auto_map"',
    b'"custom_pipelines"',
    b'"architectures"',
    b'"model_type"',
    b'"transformers_version"',
    b'"chat_template"',
    b'"tokenizer_class"',
)
_KERAS_KEYS = (b'"keras_version"', b'"class_name"')
_HF_CODE_KEYS = frozenset({"auto_map", "custom_pipelines", "chat_template"})
"""Top-level keys that make transformers import shipped code or render a template."""
_MAX_MODULES = 256
"""Local modules followed through relative imports from the auto_map entry points."""
_MODULE_REF = re.compile(r"^(?:(?P<repo>[\w.\-]+/[\w.\-]+)--)?(?P<module>[\w.]+)\.(?P<cls>\w+)$")


def _is_template_file(artifact: Artifact) -> bool:
    """A standalone chat template (``chat_template.jinja``, saved by recent transformers)."""
    head = artifact.head
    return (
        artifact.name.lower().endswith(".jinja") and b"\x00" not in head and (b"{%" in head or b"{{" in head)
    )


def _is_keras_archive_config(artifact: Artifact) -> bool:
    """``config.json`` of a ``.keras`` archive is claimed even when broken, so breakage is reported."""
    if not artifact.member or artifact.member[-1] != "config.json":
        return False
    container = artifact.member[-2] if len(artifact.member) > 1 else artifact.path
    return container.lower().endswith(".keras")


def _sniff(artifact: Artifact) -> bool:
    if _is_template_file(artifact) or _is_keras_archive_config(artifact):
        return True
    head = artifact.head.lstrip()
    if not head.startswith(b"{") or b"\x00" in artifact.head[:4096]:
        return False
    if _looks_like_json_lines(artifact):
        return False  # a dataset of records (the jsonl reader's), even if records mention model keys
    return any(k in artifact.head for k in _HF_KEYS + _KERAS_KEYS)


def _looks_like_json_lines(artifact: Artifact) -> bool:
    if has_json_lines_name(artifact):
        return True
    first, newline, rest = artifact.head.lstrip().partition(b"\n")
    if not newline or not rest.lstrip().startswith(b"{"):
        return False
    try:
        json.loads(first)
    except ValueError:
        return False  # a pretty-printed config: its first line is not a whole document
    return True


def _scan(artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
    if artifact.size > ctx.limits.max_header_bytes:
        yield ctx.limit_finding(artifact, "max_header_bytes", f"JSON config of {artifact.size} bytes")
        return
    with artifact.open() as fh:
        text = fh.read(ctx.limits.max_header_bytes + 1).decode("utf-8", "replace")
    if _is_template_file(artifact):
        yield from _template_findings(artifact, None, artifact.name, text)
        return
    try:
        data = json.loads(text)  # C parser first: most claimed files need nothing more
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":
            return  # JSON Lines or concatenated documents: no loader reads this as a model config
        yield _parse_failure(artifact, exc)
        return
    except (ValueError, RecursionError) as exc:
        yield _parse_failure(artifact, exc)
        return
    is_keras = _keras.looks_like_keras(data)
    if not is_keras and not (isinstance(data, dict) and _HF_CODE_KEYS & data.keys()):
        return
    data = loads_with_offsets(text)  # again, remembering where each object starts, for line numbers
    if is_keras:
        yield from _keras_findings(artifact, text, data)
    if isinstance(data, dict):
        yield from _hf_findings(artifact, text, data, ctx)


def _parse_failure(artifact: Artifact, exc: Exception) -> Finding:
    rule = _keras.MALFORMED if b'"class_name"' in artifact.head else UNPARSEABLE
    return rule.finding(
        artifact.path,
        f"{artifact.display} could not be parsed as JSON ({exc}); it was not checked. Fix or regenerate it.",
        location=artifact.location(line=getattr(exc, "lineno", None)),
        evidence=str(exc)[:500],
        key="json",
    )


def _keras_findings(artifact: Artifact, text: str, data: Any) -> Iterator[Finding]:
    for hit in _keras.walk_config(data):
        line = line_of(text, hit.offset) if hit.offset >= 0 else None
        yield hit.rule.finding(
            artifact.path,
            hit.message,
            location=artifact.location(line=line),
            evidence=hit.evidence,
            key=hit.key,
            severity=hit.severity,
        )


def _remote_refs(data: dict[str, Any]) -> Iterator[str]:
    """``module.Class`` references from ``auto_map`` and ``custom_pipelines[*].impl``."""
    auto_map = data.get("auto_map")
    pipelines = data.get("custom_pipelines")
    values = list(auto_map.values()) if isinstance(auto_map, dict) else []
    if isinstance(pipelines, dict):
        values += [p.get("impl") for p in pipelines.values() if isinstance(p, dict)]
    for value in values:
        for ref in value if isinstance(value, list) else [value]:
            if isinstance(ref, str):
                yield ref


def _hf_findings(artifact: Artifact, text: str, data: dict[str, Any], ctx: ScanContext) -> Iterator[Finding]:
    template = data.get("chat_template")
    named = (
        [("default", template)]
        if isinstance(template, str)
        else [(str(t.get("name")), t.get("template")) for t in template if isinstance(t, dict)]
        if isinstance(template, list)
        else []
    )
    for name, tpl in named:
        if isinstance(tpl, str):
            yield from _template_findings(artifact, text, name, tpl)
    remote = data.get("auto_map", data.get("custom_pipelines"))
    if remote is None:
        return
    line = line_of(text, getattr(remote, "offset", 0)) if isinstance(remote, dict) else None
    modules: dict[str, str] = {}
    for ref in _remote_refs(data):
        match = _MODULE_REF.match(ref)
        if match is None or match["repo"]:
            yield REMOTE_CODE_MISSING.finding(
                artifact.path,
                f"auto_map entry {ref!r} points at code in another repository or in an unusual "
                "form; it was not checked. Vendor the code next to the config.",
                location=artifact.location(line=line),
                evidence=ref,
                key=ref,
            )
            continue
        modules.setdefault(match["module"], ref)
    if not modules:
        return
    yield REMOTE_CODE.finding(
        artifact.path,
        f"{artifact.display} requires trust_remote_code: loading it imports "
        f"{', '.join(sorted(modules))}. Review that code and pin the revision, or use a natively supported "
        "architecture.",
        location=artifact.location(line=line),
        evidence=_snippet(remote),
        key=",".join(sorted(modules)),
    )
    yield from _check_modules(artifact, modules, ctx)


def _snippet(value: Any) -> str:
    return json.dumps(value)[:3000]


def _template_findings(artifact: Artifact, text: str | None, name: str, template: str) -> Iterator[Finding]:
    """``text`` is the JSON document holding the template, or None for a standalone template file."""
    hits = template_escapes(template)
    if hits:
        first = hits[0]
        line = first.line if text is None else line_of(text, max(0, text.find('"chat_template"')))
        yield TEMPLATE_ESCAPE.finding(
            artifact.path,
            f"The chat template {name!r} in {artifact.display} reaches Python internals ({first.reason}); "
            "rendering it can run code (CVE-2024-34359). Replace it with the upstream template.",
            location=artifact.location(line=line),
            evidence="\n".join(f"{h.reason}: {h.snippet}" for h in hits[:5])[:4000],
            key=f"{name}:{first.reason}",
        )


def _check_modules(artifact: Artifact, modules: dict[str, str], ctx: ScanContext) -> Iterator[Finding]:
    """Read the referenced ``.py`` files (and their relative imports) next to a top-level config."""
    if artifact.os_path is None:
        for module, ref in sorted(modules.items()):
            yield REMOTE_CODE_MISSING.finding(
                artifact.path,
                f"{module}.py (for {ref}) sits inside an archive next to {artifact.display} and "
                "was not checked. Extract and scan it before trusting the model.",
                location=artifact.location(),
                evidence=ref,
                key=module,
            )
        return
    folder = Path(artifact.os_path).parent
    pending = sorted(modules)
    done: set[str] = set()
    while pending:
        module = pending.pop(0)
        if len(done) >= _MAX_MODULES:
            yield REMOTE_CODE_MISSING.finding(
                artifact.path,
                f"The remote code imports more than {_MAX_MODULES} local modules; {module} and the rest "
                "were not checked. Review the code by hand.",
                location=artifact.location(),
                evidence=", ".join(pending[:20]),
                key="too-many-modules",
            )
            return
        if module in done:
            continue
        done.add(module)
        source_file = folder / (module.replace(".", "/") + ".py")
        rel = posixpath.join(posixpath.dirname(artifact.path), module.replace(".", "/") + ".py")
        if not source_file.is_file():
            if module in modules:
                yield REMOTE_CODE_MISSING.finding(
                    artifact.path,
                    f"auto_map names {modules[module]!r} but {rel} is not next to the config, "
                    "so the code that would run was not checked. Ship it with the model.",
                    location=artifact.location(),
                    evidence=modules[module],
                    key=module,
                )
            continue
        if not source_file.resolve().is_relative_to(folder.resolve()):
            yield REMOTE_CODE_MISSING.finding(
                artifact.path,
                f"{rel} is a symlink leading outside the model folder; it was not read. Ship the real file.",
                location=artifact.location(),
                evidence=str(source_file.resolve())[:500],
                key=module,
            )
            continue
        if source_file.stat().st_size > ctx.limits.max_header_bytes:
            yield ctx.limit_finding(artifact, "max_header_bytes", f"remote-code module {rel} is too large")
            continue
        source = source_file.read_text(encoding="utf-8", errors="replace")
        yield from _module_findings(rel, source)
        try:
            pending.extend(sorted(local_imports(source) - done))
        except SyntaxError:
            continue


def _module_findings(rel: str, source: str) -> Iterator[Finding]:
    try:
        hits = list(find_gadgets(source))
    except SyntaxError as exc:
        yield REMOTE_CODE_MISSING.finding(
            rel,
            f"{rel} is not valid Python ({exc.msg}), so it could not be checked; it would fail or behave "
            "unexpectedly when imported.",
            location=Location(line=exc.lineno),
            evidence=str(exc),
            key="syntax",
        )
        return
    for hit in hits:
        rule = REMOTE_CODE_GADGET if hit.dangerous else REMOTE_CODE_IMPORT
        yield rule.finding(
            rel,
            f"{rel} line {hit.line}: `{hit.name}` {hit.reason}; this runs when the model is loaded with "
            "trust_remote_code. Remove it or do not trust this code.",
            location=Location(line=hit.line),
            evidence=hit.snippet,
            key=hit.name,
            severity=Severity.HIGH if hit.dangerous else Severity.MEDIUM,
        )


SCANNER = Scanner("json_configs", _sniff, _scan)
