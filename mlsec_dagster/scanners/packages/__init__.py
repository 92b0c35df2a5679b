"""Python packages (wheels and sdists): what runs at install time, and whether the archive is honest."""

from __future__ import annotations

from mlsec_dagster.engine.context import Scanner

SCANNERS: tuple[Scanner, ...] = ()

__all__ = ["SCANNERS"]
