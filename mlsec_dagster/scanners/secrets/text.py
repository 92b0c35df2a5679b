"""The secret search over every text file of the repository (and every text member of an archive).

Code, configs (``.env``, YAML, TOML, JSON, ``.pypirc``, docker-compose), shell scripts, Markdown and
notebooks are searched as raw text, so a finding's line is the file's own line (for notebooks the
``.ipynb`` line, plus the cell number and whether it sits in the cell's source or its outputs).
Kubernetes Secret manifests get their base64 ``data:`` values decoded and searched, reported at the
key's line. Files named as templates (``.env.example``, ``*.sample``) hold stand-ins by convention:
what they contain is reported as INFO. Dataset files are left to the dataset cell detector, binary
formats to their own scanners (which hand their metadata strings to :mod:`.strings`).
"""

from __future__ import annotations

import base64
import binascii
import posixpath
import re
from bisect import bisect_right
from collections.abc import Iterator

from mlsec_dagster.engine.artifact import Artifact
from mlsec_dagster.engine.context import Companion, ScanContext
from mlsec_dagster.engine.findings import Finding, Severity
from mlsec_dagster.scanners.secrets import matcher, waivers
from mlsec_dagster.scanners.secrets.matcher import Hit
from mlsec_dagster.scanners.secrets.report import hit_finding
from mlsec_dagster.scanners.secrets.rules import GENERIC, TEXT_TOO_LARGE, WAIVER_WITHOUT_REASON

MAX_TEXT_BYTES = 16 * 1024 * 1024
"""Text files larger than this are reported (MLS-SEC-019), not searched: generated data, not code."""
BINARY_PROBE = 8192
"""A NUL in the first 8 KiB makes a file binary (the rule git and grep use)."""

NOT_TEXT_FORMATS = frozenset(
    {
        "delimited", "arrow", "avro", "jsonl", "parquet",  # dataset cells: the dataset secret detector
        "safetensors", "gguf", "numpy", "hdf5", "onnx", "savedmodel", "pickle",  # binary; own hooks
        "zip", "tar", "wheel", "sdist", "sdist-zip", "archive-uninspected",  # containers: members are scanned
    }
)  # fmt: skip
"""Scanner names whose files this search skips; compressed streams (``compressed-*``) likewise."""

TEMPLATE_PARTS = frozenset({"example", "examples", "sample", "template", "tmpl", "tpl", "dist", "defaults"})
"""Name parts (``.env.example``, ``config.sample.yaml``, ``settings.py.dist``) of files holding stand-ins."""
LOCK_FILES = frozenset(
    {"poetry.lock", "pipfile.lock", "uv.lock", "pdm.lock", "package-lock.json", "yarn.lock", "pnpm-lock.yaml",
     "cargo.lock", "conda-lock.yml", "go.sum"}
)  # fmt: skip
"""Hash-pinned lock files: their hashes sit next to names, never credentials; token shapes still apply."""
CODE_EXTENSIONS = frozenset(
    {".py", ".pyi", ".ipynb", ".js", ".jsx", ".ts", ".tsx", ".java", ".kt", ".scala", ".go", ".rs", ".rb",
     ".php", ".cs", ".c", ".cc", ".cpp", ".h", ".hpp", ".swift", ".r", ".jl", ".lua", ".md", ".rst", ".txt"}
)  # fmt: skip
"""Keyword assignments count here only with a quoted value (``password = get()`` is code, not a secret)."""

DOC_EXTENSIONS = frozenset({".md", ".markdown", ".rst", ".txt", ".adoc", ".html", ".htm"})
"""Documentation: a value on a line (or two below one) saying "example" is reported as INFO."""
_EXAMPLE = re.compile(r"(?i)\bexamples?\b|\be\.g\.")
_K8S_SECRET = re.compile(r"^kind:[ \t]*[\"']?Secret[\"']?[ \t]*$", re.MULTILINE)
_K8S_DATA = re.compile(r"^(?P<indent>[ \t]*)(?:data|binaryData):[ \t]*$")
_K8S_VALUE = re.compile(
    r"^(?P<indent>[ \t]+)(?P<key>[\w.\-]+):[ \t]*[\"']?(?P<value>[A-Za-z0-9+/]{4,}={0,2})[\"']?[ \t]*$"
)
_DOCKER_AUTH = re.compile(
    r'"(?P<key>auth|identitytoken)"[ \t]*:[ \t]*"(?P<value>[A-Za-z0-9+/]{16,65536}={0,2})"'
)
MAX_K8S_VALUE = 64 * 1024
MAX_K8S_VALUES = 1000
_CELL = re.compile(r"\"cell_type\"[ \t]*:")
_SECTION = re.compile(r"\"(outputs|source)\"[ \t]*:")


def wants(artifact: Artifact, claimed: str | None) -> bool:
    if claimed is not None and (claimed in NOT_TEXT_FORMATS or claimed.startswith("compressed-")):
        return False
    return b"\x00" not in artifact.head[:BINARY_PROBE]


def decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def scan(artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
    if artifact.size > MAX_TEXT_BYTES:
        yield _too_large(artifact, artifact.size)
        return
    if 0 <= artifact.size <= len(artifact.head):
        data = artifact.head[: artifact.size]
    else:
        with artifact.open() as fh:
            data = fh.read(MAX_TEXT_BYTES + 1)
    if len(data) > MAX_TEXT_BYTES:  # a stream of unknown size
        yield _too_large(artifact, len(data))
        return
    yield from scan_text(artifact, decode(data))


def _too_large(artifact: Artifact, size: int) -> Finding:
    return TEXT_TOO_LARGE.finding(
        artifact.path,
        f"{artifact.display} is a text file of at least {size} bytes, more than the {MAX_TEXT_BYTES}-byte "
        "limit of the secret search, so it was not searched. Exclude it in .mlsecignore if it is generated "
        "data, or split it.",
        location=artifact.location(),
        evidence=f"size {size} > {MAX_TEXT_BYTES}",
        key="text-too-large",
    )


def scan_text(artifact: Artifact, text: str) -> Iterator[Finding]:
    name = artifact.name.lower()
    ext = posixpath.splitext(name)[1]
    hits, waiver_hint = matcher.find(text, generic=name not in LOCK_FILES, quoted_only=ext in CODE_EXTENSIONS)
    found = waivers.parse(text) if waiver_hint else {}
    template = bool(TEMPLATE_PARTS.intersection(name.split(".")[1:])) or name.startswith(
        ("example.", "sample.")
    )
    notebook = ext == ".ipynb"
    docs = ext in DOC_EXTENSIONS
    k8s = _k8s_data(text) if _K8S_SECRET.search(text) else []
    docker = _docker_auths(text) if '"auths"' in text else []
    encoded_lines = {number for number, _, _ in k8s + docker}
    cells = [m.start() for m in _CELL.finditer(text)] if notebook else []
    line, counted = 1, 0
    for hit in hits:  # ordered by offset: lines are counted once through the text
        line += text.count("\n", counted, hit.start)
        counted = hit.start
        if line in encoded_lines and hit.rule is GENERIC:
            continue  # the base64 text itself; its decoded value is judged below
        where = f"line {line}" + (_cell(text, cells, hit.start) if notebook else "")
        line_start = text.rfind("\n", 0, hit.start) + 1
        example = docs and _EXAMPLE.search(text, _lines_back(text, line_start, 2), text.find("\n", hit.start))
        yield _judged(
            artifact, hit, where, line, found, template or bool(example), hit.start - line_start + 1
        )
    yield from _encoded_values(artifact, k8s, found, template, "Secret key")
    yield from _encoded_values(artifact, docker, found, template, "Docker credential key")
    for waiver in found.values():
        if not waiver.reason:
            yield WAIVER_WITHOUT_REASON.finding(
                artifact.path,
                f"{artifact.display} line {waiver.line}: an `mlsec: ignore` comment without a reason does "
                "not suppress anything. Add the reason after it (what makes the value safe), or remove it.",
                location=artifact.location(line=waiver.line),
                evidence="mlsec: ignore" + (f"[{', '.join(sorted(waiver.rules))}]" if waiver.rules else ""),
                key="waiver-without-reason:" + ",".join(sorted(waiver.rules)),
            )


def _judged(
    artifact: Artifact,
    hit: Hit,
    where: str,
    line: int,
    found: dict[int, waivers.Waiver],
    template: bool,
    column: int | None = None,
    extra_evidence: str = "",
) -> Finding:
    waiver = waivers.waiver_for(found, line, hit.rule.id)
    if template:
        where += " of a template or documentation example (stand-in values expected: check it is not real)"
    return hit_finding(
        artifact,
        hit,
        where,
        artifact.location(line=line, column=column),
        severity=Severity.INFO if template else None,
        waiver=waiver.reason if waiver is not None else "",
        extra_evidence=extra_evidence,
    )


def _lines_back(text: str, line_start: int, n: int) -> int:
    for _ in range(n):
        if line_start <= 0:
            break
        line_start = text.rfind("\n", 0, line_start - 1) + 1
    return line_start


def _cell(text: str, cells: list[int], pos: int) -> str:
    """Notebook JSON keeps each cell's keys sorted (``cell_type`` first, ``outputs`` before ``source``);
    ``cells`` are the offsets of the ``cell_type`` keys."""
    number = bisect_right(cells, pos)
    if not number:
        return ""
    sections = [m.group(1) for m in _SECTION.finditer(text, cells[number - 1], pos)]
    part = " (output)" if sections and sections[-1] == "outputs" else " (source)" if sections else ""
    return f", notebook cell {number}{part}"


def _k8s_data(text: str) -> list[tuple[int, str, str]]:
    """(line, key, base64 value) of the ``data:``/``binaryData:`` entries of Secret manifests (bounded)."""
    data_indent: int | None = None
    out: list[tuple[int, str, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        block = _K8S_DATA.match(line)
        if block is not None:
            data_indent = len(block.group("indent"))
            continue
        if data_indent is None:
            continue
        value = _K8S_VALUE.match(line)
        if value is None or len(value.group("indent")) <= data_indent:
            if line.strip() and len(line) - len(line.lstrip()) <= data_indent:
                data_indent = None
            continue
        if len(out) < MAX_K8S_VALUES and len(value.group("value")) <= MAX_K8S_VALUE:
            out.append((number, value.group("key"), value.group("value")))
    return out


def _docker_auths(text: str) -> list[tuple[int, str, str]]:
    """(line, key, base64 value) of Docker ``config.json`` credentials (``auths.<registry>.auth`` is
    base64 of ``user:token``), bounded like the Kubernetes values."""
    out: list[tuple[int, str, str]] = []
    for found in _DOCKER_AUTH.finditer(text):
        if len(out) >= MAX_K8S_VALUES:
            break
        out.append((text.count("\n", 0, found.start()) + 1, found.group("key"), found.group("value")))
    return out


def _encoded_values(
    artifact: Artifact,
    entries: list[tuple[int, str, str]],
    found: dict[int, waivers.Waiver],
    template: bool,
    what: str,
) -> Iterator[Finding]:
    """Decoded values searched as ``key=value``, reported at the key's line."""
    for number, key, value in entries:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            continue
        hits, _ = matcher.find(f"{key}={decoded}", generic=True, quoted_only=False)
        for hit in hits:
            yield _judged(
                artifact, hit, f"line {number} (base64 value of {what} {key!r})", number, found, template,
                extra_evidence=f"decoded from the base64 value of {key!r}",
            )  # fmt: skip


COMPANION = Companion("secrets", wants, scan)
