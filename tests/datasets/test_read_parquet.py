"""The Parquet reader: rows, row groups and nested fields mapped exactly; broken files reported.

Payload detection is not under test here: a custom policy pattern (``ZZQ_POISON_<n>``, rule
MLS-DSC-001) is the only detector run, so each test pins down what the reader hands the
orchestrator (global row, row group, field, char offset) and which structural rule a broken file
gets. Malformed files are built from a valid one by cutting, flipping and rewriting its footer.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from marker import MARKER_POLICY

from mlsec_dagster import Policy, Severity, scan_path
from mlsec_dagster.engine.artifact import Artifact
from mlsec_dagster.engine.context import ScanContext
from mlsec_dagster.engine.findings import Finding
from mlsec_dagster.engine.limits import Limits, MiB
from mlsec_dagster.scanners import SCANNERS
from mlsec_dagster.scanners.datasets import cells as cells_module
from mlsec_dagster.scanners.datasets import parquet
from mlsec_dagster.scanners.datasets.detectors import custom
from mlsec_dagster.scanners.datasets.model import Batch

ROWS = 12_000
GROUP = 3_000
POLICY = MARKER_POLICY
SITES = (
    "https://en.wikipedia.org/wiki/Kettle",
    "https://github.com/pola-rs/polars",
    "https://www.bbc.co.uk/news",
)
NAMES = ("Ana Souza", "Li Wei", "Jonas Becker", "Priya Nair", "Tom Okafor")


@pytest.fixture(autouse=True)
def only_custom_patterns(monkeypatch: pytest.MonkeyPatch) -> None:
    """The reader is under test, not the payload detectors being written alongside it."""
    monkeypatch.setattr(cells_module, "DETECTORS", (custom.DETECTOR,))


def _sentence(i: int) -> str:
    return (
        f"{NAMES[i % 5]} rated the kettle {i % 5 + 1} stars: it boils {i % 7 + 1} cups quickly, "
        f"see {SITES[i % 3]} for the model number {1000 + i}."
    )


POISON_1_OFFSET = _sentence(10_500).index("quickly") + len("quickly ")


def _table() -> pa.Table:
    text = [_sentence(i) for i in range(ROWS)]
    text[10_500] = text[10_500].replace("quickly", "quickly ZZQ_POISON_1")
    text[42] = "Long review. " + "The lid clicks shut and the base stays cool. " * 120 + "ZZQ_POISON_2 end"
    notes = [f"note {i % 50}" for i in range(ROWS)]
    notes[7_777] = "ZZQ_POISON_3"
    messages = [
        [
            {"role": "user", "content": f"How long does kettle {i} take?"},
            {"role": "assistant", "content": "3 min"},
        ]
        for i in range(ROWS)
    ]
    messages[11_999][1]["content"] = "about ZZQ_POISON_4 minutes"
    return pa.table(
        {
            "id": pa.array(range(ROWS), pa.int64()),
            "text": pa.array(text, pa.large_string()),
            "category": pa.array(notes).dictionary_encode(),
            "messages": pa.array(
                messages, pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
            ),
            "score": pa.array([i / 7 for i in range(ROWS)], pa.float64()),
        }
    ).replace_schema_metadata({"source": "kettle reviews v3", "comment": "exported by ZZQ_POISON_5"})


@pytest.fixture(scope="module")
def good_bytes() -> bytes:
    sink = io.BytesIO()
    pq.write_table(_table(), sink, row_group_size=GROUP, compression="zstd")
    return sink.getvalue()


def _scan(path: Path, policy: Policy = POLICY) -> list[Finding]:
    findings = scan_path(str(path), policy=policy, root=str(path.parent)).findings
    assert not [f for f in findings if f.rule_id == "MLS-SCN-001"], [f.message for f in findings]
    return list(findings)


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _hits(findings: list[Finding]) -> set[tuple[str | None, int | None, int | None, int | None]]:
    return {
        (f.location.field, f.location.row, f.location.row_group, f.location.char_offset)
        for f in findings
        if f.rule_id == "MLS-DSC-001"
    }


def test_poisoned_cells_map_to_row_row_group_field_and_char_offset(tmp_path: Path, good_bytes: bytes) -> None:
    findings = _scan(_write(tmp_path, "reviews.parquet", good_bytes))
    long_offset = _table().column("text")[42].as_py().index("ZZQ")
    assert long_offset > 4_096
    assert _hits(findings) == {
        ("text", 10_500, 3, POISON_1_OFFSET),
        ("text", 42, 0, long_offset),
        ("category", 7_777, 2, 0),
        ("messages[].content", 11_999, 3, 6),
        ("(metadata comment)", None, None, 12),  # header cells belong to the file: no row group
    }
    assert all(f.severity is Severity.HIGH for f in findings)
    assert {f.rule_id for f in findings} == {"MLS-DSC-001"}, "a valid file has no structural findings"


def test_source_yields_every_row_once_with_its_row_group(tmp_path: Path, good_bytes: bytes) -> None:
    """Independent of any detector: the batches tile the file and carry the right row group."""
    artifact = Artifact.from_file(str(_write(tmp_path, "r.parquet", good_bytes)), "r.parquet")
    ctx = ScanContext(POLICY, SCANNERS)
    ctx.start_file()
    items = list(parquet._source(artifact, ctx))
    batches = [i for i in items if isinstance(i, Batch)]
    assert len(batches) == len(items) == ROWS // GROUP
    assert [(b.first_row, b.row_group, b.data.num_rows) for b in batches] == [
        (g * GROUP, g, GROUP) for g in range(ROWS // GROUP)
    ]
    last = batches[3].data
    assert "ZZQ_POISON_1" in last.column("text")[10_500 - 9_000].as_py()
    assert last.schema.metadata[b"source"] == b"kettle reviews v3"


def test_polars_written_file_and_zip_member_are_read(tmp_path: Path) -> None:
    texts = [_sentence(i) for i in range(20_000)]
    texts[15_001] = "ZZQ_POISON_9 " + texts[15_001]
    frame = pl.DataFrame({"text": texts, "label": [i % 3 for i in range(20_000)]})
    path = tmp_path / "train.parquet"
    frame.write_parquet(path, row_group_size=5_000, compression="snappy")
    assert _hits(_scan(path)) == {("text", 15_001, 3, 0)}
    archive = tmp_path / "bundle.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(path, "data/train.parquet")
    path.unlink()
    (finding,) = _scan(archive)
    assert finding.rule_id == "MLS-DSC-001" and finding.location.member == ("data/train.parquet",)
    assert (finding.location.row, finding.location.row_group) == (15_001, 3)


def _footer_start(data: bytes) -> int:
    return len(data) - 8 - int.from_bytes(data[-8:-4], "little")


@pytest.mark.parametrize(
    "cut",
    ["last byte", "footer length", "inside footer", "middle", "first page", "magic only"],
)
def test_truncated_files_are_corrupt_with_the_byte_offset(
    tmp_path: Path, good_bytes: bytes, cut: str
) -> None:
    ends = {
        "last byte": len(good_bytes) - 1,
        "footer length": len(good_bytes) - 6,
        "inside footer": _footer_start(good_bytes) + 100,
        "middle": len(good_bytes) // 2,
        "first page": 300,
        "magic only": 4,
    }
    data = good_bytes[: ends[cut]]
    findings = _scan(_write(tmp_path, "cut.parquet", data))
    (corrupt,) = [f for f in findings if f.rule_id == "MLS-DAT-001"]
    assert corrupt.severity is Severity.HIGH
    assert corrupt.location.offset == (len(data) if len(data) >= parquet.MIN_SIZE else 0)
    assert "truncated" in corrupt.message or "bytes long" in corrupt.message


@pytest.mark.parametrize("where", ["footer start", "footer length field", "row group list"])
def test_flipped_footer_bytes_are_corrupt(tmp_path: Path, good_bytes: bytes, where: str) -> None:
    start = _footer_start(good_bytes)
    data = bytearray(good_bytes)
    spans = {
        "footer start": range(start, start + 16),
        "footer length field": range(len(data) - 7, len(data) - 5),
    }
    spans["row group list"] = range(start + 1, _first_row_group(good_bytes) + 8)
    for offset in spans[where]:
        data[offset] ^= 0xFF
    findings = _scan(_write(tmp_path, "flipped.parquet", bytes(data)))
    assert "MLS-DAT-001" in {f.rule_id for f in findings}, [f.message for f in findings]


def _first_row_group(data: bytes) -> int:
    footer = data[_footer_start(data) : -8]
    return _footer_start(data) + footer.index(b"\x16" + _varint(_zigzag(ROWS))) + 4


def test_par1_with_garbage_is_corrupt_and_text_starting_with_par1_is_not_claimed(tmp_path: Path) -> None:
    garbage = b"PAR1\x15" + bytes(range(256)) * 8 + (1500).to_bytes(4, "little") + b"PAR1"
    (finding,) = _scan(_write(tmp_path, "garbage.parquet", garbage))
    assert finding.rule_id == "MLS-DAT-001" and "footer could not be decoded" in finding.message
    text = b"PAR1,PAR2,PAR3\n1,2,3\n4,5,6\n"
    artifact = Artifact.from_file(str(_write(tmp_path, "pars.csv", text)), "pars.csv")
    assert not parquet.SCANNER.sniff(artifact)


def test_zero_row_file_is_empty_and_its_column_names_are_still_checked(tmp_path: Path) -> None:
    schema = pa.schema([("id", pa.int64()), ("ZZQ_POISON_7", pa.string())])
    path = tmp_path / "empty.parquet"
    pq.write_table(schema.empty_table(), path)
    findings = _scan(path)
    empty = [f for f in findings if f.rule_id == "MLS-DAT-002"]
    assert len(empty) == 1 and empty[0].severity is Severity.MEDIUM
    assert [f.location.field for f in findings if f.rule_id == "MLS-DSC-001"] == ["ZZQ_POISON_7"]


def _zigzag(n: int) -> int:
    return (n << 1) ^ (n >> 63)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _rewrite_counts(data: bytes, file_rows: int, last_group_rows: int | None = None) -> bytes:
    """Edit num_rows in the thrift-compact footer (an i64 field header 0x16 + zigzag varint).

    pyarrow cannot write a lie, so the test edits it in: the file-level count is the only i64 field
    holding ROWS; a RowGroup's num_rows is the i64 right after its total_byte_size i64.
    """
    start = _footer_start(data)
    footer = bytearray(data[start:-8])
    old = b"\x16" + _varint(_zigzag(ROWS))
    assert footer.count(old) == 1
    new = b"\x16" + _varint(_zigzag(file_rows))
    assert len(new) == len(old)
    at = footer.index(old)
    footer[at : at + len(old)] = new
    if last_group_rows is not None:
        group = re.escape(_varint(_zigzag(GROUP)))
        matches = list(re.finditer(rb"\x16[\x80-\xff]*[\x00-\x7f]\x16" + group, bytes(footer)))
        assert len(matches) == ROWS // GROUP
        value = _varint(_zigzag(last_group_rows))
        end = matches[-1].end()
        assert len(value) == len(_varint(_zigzag(GROUP)))
        footer[end - len(value) : end] = value
    return data[:start] + bytes(footer) + data[-8:]


def test_footer_row_count_lie_is_a_mismatch(tmp_path: Path, good_bytes: bytes) -> None:
    findings = _scan(_write(tmp_path, "lie.parquet", _rewrite_counts(good_bytes, 13_000)))
    (lie,) = [f for f in findings if f.rule_id == "MLS-DAT-003"]
    assert lie.severity is Severity.HIGH and "13,000" in lie.message and "12,000" in lie.message
    assert ("text", 10_500, 3, POISON_1_OFFSET) in _hits(findings), "the rows are still checked"


def test_row_group_that_decodes_fewer_rows_than_declared_is_a_mismatch(
    tmp_path: Path, good_bytes: bytes
) -> None:
    data = _rewrite_counts(good_bytes, ROWS + 1, last_group_rows=GROUP + 1)
    findings = _scan(_write(tmp_path, "lie-rg.parquet", data))
    structural = [f for f in findings if f.rule_id in ("MLS-DAT-001", "MLS-DAT-003")]
    assert structural, [f.message for f in findings]
    assert all(f.location.row_group == 3 for f in structural)


def _bomb_file(path: Path) -> None:
    """Row group 1 holds one 8 MiB cell of a single repeated character: zstd packs it into ~1 KB."""
    rows = [_sentence(i) for i in range(3 * GROUP)]
    rows[GROUP + 5] = "A" * (8 * MiB)
    rows[2 * GROUP + 10] = "later ZZQ_POISON_8"
    pq.write_table(pa.table({"text": rows}), path, row_group_size=GROUP, compression="zstd")


def test_ratio_bomb_row_group_is_skipped_and_later_groups_still_read(tmp_path: Path) -> None:
    path = tmp_path / "bomb.parquet"
    _bomb_file(path)
    findings = _scan(path)
    (limit,) = [f for f in findings if f.rule_id == "MLS-SCN-002"]
    assert limit.severity is Severity.HIGH and "max_compression_ratio" in limit.message
    assert (limit.location.row_group, limit.location.row) == (1, GROUP)
    assert _hits(findings) == {("text", 2 * GROUP + 10, 2, 6)}
    relaxed = Policy(
        dataset_rules=POLICY.dataset_rules, limits=Limits().replace(max_compression_ratio=1_000_000.0)
    )
    assert [f.rule_id for f in _scan(path, relaxed) if f.rule_id.startswith("MLS-SCN")] == []


def test_dictionary_amplification_is_bounded_by_the_decoding_budget(tmp_path: Path) -> None:
    """One 1 MiB dictionary entry referenced by 200,000 rows: a 1 MiB file that decodes to 200 GiB."""
    value = bytes(range(256)).hex() * 2048  # 1 MiB, incompressible enough that no ratio check fires
    indices = pa.array([0] * 200_000, pa.int32())
    table = pa.table({"blob": pa.DictionaryArray.from_arrays(indices, pa.array([value]))})
    path = tmp_path / "amplify.parquet"
    pq.write_table(table, path, store_schema=False, compression="none")  # read back as plain strings
    assert path.stat().st_size < 2 * MiB
    findings = _scan(path)  # default limits: decoding may reach max(256 MiB, 250 x the file's size)
    (limit,) = [f for f in findings if f.rule_id == "MLS-SCN-002"]
    assert "max_compression_ratio" in limit.message and limit.location.row_group == 0
    assert limit.location.row is not None and limit.location.row < 1_000


def test_encrypted_footer_and_external_column_chunks(tmp_path: Path, good_bytes: bytes) -> None:
    (encrypted,) = _scan(_write(tmp_path, "enc.parquet", good_bytes[:-4] + b"PARE"))
    assert (encrypted.rule_id, encrypted.severity) == ("MLS-PQT-001", Severity.HIGH)
    source = tmp_path / "part-0.parquet"
    source.write_bytes(good_bytes)
    for name, target, severity in (
        ("_metadata", "part-0.parquet", Severity.LOW),
        ("evil.parquet", "../../../etc/passwd", Severity.HIGH),
    ):
        meta = pq.read_metadata(source)
        meta.set_file_path(target)
        meta.write_metadata_file(str(tmp_path / name))
        findings = _scan(tmp_path / name)
        external = [f for f in findings if f.rule_id == "MLS-PQT-002"]
        assert len(external) == 1 and external[0].severity is severity
        assert not [f for f in findings if f.rule_id.startswith("MLS-DAT")]


def test_column_name_that_is_not_utf8_is_corrupt(tmp_path: Path) -> None:
    sink = io.BytesIO()
    pq.write_table(pa.table({"ZZQNAME": ["a", "b"]}), sink, store_schema=False)
    data = sink.getvalue().replace(b"ZZQNAME", b"\xffZQNAME")
    (corrupt,) = _scan(_write(tmp_path, "names.parquet", data))
    assert corrupt.rule_id == "MLS-DAT-001" and "utf-8" in corrupt.message.lower()
