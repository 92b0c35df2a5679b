"""Shared test fixtures. Malicious fixtures are built in the tests themselves, with canaries."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def canary(tmp_path: Path) -> Iterator[Path]:
    """A path that a payload would create if anything ever executed it.

    Payloads in the tests run ``touch <canary>``-style commands; the fixture fails the test if the
    file exists afterwards, which proves the scanner never executed what it scanned.
    """
    path = tmp_path / "CANARY_EXECUTED"
    yield path
    assert not path.exists(), "a scanned payload was executed: the canary file exists"
