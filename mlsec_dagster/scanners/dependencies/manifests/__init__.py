"""Manifest parsers, one module per format family; the first whose ``matches`` accepts a name reads it."""

from __future__ import annotations

from mlsec_dagster.scanners.dependencies.manifests import (
    conda,
    locks,
    notebooks,
    pipfile,
    pyproject,
    requirements,
    setup_cfg,
    setup_py,
)
from mlsec_dagster.scanners.dependencies.model import ManifestParser

PARSERS: tuple[ManifestParser, ...] = (
    *locks.PARSERS,
    *pipfile.PARSERS,
    pyproject.PARSER,
    setup_cfg.PARSER,
    setup_py.PARSER,
    requirements.PARSER,
    conda.PARSER,
    notebooks.PARSER,
)


def parser_for(name: str) -> ManifestParser | None:
    return next((p for p in PARSERS if p.matches(name)), None)


__all__ = ["PARSERS", "parser_for"]
