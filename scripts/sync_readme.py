"""Regenerate the README's rule catalogue and policy key table from the code (the single source of truth).

Run ``.venv/bin/python scripts/sync_readme.py``; ``tests/test_readme.py`` fails when the README
is out of date, so a rule can never be added without its documentation.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

from mlsec_dagster.engine.policy_file import policy_reference_markdown
from mlsec_dagster.engine.rules import catalogue_markdown

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS: dict[str, Callable[[], str]] = {"rules": catalogue_markdown, "policy": policy_reference_markdown}


def render(text: str) -> str:
    for name, generate in BLOCKS.items():
        block = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.DOTALL)
        if not block.search(text):
            raise SystemExit(f"README.md has no <!-- {name}:start --> ... <!-- {name}:end --> block")
        content = generate()
        text = block.sub(lambda m, c=content: m.group(1) + c + "\n" + m.group(2), text)
    return text


if __name__ == "__main__":
    current = README.read_text(encoding="utf-8")
    updated = render(current)
    if "--check" in sys.argv:
        sys.exit(0 if updated == current else 1)
    README.write_text(updated, encoding="utf-8")
