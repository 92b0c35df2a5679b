"""Notebook outputs that carry script: what runs in a reader's browser when a notebook is opened.

A notebook's saved outputs are HTML and JavaScript that JupyterLab, VS Code and notebook viewers
render; a committed notebook can therefore carry a script that nobody sees in the code cells. Plot
and widget libraries legitimately embed large scripts (plotly, bokeh, vega, ipywidgets, folium), so
those are LOW; a script that reads cookies or storage, sends data out or decodes and evaluates code is
HIGH; any other script is MEDIUM. Code cells and their shell lines are judged by the dependency
scanner (``MLS-DEP-019``); secrets in outputs by the secret scanner.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from mlsec_dagster.engine.artifact import Artifact
from mlsec_dagster.engine.context import Companion, ScanContext
from mlsec_dagster.engine.findings import Finding, Severity
from mlsec_dagster.engine.rules import define
from mlsec_dagster.scanners._jsonpos import JsonObject, line_of, loads_with_offsets
from mlsec_dagster.scanners.datasets.evidence import snippet

MAX_NOTEBOOK_BYTES = 64 * 1024 * 1024

SCRIPT_OUTPUT = define(
    "MLS-NBK-001",
    "Notebook output embeds JavaScript",
    Severity.MEDIUM,
    "A saved cell output contains a `<script>`, an event-handler attribute (`onload=`, `onerror=`...), a "
    "`javascript:` URL, or a JavaScript output: it runs in the browser of whoever opens the notebook in "
    "JupyterLab, VS Code or a notebook viewer, without being visible in the code. LOW when it is a known "
    "plot or widget library's embed (plotly, bokeh, vega/altair, ipywidgets, folium/leaflet); HIGH when the "
    "script reads cookies or storage, sends requests, or decodes and evaluates code.",
    "Clear the outputs before committing (`jupyter nbconvert --clear-output --inplace`, or nbstripout as a "
    "git filter), and re-run the notebook yourself.",
    family="notebooks",
)

_SCRIPT_MIMES = frozenset({"application/javascript", "text/javascript", "application/x-javascript"})
_ACTIVE_HTML = re.compile(
    r"<script\b|\bon(?:load|error|click|mouseover|focus|animationstart|pageshow|toggle)\s*=|javascript:",
    re.IGNORECASE,
)
_KNOWN_EMBEDS = re.compile(
    r"plotly|bokeh|vega|altair|jupyter-widgets|ipywidgets|@jupyter-widgets|folium|leaflet|requirejs|mpld3"
    r"|pyvis|vis-network|itables|datatables",
    re.IGNORECASE,
)
_HOSTILE = re.compile(
    r"document\.cookie|localStorage|sessionStorage|indexedDB|XMLHttpRequest|fetch\s*\(|navigator\.sendBeacon"
    r"|new\s+Image\s*\(\s*\)\s*\.src|\beval\s*\(|\batob\s*\(|\bnew\s+Function\s*\(|WebSocket\s*\("
)
"""Case-sensitive, as JavaScript is (``function(`` is every callback; ``new Function(`` builds code)."""


def wants(artifact: Artifact, claimed: str | None) -> bool:
    return artifact.name.lower().endswith(".ipynb") and artifact.size <= MAX_NOTEBOOK_BYTES


def scan(artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
    with artifact.open() as fh:
        raw = fh.read(MAX_NOTEBOOK_BYTES + 1)
    try:
        text = raw.decode("utf-8-sig")
        notebook = loads_with_offsets(text)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return  # an unreadable notebook is reported by the dependency scanner (MLS-DEP-030)
    for number, cell in enumerate(_cells(notebook), start=1):
        for output in cell.get("outputs") or () if isinstance(cell, dict) else ():
            if isinstance(output, JsonObject):
                yield from _judge(artifact, text, number, output)


def _cells(notebook: Any) -> list[Any]:
    if not isinstance(notebook, dict):
        return []
    if isinstance(notebook.get("cells"), list):
        return list(notebook["cells"])
    worksheets = notebook.get("worksheets")  # nbformat 3
    if isinstance(worksheets, list):
        return [c for w in worksheets if isinstance(w, dict) for c in (w.get("cells") or ())]
    return []


def _judge(artifact: Artifact, text: str, cell: int, output: JsonObject) -> Iterator[Finding]:
    data = output.get("data")
    if not isinstance(data, dict):
        return
    for mime, value in data.items():
        body = "".join(value) if isinstance(value, list) else value if isinstance(value, str) else ""
        if not body:
            continue
        active = mime in _SCRIPT_MIMES or (mime == "text/html" and _ACTIVE_HTML.search(body) is not None)
        if not active:
            continue
        hostile = _HOSTILE.search(body)
        known = _KNOWN_EMBEDS.search(body)
        severity = Severity.HIGH if hostile else Severity.LOW if known else Severity.MEDIUM
        where = hostile or _ACTIVE_HTML.search(body)
        offset = where.start() if where else 0
        why = (
            f"a script that uses {hostile.group(0)!r}"
            if hostile
            else f"a {known.group(0)} embed"
            if known
            else "a script"
        )
        yield SCRIPT_OUTPUT.finding(
            artifact.path,
            f"Cell {cell} of {artifact.display} has a saved {mime} output with {why}; it runs in the "
            "browser of whoever opens the notebook. Clear the outputs before committing.",
            location=artifact.location(line=line_of(text, output.offset)),
            evidence=f"cell {cell}, {mime}: " + snippet(body, offset),
            key=f"cell {cell}\x1f{mime}\x1f{severity.name}",
            severity=severity,
        )


COMPANION = Companion("notebook-outputs", wants, scan)
