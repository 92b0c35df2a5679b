"""Avro reader: nested records, arrays, maps and multi-type unions to rows and fields; broken
containers (magic, sync marker, truncation, counts, codecs, bombs, schema nesting) as findings.

Payload checks use a custom policy pattern (``ZZQ_POISON_n``) so the tests pin the reader's row,
field and character mapping independently of the built-in detectors.
"""

from __future__ import annotations

import datetime
import io
import json
import random
import uuid
import zlib
from decimal import Decimal
from pathlib import Path
from typing import Any

import fastavro
import pytest
from marker import MARKER_POLICY, by_rule, scan_without_crash

from mlsec_dagster import scan_path
from mlsec_dagster.engine.findings import Finding, Severity
from mlsec_dagster.scanners.datasets import avro
from mlsec_dagster.scanners.datasets.avro import _zigzag  # the same varint the format uses

ROWS = 12_000
POLICY = MARKER_POLICY
SYNC = bytes(range(16))

MESSAGE = {
    "type": "record",
    "name": "Message",
    "fields": [{"name": "role", "type": "string"}, {"name": "content", "type": "string"}],
}
SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "Conversation",
    "namespace": "org.example.chat",
    "doc": "Support conversations exported from the help desk.",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "created", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "uid", "type": {"type": "string", "logicalType": "uuid"}},
        {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}},
        {"name": "messages", "type": {"type": "array", "items": MESSAGE}},
        {
            "name": "meta",
            "type": {
                "type": "record",
                "name": "Meta",
                "fields": [
                    {"name": "source", "type": "string"},
                    {"name": "lang", "type": ["null", "string"]},
                ],
            },
        },
        {"name": "extra", "type": ["null", "string", "int"]},
        {"name": "reply_to", "type": ["null", "Message", "string"]},
        {"name": "labels", "type": {"type": "map", "values": "string"}},
        {
            "name": "channel",
            "type": {"type": "enum", "name": "Channel", "symbols": ["EMAIL", "CHAT", "PHONE"]},
        },
        {"name": "digest", "type": {"type": "fixed", "name": "Digest", "size": 4}},
    ],
}
PROSE = "how do I reset my password the export job fails with a timeout thanks for the quick reply"
WORDS = PROSE.split()
LONG_AT = 11_000


def chat_records(rows: int = ROWS, seed: int = 3) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    base = datetime.datetime(2025, 3, 1, tzinfo=datetime.UTC)
    for i in range(rows):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 40)))
        out.append(
            {
                "id": i,
                "created": base + datetime.timedelta(minutes=i),
                "uid": str(uuid.UUID(int=rng.getrandbits(128))),
                "price": Decimal(rng.randint(0, 99999)) / 100,
                "messages": [{"role": "user", "content": text}, {"role": "agent", "content": text[::-1]}],
                "meta": {"source": rng.choice(("email", "widget")), "lang": None if i % 3 else "en"},
                "extra": (None, "vip", 42)[i % 3],
                "reply_to": ({"role": "user", "content": "earlier"}, "see ticket", None)[i % 3],
                "labels": {"team": rng.choice(("billing", "auth")), "prio": str(i % 4)},
                "channel": ("EMAIL", "CHAT", "PHONE")[i % 3],
                "digest": i.to_bytes(4, "little"),
            }
        )
    if rows >= 10:
        out[3]["messages"][1]["content"] += " ZZQ_POISON_1"
        out[7]["extra"] = "ZZQ_POISON_7"
        out[9]["reply_to"] = {"role": "user", "content": "ZZQ_POISON_9"}
    if rows == ROWS:
        out[10_500]["labels"]["team"] = "ZZQ_POISON_2"
        out[LONG_AT]["messages"][0]["content"] = "a" * 5000 + "ZZQ_POISON_3" + "b" * 1000
    return out


EXPECTED = {
    3: ("messages[].content", None),
    7: ("extra", 0),
    9: ("reply_to", None),
    10_500: ("labels{}.value", 0),
    LONG_AT: ("messages[].content", 5000),
}


def _write(path: Path, records: list[dict[str, Any]], codec: str = "deflate", **kw: Any) -> Path:
    with path.open("wb") as fh:
        fastavro.writer(fh, fastavro.parse_schema(SCHEMA), records, codec=codec, sync_marker=SYNC, **kw)
    return path


def _marks(findings: list[Finding]) -> dict[int | None, Finding]:
    return {f.location.row: f for f in by_rule(findings, "MLS-DSC-001")}


def _string(text: bytes) -> bytes:
    return _zigzag(len(text)) + text


def container(
    schema: Any, blocks: list[tuple[int, bytes]], codec: str = "null", magic: bytes = b"Obj\x01"
) -> bytes:
    """An Avro file built by hand, so counts, sizes and codecs can lie."""
    meta = {b"avro.schema": json.dumps(schema).encode(), b"avro.codec": codec.encode()}
    out = bytearray(magic) + _zigzag(len(meta))
    for key, value in meta.items():
        out += _string(key) + _string(value)
    out += _zigzag(0) + SYNC
    for count, data in blocks:
        out += _zigzag(count) + _zigzag(len(data)) + data + SYNC
    return bytes(out)


TEXT_SCHEMA = {"type": "record", "name": "T", "fields": [{"name": "text", "type": "string"}]}


@pytest.mark.parametrize("codec", ["null", "deflate", "bzip2", "xz"])
def test_nested_chat_records_map_to_rows_fields_and_offsets(tmp_path: Path, codec: str) -> None:
    findings = scan_without_crash(_write(tmp_path / f"chat-{codec}.avro", chat_records(), codec))
    marks = _marks(findings)
    for row, (field, offset) in EXPECTED.items():
        assert marks[row].location.field == field, row
        assert marks[row].severity == Severity.HIGH
        if offset is not None:
            assert marks[row].location.char_offset == offset
    assert {f.rule_id for f in findings} == {"MLS-DSC-001"}


def test_single_block_batches_carry_the_block_index(tmp_path: Path) -> None:
    path = _write(tmp_path / "one-block.avro", chat_records(2000), sync_interval=1 << 30)
    mark = _marks(scan_without_crash(path))[3]
    assert (mark.location.row_group, mark.location.field) == (0, "messages[].content")


def test_reader_converts_unions_logical_types_and_enums(tmp_path: Path) -> None:
    from mlsec_dagster.engine.artifact import Artifact
    from mlsec_dagster.engine.context import ScanContext
    from mlsec_dagster.scanners.datasets.model import Batch

    path = _write(tmp_path / "chat.avro", chat_records(30))
    ctx = ScanContext(POLICY, [])
    ctx.start_file()
    batches = [b for b in avro._Reader(Artifact.from_file(str(path), "chat.avro"), ctx).source()]
    assert len(batches) == 1 and isinstance(batches[0], Batch)
    rows = batches[0].data.to_pylist()
    assert [r["extra"] for r in rows[:3]] == [None, "vip", "42"]  # ["null","string","int"] -> text
    assert json.loads(rows[0]["reply_to"]) == {"role": "user", "content": "earlier"}  # record|string -> JSON
    assert rows[1]["reply_to"] == "see ticket"
    assert rows[4]["labels"] == [("team", rows[4]["labels"][0][1]), ("prio", "0")]
    assert rows[2]["channel"] == "PHONE" and rows[0]["digest"] == b"\x00\x00\x00\x00"
    assert isinstance(rows[5]["created"], int) and isinstance(rows[5]["price"], bytes)  # raw logical values
    assert b"Support conversations" in batches[0].data.schema.metadata[b"avro.schema"]


def test_truncated_mid_block_reports_block_offset_and_keeps_earlier_rows(tmp_path: Path) -> None:
    data = _write(tmp_path / "full.avro", chat_records(), "deflate").read_bytes()
    path = tmp_path / "cut.avro"
    path.write_bytes(data[: len(data) * 2 // 3])
    findings = scan_without_crash(path)
    corrupt = by_rule(findings, "MLS-DAT-001")
    assert len(corrupt) == 1 and corrupt[0].severity == Severity.HIGH
    loc = corrupt[0].location
    assert loc.row_group is not None and loc.row_group > 0 and loc.offset is not None and loc.row
    assert "ends inside" in corrupt[0].message
    assert 3 in _marks(findings) and 10_500 not in _marks(findings)


def test_corrupt_sync_marker(tmp_path: Path) -> None:
    data = bytearray(_write(tmp_path / "full.avro", chat_records(3000), "null").read_bytes())
    third = data.find(SYNC, data.find(SYNC, data.find(SYNC, 100) + 16) + 16)  # after block 1
    data[third + 5] ^= 0xFF
    path = tmp_path / "sync.avro"
    path.write_bytes(bytes(data))
    corrupt = by_rule(scan_without_crash(path), "MLS-DAT-001")
    assert len(corrupt) == 1 and "sync marker" in corrupt[0].message
    assert (corrupt[0].location.row_group, corrupt[0].location.offset) == (1, third)


@pytest.mark.parametrize("magic", [b"Obj\x02", b"Obj\x00"])
def test_wrong_magic_is_corrupt(tmp_path: Path, magic: bytes) -> None:
    path = tmp_path / "bad.avro"
    path.write_bytes(container(TEXT_SCHEMA, [(1, _string(b"hi"))], magic=magic))
    corrupt = by_rule(scan_without_crash(path), "MLS-DAT-001")
    assert len(corrupt) == 1 and corrupt[0].location.offset == 0


def test_zero_records_and_zero_bytes_are_empty(tmp_path: Path) -> None:
    no_rows = _write(tmp_path / "none.avro", [], "null")
    zero = tmp_path / "zero.avro"
    zero.write_bytes(b"")
    for path in (no_rows, zero):
        empty = by_rule(scan_without_crash(path), "MLS-DAT-002")
        assert len(empty) == 1 and empty[0].severity == Severity.MEDIUM


def test_unsupported_codec_fails_closed(tmp_path: Path) -> None:
    path = tmp_path / "snappy.avro"
    path.write_bytes(container(TEXT_SCHEMA, [(1, _string(b"ZZQ_POISON_1"))], codec="snappy"))
    findings = scan_without_crash(path)
    assert [(f.rule_id, f.severity) for f in findings] == [("MLS-AVR-001", Severity.HIGH)]


def test_declared_count_larger_than_data_is_corrupt(tmp_path: Path) -> None:
    body = _string(b"one") + _string(b"two") + _string(b"three")
    path = tmp_path / "count.avro"
    path.write_bytes(container(TEXT_SCHEMA, [(3, body), (5, body)]))
    corrupt = by_rule(scan_without_crash(path), "MLS-DAT-001")
    assert len(corrupt) == 1 and corrupt[0].location.row_group == 1 and corrupt[0].location.row == 3


def test_bytes_hidden_after_the_declared_records(tmp_path: Path) -> None:
    body = _string(b"one") + _string(b"two") + _string(b"hidden ZZQ_POISON_5")
    path = tmp_path / "hidden.avro"
    path.write_bytes(container(TEXT_SCHEMA, [(2, body)]))
    mismatch = by_rule(scan_without_crash(path), "MLS-DAT-003")
    assert len(mismatch) == 1 and mismatch[0].location.row_group == 0


def test_invalid_utf8_string_reaches_the_shared_check(tmp_path: Path) -> None:
    path = tmp_path / "latin.avro"
    path.write_bytes(container(TEXT_SCHEMA, [(2, _string(b"caf\xe9 ZZQ_POISON_6") + _string(b"ok"))]))
    findings = scan_without_crash(path)
    assert [f.location.row for f in by_rule(findings, "MLS-DAT-010")] == [0]
    assert _marks(findings)[0].location.field == "text"


def test_decompression_bomb_block_is_a_limit(tmp_path: Path) -> None:
    squeeze = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = _zigzag(40 << 20) + b"\x00" * (40 << 20)
    bomb = squeeze.compress(zeros) + squeeze.flush()
    schema = {"type": "record", "name": "B", "fields": [{"name": "blob", "type": "bytes"}]}
    path = tmp_path / "bomb.avro"
    path.write_bytes(container(schema, [(1, bomb)], codec="deflate"))
    limit = by_rule(scan_without_crash(path), "MLS-SCN-002")
    assert len(limit) == 1 and "max_compression_ratio" in limit[0].evidence
    assert limit[0].location.row_group == 0


def test_huge_declared_block_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.avro"
    head = container(TEXT_SCHEMA, [])
    path.write_bytes(head + _zigzag(1) + _zigzag(avro.MAX_BLOCK_BYTES + 1) + b"x" * 100)
    assert [f.rule_id for f in scan_without_crash(path)] == ["MLS-AVR-002"]


def test_deeply_nested_schema_is_reported(tmp_path: Path) -> None:
    inner: Any = "string"
    for depth in range(40):
        inner = {"type": "record", "name": f"L{depth}", "fields": [{"name": "x", "type": inner}]}
    path = tmp_path / "deep.avro"
    path.write_bytes(container(inner, []))
    assert [f.rule_id for f in scan_without_crash(path)] == ["MLS-DAT-007"]


def test_schema_json_nested_10000_deep_does_not_crash(tmp_path: Path) -> None:
    path = tmp_path / "deepjson.avro"
    meta = b"[" * 10_000 + b'"string"' + b"]" * 10_000
    body = bytearray(b"Obj\x01") + _zigzag(1) + _string(b"avro.schema") + _string(meta) + _zigzag(0) + SYNC
    path.write_bytes(bytes(body))
    assert [f.rule_id for f in scan_without_crash(path)] == ["MLS-DAT-007"]


def test_recursive_schema_is_read_as_text(tmp_path: Path) -> None:
    schema = {
        "type": "record",
        "name": "Node",
        "fields": [{"name": "label", "type": "string"}, {"name": "next", "type": ["null", "Node"]}],
    }
    records = [{"label": f"n{i}", "next": {"label": "child", "next": None}} for i in range(500)]
    records[321]["next"] = {"label": "a", "next": {"label": "ZZQ_POISON_4", "next": None}}
    path = tmp_path / "list.avro"
    with path.open("wb") as fh:
        fastavro.writer(fh, fastavro.parse_schema(schema), records)
    mark = _marks(scan_without_crash(path))[321]
    assert mark.location.field == "next"  # the recursive part is one JSON text cell
    assert "ZZQ_POISON_4" in mark.evidence


def test_foreign_bytes_named_avro_are_left_to_other_scanners() -> None:
    from mlsec_dagster.engine.artifact import Artifact

    data = b"PAR1" + b"\x00" * 100
    art = Artifact("x.avro", (), len(data), data, lambda: io.BytesIO(data))
    assert not avro.sniff(art)


def test_benign_chat_avro_has_no_high_findings(tmp_path: Path) -> None:
    records = chat_records(3000, seed=5)
    for r in records:
        r["messages"][1]["content"] = r["messages"][1]["content"].replace("ZZQ_POISON_", "ticket ")
        if isinstance(r["extra"], str):
            r["extra"] = "vip"
        if isinstance(r["reply_to"], dict):
            r["reply_to"] = {"role": "user", "content": "earlier"}
    findings = scan_path(_write(tmp_path / "clean.avro", records)).findings
    assert not [f for f in findings if f.severity >= Severity.HIGH], findings


def test_schema_that_expands_exponentially_is_reported(tmp_path: Path) -> None:
    fields: list[dict[str, Any]] = [
        {"name": "f0", "type": {"type": "record", "name": "T0", "fields": [{"name": "x", "type": "string"}]}}
    ]
    for level in range(1, 25):  # T<n> holds two T<n-1>: 2**24 leaves once names are expanded
        pair = [{"name": "a", "type": f"T{level - 1}"}, {"name": "b", "type": f"T{level - 1}"}]
        fields.append({"name": f"f{level}", "type": {"type": "record", "name": f"T{level}", "fields": pair}})
    path = tmp_path / "expand.avro"
    path.write_bytes(container({"type": "record", "name": "Root", "fields": fields}, []))
    assert [f.rule_id for f in scan_without_crash(path)] == ["MLS-DAT-007"]
