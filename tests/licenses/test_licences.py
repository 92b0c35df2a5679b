"""Licence collection and policy, end to end through ``scan_path`` with realistic repositories."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import polars as pl
import pytest
from builders import declarations, gguf, lic, licence_rules, policy, scan_single, weights, wheel, write
from licence_texts import (
    AGPL3,
    APACHE,
    CC_BY_NC_ND,
    GEMMA_CARD,
    LLAMA3,
    LLAMA3_CARD,
    MISTRAL_CARD,
    MIT,
    NC_DATASET_CARD,
    OTHER_LLAMA_CARD,
    OTHER_UNNAMED_CARD,
    SD_CARD,
)

from mlsec_dagster import scan_path
from mlsec_dagster.engine.findings import Severity


def _card(licence_yaml: str) -> str:
    return f"---\nlanguage:\n- en\n{licence_yaml}\ntags:\n- text-generation\n---\n\n# Model\n"


@pytest.mark.parametrize(
    ("card", "source", "declared", "spdx", "line"),
    [
        (LLAMA3_CARD, "model card", "llama3", "LicenseRef-Llama-3", 11),
        (GEMMA_CARD, "model card", "gemma", "LicenseRef-Gemma", 3),
        (MISTRAL_CARD, "model card", "apache-2.0", "Apache-2.0", 4),
        (SD_CARD, "model card", "creativeml-openrail-m", "LicenseRef-CreativeML-OpenRAIL-M", 2),
        (NC_DATASET_CARD, "dataset card", "cc-by-nc-4.0", "CC-BY-NC-4.0", 6),
        (OTHER_LLAMA_CARD, "model card", "llama3", "LicenseRef-Llama-3", 4),
        (OTHER_UNNAMED_CARD, "model card", "acme-research-license", None, 2),
        (_card("license:\n- apache-2.0\n- cc-by-4.0"), "model card", "(apache-2.0) AND (cc-by-4.0)",
         "Apache-2.0 AND CC-BY-4.0", 4),
        (_card("license: MIT OR GPL-3.0"), "model card", "MIT OR GPL-3.0", "MIT OR GPL-3.0-only", 4),
    ],
)  # fmt: skip
def test_card_front_matter_is_recorded_with_its_line(
    tmp_path: Path, card: str, source: str, declared: str, spdx: str | None, line: int
) -> None:
    write(tmp_path / "README.md", card)
    [record] = declarations(tmp_path)
    assert (record.path, record.source, record.declared, record.spdx, record.line) == (
        "README.md", source, declared, spdx, line,
    )  # fmt: skip
    assert card.splitlines()[line - 1].startswith("license")


def test_only_cards_and_licence_files_are_read(tmp_path: Path) -> None:
    write(tmp_path / "readme.MD", "# Project\n\nNo front matter here.\n\n---\nlicense: agpl-3.0\n---\n")
    write(tmp_path / "CHANGELOG.md", "## 2.0\n- relicensed the tokenizer from GPL-3.0 to MIT\n")
    write(tmp_path / "docs" / "license.py", "LICENSE = 'agpl-3.0'\n")
    write(tmp_path / "COPYING", MIT)
    write(tmp_path / "LICENSE-APACHE", APACHE)
    found = sorted((r.path, r.spdx) for r in declarations(tmp_path))
    assert found == [("COPYING", "MIT"), ("LICENSE-APACHE", "Apache-2.0")]


def test_design_note_policy_end_to_end(tmp_path: Path) -> None:
    write(tmp_path / "models" / "mistral" / "README.md", MISTRAL_CARD)
    weights(tmp_path / "models" / "mistral" / "model.safetensors")
    write(tmp_path / "models" / "llama-sft" / "README.md", OTHER_LLAMA_CARD)
    write(tmp_path / "models" / "llama-sft" / "LICENSE", LLAMA3)
    weights(tmp_path / "models" / "llama-sft" / "adapter_model.safetensors")
    write(tmp_path / "models" / "agpl" / "LICENSE", AGPL3)
    weights(tmp_path / "models" / "agpl" / "model.safetensors")
    weights(tmp_path / "models" / "orphan" / "model-00001-of-00002.safetensors")
    weights(tmp_path / "models" / "orphan" / "model-00002-of-00002.safetensors")
    write(tmp_path / "models" / "acme" / "README.md", OTHER_UNNAMED_CARD)
    weights(tmp_path / "models" / "acme" / "model.safetensors")
    write(tmp_path / "datasets" / "dialogues" / "README.md", NC_DATASET_CARD)
    (tmp_path / "datasets" / "dialogues" / "data").mkdir(parents=True)
    pl.DataFrame({"prompt": ["hi", "hello"], "response": ["hey", "yo"]}).write_parquet(
        tmp_path / "datasets" / "dialogues" / "data" / "train-00000.parquet"
    )
    result = scan_path(tmp_path, root=tmp_path, policy=policy())
    assert lic(result.findings) == [
        ("MLS-LIC-001", "HIGH", "datasets/dialogues/README.md", 6),
        ("MLS-LIC-001", "HIGH", "models/agpl/LICENSE", None),
        ("MLS-LIC-003", "MEDIUM", "models/acme/README.md", 2),
        ("MLS-LIC-005", "HIGH", "models/orphan/model-00001-of-00002.safetensors", None),
    ]
    assert not result.decision.passed
    restricted = next(f for f in result.findings if f.path == "datasets/dialogues/README.md")
    assert "CC-BY-NC-4.0" in restricted.message and "custom_restricted_licenses" in restricted.message
    assert restricted.evidence == "dataset card: cc-by-nc-4.0 (normalised: CC-BY-NC-4.0)"
    unknown = next(f for f in result.findings if f.rule_id == "MLS-LIC-003")
    assert "acme-research-license" in unknown.message


def test_card_and_licence_file_conflict_names_both(tmp_path: Path) -> None:
    write(tmp_path / "README.md", _card("license: mit"))
    write(tmp_path / "LICENSE", APACHE)
    weights(tmp_path / "model.safetensors", {"format": "pt", "license": "cc-by-4.0"})
    result = scan_path(tmp_path, root=tmp_path, policy=policy())
    conflicts = [f for f in result.findings if f.rule_id == "MLS-LIC-004"]
    assert [(f.severity, f.path, f.location.line) for f in conflicts] == [
        (Severity.MEDIUM, "README.md", 4)
    ] * 2
    assert (
        "MIT" in conflicts[0].message
        and "Apache-2.0" in conflicts[0].message
        and "LICENSE" in conflicts[0].message
    )
    assert any("CC-BY-4.0" in f.message and "safetensors metadata" in f.message for f in conflicts)


def test_agreeing_declarations_and_passing_mentions_do_not_conflict(tmp_path: Path) -> None:
    write(tmp_path / "README.md", _card("license: mit"))
    write(
        tmp_path / "LICENSE",
        MIT + "\nThe bundled tokenizer is licensed under the Apache License, Version 2.0.\n",
    )
    weights(tmp_path / "model.safetensors", {"format": "pt", "license": "MIT"})
    write(tmp_path / "sub" / "README.md", _card("license:\n- mit\n- apache-2.0"))
    write(tmp_path / "sub" / "LICENSE-MIT", MIT)
    weights(tmp_path / "sub" / "model.safetensors")
    assert lic(scan_path(tmp_path, root=tmp_path, policy=policy()).findings) == []


def test_missing_licence_is_one_finding_per_folder_and_parents_cover(tmp_path: Path) -> None:
    weights(tmp_path / "a" / "x.safetensors")
    weights(tmp_path / "a" / "y.safetensors")
    gguf(tmp_path / "b" / "model.gguf", None)
    write(tmp_path / "b" / "README.md", "# GGUF build\n\nNo front matter.\n")
    wheel(tmp_path / "a" / "acmetool-1.0-py3-none-any.whl", "License-Expression: MIT")  # covers no model
    result = scan_path(tmp_path, root=tmp_path, policy=policy())
    assert lic(result.findings) == [
        ("MLS-LIC-005", "HIGH", "a/x.safetensors", None),
        ("MLS-LIC-005", "HIGH", "b/model.gguf", None),
    ]
    write(tmp_path / "LICENSE", MIT)  # a repository-wide licence covers every folder below
    assert lic(scan_path(tmp_path, root=tmp_path, policy=policy()).findings) == []


def test_missing_licence_is_off_by_default(tmp_path: Path) -> None:
    weights(tmp_path / "model.safetensors")
    assert lic(scan_path(tmp_path, root=tmp_path, policy=licence_rules()).findings) == []


def test_families_and_expressions_against_restrictions(tmp_path: Path) -> None:
    pol = licence_rules(custom_restricted_licenses="[cc-by-nc-*, agpl-3.0, llama2]")
    cases = {
        "nc-sa": _card("license: cc-by-nc-sa-4.0"),
        "choice": _card("license: MIT OR AGPL-3.0"),
        "both": _card("license: Apache-2.0 AND AGPL-3.0-or-later"),
        "llama2": _card("license: llama2"),
        "fine": _card("license: cc-by-4.0"),
    }
    for name, card in cases.items():
        write(tmp_path / name / "README.md", card)
    write(tmp_path / "nd" / "LICENSE.md", CC_BY_NC_ND)
    assert lic(scan_path(tmp_path, root=tmp_path, policy=pol).findings) == [
        ("MLS-LIC-001", "HIGH", "both/README.md", 4),
        ("MLS-LIC-001", "HIGH", "llama2/README.md", 4),
        ("MLS-LIC-001", "HIGH", "nc-sa/README.md", 4),
        ("MLS-LIC-001", "HIGH", "nd/LICENSE.md", None),
    ]


def test_allow_list(tmp_path: Path) -> None:
    pol = licence_rules(allowed_licenses="[apache-2.0, mit, 'llama3*']")
    cases = {
        "gemma": GEMMA_CARD, "llama": LLAMA3_CARD, "sft": OTHER_LLAMA_CARD, "mistral": MISTRAL_CARD,
        "choice": _card("license: MIT OR GPL-3.0"), "both": _card("license: MIT AND GPL-3.0"),
    }  # fmt: skip
    for name, card in cases.items():
        write(tmp_path / name / "README.md", card)
    findings = scan_path(tmp_path, root=tmp_path, policy=pol).findings
    assert lic(findings) == [
        ("MLS-LIC-002", "HIGH", "both/README.md", 4),
        ("MLS-LIC-002", "HIGH", "gemma/README.md", 3),
    ]
    assert "allowed_licenses" in findings[0].message


@pytest.mark.parametrize(("setting", "expected"), [("off", []), ("high", ["HIGH"]), ("low", ["LOW"])])
def test_unknown_licence_severity(tmp_path: Path, setting: str, expected: list[str]) -> None:
    write(tmp_path / "README.md", _card("license: other"))
    findings = scan_path(
        tmp_path, root=tmp_path, policy=licence_rules(unknown_license_severity=setting)
    ).findings
    assert [f.severity.name for f in findings if f.rule_id == "MLS-LIC-003"] == expected


def test_unidentified_licence_text_is_unknown(tmp_path: Path) -> None:
    write(tmp_path / "LICENSE.txt", "Acme Model Licence v2\n\nYou may use the model for evaluation only.\n")
    [finding] = scan_path(tmp_path, root=tmp_path, policy=licence_rules()).findings
    assert (finding.rule_id, finding.severity, finding.path) == (
        "MLS-LIC-003",
        Severity.MEDIUM,
        "LICENSE.txt",
    )
    assert "Acme Model Licence v2" in finding.evidence


def test_broken_front_matter_is_reported(tmp_path: Path) -> None:
    write(tmp_path / "README.md", "---\nlicense: [mit\ntags: x\n---\n# Model\n")
    write(tmp_path / "sub" / "README.md", "---\nlicense: mit\n# never closed\n")
    write(tmp_path / "deep" / "README.md", "---\nlicense: mit\nwidget: " + "[" * 100_000 + "\n---\n")
    findings = scan_path(tmp_path, root=tmp_path, policy=licence_rules()).findings
    assert sorted((f.rule_id, f.severity.name, f.path) for f in findings) == [
        ("MLS-LIC-006", "MEDIUM", "README.md"),
        ("MLS-LIC-006", "MEDIUM", "deep/README.md"),
        ("MLS-LIC-006", "MEDIUM", "sub/README.md"),
    ]


def test_yaml_tags_in_front_matter_are_not_constructed(tmp_path: Path, canary: Path) -> None:
    payload = f"!!python/object/apply:os.system ['touch {canary}']"
    write(tmp_path / "README.md", f"---\nlicense: mit\nwidget: {payload}\n---\n")
    assert [r.spdx for r in declarations(tmp_path)] == ["MIT"]


def test_metadata_licences_in_weights_gguf_and_wheels(tmp_path: Path) -> None:
    weights(tmp_path / "sd" / "model.safetensors", {"modelspec.license": "creativeml-openrail-m"})
    weights(tmp_path / "nc" / "model.safetensors", {"format": "pt", "license": "cc-by-nc-4.0"})
    gguf(tmp_path / "gguf" / "model.gguf", "agpl-3.0")
    wheel(tmp_path / "pkgs" / "acmetool-1.0-py3-none-any.whl", "License-Expression: AGPL-3.0-only")
    wheel(
        tmp_path / "pkgs2" / "acmetool-1.0-py3-none-any.whl",
        "Classifier: Programming Language :: Python :: 3\nClassifier: License :: OSI Approved :: MIT License",
    )
    found = {(r.path, r.member, r.source, r.spdx, r.line) for r in declarations(tmp_path)}
    meta = ("acmetool-1.0.dist-info/METADATA",)
    assert found == {
        ("sd/model.safetensors", (), "safetensors metadata", "LicenseRef-CreativeML-OpenRAIL-M", None),
        ("nc/model.safetensors", (), "safetensors metadata", "CC-BY-NC-4.0", None),
        ("gguf/model.gguf", (), "GGUF metadata", "AGPL-3.0-only", None),
        ("pkgs/acmetool-1.0-py3-none-any.whl", meta, "wheel metadata", "AGPL-3.0-only", 4),
        ("pkgs2/acmetool-1.0-py3-none-any.whl", meta, "wheel metadata", "MIT", 5),
    }
    findings = scan_path(tmp_path, root=tmp_path, policy=policy()).findings
    assert lic(findings) == [
        ("MLS-LIC-001", "HIGH", "gguf/model.gguf", None),
        ("MLS-LIC-001", "HIGH", "nc/model.safetensors", None),
        ("MLS-LIC-001", "HIGH", "pkgs/acmetool-1.0-py3-none-any.whl", 4),
    ]
    wheel_finding = next(f for f in findings if f.path.startswith("pkgs/"))
    assert wheel_finding.location.member == meta


def test_card_inside_an_archive_covers_its_weights(tmp_path: Path) -> None:
    weights(tmp_path / "w.safetensors")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("bundle/README.md", NC_DATASET_CARD)
        zf.write(tmp_path / "w.safetensors", "bundle/model.safetensors")
    (tmp_path / "w.safetensors").unlink()
    (tmp_path / "bundle.zip").write_bytes(buf.getvalue())
    findings = scan_path(tmp_path, root=tmp_path, policy=policy()).findings
    [finding] = [f for f in findings if f.rule_id.startswith("MLS-LIC")]
    assert (finding.rule_id, finding.path, finding.location.member, finding.location.line) == (
        "MLS-LIC-001", "bundle.zip", ("bundle/README.md",), 6,
    )  # fmt: skip


def test_single_model_file_check_consults_its_card_and_parents(tmp_path: Path) -> None:
    model = "models/llama/model.safetensors"
    weights(tmp_path / model)
    assert lic(scan_single(tmp_path, model, policy())) == [("MLS-LIC-005", "HIGH", model, None)]
    write(tmp_path / "LICENSE", MIT)
    assert lic(scan_single(tmp_path, model, policy())) == []
    write(tmp_path / "models" / "llama" / "README.md", NC_DATASET_CARD.replace("cc-by-nc-4.0", "agpl-3.0"))
    assert lic(scan_single(tmp_path, model, policy())) == [
        ("MLS-LIC-001", "HIGH", "models/llama/README.md", 6)
    ]
    write(tmp_path / "models" / "llama" / "README.md", "---\nlicense: [oops\n---\n")
    assert lic(scan_single(tmp_path, model, policy())) == [
        ("MLS-LIC-003", "MEDIUM", "models/llama/README.md", 1)
    ]
