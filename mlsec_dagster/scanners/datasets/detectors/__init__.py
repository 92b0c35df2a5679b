"""The detector registry: one module per payload family, each exposing ``DETECTOR``.

Adding a family = one module + one line here + its rules + tests; its ``family`` name is also the
allowance name in the policy (``policy.dataset_rules.columns[].allow``).
"""

from __future__ import annotations

from mlsec_dagster.scanners.datasets.detectors import (
    binary,
    custom,
    encoded,
    formula,
    html,
    injection,
    links,
    secrets,
    terminal,
    unicode,
)
from mlsec_dagster.scanners.datasets.model import Detector

DETECTORS: tuple[Detector, ...] = (
    html.DETECTOR,
    links.DETECTOR,
    injection.DETECTOR,
    unicode.DETECTOR,
    formula.DETECTOR,
    terminal.DETECTOR,
    binary.DETECTOR,
    encoded.DETECTOR,
    secrets.DETECTOR,
    custom.DETECTOR,
)

__all__ = ["DETECTORS"]
