"""Placeholder: the links detector lands in this module."""

from __future__ import annotations

from collections.abc import Iterator

from mlsec_dagster.scanners.datasets.model import Cells, Detector, DetectorContext, Match


def detect(cells: Cells, ctx: DetectorContext) -> Iterator[Match]:
    return iter(())


DETECTOR = Detector("links", detect, binary=False)
