"""Licence declarations: Hugging Face card front matter, LICENSE/COPYING files, and artifact metadata.

Collectors only record what is declared (``ctx.record_license``); judging it against the policy happens
once the whole scan is done (:mod:`.judge`), because a card, a LICENSE file and the weights' metadata of
one folder must be compared with each other.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import yaml

from mlsec_dagster.engine.artifact import Artifact
from mlsec_dagster.engine.context import Companion, ScanContext
from mlsec_dagster.engine.findings import Finding
from mlsec_dagster.scanners.licenses import texts
from mlsec_dagster.scanners.licenses.expression import render, resolve
from mlsec_dagster.scanners.licenses.rules import BAD_CARD

MAX_CARD_BYTES = 1024 * 1024
"""Front matter past this is not a card (real ones with eval tables are < 100 KB)."""

CARD_NAME = re.compile(r"^readme\.md$", re.IGNORECASE)
LICENSE_NAME = re.compile(
    r"^(?:licen[cs]e|copying)(?:\.(?:md|txt|rst))?$|^(?:licen[cs]e|copying)-[\w.-]+$", re.IGNORECASE
)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml when present: composing a 1 MB front matter takes 3 s in pure Python. Compose only builds nodes
(no tags are constructed, aliases are not expanded), so neither loader runs anything from the card."""
_OPEN = re.compile(rb"\A(?:\xef\xbb\xbf)?---[ \t]*\r?\n")
_CLOSE = re.compile(rb"^(?:---|\.\.\.)[ \t]*\r?$", re.MULTILINE)
UNIDENTIFIED = "unidentified text: "
"""Prefix of a LICENSE file's declared value when its text matched no licence (never parsed further)."""
LICENSE_FILE = "LICENSE file"
_DATASET_KEYS = frozenset(
    {"dataset_info", "task_categories", "size_categories", "configs", "source_datasets"}
)


@dataclass(frozen=True)
class Declaration:
    source: str
    declared: str
    line: int | None


def record(ctx: ScanContext, artifact: Artifact, source: str, declared: str, line: int | None = None) -> None:
    """Normalise one declared value and record it (also the entry point for the metadata scanners)."""
    declared = declared.strip()[:500]
    ctx.record_license(artifact, source, declared, normalise(declared), line)


def normalise(declared: str) -> str | None:
    """The SPDX expression of a declared value, None when any part of it is unknown."""
    return render(resolve(declared))


def _read(artifact: Artifact, limit: int) -> bytes:
    with artifact.open() as fh:
        return fh.read(limit)


def card_declarations(data: bytes) -> tuple[list[Declaration], str | None]:
    """The card's licence declarations, and a problem when its front matter cannot be read."""
    opening = _OPEN.match(data)
    if opening is None:
        return [], None
    closing = _CLOSE.search(data, opening.end())
    if closing is None:
        return [], f"no closing `---` within {MAX_CARD_BYTES} bytes"
    first_line = data.count(b"\n", 0, opening.end())
    try:
        node = yaml.compose(data[opening.end() : closing.start()].decode("utf-8"), Loader=_LOADER)
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError) as exc:
        return [], f"{type(exc).__name__}: {str(exc)[:300]}"
    if node is None:
        return [], None
    if not isinstance(node, yaml.MappingNode):
        return [], "front matter is not a mapping"
    fields = {k.value: v for k, v in node.value if isinstance(k, yaml.ScalarNode)}
    lines = {k.value: k.start_mark.line for k, _ in node.value if isinstance(k, yaml.ScalarNode)}
    source = "dataset card" if _DATASET_KEYS & fields.keys() else "model card"
    key = "license" if "license" in fields else "licence"
    licence = fields.get(key)
    if licence is None:
        return [], None
    line = first_line + lines[key] + 1
    values = _strings(licence)
    if values is None:
        return [], f"`license` is a {licence.tag.rsplit(':', 1)[-1]}, not a string or a list of strings"
    named = [s for s in (_strings(fields["license_name"]) or []) if s] if "license_name" in fields else []
    link = _strings(fields["license_link"]) if "license_link" in fields else None
    out: list[Declaration] = []
    for value in values:
        if value.strip().lower() == "other" and named:
            value = named[0]
        elif value.strip().lower() == "other" and link:
            value = f"other ({link[0]})"
        out.append(Declaration(source, value, line))
    if len(out) > 1:  # several licences on one card: each part applies (e.g. code vs weights)
        out = [Declaration(source, " AND ".join(f"({d.declared})" for d in out), line)]
    return out, None


def _strings(node: yaml.Node) -> list[str] | None:
    if isinstance(node, yaml.ScalarNode):
        return [str(node.value)]
    if isinstance(node, yaml.SequenceNode) and all(isinstance(n, yaml.ScalarNode) for n in node.value):
        return [str(n.value) for n in node.value]
    return None


def _scan_card(artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
    data = _read(artifact, MAX_CARD_BYTES)
    declarations, problem = card_declarations(data)
    if problem is not None:
        yield BAD_CARD.finding(
            artifact.path,
            f"{artifact.display} has YAML front matter that cannot be read ({problem}); its licence is "
            "unknown. Fix the YAML between the `---` lines.",
            location=artifact.location(line=1),
            evidence=data[:400].decode("utf-8", "replace"),
            key="front-matter",
        )
    for d in declarations:
        record(ctx, artifact, d.source, d.declared, d.line)


def license_file_declaration(text: str) -> tuple[str, int | None]:
    """(declared value, line) for a LICENSE file: its SPDX tag, else the licence its text matches,
    else its first words (recorded unidentified)."""
    tag = texts.spdx_tag(text)
    if tag is not None:
        return tag
    identified = texts.identify(text)
    if identified is not None:
        return identified, None
    return UNIDENTIFIED + " ".join(text.split())[:120], None


def _scan_license_file(artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
    text = _read(artifact, texts.MAX_TEXT_BYTES).decode("utf-8", "replace")
    declared, line = license_file_declaration(text)
    if declared.startswith(UNIDENTIFIED):
        ctx.record_license(artifact, LICENSE_FILE, declared, None, line)
    else:
        record(ctx, artifact, LICENSE_FILE, declared, line)
    return iter(())


def _wants_card(artifact: Artifact, claimed: str | None) -> bool:
    return claimed is None and bool(CARD_NAME.match(artifact.name))


def _wants_license(artifact: Artifact, claimed: str | None) -> bool:
    return claimed is None and bool(LICENSE_NAME.match(artifact.name))


COMPANIONS: tuple[Companion, ...] = (
    Companion("licence-card", _wants_card, _scan_card),
    Companion("licence-file", _wants_license, _scan_license_file),
)
