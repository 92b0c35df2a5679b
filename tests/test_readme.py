"""The README documents what exists: its rule catalogue is the registry, and its commands are real."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _sync_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("sync_readme", ROOT / "scripts" / "sync_readme.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rule_catalogue_in_readme_is_current() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert _sync_module().render(text) == text, "run: .venv/bin/python scripts/sync_readme.py"


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "bash scripts/test.sh" in readme and "bash scripts/test.sh" in ci
    assert "bash scripts/run-main.sh" in readme
    assert (ROOT / "scripts" / "run-main.sh").exists()


def test_every_rule_id_mentioned_in_readme_exists() -> None:
    from mlsec_dagster.engine.rules import all_rules

    known = {r.id for r in all_rules()}
    mentioned = set(re.findall(r"MLS-[A-Z]{2,5}-\d{3}", (ROOT / "README.md").read_text(encoding="utf-8")))
    assert mentioned <= known, sorted(mentioned - known)
