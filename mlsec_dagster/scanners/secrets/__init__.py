"""PLACEHOLDER: secrets in any text file of the repository and inside artifacts."""

from __future__ import annotations

from mlsec_dagster.engine.context import Companion

COMPANIONS: tuple[Companion, ...] = ()

__all__ = ["COMPANIONS"]
