"""Hugging Face config.json auto_map / trust_remote_code and tokenizer chat templates (threat 32)."""

from __future__ import annotations

import json
from pathlib import Path

from shared_fixtures import LLAMA3

from mlsec_dagster import scan_path
from mlsec_dagster.engine.findings import Finding, Severity

BERT_CONFIG = {
    "architectures": ["BertForMaskedLM"], "attention_probs_dropout_prob": 0.1, "hidden_act": "gelu",
    "hidden_size": 768, "model_type": "bert", "num_attention_heads": 12, "transformers_version": "4.44.0",
    "vocab_size": 30522,
}  # fmt: skip

BENIGN_MODELING = """\
import math
import os

import torch
from torch import nn

from .configuration_tiny import TinyConfig


class TinyModel(nn.Module):
    config_class = TinyConfig

    def __init__(self, config):
        super().__init__()
        self.cache_dir = os.path.join(os.path.dirname(__file__), "cache")
        self.proj = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, x):
        return self.proj(x) / math.sqrt(x.shape[-1])
"""
BENIGN_CONFIGURATION = "class TinyConfig:\n    model_type = 'tiny'\n    hidden_size = 4\n"


def by_rule(findings: list[Finding]) -> dict[str, list[Finding]]:
    out: dict[str, list[Finding]] = {}
    for f in findings:
        out.setdefault(f.rule_id, []).append(f)
    return out


def write_repo(folder: Path, auto_map: dict[str, object], files: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(
        json.dumps({**BERT_CONFIG, "model_type": "tiny", "auto_map": auto_map}, indent=2)
    )
    for name, text in files.items():
        (folder / name).write_text(text)


def test_plain_config_has_no_findings(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps(BERT_CONFIG, indent=2))
    result = scan_path(tmp_path)
    assert result.findings == []
    assert [a.format for a in result.artifacts] == ["json_configs"]


def test_auto_map_with_benign_code_is_medium_only(tmp_path: Path) -> None:
    write_repo(
        tmp_path,
        {"AutoConfig": "configuration_tiny.TinyConfig", "AutoModel": "modeling_tiny.TinyModel"},
        {"modeling_tiny.py": BENIGN_MODELING, "configuration_tiny.py": BENIGN_CONFIGURATION},
    )
    findings = scan_path(tmp_path).findings
    assert [(f.rule_id, f.severity) for f in findings] == [("MLS-HFC-001", Severity.MEDIUM)]
    assert "configuration_tiny, modeling_tiny" in findings[0].message
    assert findings[0].location.line is not None


def test_dangerous_remote_code_is_high_with_file_and_line(tmp_path: Path, canary: Path) -> None:
    evil = BENIGN_MODELING + (
        "\nimport subprocess as sp\n"
        f"sp.run(['touch', '{canary}'])\n"
        f"getattr(__import__('os'), 'system')('touch {canary}')\n"
        "from .helpers import boot\n"
    )
    helpers = f"import base64\nexec(base64.b64decode('{'b3MK'}'))\ndef boot():\n    return None\n"
    write_repo(
        tmp_path / "repo",
        {"AutoConfig": "configuration_tiny.TinyConfig", "AutoModel": "modeling_tiny.M"},
        {"modeling_tiny.py": evil, "configuration_tiny.py": BENIGN_CONFIGURATION, "helpers.py": helpers},
    )
    grouped = by_rule(scan_path(tmp_path).findings)
    high = grouped["MLS-HFC-002"]
    assert all(f.severity == Severity.HIGH for f in high)
    located = {(f.path, f.location.line, f.key) for f in high}
    lines = evil.splitlines()
    run_line = next(i for i, text in enumerate(lines, 1) if text.startswith("sp.run"))
    assert ("repo/modeling_tiny.py", run_line, "subprocess.run") in located
    assert ("repo/modeling_tiny.py", run_line + 1, "builtins.__import__") in located
    assert ("repo/helpers.py", 2, "builtins.exec") in located
    assert {f.key for f in grouped["MLS-HFC-004"]} >= {"subprocess", "base64"}
    assert len(grouped["MLS-HFC-001"]) == 1


def test_missing_and_foreign_modules(tmp_path: Path) -> None:
    write_repo(tmp_path, {"AutoModel": "modeling_gone.M", "AutoTokenizer": ["other/repo--tok.T", None]}, {})
    grouped = by_rule(scan_path(tmp_path).findings)
    assert {f.key for f in grouped["MLS-HFC-003"]} == {"modeling_gone", "other/repo--tok.T"}
    assert all(f.severity == Severity.MEDIUM for f in grouped["MLS-HFC-003"])


MISTRAL = (
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % "
    "2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif messa"
    "ge['role'] == "
    "'assistant' %}{{ message['content'] + eos_token}}{% endif %}{% endfor %}"
)


def test_tokenizer_chat_templates(tmp_path: Path) -> None:
    good = tmp_path / "good"
    good.mkdir()
    (good / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "LlamaTokenizer",
                "chat_template": [
                    {"name": "default", "template": LLAMA3},
                    {"name": "m", "template": MISTRAL},
                ],
            }
        )
    )
    assert scan_path(good).findings == []
    bad = tmp_path / "bad"
    bad.mkdir()
    evil = "{{ cycler.__init__.__globals__.os.popen('id').read() }}"
    (bad / "tokenizer_config.json").write_text(
        json.dumps({"tokenizer_class": "X", "chat_template": evil}, indent=2)
    )
    findings = scan_path(bad).findings
    assert [(f.rule_id, f.severity) for f in findings] == [("MLS-HFC-005", Severity.CRITICAL)]
    assert findings[0].location.line == 3


def test_json_lines_with_model_keys_are_not_configs(tmp_path: Path) -> None:
    rows = [json.dumps({"model_type": "bert", "class_name": "x", "text": f"row {i}"}) for i in range(3)]
    (tmp_path / "train.json").write_text("\n".join(rows))
    assert scan_path(tmp_path).findings == []


def test_symlinked_module_outside_folder_is_not_read(tmp_path: Path) -> None:
    outside = tmp_path / "outside.py"
    outside.write_text("import os\nos.system('id')\n")
    write_repo(tmp_path / "repo", {"AutoModel": "modeling_link.M"}, {})
    (tmp_path / "repo" / "modeling_link.py").symlink_to(outside)
    findings = scan_path(tmp_path / "repo" / "config.json", root=tmp_path).findings
    assert {(f.rule_id, f.key) for f in findings} == {
        ("MLS-HFC-001", "modeling_link"),
        ("MLS-HFC-003", "modeling_link"),
    }


def test_custom_pipelines_count_as_remote_code(tmp_path: Path) -> None:
    config = {**BERT_CONFIG, "custom_pipelines": {"text-classification": {"impl": "pipeline_x.MyPipeline"}}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "pipeline_x.py").write_text("import os\n\nos.popen('id')\n")
    grouped = by_rule(scan_path(tmp_path).findings)
    assert [f.key for f in grouped["MLS-HFC-001"]] == ["pipeline_x"]
    assert [(f.path, f.location.line) for f in grouped["MLS-HFC-002"]] == [("pipeline_x.py", 3)]


def test_standalone_jinja_chat_template(tmp_path: Path) -> None:
    (tmp_path / "chat_template.jinja").write_text(LLAMA3)
    assert scan_path(tmp_path).findings == []
    (tmp_path / "chat_template.jinja").write_text(
        "{{ bos_token }}\n\n{{ lipsum.__globals__['os'].popen('id') }}"
    )
    findings = scan_path(tmp_path).findings
    assert [(f.rule_id, f.location.line) for f in findings] == [("MLS-HFC-005", 3)]
