"""Benign artifacts that an independent red-team corpus found flagged HIGH; each must stay below HIGH."""

from __future__ import annotations

import collections
import datetime
import pickle
import zoneinfo
from pathlib import Path

import pytest

from mlsec_dagster import Severity, scan_path

Point = collections.namedtuple("Point", "x y")


def _high(path: Path) -> list[str]:
    result = scan_path(str(path), root=str(path.parent))
    return [f"{f.rule_id} {f.key}" for f in result.findings if f.severity >= Severity.HIGH]


def test_torchscript_archive_debug_pickles_are_not_high(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    model = torch.jit.script(torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU()))
    path = tmp_path / "scripted.pt"
    torch.jit.save(model, str(path))
    assert _high(path) == []


def test_sparse_tensor_checkpoint_is_not_high(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    path = tmp_path / "sparse.pt"
    torch.save({"w": torch.eye(4).to_sparse()}, path)
    assert _high(path) == []


@pytest.mark.parametrize("protocol", range(2, pickle.HIGHEST_PROTOCOL + 1))
def test_timezone_aware_datetimes_and_namedtuples_are_not_high(tmp_path: Path, protocol: int) -> None:
    value = {
        "when": datetime.datetime(2026, 1, 1, tzinfo=zoneinfo.ZoneInfo("Europe/Berlin")),
        "point": Point(1, 2),
    }
    path = tmp_path / f"values_p{protocol}.pkl"
    path.write_bytes(pickle.dumps(value, protocol=protocol))
    result = scan_path(str(path), root=str(tmp_path))
    assert [f for f in result.findings if f.severity >= Severity.HIGH] == []
    # the user's own namedtuple is reported as an unverified class, not hidden
    assert any(f.rule_id == "MLS-PKL-003" and f.key.endswith("Point") for f in result.findings)


def test_payload_behind_an_operand_longer_than_the_sniffed_head_is_found(
    tmp_path: Path, canary: Path
) -> None:
    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            import os

            return (os.system, (f"touch {canary}",))

    path = tmp_path / "weights.dat"
    path.write_bytes(pickle.dumps([b"x" * 70_000, Payload()], protocol=4))
    result = scan_path(str(path), root=str(tmp_path))
    assert any(f.rule_id == "MLS-PKL-001" and f.severity is Severity.CRITICAL for f in result.findings)
