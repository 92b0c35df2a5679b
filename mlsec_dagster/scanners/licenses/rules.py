"""The licence rules (family ``licences``); the policy pass and the collectors raise only these."""

from __future__ import annotations

from mlsec_dagster.engine.findings import Severity
from mlsec_dagster.engine.rules import define

FAMILY = "licences"

RESTRICTED = define(
    "MLS-LIC-001",
    "Restricted licence",
    Severity.HIGH,
    "A model, dataset or package declares a licence the policy lists under `custom_restricted_licenses` "
    "(e.g. non-commercial or network-copyleft terms). For an expression, `A OR B` is fine when one branch is "
    "acceptable; `A AND B` needs every part to be.",
    "Replace the artifact with one under an acceptable licence, obtain a licence that permits your use, or "
    "waive this path in the policy with the reason (legal sign-off).",
    family=FAMILY,
)
NOT_ALLOWED = define(
    "MLS-LIC-002",
    "Licence not on the allow-list",
    Severity.HIGH,
    "The policy has an `allowed_licenses` list and this declaration names none of its licences.",
    "Use an artifact under an allowed licence, or add this licence to `allowed_licenses` after review.",
    family=FAMILY,
)
UNKNOWN = define(
    "MLS-LIC-003",
    "Licence unknown or not identified",
    Severity.MEDIUM,
    "The declaration is `other`/`unknown`, names a licence the scanner does not know, or a LICENSE file's "
    "text matches no known licence, so nobody can tell whether the terms permit your use.",
    "Declare an SPDX id (or a Hugging Face id such as `llama3`) in the card's `license:` field, or add the "
    "licence to `allowed_licenses` as `licenseref-<name>` once reviewed.",
    family=FAMILY,
)
CONFLICT = define(
    "MLS-LIC-004",
    "Conflicting licence declarations",
    Severity.MEDIUM,
    "The model card and the LICENSE file (or the weights' metadata) of the same folder name different "
    "licences; which one binds is unclear, and the permissive one may be wrong.",
    "Find out which licence really applies and make the card, the LICENSE file and the metadata agree.",
    family=FAMILY,
)
MISSING = define(
    "MLS-LIC-005",
    "Model or dataset without a licence",
    Severity.HIGH,
    "`fail_on_missing_license` is set and a folder holds model or dataset files with no licence declared in "
    "it or any parent folder up to the scan root (no card `license:`, LICENSE file or metadata licence).",
    "Add a README.md with `license:` in its front matter, or a LICENSE file, next to the artifact.",
    family=FAMILY,
)
BAD_CARD = define(
    "MLS-LIC-006",
    "Model card front matter cannot be read",
    Severity.MEDIUM,
    "The README starts a YAML front matter block that is not valid YAML, is not closed, or is too large, "
    "so its licence (and every other field the hub shows) cannot be verified.",
    "Fix the YAML between the `---` lines (the Hugging Face hub rejects it too).",
    family=FAMILY,
)
