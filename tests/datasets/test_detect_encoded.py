"""Base64 pickles in text cells, and the GIF/JS polyglot: found, graded, never executed."""

from __future__ import annotations

import base64
import pickle
from pathlib import Path

import polars as pl
from shared_fixtures import CanaryPayload

from mlsec_dagster import Severity, scan_dataframe, scan_path


def _captions(rows: int) -> list[str]:
    return [f"Photo {i}: a cat on a sofa, https://example.org/p/{i}.jpg" for i in range(rows)]


def test_base64_pickles_in_a_csv_column_are_found_and_graded(tmp_path: Path, canary: Path) -> None:
    rows = _captions(12_000)
    rows[10_250] = "features=" + base64.b64encode(pickle.dumps(CanaryPayload(canary), protocol=4)).decode()
    rows[40] = base64.b64encode(pickle.dumps(CanaryPayload(canary), protocol=0)).decode()
    rows[41] = base64.b64encode(pickle.dumps({"weights": [0.1, 0.2]}, protocol=2)).decode()
    rows[42] = "data:image/png;base64," + base64.b64encode(bytes(range(256)) * 64).decode()  # not a pickle
    rows[43] = "gAJ is how the quiz answer starts"  # decodes to nothing sensible
    path = tmp_path / "features.csv"
    pl.DataFrame({"id": list(range(12_000)), "features": rows}).write_csv(path)
    found = sorted(
        (f.location.row, f.severity, f.location.char_offset)
        for f in scan_path(path, root=tmp_path).findings
        if f.rule_id == "MLS-BIN-007"
    )
    assert found == [(40, Severity.CRITICAL, 0), (41, Severity.HIGH, 0), (10_250, Severity.CRITICAL, 9)]


def test_gif_whose_header_opens_a_javascript_comment_is_a_polyglot() -> None:
    gif = (
        b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00"
        b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
    )
    polyglot = b"GIF89a/*" + gif[8:-1] + b";*/=1;alert(document.domain);"
    images = [gif] * 2_000
    images[1_500] = polyglot
    (finding,) = scan_dataframe(pl.DataFrame({"image": images}), "gifs").findings
    assert finding.rule_id in {"MLS-BIN-005", "MLS-BIN-006"} and finding.severity >= Severity.HIGH
    assert finding.location.row == 1_500
