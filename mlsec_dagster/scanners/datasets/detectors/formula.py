"""Spreadsheet formula injection in CSV/TSV cells and headers.

Spreadsheet programs evaluate a cell that starts with ``=``, ``+``, ``-`` or ``@`` (also after a
leading tab or carriage return) as a formula. Opening a poisoned CSV runs DDE commands
(``=cmd|' /C calc'!A0``) or sends neighbouring cells to a server (``=HYPERLINK``/``WEBSERVICE``).
Real data starts with those characters all the time (negative numbers, phone numbers, @handles,
markdown list items, wiki headings), so only cells that parse as formulas are reported, and only
those that reach a command or the network are HIGH. Other formats are not opened by double-click
in a spreadsheet, so the detector runs on ``csv``/``tsv`` only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from mlsec_dagster.engine.findings import Severity
from mlsec_dagster.engine.rules import Rule, define
from mlsec_dagster.scanners.datasets.detectors.html import Indices, refine
from mlsec_dagster.scanners.datasets.evidence import snippet
from mlsec_dagster.scanners.datasets.model import Cells, Detector, DetectorContext, Explained, Match

_FAMILY = "dataset formula"

DANGEROUS = define(
    "MLS-FML-001",
    "Spreadsheet formula that runs a command or reaches the network",
    Severity.HIGH,
    "A CSV/TSV cell (or header) starts a formula that uses Dynamic Data Exchange (`=cmd|' /C calc'!A0`, "
    "`@SUM(1)*cmd|...`, `DDE(...)`) to run a program, or a function that fetches or links to a URL and "
    "can leak other cells (`HYPERLINK`, `WEBSERVICE`, `IMPORTXML`, `IMPORTDATA`, `IMPORTHTML`, "
    "`IMPORTRANGE`, `IMAGE`, `FILTERXML`) or call native code (`CALL`, `REGISTER`, `EXEC`). Whoever opens "
    "the file in Excel, LibreOffice or Google Sheets is the target.",
    "Remove the cell, or neutralise formula triggers on export (prefix the cell with a single quote `'`, "
    "as OWASP recommends) before sharing the file.",
    family=_FAMILY,
)
FORMULA = define(
    "MLS-FML-002",
    "Cell would be evaluated as a spreadsheet formula",
    Severity.MEDIUM,
    "A CSV/TSV cell (or header) is a formula to a spreadsheet: `=` followed by a function call, cell "
    "reference, number or string, or `+`/`-`/`@` glued to a function call (`-SUM(`, `@IF(`), or `+`/`-` "
    "with a cell reference (`-A1+B2`). It does not reach a command or the network on its own, but it "
    "changes what a reviewer sees and can be chained. Negative numbers, phone numbers (`+44 20 7946 "
    "0958`), @handles, `- list items` and `== wiki headings ==` do not match.",
    "Prefix formula-like cells with a single quote `'` on export, or clean the values.",
    family=_FAMILY,
)
TRIGGER = define(
    "MLS-FML-003",
    "Cell starts with a formula trigger character",
    Severity.LOW,
    "A CSV/TSV cell starts with `=` followed by text, or is sign-prefixed arithmetic (`-2+3`) that is "
    "not a phone number. A spreadsheet evaluates it (often to an error or a silently changed value); "
    "no command or network access. LOW: a data-quality hint, mostly.",
    "Quote such values with a leading `'` on export if the file is meant for spreadsheets.",
    family=_FAMILY,
)

_LEAD = r"^[\t\r]*"
_FUNCTIONS = (
    "HYPERLINK", "WEBSERVICE", "IMPORTXML", "IMPORTDATA", "IMPORTHTML", "IMPORTFEED", "IMPORTRANGE",
    "IMAGE", "FILTERXML", "CALL", "REGISTER", "REGISTER.ID", "EXEC", "DDE", "DDEAUTO", "RTD", "SHELL",
    "FOPEN", "ENCODEURL",
)  # fmt: skip
"""Functions that run native code, open DDE channels or touch the network."""

_DDE = _LEAD + r"[=+\-@][^ \t\r\n]*?[A-Za-z0-9_.][ \t]*\|(?s:.*?)!"
_CALL = (
    r"(?i)"
    + _LEAD
    + r"(?:=(?:(?s:.*?)[^A-Za-z0-9_.])?|[+\-@](?:[^ \t\r\n]*?[^A-Za-z0-9_. \t\r\n])?)("
    + "|".join(re.escape(f) for f in _FUNCTIONS)
    + r")[ \t]*\("
)
_REF = r"\$?[A-Za-z]{1,3}\$?[0-9]{1,7}"
_FORMULA = (
    _LEAD + r"(?:=[ \t]*(?:[A-Za-z_][A-Za-z0-9_.]*[ \t]*\(|" + _REF + r"(?:[^A-Za-z0-9_]|$)|[-+(0-9.\"'$!])"
    r"|[+\-@][A-Za-z_][A-Za-z0-9_.]*\(|[+\-]" + _REF + r"(?:[ \t]*[-+*/&^,:;)]|$))"
)
_EQUALS = _LEAD + r"=[^=]"
_ARITHMETIC = _LEAD + r"[+\-][0-9.]+[ \t]*[-+*/^&][ \t]*[0-9.(]"
_PHONE = r"^[\t\r]*\+?[0-9][0-9 ()./-]{4,}[0-9]$"
_CANDIDATE = _LEAD + r"[=+\-@]"


_CALL_PY = re.compile(_CALL)


def _dangerous_key(text: str) -> str:
    call = _CALL_PY.search(text)
    if call:
        return call.group(1).upper()
    return "DDE"


_MESSAGES: dict[str, Callable[[str], str]] = {
    DANGEROUS.id: lambda key: (
        f"Cell is a spreadsheet formula using {key}, which "
        + (
            "runs a program through Dynamic Data Exchange"
            if key in ("DDE", "DDEAUTO", "EXEC", "SHELL", "CALL", "REGISTER", "REGISTER.ID")
            else "reaches the network and can send other cells to a server"
        )
        + " when the file is opened in a spreadsheet. Remove the cell or prefix it with `'` on export."
    ),
    FORMULA.id: lambda key: (
        "Cell would be evaluated as a spreadsheet formula when the file is opened in Excel, LibreOffice or "
        "Google Sheets. Prefix it with `'` on export or clean the value."
    ),
    TRIGGER.id: lambda key: (
        "Cell starts with a formula trigger character, so a spreadsheet evaluates it instead of showing it. "
        "Prefix it with `'` on export if the file is meant for spreadsheets."
    ),
}


def _explainer(rule: Rule) -> Callable[[Any], Explained]:
    def explain(value: Any) -> Explained:
        text = str(value)
        offset = len(text) - len(text.lstrip("\t\r"))
        key = _dangerous_key(text) if rule is DANGEROUS else rule.id
        return Explained(offset, _MESSAGES[rule.id](key), snippet(text, offset), key)

    return explain


def detect(cells: Cells, ctx: DetectorContext) -> Iterator[Match]:
    values = cells.values
    where: Indices = values.str.contains(_CANDIDATE).fill_null(False).arg_true().to_numpy().astype(np.int64)
    if len(where) == 0:
        return
    high = np.union1d(refine(values, where, _DDE), refine(values, where, _CALL))
    rest = np.setdiff1d(where, high)
    medium = refine(values, rest, _FORMULA)
    rest = np.setdiff1d(rest, medium)
    arithmetic = np.setdiff1d(refine(values, rest, _ARITHMETIC), refine(values, rest, _PHONE))
    low = np.union1d(refine(values, rest, _EQUALS), arithmetic)
    for rule, hits in ((DANGEROUS, high), (FORMULA, medium), (TRIGGER, low)):
        if len(hits):
            yield Match(rule, hits, _explainer(rule))


DETECTOR = Detector("formula", detect, binary=False, formats=frozenset({"csv", "tsv"}))
