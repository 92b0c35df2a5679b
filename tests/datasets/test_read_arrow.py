"""The Arrow reader: IPC file, IPC stream, Feather v1/v2; rows and batches mapped, damage reported.

As for Parquet, only the custom-pattern detector runs (``ZZQ_POISON_<n>``, MLS-DSC-001): these
tests pin down what the reader hands the orchestrator and which structural rule each broken file
gets, never a crash.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.ipc as ipc
import pytest
from marker import MARKER_POLICY

from mlsec_dagster import Severity, scan_path
from mlsec_dagster.engine.artifact import Artifact
from mlsec_dagster.engine.findings import Finding
from mlsec_dagster.scanners.datasets import arrow_ipc
from mlsec_dagster.scanners.datasets import cells as cells_module
from mlsec_dagster.scanners.datasets.detectors import custom

ROWS = 12_000
CHUNK = 3_000
POLICY = MARKER_POLICY
CITIES = ("Lisbon", "Osaka", "Nairobi", "Toronto", "Munich")


@pytest.fixture(autouse=True)
def only_custom_patterns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cells_module, "DETECTORS", (custom.DETECTOR,))


def _table() -> pa.Table:
    text = [
        f"Support ticket {i}: the order to {CITIES[i % 5]} arrived {i % 9 + 1} days late; refund issued."
        for i in range(ROWS)
    ]
    text[10_500] = "Support ticket: ZZQ_POISON_1 arrived"
    text[7] = "x" * 5_000 + " ZZQ_POISON_2"
    turns = [[{"role": "user", "content": f"where is parcel {i}?"}] for i in range(ROWS)]
    turns[11_111][0]["content"] = "ZZQ_POISON_3"
    return pa.table(
        {
            "id": pa.array(range(ROWS), pa.int64()),
            "text": pa.array(text, pa.large_string()),
            "city": pa.array([CITIES[i % 5] for i in range(ROWS)]).dictionary_encode(),
            "turns": pa.array(turns, pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
        }
    ).replace_schema_metadata({"origin": "helpdesk export"})


EXPECTED = {("text", 10_500, 3, 16), ("text", 7, 0, 5_001), ("turns[].content", 11_111, 3, 0)}


def _ipc(kind: str, table: pa.Table, **options: object) -> bytes:
    sink = io.BytesIO()
    writer = ipc.new_file if kind == "file" else ipc.new_stream
    with writer(sink, table.schema, options=ipc.IpcWriteOptions(**options)) as out:
        for batch in table.to_batches(max_chunksize=CHUNK):
            out.write_batch(batch)
    return sink.getvalue()


@pytest.fixture(scope="module")
def ipc_file() -> bytes:
    return _ipc("file", _table())


@pytest.fixture(scope="module")
def ipc_stream() -> bytes:
    return _ipc("stream", _table())


def _scan(tmp_path: Path, name: str, data: bytes) -> list[Finding]:
    path = tmp_path / name
    path.write_bytes(data)
    findings = scan_path(str(path), policy=POLICY, root=str(tmp_path)).findings
    assert not [f for f in findings if f.rule_id == "MLS-SCN-001"], [f.message for f in findings]
    return list(findings)


def _hits(findings: list[Finding]) -> set[tuple[str | None, int | None, int | None, int | None]]:
    return {
        (f.location.field, f.location.row, f.location.row_group, f.location.char_offset)
        for f in findings
        if f.rule_id == "MLS-DSC-001"
    }


def _structural(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.rule_id != "MLS-DSC-001"]


def test_ipc_file_and_stream_map_rows_to_record_batches(
    tmp_path: Path, ipc_file: bytes, ipc_stream: bytes
) -> None:
    for name, data in (("t.arrow", ipc_file), ("t.arrows", ipc_stream)):
        findings = _scan(tmp_path, name, data)
        assert _hits(findings) == EXPECTED, name
        assert _structural(findings) == [], name


@pytest.mark.parametrize("compression", ["zstd", "lz4"])
def test_feather_v2_compressed(tmp_path: Path, compression: str) -> None:
    path = tmp_path / "t.feather"
    feather.write_feather(_table(), path, compression=compression, chunksize=CHUNK)
    assert path.read_bytes()[:6] == b"ARROW1"
    findings = scan_path(str(path), policy=POLICY, root=str(tmp_path)).findings
    assert _hits(list(findings)) == EXPECTED
    assert _structural(list(findings)) == []


def _feather_v1(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        feather.write_feather(table.select(["id", "text"]), sink, version=1)
    return sink.getvalue()


def test_feather_v1_is_read_and_its_truncation_reported(tmp_path: Path) -> None:
    data = _feather_v1(_table())
    assert data[:4] == b"FEA1"
    findings = _scan(tmp_path, "old.feather", data)
    assert _hits(findings) == {("text", 10_500, 0, 16), ("text", 7, 0, 5_001)}
    (cut,) = _scan(tmp_path, "old-cut.feather", data[: len(data) - 40])
    assert (cut.rule_id, cut.location.offset) == ("MLS-DAT-001", len(data) - 40)


def test_ipc_file_without_footer_is_corrupt_but_its_batches_are_still_checked(
    tmp_path: Path, ipc_file: bytes
) -> None:
    findings = _scan(tmp_path, "cut.arrow", ipc_file[:-50])
    (corrupt,) = _structural(findings)
    assert (corrupt.rule_id, corrupt.severity) == ("MLS-DAT-001", Severity.HIGH)
    assert corrupt.location.offset == len(ipc_file) - 50 and "footer" in corrupt.message
    assert _hits(findings) == EXPECTED


def test_ipc_file_cut_mid_batch_names_the_batch(tmp_path: Path, ipc_file: bytes) -> None:
    findings = _scan(tmp_path, "half.arrow", ipc_file[: len(ipc_file) // 2])
    corrupt = [f for f in findings if f.rule_id == "MLS-DAT-001"]
    assert len(corrupt) == 2  # the missing footer, and the batch where the bytes run out
    group = next(f.location.row_group for f in corrupt if f.location.row_group is not None)
    batch = next(f for f in corrupt if f.location.row_group == group)
    assert batch.location.row == group * CHUNK and batch.location.offset is not None
    assert _hits(findings) <= EXPECTED


def test_stream_cut_at_a_batch_boundary_and_mid_message(tmp_path: Path, ipc_stream: bytes) -> None:
    (no_end,) = _structural(_scan(tmp_path, "noeos.arrows", ipc_stream[:-8]))
    assert no_end.rule_id == "MLS-DAT-001" and "end-of-stream" in no_end.message
    assert no_end.location.offset == len(ipc_stream) - 8
    findings = _scan(tmp_path, "mid.arrows", ipc_stream[: len(ipc_stream) * 3 // 4])
    (mid,) = _structural(findings)
    group = mid.location.row_group
    assert mid.rule_id == "MLS-DAT-001" and group is not None and mid.location.row == group * CHUNK


def test_bytes_after_end_of_stream_are_reported(tmp_path: Path, ipc_stream: bytes) -> None:
    findings = _scan(tmp_path, "tail.arrows", ipc_stream + b"PK\x03\x04 hidden second file")
    (trailing,) = _structural(findings)
    assert (trailing.rule_id, trailing.severity) == ("MLS-ARW-001", Severity.MEDIUM)
    assert trailing.location.offset == len(ipc_stream)


def test_non_monotonic_offsets_are_corrupt_not_read_out_of_bounds(tmp_path: Path) -> None:
    """Basic validation (all pyarrow's reader does) accepts these offsets; full validation does not."""
    offsets = pa.py_buffer(pa.array([0, 5, 2, 9], pa.int32()).buffers()[1])
    text = pa.StringArray.from_buffers(3, offsets, pa.py_buffer(b"benignABC"))
    good = pa.array(["ok", "fine", "ZZQ_POISON_5"])
    schema = pa.schema([("text", pa.string())])
    sink = io.BytesIO()
    with ipc.new_stream(sink, schema) as out:
        out.write_batch(pa.record_batch([good], schema=schema))
        out.write_batch(pa.record_batch([text], schema=schema))
    findings = _scan(tmp_path, "offsets.arrows", sink.getvalue())
    (corrupt,) = _structural(findings)
    assert corrupt.rule_id == "MLS-DAT-001" and corrupt.location.row_group == 1 and corrupt.location.row == 3
    assert _hits(findings) == {("text", 2, 0, 0)}


def test_empty_file_is_reported_and_its_column_names_checked(tmp_path: Path) -> None:
    schema = pa.schema([("id", pa.int64()), ("ZZQ_POISON_6", pa.string())])
    sink = io.BytesIO()
    with ipc.new_file(sink, schema):
        pass
    findings = _scan(tmp_path, "empty.arrow", sink.getvalue())
    assert [(f.rule_id, f.severity) for f in _structural(findings)] == [("MLS-DAT-002", Severity.MEDIUM)]
    assert [f.location.field for f in findings if f.rule_id == "MLS-DSC-001"] == ["ZZQ_POISON_6"]


def test_sniff_is_strict(tmp_path: Path, ipc_stream: bytes) -> None:
    def claims(name: str, data: bytes) -> bool:
        path = tmp_path / name
        path.write_bytes(data)
        return arrow_ipc.SCANNER.sniff(Artifact.from_file(str(path), name))

    assert claims("s.arrows", ipc_stream)
    assert claims("cut.arrow", b"ARROW1\x00\x00" + b"\xff\xff\xff\xff" + b"\x00" * 20)
    assert not claims("notes.txt", b"ARROW1 is the magic of Arrow files\n")
    assert not claims("ff.bin", b"\xff\xff\xff\xff" + (64).to_bytes(4, "little") + bytes(range(64)))
    assert not claims("huge.bin", b"\xff\xff\xff\xff\xff\xff\xff\x7f" + b"\x00" * 32)


def test_compressed_bomb_is_refused_before_it_is_inflated(tmp_path: Path) -> None:
    """8 MiB of zeros in record batch 2 pack into a few KB with zstd: never inflated."""
    schema = pa.schema([("blob", pa.large_binary()), ("text", pa.string())])
    batches = [
        pa.record_batch(
            [pa.array([b"png"] * 10, pa.large_binary()), pa.array(["ok"] * 9 + [t])], schema=schema
        )
        for t in ("fine", "ZZQ_POISON_8")
    ]
    batches.append(
        pa.record_batch([pa.array([bytes(8 << 20)], pa.large_binary()), pa.array(["z"])], schema=schema)
    )
    for kind, name in (("stream", "bomb.arrows"), ("file", "bomb.arrow")):
        sink = io.BytesIO()
        writer = ipc.new_stream if kind == "stream" else ipc.new_file
        with writer(sink, schema, options=ipc.IpcWriteOptions(compression="zstd")) as out:
            for batch in batches:
                out.write_batch(batch)
        assert len(sink.getvalue()) < 64 * 1024
        findings = _scan(tmp_path, name, sink.getvalue())
        (bomb,) = _structural(findings)
        assert (bomb.rule_id, bomb.location.row_group) == ("MLS-SCN-002", 2)
        assert "max_compression_ratio" in bomb.message
        # a stream is read up to the bomb; a file's footer may order blocks freely, so none of it is
        assert _hits(findings) == ({("text", 19, 1, 0)} if kind == "stream" else set())


def _v1_field(data: bytes, field: int, in_values: bool = False) -> int:
    """Byte position of a field of the first column (or of its values array) in Feather v1 metadata."""
    start = len(data) - 8 - int.from_bytes(data[-8:-4], "little")
    flat = arrow_ipc._Flat(data[start:-8])
    table = next(flat.tables(flat.root(), 2))
    if in_values:
        values = flat.table(table, 1)
        assert values is not None
        table = values
    position = flat.field(table, field)
    assert position is not None
    return start + position


@pytest.mark.parametrize(
    ("what", "field", "in_values", "value"),
    [
        ("name offset", 0, False, (0xFFFFFF00).to_bytes(4, "little")),  # crashed pyarrow's v1 reader
        ("array size", 5, True, (1 << 40).to_bytes(8, "little")),
        ("array length", 3, True, (ROWS + 1).to_bytes(8, "little")),
    ],
)
def test_feather_v1_with_inconsistent_metadata_is_corrupt_without_calling_pyarrow(
    tmp_path: Path, what: str, field: int, in_values: bool, value: bytes
) -> None:
    data = bytearray(_feather_v1(_table()))
    at = _v1_field(bytes(data), field, in_values)
    data[at : at + len(value)] = value
    (corrupt,) = _scan(tmp_path, "bad.feather", bytes(data))
    assert corrupt.rule_id == "MLS-DAT-001" and "metadata is inconsistent" in corrupt.message, what


def test_column_name_that_is_not_utf8_is_corrupt(tmp_path: Path) -> None:
    table = pa.table({"ZZQNAME": ["a", "b"], "n": [1, 2]})
    sink = io.BytesIO()
    with ipc.new_stream(sink, table.schema) as out:
        out.write_table(table)
    data = sink.getvalue()
    assert data.count(b"ZZQNAME") == 1
    (corrupt,) = _scan(tmp_path, "names.arrows", data.replace(b"ZZQNAME", b"\xffZQNAME"))
    assert corrupt.rule_id == "MLS-DAT-001" and "utf-8" in corrupt.message.lower()


def test_stream_with_a_damaged_schema_is_claimed_by_its_name(tmp_path: Path, ipc_stream: bytes) -> None:
    data = bytearray(ipc_stream)
    data[12:40] = b"\xee" * 28  # the schema flatbuffer no longer parses
    (corrupt,) = _scan(tmp_path, "damaged.arrows", bytes(data))
    assert corrupt.rule_id == "MLS-DAT-001" and corrupt.location.offset == 0
    path = tmp_path / "damaged.bin"
    path.write_bytes(bytes(data))
    assert not arrow_ipc.SCANNER.sniff(Artifact.from_file(str(path), "damaged.bin"))
