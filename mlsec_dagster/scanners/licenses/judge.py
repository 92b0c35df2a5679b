"""The licence post-pass: every declaration against the policy, cards against LICENSE files, and
folders of models or datasets with no licence at all.

Runs after the whole scan because its questions span files: the card and the LICENSE file of one
folder, a LICENSE at the repository root covering every model below it.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from mlsec_dagster.engine.context import ArtifactRecord, LicenseRecord
from mlsec_dagster.engine.findings import Finding, Location
from mlsec_dagster.engine.policy import LicenseRules, Policy
from mlsec_dagster.scanners.licenses import collect, texts
from mlsec_dagster.scanners.licenses.catalog import policy_names
from mlsec_dagster.scanners.licenses.expression import Expr, Leaf, evaluate, leaves, resolve
from mlsec_dagster.scanners.licenses.rules import CONFLICT, MISSING, NOT_ALLOWED, RESTRICTED, UNKNOWN

LICENSED_FORMATS = frozenset(
    {
        "safetensors", "pickle", "gguf", "onnx", "hdf5", "numpy", "torchscript_code", "savedmodel", "lfs",
        "parquet", "avro", "arrow", "delimited", "jsonl",
    }
)  # fmt: skip
"""Scanner names whose files are models or datasets (keras files are zips of hdf5/json, counted through
their members); ``fail_on_missing_license`` asks each of their folders for a licence."""

PACKAGE_SOURCES = ("wheel metadata",)
"""A package's own licence covers its code, not the models next to it: not compared, not covering."""

MAX_DISK_FOLDERS = 10_000
"""Folders (with their ancestors) whose cards and LICENSE files are read from disk, at most."""

Folder = tuple[str, ...]


def folder_of(path: str, member: tuple[str, ...]) -> Folder:
    """The folder a file sits in; inside archives the chain of containers comes first."""
    if not member:
        return (posixpath.dirname(path),)
    return (path, *member[:-1], posixpath.dirname(member[-1]))


def ancestors(folder: Folder) -> Iterator[Folder]:
    """The folder, then each parent up to the scan root (through the archive that holds it)."""
    while True:
        yield folder
        if folder[-1]:
            folder = (*folder[:-1], posixpath.dirname(folder[-1]))
        elif len(folder) > 1:
            folder = folder_of(folder[0], folder[1:-1])
        else:
            return


def expression_of(record: LicenseRecord) -> Expr:
    if record.spdx is not None:
        return resolve(record.spdx)
    if record.declared.startswith(collect.UNIDENTIFIED):
        return Leaf(record.declared, None)
    return resolve(record.declared)


def license_findings(
    licenses: Sequence[LicenseRecord],
    artifacts: Sequence[ArtifactRecord],
    policy: Policy,
    root: str | os.PathLike[str] | None = None,
    scanned: Iterable[str] = (),
) -> Iterator[Finding]:
    """``root`` and ``scanned`` (scan-root-relative paths of the files scanned) let a scan of single model
    files also consult the README.md/LICENSE files next to them and in parent folders."""
    rules = policy.license_rules
    records = list(dict.fromkeys(licenses))
    if root is not None:
        records += disk_declarations(Path(root), artifacts, {*scanned, *(r.path for r in records)})
    for record in records:
        yield from _judge(record, rules)
    yield from _conflicts(records)
    if rules.fail_on_missing_license:
        yield from _missing(records, artifacts)


def _restricted(spdx: str, rules: LicenseRules) -> bool:
    return any(rules.matches(n, rules.custom_restricted_licenses) for n in policy_names(spdx))


def _leaf_value(leaf: Leaf, rules: LicenseRules) -> bool | None:
    if leaf.spdx is None:
        return None
    if _restricted(leaf.spdx, rules):
        return False
    names = policy_names(leaf.spdx)
    return not rules.allowed_licenses or any(rules.matches(n, rules.allowed_licenses) for n in names)


def _where(record: LicenseRecord) -> str:
    line = f" line {record.line}" if record.line else ""
    inner = "".join(f"!{m}" for m in record.member)
    return f"the {record.source} {record.path}{inner}{line}"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _evidence(record: LicenseRecord) -> str:
    normalised = f" (normalised: {record.spdx})" if record.spdx and record.spdx != record.declared else ""
    return f"{record.source}: {record.declared}{normalised}"[:4000]


def _judge(record: LicenseRecord, rules: LicenseRules) -> Iterator[Finding]:
    expr = expression_of(record)
    verdict = evaluate(expr, lambda leaf: _leaf_value(leaf, rules))
    location = Location(member=record.member, line=record.line)
    shown = record.spdx or record.declared
    where = _cap(_where(record))
    if verdict is False:
        restricted = sorted(
            {leaf.spdx for leaf in leaves(expr) if leaf.spdx and _restricted(leaf.spdx, rules)}
        )
        if restricted:
            yield RESTRICTED.finding(
                record.path,
                f"{where} declares {shown}, and {', '.join(restricted)} is restricted by the "
                "policy (`custom_restricted_licenses`) with no acceptable alternative. Use an artifact under "
                "another licence, or waive this path with the legal sign-off as the reason.",
                location=location,
                evidence=_evidence(record),
                key=shown,
            )
        else:
            yield NOT_ALLOWED.finding(
                record.path,
                f"{where} declares {shown}, which is not in the policy's `allowed_licenses`. Use an "
                "artifact under an allowed licence, or add this licence to the allow-list after review.",
                location=location,
                evidence=_evidence(record),
                key=shown,
            )
    elif verdict is None and rules.unknown_license_severity is not None:
        unknown = ", ".join(repr(leaf.declared[:120]) for leaf in leaves(expr) if leaf.spdx is None)
        yield UNKNOWN.finding(
            record.path,
            f"{where} declares {unknown}, which does not identify a known licence, so it cannot "
            "be checked against the policy. Declare an SPDX or Hugging Face licence id (card `license:`), or "
            "add the reviewed licence to `allowed_licenses`.",
            location=location,
            evidence=_evidence(record),
            key=record.declared[:200],
            severity=rules.unknown_license_severity,
        )


def _ids(record: LicenseRecord) -> frozenset[str]:
    return frozenset(leaf.spdx for leaf in leaves(expression_of(record)) if leaf.spdx is not None)


def _conflicts(records: Sequence[LicenseRecord]) -> Iterator[Finding]:
    by_folder: dict[Folder, list[LicenseRecord]] = {}
    for record in records:
        if record.source not in PACKAGE_SOURCES:
            by_folder.setdefault(folder_of(record.path, record.member), []).append(record)
    for group in by_folder.values():
        cards = [r for r in group if r.source.endswith("card")]
        others = [r for r in group if not r.source.endswith("card")]
        for card in cards:
            for other in others:
                mine, theirs = _ids(card), _ids(other)
                if mine and theirs and not mine & theirs:
                    where = _cap(_where(card))
                    yield CONFLICT.finding(
                        card.path,
                        f"{where} declares {card.spdx or card.declared} but {_where(other)} declares "
                        f"{other.spdx or other.declared}. Find out which licence applies and make them "
                        "agree.",
                        location=Location(member=card.member, line=card.line),
                        evidence=f"{_evidence(card)}\n{_evidence(other)}",
                        key=f"{other.path}!{'!'.join(other.member)}",
                    )


def _missing(records: Sequence[LicenseRecord], artifacts: Sequence[ArtifactRecord]) -> Iterator[Finding]:
    declared = {folder_of(r.path, r.member) for r in records if r.source not in PACKAGE_SOURCES}
    reported: set[str] = set()
    for artifact in artifacts:
        disk_folder = posixpath.dirname(artifact.path)
        if artifact.format not in LICENSED_FORMATS or disk_folder in reported:
            continue
        if any(f in declared for f in ancestors(folder_of(artifact.path, artifact.member))):
            continue
        reported.add(disk_folder)
        shown = artifact.path + "".join(f"!{m}" for m in artifact.member)
        yield MISSING.finding(
            artifact.path,
            f"{shown} ({artifact.format}) has no licence declared in its folder "
            f"{disk_folder or '(scan root)'} or any parent: no card `license:`, LICENSE file or metadata "
            "licence. Add a README.md with `license:` front matter or a LICENSE file next to it.",
            location=Location(member=artifact.member),
            evidence=f"{artifact.format} {shown}, {artifact.size} bytes",
            key=disk_folder,
        )


def disk_declarations(root: Path, artifacts: Sequence[ArtifactRecord], skip: set[str]) -> list[LicenseRecord]:
    """Cards and LICENSE files next to the scanned artifacts (and in their parents up to ``root``) that were
    not scanned themselves: a check on ``models/llama/model.safetensors`` still honours its card."""
    folders: set[str] = set()
    for artifact in artifacts:
        for parent in ancestors((posixpath.dirname(artifact.path),)):
            if parent[0] in folders or len(folders) >= MAX_DISK_FOLDERS:
                break
            folders.add(parent[0])
    out: list[LicenseRecord] = []
    for folder in sorted(folders):
        try:
            entries = list(os.scandir(root / folder if folder else root))
        except OSError:
            continue
        for entry in entries:
            rel = posixpath.join(folder, entry.name) if folder else entry.name
            if rel in skip or not entry.is_file(follow_symlinks=False):
                continue
            if collect.CARD_NAME.match(entry.name):
                out.extend(_disk_card(entry.path, rel))
            elif collect.LICENSE_NAME.match(entry.name):
                out.append(_disk_license(entry.path, rel))
    return out


def _read(os_path: str, limit: int) -> bytes:
    try:
        with open(os_path, "rb") as fh:
            return fh.read(limit)
    except OSError:
        return b""


def _disk_card(os_path: str, rel: str) -> list[LicenseRecord]:
    declarations, problem = collect.card_declarations(_read(os_path, collect.MAX_CARD_BYTES))
    if problem is not None:  # fail closed: an unreadable card next to the model is an unknown licence
        declared = f"{collect.UNIDENTIFIED}front matter: {problem}"
        return [LicenseRecord(rel, (), "model card", declared, None, 1)]
    return [
        LicenseRecord(rel, (), d.source, d.declared, collect.normalise(d.declared), d.line)
        for d in declarations
    ]


def _disk_license(os_path: str, rel: str) -> LicenseRecord:
    text = _read(os_path, texts.MAX_TEXT_BYTES).decode("utf-8", "replace")
    declared, line = collect.license_file_declaration(text)
    spdx = None if declared.startswith(collect.UNIDENTIFIED) else collect.normalise(declared)
    return LicenseRecord(rel, (), collect.LICENSE_FILE, declared, spdx, line)
