"""Dependency manifests: typosquatting, dependency confusion, pinning, offline advisories."""

from __future__ import annotations

from mlsec_dagster.scanners.dependencies.scanner import SCANNER

__all__ = ["SCANNER"]
