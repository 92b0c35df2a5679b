"""Licence identity without network: texts of LICENSE files, declared ids and SPDX expressions."""

from __future__ import annotations

import pytest
from licence_texts import (
    AGPL3,
    APACHE,
    APACHE_NOTICE,
    BIGSCIENCE,
    BSD2,
    BSD3,
    BSL,
    CC0,
    CC_BY,
    CC_BY_NC,
    CC_BY_NC_ND,
    CC_BY_NC_SA,
    CC_BY_SA,
    CREATIVEML,
    GEMMA,
    GPL2,
    GPL3,
    ISC,
    LGPL3,
    LGPL21,
    LLAMA2,
    LLAMA3,
    MIT,
    MPL2,
    PROPRIETARY,
    UNLICENSE,
    ZLIB,
    llama3x,
)

from mlsec_dagster.engine.policy import LicenseRules
from mlsec_dagster.scanners.licenses.catalog import canonical, policy_names
from mlsec_dagster.scanners.licenses.expression import ExpressionError, evaluate, parse, render, resolve
from mlsec_dagster.scanners.licenses.texts import identify, spdx_tag

TEXTS = [
    (MIT, "MIT"), (BSD2, "BSD-2-Clause"), (BSD3, "BSD-3-Clause"), (ISC, "ISC"), (ZLIB, "Zlib"),
    (UNLICENSE, "Unlicense"), (BSL, "BSL-1.0"), (APACHE, "Apache-2.0"), (APACHE_NOTICE, "Apache-2.0"),
    (GPL2, "GPL-2.0-only"), (GPL3, "GPL-3.0-only"), (LGPL21, "LGPL-2.1-only"), (LGPL3, "LGPL-3.0-only"),
    (AGPL3, "AGPL-3.0-only"), (MPL2, "MPL-2.0"), (CC0, "CC0-1.0"), (CC_BY, "CC-BY-4.0"),
    (CC_BY_SA, "CC-BY-SA-4.0"), (CC_BY_NC, "CC-BY-NC-4.0"), (CC_BY_NC_SA, "CC-BY-NC-SA-4.0"),
    (CC_BY_NC_ND, "CC-BY-NC-ND-4.0"), (CREATIVEML, "LicenseRef-CreativeML-OpenRAIL-M"),
    (BIGSCIENCE, "LicenseRef-BigScience-OpenRAIL-M"), (LLAMA2, "LicenseRef-Llama-2"),
    (LLAMA3, "LicenseRef-Llama-3"), (llama3x(1, "July 23, 2024"), "LicenseRef-Llama-3.1"),
    (llama3x(2, "September 25, 2024"), "LicenseRef-Llama-3.2"),
    (llama3x(3, "December 6, 2024"), "LicenseRef-Llama-3.3"), (GEMMA, "LicenseRef-Gemma"),
    (PROPRIETARY, "LicenseRef-Proprietary"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), TEXTS, ids=[e for _, e in TEXTS])
def test_licence_texts_are_identified(text: str, expected: str) -> None:
    assert identify(text) == expected


def test_reflowed_markdown_copy_still_matches() -> None:
    markdown = "# The MIT License\n\n" + " ".join(MIT.split()).replace("Permission", "**Permission**")
    assert identify(markdown) == "MIT"


def test_licence_quoting_another_in_passing_keeps_its_identity() -> None:
    text = MIT + (
        "\nThird-party notices: the tokenizer in vendor/ is licensed under the Apache License, "
        "Version 2.0, and some data files are released under the MIT License.\n"
    )
    assert identify(text) == "MIT"
    assert identify(BSD3) == "BSD-3-Clause"  # "All rights reserved" inside BSD is not proprietary


@pytest.mark.parametrize(
    "text",
    [
        "Changelog\n\n## 1.2.0\n- switched the tokenizer to the one from the GPL-3.0 project.\n",
        "This project uses a licence negotiated with our customers; contact legal@acme.example.",
        "",
    ],
)
def test_unrelated_text_is_not_identified(text: str) -> None:
    assert identify(text) is None


def test_spdx_tag_line_is_found_with_its_line() -> None:
    assert spdx_tag("Copyright Acme\n\n# SPDX-License-Identifier: Apache-2.0 OR MIT\n") == (
        "Apache-2.0 OR MIT",
        3,
    )
    assert spdx_tag(MIT) is None


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        ("apache-2.0", "Apache-2.0"), ("mit", "MIT"), ("cc-by-nc-4.0", "CC-BY-NC-4.0"),
        ("openrail", "OpenRAIL"), ("openrail++", "LicenseRef-OpenRAIL-PlusPlus"),
        ("creativeml-openrail-m", "LicenseRef-CreativeML-OpenRAIL-M"),
        ("bigscience-openrail-m", "LicenseRef-BigScience-OpenRAIL-M"),
        ("bigscience-bloom-rail-1.0", "LicenseRef-BigScience-BLOOM-RAIL-1.0"),
        ("llama2", "LicenseRef-Llama-2"), ("llama3", "LicenseRef-Llama-3"),
        ("llama3.1", "LicenseRef-Llama-3.1"), ("llama3.2", "LicenseRef-Llama-3.2"),
        ("llama3.3", "LicenseRef-Llama-3.3"), ("gemma", "LicenseRef-Gemma"),
        ("agpl-3.0", "AGPL-3.0-only"), ("GPL-3.0+", "GPL-3.0-or-later"), ("Apache License 2.0", "Apache-2.0"),
        ("Apache License, Version 2.0", "Apache-2.0"),
        ("LicenseRef-Acme-Internal", "LicenseRef-Acme-Internal"),
        ("MIT OR GPL-3.0", "MIT OR GPL-3.0-only"), ("Apache-2.0 AND CC-BY-4.0", "Apache-2.0 AND CC-BY-4.0"),
        ("(MIT OR Apache-2.0) AND cc-by-nc-4.0", "(MIT OR Apache-2.0) AND CC-BY-NC-4.0"),
        ("GPL-2.0-only WITH Classpath-exception-2.0", "GPL-2.0-only WITH Classpath-exception-2.0"),
        ("other", None), ("unknown", None), ("MIT OR acme-eula", None), ("see the website", None),
    ],
)  # fmt: skip
def test_declared_values_normalise(declared: str, expected: str | None) -> None:
    assert render(resolve(declared)) == expected


@pytest.mark.parametrize("bad", ["MIT OR", "(MIT", "AND MIT", "MIT WITH", " ".join(["MIT OR"] * 40) + " MIT"])
def test_malformed_expressions_are_rejected(bad: str) -> None:
    with pytest.raises(ExpressionError):
        parse(bad)
    assert render(resolve(bad)) is None


def test_policy_names_cover_short_and_hub_ids() -> None:
    assert {"agpl-3.0-only", "agpl-3.0"} <= policy_names("AGPL-3.0-only")
    assert "llama3" in policy_names("LicenseRef-Llama-3")
    assert "gemma" in policy_names("LicenseRef-Gemma")
    assert canonical("not a licence") is None


def test_expressions_evaluate_as_choices_and_conjunctions() -> None:
    rules = LicenseRules(custom_restricted_licenses=("cc-by-nc-*", "agpl-3.0"))

    def ok(text: str) -> bool | None:
        def leaf_value(leaf: object) -> bool | None:
            spdx = getattr(leaf, "spdx", None)
            if spdx is None:
                return None
            return not any(rules.matches(n, rules.custom_restricted_licenses) for n in policy_names(spdx))

        return evaluate(resolve(text), leaf_value)

    assert ok("MIT OR AGPL-3.0") is True
    assert ok("MIT AND AGPL-3.0") is False
    assert ok("cc-by-nc-sa-4.0") is False
    assert ok("(cc-by-nc-4.0 OR agpl-3.0) AND MIT") is False
    assert ok("MIT OR other") is True
    assert ok("MIT AND other") is None
    assert ok("AGPL-3.0 AND other") is False
