"""Licence compliance for models, datasets and packages: collectors that record what each card, LICENSE
file and metadata block declares, and the post-pass that judges the declarations against the policy."""

from __future__ import annotations

from mlsec_dagster.scanners.licenses.collect import COMPANIONS
from mlsec_dagster.scanners.licenses.judge import license_findings

__all__ = ["COMPANIONS", "license_findings"]
