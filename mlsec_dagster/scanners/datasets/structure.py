"""Structural rules shared by every dataset reader: broken, truncated or inconsistent files.

A reader that cannot decode part of a file reports it here instead of returning fewer rows: a
training set that silently lost rows (or never had them) is a failed check, not a pass.
"""

from __future__ import annotations

from mlsec_dagster.engine.findings import Severity
from mlsec_dagster.engine.rules import define

_FAMILY = "dataset structure"

CORRUPT = define(
    "MLS-DAT-001",
    "Dataset file is corrupt or truncated",
    Severity.HIGH,
    "The file could not be decoded (bad magic, footer, block, page or line structure), so some or all "
    "of its rows were not checked and a training job reading it would lose or misread data.",
    "Re-export the dataset from its source; if a download was cut short, fetch it again and verify its "
    "checksum.",
    family=_FAMILY,
)
EMPTY = define(
    "MLS-DAT-002",
    "Dataset file is empty",
    Severity.MEDIUM,
    "The file has no bytes or no rows. An upstream step may have failed without raising, and the "
    "pipeline would train on nothing from it.",
    "Check the job that produced the file; delete it if the partition is intentionally empty.",
    family=_FAMILY,
)
ROW_COUNT_MISMATCH = define(
    "MLS-DAT-003",
    "Row count in metadata disagrees with the data",
    Severity.HIGH,
    "The file's own metadata declares a different number of rows than its data holds: a sign of "
    "tampering, truncation or a broken writer.",
    "Regenerate the file with a current writer and compare row counts against the source.",
    family=_FAMILY,
)
SCHEMA_DRIFT = define(
    "MLS-DAT-004",
    "Schema differs between files or parts of one dataset",
    Severity.MEDIUM,
    "Files in the same dataset folder (or blocks of one file) disagree on column names or types. "
    "Readers then drop, null or coerce columns, silently changing the training data.",
    "Re-export the odd file with the dataset's schema, or move it out of the dataset folder.",
    family=_FAMILY,
)
MIXED_TYPES = define(
    "MLS-DAT-005",
    "Column mixes value types",
    Severity.LOW,
    "A column that is numeric (or boolean, or a date) in almost every row holds other values in a few "
    "rows: often a shifted or injected row.",
    "Inspect the listed rows; fix the delimiter/quoting of the source or clean those values.",
    family=_FAMILY,
)
INVALID_RECORD = define(
    "MLS-DAT-006",
    "Record is not valid for the format",
    Severity.MEDIUM,
    "A line or record could not be parsed (invalid JSON, wrong field count, undecodable text). Loaders "
    "either crash or skip it silently.",
    "Fix or remove the record at the given row/line.",
    family=_FAMILY,
)
DEEP_NESTING = define(
    "MLS-DAT-007",
    "Pathologically deep nesting",
    Severity.MEDIUM,
    "A value nests lists/structs/objects deeper than `policy.dataset_rules.max_nesting_depth`: a "
    "parser denial-of-service pattern, and no real training record needs it.",
    "Flatten the record, or raise `max_nesting_depth` if the depth is legitimate.",
    family=_FAMILY,
)
OVERSIZED_CELL = define(
    "MLS-DAT-008",
    "Oversized cell",
    Severity.MEDIUM,
    "One cell is larger than `policy.dataset_rules.max_cell_bytes`. Tools that truncate cells (many "
    "scanners stop at a few KB) never see what is at its end; loaders may run out of memory.",
    "Check why the cell is so large; split the content or raise `max_cell_bytes` if it is expected.",
    family=_FAMILY,
)
INVALID_UTF8 = define(
    "MLS-DAT-010",
    "Text is not valid UTF-8",
    Severity.MEDIUM,
    "A string column holds bytes that are not valid UTF-8. Readers disagree on how to decode them, so "
    "what a human reviewed is not what the model sees.",
    "Re-encode the source as UTF-8 (declare its real encoding when converting).",
    family=_FAMILY,
)
MORE_FINDINGS = define(
    "MLS-DAT-011",
    "More cells matched than are listed",
    Severity.INFO,
    "A rule matched more cells in one column than `policy.dataset_rules.max_findings_per_column`; the "
    "first ones are listed individually, this finding counts the rest (its severity is the rule's).",
    "Fix the listed cells first; if the whole column is expected to contain this, add a column rule "
    "(`policy.dataset_rules.columns`).",
    family=_FAMILY,
)
SAMPLED = define(
    "MLS-DAT-012",
    "Only a sample of the dataset was checked",
    Severity.LOW,
    "`policy.dataset_rules.sample_rows` limits content checks to the first rows of each file. Rows "
    "after the sample were not checked for payloads.",
    "Run a full scan (`mlsec scan --full-scan`) before a release, or remove `sample_rows`.",
    family=_FAMILY,
)
DETECTORS_DISABLED = define(
    "MLS-DAT-013",
    "Some dataset detectors are disabled by policy",
    Severity.INFO,
    "The policy turns off detector families (`disabled_detectors` or `enabled: false`); their payloads "
    "were not looked for in this file.",
    "Re-enable them unless the team has a documented reason.",
    family=_FAMILY,
)
UNSUPPORTED_TYPE = define(
    "MLS-DAT-014",
    "Column type could not be checked",
    Severity.LOW,
    "A column's type (e.g. a union or extension type) is not one the detectors read, so its values "
    "were not checked for payloads.",
    "Cast the column to a plain string/struct/list type, or report the type to the maintainers.",
    family=_FAMILY,
)
