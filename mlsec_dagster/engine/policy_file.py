"""Placeholder until the policy loader lands: built-in defaults only."""

from __future__ import annotations

from pathlib import Path

from mlsec_dagster.engine.policy import Policy


class PolicyError(ValueError):
    pass


def load_policy(path: str | Path) -> Policy:
    raise PolicyError("policy files are not supported yet")


def load_policy_for_root(root: str | Path) -> Policy:
    return Policy()
