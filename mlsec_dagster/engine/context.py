"""Dispatch by content, recursion into containers, and the budgets of one top-level file.

Container scanners hand every member back through :meth:`ScanContext.scan_child`, so depth,
time and inflation budgets are enforced in one place and every format is recognised the same
way wherever it hides.
"""

from __future__ import annotations

import logging
import posixpath
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from mlsec_dagster.engine.artifact import Artifact, Opener
from mlsec_dagster.engine.findings import Finding, Location, Severity
from mlsec_dagster.engine.limits import Limits
from mlsec_dagster.engine.policy import Policy
from mlsec_dagster.engine.rules import define

log = logging.getLogger(__name__)

_FAMILY = "scan"

SCANNER_ERROR = define(
    "MLS-SCN-001",
    "Scanner could not finish this file",
    Severity.HIGH,
    "A scanner raised an unexpected error on this file. Whatever it did not reach was not checked, "
    "so the file is treated as unverified (fail closed).",
    "Check the evidence for the error; if the file is legitimate, report the error to the "
    "mlsec-dagster maintainers with the file's format, or waive the path in the policy with a reason.",
    family=_FAMILY,
)
LIMIT_REACHED = define(
    "MLS-SCN-002",
    "Scan limit reached; part of the file was not checked",
    Severity.HIGH,
    "A size, ratio, nesting, opcode or time budget was exhausted. Bombs and pathological files hit "
    "these on purpose; the unread remainder could hide a payload, so this is not a pass.",
    "If the file is a legitimate large artifact, raise the named limit under `policy.limits` in "
    "mlsec.yaml; otherwise treat the file as hostile.",
    family=_FAMILY,
)
UNRECOGNISED = define(
    "MLS-SCN-003",
    "Model, dataset or package file with unrecognised content",
    Severity.MEDIUM,
    "The file's name says it is a model, serialized object, dataset or Python wheel, but its bytes match "
    "no format the scanner understands, so it could not be verified.",
    "Convert the model to safetensors, or check what the file really is (it may be truncated, "
    "encrypted or a format mlsec-dagster does not support yet).",
    family=_FAMILY,
)
UNREADABLE = define(
    "MLS-SCN-005",
    "File could not be read",
    Severity.HIGH,
    "The operating system refused to read the file (permissions, I/O error), so it was not scanned.",
    "Make the file readable by the scanner, or exclude it in `.mlsecignore` with a comment saying why.",
    family=_FAMILY,
)

WEIGHT_EXTENSIONS = frozenset(
    {
        ".pt", ".pth", ".bin", ".ckpt", ".pkl", ".pickle", ".joblib", ".dill", ".npy", ".npz",
        ".safetensors", ".h5", ".hdf5", ".keras", ".onnx", ".gguf", ".ggml", ".pb", ".tflite",
        ".mar", ".model", ".msgpack", ".p", ".sav", ".torchscript", ".ptl", ".mlmodel",
    }
)  # fmt: skip
"""Names that promise a model or serialized object; unknown content under them is reported."""

DATASET_EXTENSIONS = frozenset(
    {".parquet", ".avro", ".arrow", ".feather", ".ipc", ".arrows", ".jsonl", ".ndjson", ".csv", ".tsv"}
)
"""Names that promise a dataset: unknown content under them is reported the same way."""

PACKAGE_EXTENSIONS = frozenset({".whl"})
"""Names that promise a Python package archive (an installer would try to unpack it)."""


DECODED_GRACE_BYTES = 256 * 1024 * 1024
"""Any dataset may decode to this much, whatever its size (a 1 KB file of wide text rows is no bomb)."""


@dataclass(frozen=True)
class Scanner:
    """One format: how to recognise it from its bytes and how to judge it."""

    name: str
    sniff: Callable[[Artifact], bool]
    scan: Callable[[Artifact, ScanContext], Iterator[Finding]]


@dataclass(frozen=True)
class Companion:
    """A check that runs on files whatever their format, after the format's own scanner: secrets in any
    text, licence declarations in cards and LICENSE files. ``wants`` sees the artifact and the name of
    the scanner that claimed it (None when no format matched), so it can skip what another check
    already covers (dataset cells have their own secret detector)."""

    name: str
    wants: Callable[[Artifact, str | None], bool]
    scan: Callable[[Artifact, ScanContext], Iterator[Finding]]


@dataclass(frozen=True)
class LicenseRecord:
    """A licence declared somewhere (model card, LICENSE file, safetensors/GGUF metadata, wheel
    metadata), judged against the policy after the scan, folder by folder."""

    path: str
    member: tuple[str, ...]
    source: str
    """Where it was declared: ``model card``, ``LICENSE file``, ``safetensors metadata``..."""
    declared: str
    """As written (``apache-2.0``, ``other``, the first words of a licence text)."""
    spdx: str | None
    """The normalised SPDX expression, or None when it could not be identified."""
    line: int | None = None


@dataclass(frozen=True)
class ArtifactRecord:
    """What was identified where, for the report's inventory (and for tests)."""

    path: str
    member: tuple[str, ...]
    format: str
    size: int


@dataclass(frozen=True)
class SchemaRecord:
    """The columns of one dataset file, compared across a folder of part files after the scan."""

    path: str
    member: tuple[str, ...]
    format: str
    schema: str


class ScanContext:
    def __init__(
        self, policy: Policy, scanners: Sequence[Scanner], companions: Sequence[Companion] = ()
    ) -> None:
        self.policy = policy
        self.scanners = tuple(scanners)
        self.companions = tuple(companions)
        self.records: list[ArtifactRecord] = []
        self.schemas: list[SchemaRecord] = []
        self.licenses: list[LicenseRecord] = []
        self.on_progress: Callable[[str], None] | None = None
        """Set by ``scan_path`` per file: long scans (multi-GB datasets) report where they are."""
        self._deadline = float("inf")
        self._inflated = 0
        self._decoded = 0

    @property
    def limits(self) -> Limits:
        return self.policy.limits

    # -- per top-level file budgets -------------------------------------------------------
    def start_file(self) -> None:
        self._deadline = time.monotonic() + self.limits.timeout_seconds
        self._inflated = 0
        self._decoded = 0

    def progress(self, note: str) -> None:
        if self.on_progress is not None:
            self.on_progress(note)

    def out_of_time(self) -> bool:
        return time.monotonic() > self._deadline

    def timeout_finding(self, artifact: Artifact, location: Location | None = None) -> Finding:
        return self.limit_finding(
            artifact,
            "timeout_seconds",
            f"scanning took longer than {self.limits.timeout_seconds:g} s",
            location,
        )

    def charge_inflated(self, nbytes: int) -> bool:
        """Count decompressed bytes; False once the file's inflation budget is spent."""
        self._inflated += nbytes
        return self._inflated <= self.limits.max_decompressed_bytes

    def charge_decoded(self, artifact: Artifact, nbytes: int) -> bool:
        """Count bytes a dataset reader decoded; False once they pass ``max_compression_ratio`` x the
        stream's size (after ``DECODED_GRACE_BYTES``).

        Not the inflation budget: a multi-GB dataset legitimately decodes to many GB in bounded
        batches. What a bomb has that a dataset does not is amplification (a 1 MB file whose
        dictionary entry repeats into 100 GB of text), so the budget scales with the file.
        """
        self._decoded += nbytes
        limit = max(DECODED_GRACE_BYTES, max(artifact.size, 0) * self.limits.max_compression_ratio)
        return self._decoded <= limit

    def limit_finding(
        self, artifact: Artifact, limit: str, detail: str, location: Location | None = None
    ) -> Finding:
        value = getattr(self.limits, limit)
        return LIMIT_REACHED.finding(
            artifact.path,
            f"{detail}; the rest of {artifact.display} was not checked. Raise `policy.limits.{limit}` "
            f"(now {value}) if this is a legitimate artifact.",
            location=location or artifact.location(),
            evidence=f"limit {limit}={value}",
            key=limit,
        )

    def record_license(
        self, artifact: Artifact, source: str, declared: str, spdx: str | None, line: int | None = None
    ) -> None:
        self.licenses.append(LicenseRecord(artifact.path, artifact.member, source, declared, spdx, line))

    def record_schema(self, artifact: Artifact, fmt: str, schema: str) -> None:
        self.schemas.append(SchemaRecord(artifact.path, artifact.member, fmt, schema))

    # -- dispatch -----------------------------------------------------------------------
    def identify(self, artifact: Artifact) -> Scanner | None:
        for scanner in self.scanners:
            try:
                if scanner.sniff(artifact):
                    return scanner
            except Exception:  # a sniff that cannot decide is "not this format"; never abort the scan
                log.debug("sniff of %s failed on %s", scanner.name, artifact.display, exc_info=True)
        return None

    def scan(self, artifact: Artifact) -> Iterator[Finding]:
        scanner = self.identify(artifact)
        if scanner is None:
            yield from self._unrecognised(artifact)
        else:
            yield from self._run(scanner.name, scanner.scan, artifact)
        for companion in self.companions:
            if companion.wants(artifact, scanner.name if scanner is not None else None):
                yield from self._run(companion.name, companion.scan, artifact, record=False)

    def _unrecognised(self, artifact: Artifact) -> Iterator[Finding]:
        ext = posixpath.splitext(artifact.name.lower())[1]
        if ext in WEIGHT_EXTENSIONS or ext in DATASET_EXTENSIONS or ext in PACKAGE_EXTENSIONS:
            what = "is empty" if artifact.size == 0 else "has content that matches no known format"
            kind = (
                "a dataset"
                if ext in DATASET_EXTENSIONS
                else "a Python wheel"
                if ext in PACKAGE_EXTENSIONS
                else "a model file"
            )
            yield UNRECOGNISED.finding(
                artifact.path,
                f"{artifact.display} is named like {kind} ({ext}) but {what}, so it could not be verified.",
                location=artifact.location(offset=0),
                evidence="first bytes: " + artifact.head[:32].hex(" "),
                key=ext,
            )
            self.records.append(ArtifactRecord(artifact.path, artifact.member, "unknown", artifact.size))

    def _run(
        self,
        name: str,
        scan: Callable[[Artifact, ScanContext], Iterator[Finding]],
        artifact: Artifact,
        record: bool = True,
    ) -> Iterator[Finding]:
        if record:
            self.records.append(ArtifactRecord(artifact.path, artifact.member, name, artifact.size))
        try:
            yield from scan(artifact, self)
        except Exception as exc:  # fail closed: an unfinished scan is a finding, never a pass
            log.debug("scanner %s failed on %s", name, artifact.display, exc_info=True)
            yield SCANNER_ERROR.finding(
                artifact.path,
                f"The {name} scanner stopped on {artifact.display}: {type(exc).__name__}: {exc}. "
                "The rest of it was not checked.",
                location=artifact.location(),
                evidence=f"{type(exc).__name__}: {exc}",
                key=name,
            )

    def scan_child(self, parent: Artifact, member: str, size: int, opener: Opener) -> Iterator[Finding]:
        """Scan a stream found inside ``parent`` (an archive member, a decompressed body...)."""
        if parent.depth + 1 > self.limits.max_nesting_depth:
            yield self.limit_finding(
                parent,
                "max_nesting_depth",
                f"member {member!r} is nested {parent.depth + 1} containers deep",
                parent.location(),
            )
            return
        if self.out_of_time():
            yield self.timeout_finding(parent)
            return
        yield from self.scan(parent.child(member, size, opener))

    def scan_child_bytes(self, parent: Artifact, member: str, data: bytes) -> Iterator[Finding]:
        import io

        yield from self.scan_child(parent, member, len(data), lambda: io.BytesIO(data))
