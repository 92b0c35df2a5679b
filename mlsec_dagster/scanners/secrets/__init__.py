"""Secrets anywhere: every text file (code, configs, notebooks, Kubernetes Secrets) and the strings
inside artifacts (safetensors/GGUF metadata, pickle constants) through :mod:`.strings`."""

from __future__ import annotations

from mlsec_dagster.engine.context import Companion
from mlsec_dagster.scanners.secrets.text import COMPANION

COMPANIONS: tuple[Companion, ...] = (COMPANION,)

__all__ = ["COMPANIONS"]
