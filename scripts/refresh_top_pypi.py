"""Regenerate the vendored list of popular PyPI names used by the typosquatting judge.

The scanner is offline: it never downloads this list. A maintainer refreshes it now and then, from

* a guarddog wheel (it ships ``guarddog/analyzer/metadata/resources/top_pypi_packages.json``, the top
  15,000 names by downloads); fetch one without installing it:
  ``.venv/bin/pip download guarddog --no-deps -d /tmp/guarddog``, or
* a "top PyPI packages" JSON (``{"last_update": ..., "rows": [{"project": ...}]}`` as published by the
  top-pypi-packages project, or guarddog's ``{"downloaded_timestamp": ..., "packages": [...]}``).

Run ``.venv/bin/python scripts/refresh_top_pypi.py /tmp/guarddog/guarddog-X.Y.Z-py3-none-any.whl``, then
review the diff of ``data/`` and run ``.venv/bin/pytest tests/dependencies/test_typosquat.py`` (the
integrity test checks the file against ``SOURCE.md``) and ``benchmarks/bench_typosquat.py``.
Both files are rewritten: ``top_pypi_packages.txt`` (one PEP 503 name per line, most downloaded first,
after a one-line ``#`` header) and ``SOURCE.md`` (provenance, dates and hashes).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent.parent / "mlsec_dagster" / "scanners" / "dependencies" / "data"
WHEEL_MEMBER = "guarddog/analyzer/metadata/resources/top_pypi_packages.json"
UPSTREAM = "https://hugovk.github.io/top-pypi-packages/top-pypi-packages.min.json"
MIN_NAMES = 5_000
MAX_NAMES = 15_000

SOURCE_TEMPLATE = """\
# Popular PyPI names (typosquatting reference list)

`top_pypi_packages.txt` lists the {count:,} most-downloaded PyPI projects, most downloaded first, one
PEP 503-normalised name per line after a one-line `#` header. The typosquatting judge
(`typosquat.py`) compares every dependency name against it; it is read from the package at scan time
and never downloaded (the scanner is offline).

- Taken from: {origin},
  member `{member}`
- Input sha256: `{input_sha256}`
- List timestamp: {stamp} (the `{stamp_key}` field of the JSON)
- Our file sha256: `{sha256}`
- Names: {count:,} (normalised, no duplicates; download counts dropped)
- Upstream: top-pypi-packages by Hugo van Kemenade, <https://github.com/hugovk/top-pypi-packages>,
  published at <{upstream}>: downloads over a recent window (about a month) from PyPI's
  public BigQuery dataset (`bigquery-public-data.pypi.file_downloads`), queried with pypinfo.

## Licence
- guarddog (DataDog, <https://github.com/DataDog/guarddog>) is Apache-2.0 (`License: Apache-2.0` in its
  wheel METADATA, LICENSE and NOTICE "Copyright [2022-Present] Datadog, Inc."); the JSON is a resource
  file of that wheel, redistributed by it under that licence.
- top-pypi-packages: no licence file was found in the repository; its data are download statistics
  derived from PyPI's public BigQuery dataset. We keep only the project names and their order (facts
  about the public index), not the counts. Confirm before relying on this if your use is sensitive.
- mlsec-dagster (Apache-2.0) ships this derived list with this note as attribution.

## Refresh
1. `.venv/bin/pip download guarddog --no-deps -d /tmp/guarddog` (do not install it), or download
   `{upstream}` by hand.
2. `.venv/bin/python scripts/refresh_top_pypi.py /tmp/guarddog/guarddog-*.whl` (or the JSON file).
3. Review the diff, run `.venv/bin/pytest tests/dependencies/test_typosquat.py` and
   `.venv/bin/python benchmarks/bench_typosquat.py`, and update the README numbers if they moved.
"""


def normalise(name: str) -> str:
    """PEP 503: lowercase, runs of ``-``, ``_`` and ``.`` become one ``-``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _read_input(path: Path) -> tuple[dict[str, Any], str, str]:
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as wheel:
            raw = wheel.read(WHEEL_MEMBER)
        return json.loads(raw), f"`{path.name}` (sha256 of the wheel below)", WHEEL_MEMBER
    return json.loads(path.read_bytes()), f"`{path.name}`", "(the file itself)"


def _names_and_stamp(doc: dict[str, Any]) -> tuple[list[str], str, str]:
    if "packages" in doc:
        names = [str(n) for n in doc["packages"]]
        stamp = datetime.fromtimestamp(int(doc["downloaded_timestamp"]), tz=UTC)
        return names, stamp.strftime("%Y-%m-%d %H:%M:%S UTC"), "downloaded_timestamp"
    if "rows" in doc:
        return [str(r["project"]) for r in doc["rows"]], str(doc.get("last_update", "unknown")), "last_update"
    raise SystemExit("unrecognised JSON: expected a 'packages' list (guarddog) or 'rows' (top-pypi-packages)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("input", type=Path, help="a guarddog wheel (.whl) or a top-pypi-packages JSON")
    parser.add_argument("--out", type=Path, default=DATA, help="folder to write into (default: the package)")
    args = parser.parse_args(argv)

    doc, origin, member = _read_input(args.input)
    names, stamp, stamp_key = _names_and_stamp(doc)
    ranked: list[str] = []
    seen: set[str] = set()
    for name in names:
        norm = normalise(name.strip())
        if norm and norm not in seen and re.fullmatch(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?", norm):
            seen.add(norm)
            ranked.append(norm)
    ranked = ranked[:MAX_NAMES]
    if len(ranked) < MIN_NAMES:
        raise SystemExit(f"only {len(ranked)} valid names; refusing to ship fewer than {MIN_NAMES}")

    text = f"# top PyPI names by downloads, most first; list timestamp {stamp}; see SOURCE.md\n"
    text += "\n".join(ranked) + "\n"
    data = text.encode("ascii")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "top_pypi_packages.txt").write_bytes(data)
    source = SOURCE_TEMPLATE.format(
        count=len(ranked),
        origin=origin,
        member=member,
        input_sha256=hashlib.sha256(args.input.read_bytes()).hexdigest(),
        stamp=stamp,
        stamp_key=stamp_key,
        upstream=UPSTREAM,
        sha256=hashlib.sha256(data).hexdigest(),
    )
    (args.out / "SOURCE.md").write_text(source, encoding="utf-8")
    print(f"wrote {len(ranked):,} names ({len(data):,} bytes), list timestamp {stamp}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
