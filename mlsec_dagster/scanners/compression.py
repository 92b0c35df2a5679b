"""Placeholder until the compression scanners land."""

from mlsec_dagster.engine.context import Scanner

SCANNERS: tuple[Scanner, ...] = ()
