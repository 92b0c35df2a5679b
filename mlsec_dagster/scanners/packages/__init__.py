"""Python packages (wheels and sdists): what runs at install time, and whether the archive is honest.

Registered before the archive scanners: a wheel or sdist is claimed here, checked as a package, then
walked by the ordinary zip/tar scanner so nothing inside escapes the usual recursive scan.
"""

from __future__ import annotations

from mlsec_dagster.engine.context import Scanner
from mlsec_dagster.scanners.packages import pth, sdist, wheel

SCANNERS: tuple[Scanner, ...] = (
    wheel.SCANNER, sdist.ZIP_SCANNER, sdist.TAR_SCANNER, sdist.SETUP_SCANNER, pth.SCANNER,
)  # fmt: skip

__all__ = ["SCANNERS"]
