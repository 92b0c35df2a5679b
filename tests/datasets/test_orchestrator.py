"""The dataset orchestrator with a probe detector: row mapping, caps, allowances, headers, sampling.

The probe matches cells containing ``ZZQ`` through a polars kernel, so these tests pin down what
every real detector relies on (global rows across batches, nested fields, INFO for allowed
columns, one summary finding past the cap) independently of any payload family.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from mlsec_dagster import Policy, Severity, scan_dataframe
from mlsec_dagster.engine.policy import ColumnRule, DatasetRules, with_sampling
from mlsec_dagster.engine.rules import Rule
from mlsec_dagster.scanners.datasets import cells as cells_module
from mlsec_dagster.scanners.datasets.flatten import Skipped, leaves
from mlsec_dagster.scanners.datasets.model import Cells, Detector, DetectorContext, Explained, Match

PROBE = Rule(  # not registered: the catalogue (README, SARIF) must not list a test rule
    "MLS-TST-001",
    "Probe marker (tests only)",
    Severity.HIGH,
    "Matches ZZQ in a cell; exists only in the test suite.",
    "None.",
    "test",
)


def _probe(cells: Cells, ctx: DetectorContext) -> Iterator[Match]:
    hits = cells.values.str.contains("ZZQ", literal=True).fill_null(False).arg_true().to_numpy()
    if len(hits):
        yield Match(
            PROBE,
            hits,
            lambda value: Explained(value.index("ZZQ"), "probe matched", value[:40], "zzq"),
        )


PROBE_DETECTOR = Detector("html", _probe)
"""Registered under an existing family name so column allowances apply to it."""


@pytest.fixture(autouse=True)
def only_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cells_module, "DETECTORS", (PROBE_DETECTOR,))


def _texts(rows: int, poisoned: dict[int, str]) -> list[str]:
    return [poisoned.get(i, f"benign review number {i} about a kettle") for i in range(rows)]


def test_rows_are_global_across_batches_and_char_offsets_exact() -> None:
    long_cell = "x" * 5_000 + "ZZQ tail"
    frame = pl.DataFrame({"text": _texts(150_000, {3: "a ZZQ", 100_123: long_cell})})
    result = scan_dataframe(frame, "reviews")
    found = sorted((f.location.row, f.location.char_offset, f.location.row_group) for f in result.findings)
    assert found == [(3, 2, 0), (100_123, 5_000, 1)]  # batches of 65,536 rows
    assert all(f.location.field == "text" and f.severity is Severity.HIGH for f in result.findings)


def test_nested_values_map_back_to_their_row() -> None:
    messages = [[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "ok"}]] * 20
    messages[17] = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "see ZZQ"}]
    frame = pl.DataFrame({"messages": messages, "meta": [{"tags": ["a", "b"]}] * 19 + [{"tags": ["ZZQ"]}]})
    result = scan_dataframe(frame, "chat")
    assert sorted((f.location.field, f.location.row) for f in result.findings) == [
        ("messages[].content", 17),
        ("meta.tags[]", 19),
    ]


def test_matches_past_the_cap_are_counted_in_one_summary_finding() -> None:
    frame = pl.DataFrame({"text": _texts(1_000, {i: f"ZZQ {i}" for i in range(0, 1_000, 10)})})
    policy = Policy(dataset_rules=DatasetRules(max_findings_per_column=5))
    result = scan_dataframe(frame, "t", policy)
    listed = [f for f in result.findings if f.rule_id == PROBE.id]
    (summary,) = [f for f in result.findings if f.rule_id == "MLS-DAT-011"]
    assert [f.location.row for f in listed] == [0, 10, 20, 30, 40]
    assert summary.severity is Severity.HIGH  # the summary carries the rule's severity, so it still gates
    assert "95 more" in summary.message and summary.location.row == 50


def test_an_allowed_column_lowers_findings_to_info_with_the_reason() -> None:
    frame = pl.DataFrame({"body": ["<p>ZZQ</p>"], "title": ["ZZQ"]})
    rule = ColumnRule(name="bod*", allow=frozenset({"html"}), reason="raw crawl HTML")
    result = scan_dataframe(frame, "crawl", Policy(dataset_rules=DatasetRules(columns=(rule,))))
    by_field = {f.location.field: f for f in result.findings}
    assert by_field["body"].severity is Severity.INFO and "raw crawl HTML" in by_field["body"].message
    assert by_field["title"].severity is Severity.HIGH
    assert result.decision.passed is False


def test_column_names_and_metadata_are_scanned_as_header_cells() -> None:
    table = pa.table({"ok": ["a"], "ZZQ=cmd": ["b"]}).replace_schema_metadata({"note": "hello ZZQ"})
    result = scan_dataframe(table, "t")
    fields = sorted((f.location.field, f.location.row) for f in result.findings)
    assert fields == [("(metadata note)", None), ("ZZQ=cmd", None)]


def test_sampling_is_opt_in_and_reported() -> None:
    frame = pl.DataFrame({"text": _texts(20_000, {15_000: "ZZQ late"})})
    full = scan_dataframe(frame, "t")
    assert [f.location.row for f in full.findings] == [15_000]
    sampled = scan_dataframe(frame, "t", with_sampling(Policy(), sample_rows=10_000))
    assert [f.rule_id for f in sampled.findings] == ["MLS-DAT-012"]
    assert sampled.findings[0].severity is Severity.LOW
    forced = with_sampling(
        dataclasses.replace(Policy(), dataset_rules=DatasetRules(sample_rows=5)), full_scan=True
    )
    assert forced.dataset_rules.sample_rows is None
    with pytest.raises(ValueError):
        with_sampling(Policy(), sample_rows=10, full_scan=True)


def test_disabled_detectors_are_named_in_an_info_finding() -> None:
    policy = Policy(dataset_rules=DatasetRules(disabled_detectors=frozenset({"html"})))
    result = scan_dataframe(pl.DataFrame({"t": ["ZZQ"]}), "t", policy)
    assert [(f.rule_id, f.severity) for f in result.findings] == [("MLS-DAT-013", Severity.INFO)]


def test_oversized_cells_and_invalid_utf8_are_reported() -> None:
    broken = pa.array([b"fine", b"bad \xff\xfe bytes", b"x" * 300], pa.binary()).view(pa.string())
    table = pa.table({"text": broken})
    result = scan_dataframe(table, "t", Policy(dataset_rules=DatasetRules(max_cell_bytes=100)))
    rules = sorted((f.rule_id, f.location.row) for f in result.findings)
    assert rules == [("MLS-DAT-008", 2), ("MLS-DAT-010", 1)]


def test_unsupported_and_too_deep_columns_are_findings_not_silence() -> None:
    union = pa.UnionArray.from_sparse(pa.array([0, 1], pa.int8()), [pa.array([1, 2]), pa.array(["ZZQ", "b"])])
    deep: object = "v"
    for _ in range(6):
        deep = [deep]
    table = pa.table({"u": union, "deep": pa.array([deep, deep])})
    result = scan_dataframe(table, "t", Policy(dataset_rules=DatasetRules(max_nesting_depth=3)))
    assert sorted((f.rule_id, f.location.field) for f in result.findings) == [
        ("MLS-DAT-007", "deep[][][][]"),
        ("MLS-DAT-014", "u"),
    ]


def test_flatten_handles_sliced_maps_dictionaries_and_nulls() -> None:
    batch = pa.RecordBatch.from_pydict(
        {
            "m": pa.array(
                [[("k1", "v1")], None, [("k2", "v2"), ("k3", "v3")]], pa.map_(pa.string(), pa.string())
            ),
            "d": pa.array(["a", "b", "a"]).dictionary_encode(),
            "s": [{"x": "1"}, None, {"x": "3"}],
        }
    ).slice(1)
    got = {
        leaf.field: (leaf.values.to_list(), None if leaf.rows is None else leaf.rows.tolist())
        for leaf in leaves(batch, 32)
        if not isinstance(leaf, Skipped)
    }
    assert got == {
        "m{}.key": (["k2", "k3"], [1, 1]),
        "m{}.value": (["v2", "v3"], [1, 1]),
        "d": (["b", "a"], None),
        "s.x": ([None, "3"], None),
    }


def test_scan_dataframe_accepts_pandas_and_rejects_other_objects() -> None:
    pandas = pytest.importorskip("pandas")
    result = scan_dataframe(pandas.DataFrame({"t": ["ok", "ZZQ"]}), "p")
    assert [f.location.row for f in result.findings] == [1]
    with pytest.raises(TypeError, match="cannot scan a ndarray"):
        scan_dataframe(np.zeros(3), "n")


def test_a_single_non_number_sends_a_numeric_text_column_through_the_detectors() -> None:
    amounts = [f"{i * 1.5:.2f}" for i in range(40_000)]
    amounts[39_999] = "12.50 ZZQ"
    result = scan_dataframe(pl.DataFrame({"amount": amounts, "id": [str(i) for i in range(40_000)]}), "t")
    assert [(f.location.field, f.location.row) for f in result.findings] == [("amount", 39_999)]


def test_field_metadata_is_scanned_and_header_findings_have_no_row_group() -> None:
    field = pa.field("text", pa.string(), metadata={"description": "column ZZQ"})
    table = pa.Table.from_arrays([pa.array(["a", "b"])], schema=pa.schema([field]))
    (finding,) = scan_dataframe(table, "t").findings
    assert finding.location.field == "(metadata text description)"
    assert finding.location.row is None and finding.location.row_group is None


def test_column_rules_match_nested_names_literally() -> None:
    rule = ColumnRule(name="answers[].body", allow=frozenset({"html"}), reason="Q&A answers")
    assert rule.matches("answers[].body") and not rule.matches("answers.body")
    frame = pl.DataFrame({"answers": [[{"body": "ZZQ"}]]})
    (finding,) = scan_dataframe(frame, "qa", Policy(dataset_rules=DatasetRules(columns=(rule,)))).findings
    assert finding.location.field == "answers[].body" and finding.severity is Severity.INFO


def test_a_high_cell_cannot_hide_behind_many_lower_graded_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    """Caps are per grade: the one HIGH cell after 500 MEDIUM look-alikes is still listed."""

    def graded(cells: Cells, ctx: DetectorContext) -> Iterator[Match]:
        hits = cells.values.str.contains("ZZQ", literal=True).fill_null(False).arg_true().to_numpy()

        def explain(value: str) -> Explained:
            quoted = value.startswith("`")
            return Explained(0, "probe", value[:20], "zzq", Severity.MEDIUM if quoted else None)

        yield Match(PROBE, hits, explain)

    monkeypatch.setattr(cells_module, "DETECTORS", (Detector("html", graded),))
    texts = _texts(2_000, {i: "`ZZQ quoted`" for i in range(500)} | {1_500: "ZZQ told in prose"})
    result = scan_dataframe(
        pl.DataFrame({"text": texts}), "t", Policy(dataset_rules=DatasetRules(max_findings_per_column=5))
    )
    listed = [(f.location.row, f.severity) for f in result.findings if f.rule_id == PROBE.id]
    assert (1_500, Severity.HIGH) in listed and len(listed) == 6
    (summary,) = [f for f in result.findings if f.rule_id == "MLS-DAT-011"]
    assert summary.severity is Severity.MEDIUM and "495 more MEDIUM" in summary.message
