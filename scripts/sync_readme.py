"""Regenerate the README's rule catalogue from the rule registry (the single source of truth).

Run ``.venv/bin/python scripts/sync_readme.py``; ``tests/test_readme.py`` fails when the README
is out of date, so a rule can never be added without its documentation.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from mlsec_dagster.engine.rules import catalogue_markdown

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"(<!-- rules:start -->\n).*?(<!-- rules:end -->)", re.DOTALL)


def render(text: str) -> str:
    if not BLOCK.search(text):
        raise SystemExit("README.md has no <!-- rules:start --> ... <!-- rules:end --> block")
    return BLOCK.sub(lambda m: m.group(1) + catalogue_markdown() + "\n" + m.group(2), text)


if __name__ == "__main__":
    current = README.read_text(encoding="utf-8")
    updated = render(current)
    if "--check" in sys.argv:
        sys.exit(0 if updated == current else 1)
    README.write_text(updated, encoding="utf-8")
