"""CSV/TSV reader: every column read as text, streamed in blocks, rows numbered like a loader sees them.

All columns are strings on purpose: a formula payload (``=cmd|...``) or a stray word in a numeric
column is only visible before type inference turns it into a null or a parse error. Parsing is
pyarrow's streaming CSV reader (about 850 MB/s single-threaded, quoted newlines included); Python
only looks at the 64 KiB head (encoding, delimiter, header), at the rows pyarrow rejects and at the
few cells that are reported. Rows pyarrow rejects (wrong field count) are findings, and the batches
around them are split so every later row keeps its true index.
"""

from __future__ import annotations

import codecs
import posixpath
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv

from mlsec_dagster.engine.artifact import HEAD_BYTES, Artifact
from mlsec_dagster.engine.context import ScanContext, Scanner
from mlsec_dagster.engine.findings import Finding, Severity
from mlsec_dagster.engine.limits import MiB
from mlsec_dagster.engine.rules import define
from mlsec_dagster.scanners.datasets import structure
from mlsec_dagster.scanners.datasets.cells import scan_dataset
from mlsec_dagster.scanners.datasets.evidence import escape, hex_snippet, snippet
from mlsec_dagster.scanners.datasets.model import Batch, Source
from mlsec_dagster.scanners.pickle.sniff import sniff as _pickle_sniff

_FAMILY = "csv"

NOT_UTF8 = define(
    "MLS-CSV-001",
    "Delimited file is not UTF-8",
    Severity.LOW,
    "The file is UTF-16/UTF-32 or a legacy 8-bit encoding (Windows-1252, Latin-1). It was decoded "
    "and scanned, but loaders that assume UTF-8 (pandas, polars, HF datasets by default) fail on it "
    "or read mojibake, so what was reviewed may not be what the model sees.",
    "Re-encode the file as UTF-8, or pass the encoding explicitly wherever it is loaded.",
    family=_FAMILY,
)
BAD_HEADER = define(
    "MLS-CSV-002",
    "Duplicate or empty column names",
    Severity.LOW,
    "Loaders rename duplicate or empty header cells (`name.1`, `Unnamed: 3`) or keep only one of "
    "them, so columns shift or vanish silently, and a per-column policy rule may cover a column it "
    "was not written for.",
    "Give every column a unique, non-empty name in the header row.",
    family=_FAMILY,
)
HEADER_IS_DATA = define(
    "MLS-CSV-003",
    "First row looks like data, not column names",
    Severity.LOW,
    "The header row holds numbers or dates. The file probably has no header, so a loader takes its "
    "first record as column names and silently drops it from the data.",
    "Add a header row, or load the file with `header=None` and name the columns in code.",
    family=_FAMILY,
)
NOT_TABULAR = define(
    "MLS-CSV-004",
    "File does not look like a delimited table",
    Severity.LOW,
    "No delimiter separates columns and the single column holds very long lines, or a header cell is "
    "huge: the file is probably text, JSON or a blob with a table extension. It was scanned as one "
    "text column, but whatever reads it as a table will misparse it.",
    "Check what the file really is and give it the matching extension, or re-export it as a table.",
    family=_FAMILY,
)

_DELIMITER_OF = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".psv": "|"}
_CANDIDATES = (",", "\t", ";", "|")

BLOCK_BYTES = 4 * MiB
"""pyarrow block: a record may span two blocks, so records up to ~2 blocks parse without a restart.
pyarrow reads up to 32 blocks ahead, so this also sets peak memory (~32 x block)."""
MAX_BLOCK_BYTES = 32 * MiB
"""Blocks grow (x4) up to this; a record that still does not fit (or an unterminated quote) stops
the read with a finding."""
MAX_INVALID_ROWS = 1_000
"""Rows with a wrong field count kept (and split around); past this the file is not a table."""
HEADER_SCAN_BYTES = 16 * MiB
"""How far the first record (the header) may reach before it is a limit finding."""
_SNIFF_LINES = 200
_HUGE_LINE = 1_024
_MIXED_MIN_VALUES = 20
_MIXED_SHARE = 0.95
_MIXED_FEW_SHARE = 0.005
_MIXED_FEW_MIN = 5
_MIXED_SETTLE_AFTER = 1_000

_BOMS: tuple[tuple[bytes, str, str, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32", "utf-32-le", "UTF-32LE with BOM"),
    (codecs.BOM_UTF32_BE, "utf-32", "utf-32-be", "UTF-32BE with BOM"),
    (codecs.BOM_UTF8, "utf8", "utf-8", "UTF-8 with BOM"),
    (codecs.BOM_UTF16_LE, "utf-16", "utf-16-le", "UTF-16LE with BOM"),
    (codecs.BOM_UTF16_BE, "utf-16", "utf-16-be", "UTF-16BE with BOM"),
)
"""Longest first: a UTF-32LE BOM starts with the UTF-16LE one. The ``utf-16``/``utf-32`` codecs
read the BOM and drop it; pyarrow drops a UTF-8 BOM itself. The third codec decodes a piece from
the middle of the file (its tail), which has no BOM."""

_CONTROL = frozenset([*range(0x00, 0x09), *range(0x0E, 0x1B), *range(0x1C, 0x20)])
"""Bytes that do not occur in text (tab, newlines, form feed and ESC excluded)."""
_CP1252_ONLY = frozenset(range(0x80, 0xA0))

# Per-kind full-match patterns (polars/Rust regex). A column whose non-empty values nearly all match
# one kind, with a few that do not, is a mixed-type column.
_NULLISH = r"^[ \t]*(?i:na|n/a|#n/a|nan|null|none|nil|-+|\?)?[ \t]*$"
_KINDS: dict[str, str] = {
    "numbers": r"^[ \t]*[+-]?[$€£¥]?(?:\d+(?:[.,' _]\d{3})*(?:[.,]\d*)?|[.,]\d+)(?:[eE][+-]?\d+)?%?[ \t]*$",
    "booleans": r"^[ \t]*(?i:true|false|yes|no)[ \t]*$",
    "dates": r"^[ \t]*(?:\d{4}-\d{1,2}-\d{1,2}"
    r"(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
    r"|\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}(?: \d{1,2}:\d{2}(?::\d{2})?)?)[ \t]*$",
}
_LOOKS_LIKE_DATA = re.compile(f"(?:{_KINDS['numbers']})|(?:{_KINDS['dates']})")


# -- sniffing ---------------------------------------------------------------------------------------
def _extension(artifact: Artifact) -> str:
    return posixpath.splitext(artifact.name.lower())[1]


def sniff(artifact: Artifact) -> bool:
    """Table extensions only (``.csv``, ``.tsv``, ``.tab``, ``.psv``; ``artifact.name`` is the
    inner name of a compressed member). Binary content under such a name is claimed too, so it is
    reported as a corrupt table: every binary format the registry knows was tried before this
    scanner, except pickle, which runs after it and keeps its files (a pickle named ``.csv``, even a
    text protocol-0 one)."""
    return _extension(artifact) in _DELIMITER_OF and not _pickle_sniff(artifact)


def _is_text(head: bytes) -> bool:
    """Random or compressed bytes are ~11% control bytes; text with a few ANSI/NUL payload cells is far
    below 5%, and between 1% and 5% only text that is not even UTF-8 counts as binary."""
    if not head or any(head.startswith(bom) for bom, _, _, _ in _BOMS) or _utf16_without_bom(head):
        return True
    sample = head[:4096]
    controls = sum(1 for b in sample if b in _CONTROL)
    if controls * 20 > len(sample):
        return False
    return (
        controls < 4 or controls * 100 <= len(sample) or sample.decode("utf-8", "replace").count("\ufffd") < 4
    )


def _utf16_without_bom(head: bytes) -> str | None:
    """ASCII-heavy UTF-16 has a NUL in every other byte; which half says the byte order."""
    sample = head[:4096]
    half = len(sample) // 2
    if half < 8:
        return None
    even = sample[0::2].count(0)
    odd = sample[1::2].count(0)
    if odd > half * 0.4 and even < half * 0.05:
        return "utf-16-le"
    if even > half * 0.4 and odd < half * 0.05:
        return "utf-16-be"
    return None


# -- the plan: encoding, delimiter, header ----------------------------------------------------------
@dataclass(frozen=True)
class _Encoding:
    codec: str
    """Python codec name, or ``utf8`` (pyarrow reads it natively, without transcoding)."""
    label: str
    plain: str = "utf-8"
    """The codec for bytes after the BOM (the file's tail)."""
    unit: int = 1
    """Code unit size: tails are read aligned to it."""

    @property
    def is_utf8(self) -> bool:
        return self.codec == "utf8"

    def decode(self, data: bytes, final: bool, at_start: bool = True) -> str:
        codec = ("utf-8-sig" if self.is_utf8 else self.codec) if at_start else self.plain
        return codecs.getincrementaldecoder(codec)(errors="replace").decode(data, final)


def _encoding(head: bytes) -> _Encoding:
    for bom, codec, plain, label in _BOMS:
        if head.startswith(bom):
            return _Encoding(codec, label, plain, 4 if codec == "utf-32" else 2 if codec == "utf-16" else 1)
    utf16 = _utf16_without_bom(head)
    if utf16:
        return _Encoding(utf16, utf16.upper().replace("-LE", "LE").replace("-BE", "BE"), utf16, 2)
    decoded = head.decode("utf-8", "replace")
    bad = decoded.count("\ufffd")
    if not bad or (len(head) == HEAD_BYTES and bad == 1 and decoded.endswith("\ufffd")):
        return _Encoding("utf8", "UTF-8")
    multibyte = sum(1 for ch in decoded if ord(ch) > 0x7F) - bad
    if multibyte > bad:  # UTF-8 with a few broken bytes: flatten.py reports them as MLS-DAT-010
        return _Encoding("utf8", "UTF-8")
    if any(b in _CP1252_ONLY for b in head):
        try:
            head.decode("cp1252")
            return _Encoding("cp1252", "Windows-1252", "cp1252")
        except UnicodeDecodeError:
            pass
    return _Encoding("latin-1", "Latin-1", "latin-1")


_QUOTED = re.compile(r'"(?:[^"]|"")*"')
_NEWLINES = re.compile(r"\r\n|\n|\r")


def _delimiter(text: str, preferred: str) -> str | None:
    """The candidate whose count outside quotes matches the header's on most lines (quoted fields
    removed first, so a comma inside ``"..."`` does not count). None: no candidate in the header."""
    lines = [line for line in _NEWLINES.split(_QUOTED.sub("", text)) if line][:_SNIFF_LINES]
    if not lines:
        return None
    best: tuple[float, bool, int] | None = None
    choice = None
    for cand in _CANDIDATES:
        expected = lines[0].count(cand)
        if not expected:
            continue
        consistent = sum(1 for line in lines if line.count(cand) == expected) / len(lines)
        score = (round(consistent, 1), cand == preferred, expected)
        if best is None or score > best:
            best, choice = score, cand
    return choice


def _first_record(text: str, delimiter: str) -> tuple[int, int] | None:
    """(field count, length) of the first non-blank record, parsed like pyarrow: a quote opens a
    quoted field only at the start of a field. None: the text ends inside the record."""
    d = re.escape(delimiter)
    quoted = re.compile(rf'"(?:[^"]|"")*"[^{d}\r\n]*')
    plain = re.compile(rf"[^{d}\r\n]*")
    start = pos = len(text) - len(text.lstrip("\r\n"))
    fields = 0
    while True:
        match = (quoted if text.startswith('"', pos) else plain).match(text, pos)
        if match is None:
            return None
        fields += 1
        pos = match.end()
        if pos >= len(text):
            return None
        if text[pos] != delimiter:
            return fields, pos - start
        pos += 1


@dataclass(frozen=True)
class _Plan:
    encoding: _Encoding
    delimiter: str
    columns: int
    header_chars: int
    sniffed: bool
    """False when no delimiter was found in the head (one column)."""
    long_lines: bool


def _plan(artifact: Artifact, ctx: ScanContext) -> _Plan | Finding | None:
    """None: the file has no record at all (empty)."""
    encoding = _encoding(artifact.head)
    whole = artifact.size >= 0 and len(artifact.head) >= artifact.size
    text = encoding.decode(artifact.head, whole)
    preferred = _DELIMITER_OF[_extension(artifact)]
    found = _delimiter(text, preferred)
    delimiter = found or preferred
    record = _first_record(text, delimiter)
    if record is None and not whole:
        limit = min(ctx.limits.max_header_bytes, HEADER_SCAN_BYTES)
        with artifact.open() as fh:
            more = fh.read(limit)
        text = encoding.decode(more, len(more) < limit)
        record = _first_record(text, delimiter)
        if record is None and len(more) >= limit:
            return ctx.limit_finding(
                artifact,
                "max_header_bytes",
                f"the first record (header) of {artifact.display} is longer than {limit:,} bytes",
                artifact.location(offset=0),
            )
    if record is None:
        if not text.strip("\r\n"):
            return None
        record = _first_record(text + "\n", delimiter) or (1, len(text))
    lines = _NEWLINES.split(text)[:_SNIFF_LINES]
    long_lines = max((len(line) for line in lines), default=0) >= _HUGE_LINE
    return _Plan(encoding, delimiter, record[0], record[1], found is not None, long_lines)


# -- scanning ---------------------------------------------------------------------------------------
def scan(artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
    if artifact.size == 0 or not artifact.head:
        yield _empty(artifact, "has no bytes")
        return
    if not _is_text(artifact.head):
        yield structure.CORRUPT.finding(
            artifact.path,
            f"{artifact.display} is named like a delimited table ({_extension(artifact)}) but holds binary "
            "data, so no row of it could be checked. Find out what the file really is; re-export the "
            "table if it was damaged.",
            location=artifact.location(offset=0),
            evidence=hex_snippet(artifact.head[:48]),
            key="binary",
        )
        return
    plan = _plan(artifact, ctx)
    if plan is None:
        yield _empty(artifact, "holds only blank lines")
        return
    if isinstance(plan, Finding):
        yield plan
        return
    if not plan.encoding.is_utf8:
        yield NOT_UTF8.finding(
            artifact.path,
            f"{artifact.display} is encoded as {plan.encoding.label}, not UTF-8; it was decoded as such "
            "and scanned. Re-encode it as UTF-8 (or pass the encoding explicitly to every loader).",
            location=artifact.location(offset=0),
            evidence=f"encoding: {plan.encoding.label}; first bytes: {artifact.head[:16].hex(' ')}",
            key=plan.encoding.label,
        )
    if not plan.sniffed and plan.columns == 1 and plan.long_lines:
        yield NOT_TABULAR.finding(
            artifact.path,
            f"{artifact.display} has no column delimiter (`,` tab `;` `|`) and lines of {_HUGE_LINE}+ "
            "characters: it does not look like a table. It was scanned as one text column; check what "
            "it really is.",
            location=artifact.location(row=0),
            evidence=f"columns: 1; header length: {plan.header_chars} characters",
            key="single-column",
        )
    fmt = "tsv" if plan.delimiter == "\t" else "csv"
    yield from scan_dataset(artifact, ctx, fmt, _Reader(artifact, ctx, plan).source())


def _empty(artifact: Artifact, what: str) -> Finding:
    return structure.EMPTY.finding(
        artifact.path,
        f"{artifact.display} {what}: there are no rows to train on. Check the job that wrote it; delete it "
        "if the partition is meant to be empty.",
        location=artifact.location(offset=0),
        evidence=f"size: {artifact.size} bytes",
        key="empty",
    )


@dataclass(frozen=True)
class _BadRow:
    expected: int
    actual: int
    text: str
    """The raw record, cut to 2,000 characters."""
    unclosed: bool
    """A quote in it never closes (decided on the whole record)."""


@dataclass
class _Column:
    """Running type statistics of one column, for the mixed-type check."""

    values: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_KINDS, 0))
    odd: dict[str, list[tuple[int, str]]] = field(default_factory=lambda: {kind: [] for kind in _KINDS})
    kind: str | None = None
    """Settled once enough values were seen: from then on only this kind is checked."""
    given_up: bool = False


class _Reader:
    """One pass (or, after a record larger than the block, a restart) of pyarrow over the file."""

    def __init__(self, artifact: Artifact, ctx: ScanContext, plan: _Plan) -> None:
        self.artifact = artifact
        self.ctx = ctx
        self.plan = plan
        self.names = [f"f{i}" for i in range(plan.columns)]
        self.bad: dict[int, _BadRow] = {}
        """Rejected records by record number (0 = header), across restarts."""
        self.bad_sorted: list[int] = []
        self.overflow = False
        self.header: list[str] | None = None
        self.done = 0
        """Data rows already yielded (a restart skips them)."""
        self.last_value: bytes | None = None
        self.columns: list[_Column] = []
        self.cap = ctx.policy.dataset_rules.max_findings_per_column

    # pyarrow calls this for each record with a wrong field count, in order (use_threads=False).
    def _on_invalid(self, row: pacsv.InvalidRow) -> str:
        number = row.number
        if number is None:
            return "error"
        if number - 1 not in self.bad:
            if len(self.bad) >= MAX_INVALID_ROWS:
                self.overflow = True
                return "error"
            text = str(row.text)
            self.bad[number - 1] = _BadRow(
                row.expected_columns,
                row.actual_columns,
                text[:2000],
                _unclosed_quote(text, self.plan.delimiter),
            )
        return "skip"

    def source(self) -> Source:
        block = BLOCK_BYTES
        stopped: Finding | None = None
        while True:
            try:
                yield from self._pass(block)
            except pa.ArrowInvalid as exc:
                if "straddl" in str(exc) and block < MAX_BLOCK_BYTES and not self.overflow:
                    block = min(block * 4, MAX_BLOCK_BYTES)
                    continue
                stopped = self._stopped(exc)
            except UnicodeDecodeError as exc:
                stopped = self._stopped(exc)
            break
        yield from self._bad_rows(stopped is None)
        if stopped is not None:
            yield stopped
            return
        if self.header is None:
            yield _empty(self.artifact, "holds no record")
            return
        if self.done == 0 and not self.bad:
            yield _empty(self.artifact, "has a header but no data rows")
            return
        yield from self._eof()
        yield from self._mixed_types()

    def _open(self, fh: BinaryIO, block: int) -> pacsv.CSVStreamingReader:
        return pacsv.open_csv(
            fh,
            read_options=pacsv.ReadOptions(
                use_threads=False,  # keeps InvalidRow.number, which maps rejected rows to data rows
                block_size=block,
                column_names=self.names,
                encoding=self.plan.encoding.codec,
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=self.plan.delimiter,
                quote_char='"',
                double_quote=True,
                newlines_in_values=True,
                ignore_empty_lines=True,
                invalid_row_handler=self._on_invalid,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.large_string() for name in self.names},
                check_utf8=False,  # invalid UTF-8 is reported with its rows by flatten.py
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )

    def _pass(self, block: int) -> Source:
        with self.artifact.open() as fh:
            reader = self._open(fh, block)
            valid = 0
            for chunk in reader:
                if len(self.bad_sorted) != len(self.bad):
                    self.bad_sorted = sorted(self.bad)
                for piece, record in _pieces(chunk, valid, self.bad_sorted):
                    yield from self._emit(piece, record)
                valid += chunk.num_rows

    def _emit(self, piece: pa.RecordBatch, record: int) -> Source:
        """``record`` is the record number of the piece's first row: 0 is the header."""
        if record == 0:
            head, piece, record = piece.slice(0, 1), piece.slice(1), 1
            if self.header is None:  # not again after a restart
                self.header = [_text(column) for column in head.columns]
                self.columns = [_Column() for _ in self.header]
                yield from self._header_findings()
                if piece.num_rows == 0:
                    yield Batch(self._named(piece), 0)
                    return
        elif self.header is None:
            raise pa.ArrowInvalid(f"the header record does not split into {self.plan.columns} fields")
        first = record - 1
        skip = self.done - first
        if skip >= piece.num_rows:
            return
        if skip > 0:
            piece, first = piece.slice(skip), self.done
        batch = self._named(piece)
        self._track_types(batch, first)
        last = batch.column(batch.num_columns - 1).slice(batch.num_rows - 1)
        self.last_value = last.cast(pa.large_binary())[0].as_py()
        self.done = first + batch.num_rows
        yield Batch(batch, first)

    def _named(self, piece: pa.RecordBatch) -> pa.RecordBatch:
        assert self.header is not None
        return pa.RecordBatch.from_arrays(piece.columns, names=self.header)

    # -- structural findings --------------------------------------------------------------------
    def _stopped(self, exc: Exception) -> Finding:
        row = self.done
        if self.overflow:
            why = (
                f"more than {MAX_INVALID_ROWS} records have the wrong number of fields, so it is not a "
                "consistent table"
            )
        elif "straddl" in str(exc):
            why = (
                f"a record is larger than {MAX_BLOCK_BYTES // MiB} MiB, or a quote opened near row {row} "
                "is never closed"
            )
        elif isinstance(exc, UnicodeDecodeError):
            why = f"its bytes stop decoding as {self.plan.encoding.label}"
        else:
            why = "the parser rejected it"
        return structure.CORRUPT.finding(
            self.artifact.path,
            f"Reading {self.artifact.display} stopped at data row {row}: {why}. That row and the rest were "
            "not checked. Fix the quoting or field counts at that point, or re-export the file.",
            location=self.artifact.location(row=row),
            evidence=snippet(f"{type(exc).__name__}: {exc}"),
            key="stopped",
        )

    def _bad_rows(self, complete: bool) -> Iterator[Finding]:
        last_record = self.done + len(self.bad)  # header is record 0, data row r is record r + 1
        listed = 0
        for record in sorted(self.bad):
            bad = self.bad[record]
            row = record - 1
            if complete and record == last_record and self._truncated(bad):
                cause = (
                    "a quote in it is never closed"
                    if bad.unclosed
                    else f"it has {bad.actual} of {bad.expected} fields and no line end"
                )
                yield structure.CORRUPT.finding(
                    self.artifact.path,
                    f"The last record of {self.artifact.display} (data row {row}) is cut off: {cause}. The "
                    "file was probably truncated; fetch or export it again.",
                    location=self.artifact.location(row=row),
                    evidence=snippet(bad.text[-300:]),
                    key="truncated",
                )
                continue
            if listed >= self.cap:
                continue
            listed += 1
            yield structure.INVALID_RECORD.finding(
                self.artifact.path,
                f"Data row {row} of {self.artifact.display} has {bad.actual} fields where the header has "
                f"{bad.expected}; loaders skip it, fail, or shift its values into the wrong columns. Fix "
                "its quoting or delimiters.",
                location=self.artifact.location(row=row),
                evidence=snippet(bad.text),
                key=f"fields\x1f{row}",
            )
        extra = len(self.bad) - listed - (1 if complete and self._truncated_last(last_record) else 0)
        if extra > 0:
            yield structure.MORE_FINDINGS.finding(
                self.artifact.path,
                f"{structure.INVALID_RECORD.id} matched {extra} more row(s) of {self.artifact.display} "
                f"beyond the {listed} listed. Fix the file's quoting/delimiters; raise "
                "`max_findings_per_column` to list them.",
                location=self.artifact.location(),
                evidence=f"{len(self.bad)} rows with a wrong field count",
                key=f"fields\x1f{structure.INVALID_RECORD.id}",
                severity=structure.INVALID_RECORD.severity,
            )

    def _truncated_last(self, last_record: int) -> bool:
        bad = self.bad.get(last_record)
        return bad is not None and self._truncated(bad)

    def _truncated(self, bad: _BadRow) -> bool:
        """A short last record without a line end, or one whose quote never closes."""
        if bad.unclosed:
            return True
        return bad.actual < bad.expected and not self._tail(16).endswith(("\n", "\r"))

    def _tail(self, nbytes: int) -> str:
        unit = self.plan.encoding.unit
        with self.artifact.open() as fh:
            size = fh.seek(0, 2)
            start = max(0, size - nbytes)
            start -= start % unit
            fh.seek(start)
            data = fh.read()
        return self.plan.encoding.decode(data, True, at_start=start == 0)

    def _eof(self) -> Iterator[Finding]:
        """pyarrow accepts a quote left open at the end of the file as a value running to EOF: the
        raw file then ends with ``"`` + the escaped value, with no closing quote after it."""
        if self.last_value is None or self.bad.get(self.done + len(self.bad)) is not None:
            return
        value = self.last_value.decode("utf-8", "replace")
        escaped = '"' + value.replace('"', '""')
        tail = self._tail(len(escaped.encode("utf-8")) * self.plan.encoding.unit + 64)
        if tail.endswith(escaped) and not tail.rstrip("\r\n").endswith(escaped + '"'):
            row = self.done - 1
            yield structure.CORRUPT.finding(
                self.artifact.path,
                f"The last field of {self.artifact.display} (data row {row}) opens a quote that is never "
                "closed: the file was probably truncated, and loaders either fail or read the rest of "
                "the file into one cell. Fetch or export it again.",
                location=self.artifact.location(row=row, field=self.header[-1] if self.header else None),
                evidence=snippet(tail[-200:]),
                key="unclosed-quote",
            )

    def _header_findings(self) -> Iterator[Finding]:
        assert self.header is not None
        names = self.header
        dupes = sorted(n for n, count in Counter(names).items() if count > 1 and n.strip())
        empty = [i for i, n in enumerate(names) if not n.strip()]
        if (dupes or empty) and len(names) > 1:
            parts = ([f"duplicate {', '.join(repr(escape(d)) for d in dupes[:10])}"] if dupes else []) + (
                [f"empty at column(s) {', '.join(str(i) for i in empty[:10])}"] if empty else []
            )
            yield BAD_HEADER.finding(
                self.artifact.path,
                f"The header of {self.artifact.display} has {'; '.join(parts)}. Loaders rename or drop such "
                "columns; give each column a unique, non-empty name.",
                location=self.artifact.location(row=None),
                evidence=snippet(self.plan.delimiter.join(names)),
                key="header-names",
            )
        named = [n for n in names if n.strip()]
        data_like = [n for n in named if _LOOKS_LIKE_DATA.fullmatch(n)]
        if named and len(data_like) == len(named):
            yield HEADER_IS_DATA.finding(
                self.artifact.path,
                f"Every column name of {self.artifact.display} is a number or a date: the file probably has "
                "no header row, so its first record is read as names. Add a header or load it with "
                "`header=None`.",
                location=self.artifact.location(),
                evidence=snippet(self.plan.delimiter.join(names)),
                key="header-data",
            )
        huge = [n for n in names if len(n) >= _HUGE_LINE]
        if huge and self.plan.sniffed:
            yield NOT_TABULAR.finding(
                self.artifact.path,
                f"A column name of {self.artifact.display} is {len(huge[0]):,} characters long: the first "
                "record is not a header. Check what the file really is.",
                location=self.artifact.location(),
                evidence=snippet(huge[0]),
                key="huge-header",
            )

    # -- mixed types ----------------------------------------------------------------------------
    def _track_types(self, batch: pa.RecordBatch, first: int) -> None:
        for stats, array in zip(self.columns, batch.columns, strict=True):
            if stats.given_up:
                continue
            try:
                array.validate(full=True)  # polars must not see invalid UTF-8 (flatten.py reports it)
            except pa.ArrowInvalid:
                continue
            _track(stats, _series(array), first, self.cap)

    def _mixed_types(self) -> Iterator[Finding]:
        assert self.header is not None
        for name, stats in zip(self.header, self.columns, strict=True):
            verdict = _mixed(stats)
            if verdict is None:
                continue
            kind, odd = verdict
            rows = ", ".join(str(r) for r, _ in odd[:10])
            total = stats.values - stats.counts[kind]
            yield structure.MIXED_TYPES.finding(
                self.artifact.path,
                f"Column {escape(name)!r} of {self.artifact.display} holds {kind} in "
                f"{stats.counts[kind]:,} of {stats.values:,} non-empty rows but something else in {total} "
                f"(rows {rows}{', ...' if total > 10 else ''}): often a shifted or injected row. Inspect "
                "those rows; fix the source's quoting or clean the values.",
                location=self.artifact.location(row=odd[0][0], field=name),
                evidence="; ".join(f"row {r}: {snippet(v, width=60)}" for r, v in odd[:10]),
                key=f"{name}\x1fmixed",
            )


def _pieces(chunk: pa.RecordBatch, valid: int, bad: list[int]) -> Iterator[tuple[pa.RecordBatch, int]]:
    """Split a batch of accepted rows at the rejected records between them: yields each contiguous
    slice with the record number of its first row. ``valid`` accepted records came before ``chunk``."""
    record = valid
    index = 0
    while index < len(bad) and bad[index] <= record:  # every rejected record up to here shifts it
        record += 1
        index += 1
    pos = 0
    while pos < chunk.num_rows:
        take = chunk.num_rows - pos
        if index < len(bad):
            take = min(take, bad[index] - record)
        yield chunk.slice(pos, take), record
        pos += take
        record += take
        while index < len(bad) and bad[index] == record:
            record += 1
            index += 1


def _unclosed_quote(text: str, delimiter: str) -> bool:
    """True if a field of this raw record opens a quote that never closes."""
    return _first_record(text + "\n", delimiter) is None


def _text(cell: pa.Array) -> str:
    value = cell.cast(pa.large_binary())[0].as_py()
    return value.decode("utf-8", "replace") if value is not None else ""


def _series(array: pa.Array) -> pl.Series:
    series = pl.from_arrow(array)
    assert isinstance(series, pl.Series)
    return series


def _track(stats: _Column, values: pl.Series, first: int, cap: int) -> None:
    if stats.kind is not None:
        _track_kind(stats, stats.kind, values, first, cap)
        return
    present = ~values.str.contains(_NULLISH)
    stats.values += int(present.sum())
    for kind, pattern in _KINDS.items():
        hits = values.str.contains(pattern) & present
        stats.counts[kind] += int(hits.sum())
        _note_odd(stats.odd[kind], (present & ~hits).arg_true(), values, first, cap)
    if stats.values >= _MIXED_SETTLE_AFTER:
        best = max(stats.counts, key=stats.counts.__getitem__)
        if stats.counts[best] * 2 < stats.values:
            stats.given_up = True  # a text column: stop paying for it
        else:
            stats.kind = best


def _track_kind(stats: _Column, kind: str, values: pl.Series, first: int, cap: int) -> None:
    """A settled column costs one cheap pass (a float cast for numbers); the regexes only run on the
    values that pass missed."""
    if kind == "numbers":
        missed = values.cast(pl.Float64, strict=False).is_null()
    else:
        missed = ~values.str.contains(_KINDS[kind])
    where = missed.arg_true()
    if where.is_empty():
        stats.values += len(values)
        stats.counts[kind] += len(values)
        return
    sub = values.gather(where)
    nullish = sub.str.contains(_NULLISH)
    odd = where.filter(~nullish & ~sub.str.contains(_KINDS[kind]))
    present = len(values) - int(nullish.sum())
    stats.values += present
    stats.counts[kind] += present - len(odd)
    _note_odd(stats.odd[kind], odd, values, first, cap)


def _note_odd(odd: list[tuple[int, str]], where: pl.Series, values: pl.Series, first: int, cap: int) -> None:
    if len(odd) < cap:
        odd.extend((first + i, str(values[i])[:200]) for i in where.head(cap - len(odd)).to_list())


def _mixed(stats: _Column) -> tuple[str, list[tuple[int, str]]] | None:
    if stats.given_up or stats.values < _MIXED_MIN_VALUES:
        return None
    kind = max(stats.counts, key=lambda k: stats.counts[k])
    odd = stats.values - stats.counts[kind]
    few = max(_MIXED_FEW_MIN, int(stats.values * _MIXED_FEW_SHARE))
    if stats.counts[kind] < stats.values * _MIXED_SHARE or not 0 < odd <= few or not stats.odd[kind]:
        return None
    return kind, stats.odd[kind]


SCANNER = Scanner("delimited", sniff, scan)
