"""Secrets in repository text files: each token type in the file it usually leaks from, at its exact line."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from secret_tokens import Tokens

from mlsec_dagster import scan_path
from mlsec_dagster.engine.findings import Finding, Severity
from mlsec_dagster.engine.scan import ScanResult


def secret_findings(result: ScanResult) -> list[Finding]:
    kept = [f for f in result.findings if f.rule_id.startswith("MLS-SEC")]
    return kept + [s.finding for s in result.suppressed if s.finding.rule_id.startswith("MLS-SEC")]


def found(tmp_path: Path, name: str, text: str) -> list[tuple[str, int | None, Severity]]:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    result = scan_path(path, root=tmp_path)
    return sorted((f.rule_id, f.location.line, f.severity) for f in secret_findings(result))


def test_env_file_every_token_at_its_line(tmp_path: Path) -> None:
    t = Tokens(1)
    conn, _ = t.azure_conn()
    lines = [
        "# production settings",
        f"HF_TOKEN={t.hf()}",
        f"OPENAI_API_KEY={t.openai()}",
        f"ANTHROPIC_API_KEY={t.anthropic()}",
        f"AWS_ACCESS_KEY_ID={t.aws_id()}",
        f"AWS_SECRET_ACCESS_KEY={t.aws_secret()}",
        f"GITHUB_TOKEN={t.github()}",
        f"GH_PAT={t.github_pat()}",
        f"SLACK_BOT_TOKEN={t.slack()}",
        f"SLACK_WEBHOOK={t.slack_webhook()}",
        f"WANDB_API_KEY={t.wandb()}",
        f"AZURE_STORAGE_CONNECTION_STRING={conn}",
        f"AZURE_SAS_URL={t.azure_sas()}",
        f"AZURE_CLIENT_SECRET={t.azure_client_secret()}",
        f"DB_PASSWORD={t.password()}",
        "DEBUG=false",
    ]
    got = found(tmp_path, ".env", "\n".join(lines) + "\n")
    assert got == [
        ("MLS-SEC-002", 5, Severity.CRITICAL),  # key id paired with the secret on the next line
        ("MLS-SEC-004", 2, Severity.HIGH),
        ("MLS-SEC-005", 3, Severity.HIGH),
        ("MLS-SEC-006", 4, Severity.HIGH),
        ("MLS-SEC-007", 7, Severity.HIGH),
        ("MLS-SEC-007", 8, Severity.HIGH),
        ("MLS-SEC-008", 9, Severity.HIGH),
        ("MLS-SEC-008", 10, Severity.HIGH),
        ("MLS-SEC-009", 11, Severity.HIGH),
        ("MLS-SEC-013", 6, Severity.CRITICAL),
        ("MLS-SEC-014", 12, Severity.CRITICAL),
        ("MLS-SEC-015", 13, Severity.HIGH),
        ("MLS-SEC-016", 14, Severity.HIGH),
        ("MLS-SEC-017", 15, Severity.MEDIUM),
    ]


def test_settings_py_quoted_values_only(tmp_path: Path) -> None:
    t = Tokens(2)
    text = (
        "import os\n\n"
        f'HUGGINGFACE_TOKEN = "{t.hf()}"\n'
        f'DATABASES = {{"default": {{"USER": "ml", "PASSWORD": "{t.password()}"}}}}\n'
        'SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]\n'
        "api_key = get_api_key()\n"
        'token = f"{prefix}-{suffix}"\n'
    )
    assert found(tmp_path, "app/settings.py", text) == [
        ("MLS-SEC-004", 3, Severity.HIGH),
        ("MLS-SEC-017", 4, Severity.MEDIUM),
    ]


def test_yaml_compose_and_pypirc(tmp_path: Path) -> None:
    t = Tokens(3)
    config = (
        "model:\n  name: bert-base-uncased\n  tokenizer: bert-base-uncased\n"
        f"wandb:\n  project: nlp\n  api_key: {t.wandb()}\n"
    )
    assert found(tmp_path, "config.yaml", config) == [("MLS-SEC-009", 6, Severity.HIGH)]
    compose = (
        "services:\n  db:\n    image: postgres:16\n    environment:\n"
        f"      POSTGRES_PASSWORD: {t.password()}\n"
        "      POSTGRES_USER: ${DB_USER}\n"
        f"  trainer:\n    environment:\n      - DATABASE_URL=postgresql://ml:{t.password()}@db:5432/ml\n"
    )
    assert found(tmp_path, "docker-compose.yml", compose) == [
        ("MLS-SEC-017", 5, Severity.MEDIUM),
        ("MLS-SEC-017", 9, Severity.MEDIUM),
    ]
    pypirc = f"[distutils]\nindex-servers = pypi\n\n[pypi]\nusername = __token__\npassword = {t.pypi()}\n"
    assert found(tmp_path, ".pypirc", pypirc) == [("MLS-SEC-010", 6, Severity.HIGH)]


def test_notebook_code_cell_and_output(tmp_path: Path) -> None:
    t = Tokens(4)
    in_code, in_output = t.hf(), t.openai()
    nb = {
        "cells": [
            {"cell_type": "markdown", "id": "a", "metadata": {}, "source": ["# Fine-tune\n"]},
            {
                "cell_type": "code", "execution_count": 1, "id": "b", "metadata": {}, "outputs": [],
                "source": ["from huggingface_hub import login\n", f'login(token="{in_code}")\n'],
            },
            {
                "cell_type": "code", "execution_count": 2, "id": "c", "metadata": {},
                "outputs": [
                    {"name": "stdout", "output_type": "stream", "text": [f"OPENAI_API_KEY={in_output}\n"]}
                ],
                "source": ["!env | grep KEY\n"],
            },
        ],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5,
    }  # fmt: skip
    text = json.dumps(nb, indent=1, sort_keys=True)
    (tmp_path / "train.ipynb").write_text(text)
    findings = secret_findings(scan_path(tmp_path / "train.ipynb", root=tmp_path))
    lines = text.splitlines()
    by_rule = {f.rule_id: f for f in findings}
    assert set(by_rule) == {"MLS-SEC-004", "MLS-SEC-005"}
    hf, oai = by_rule["MLS-SEC-004"], by_rule["MLS-SEC-005"]
    assert in_code in lines[hf.location.line - 1] and in_output in lines[oai.location.line - 1]
    assert "notebook cell 2 (source)" in hf.message
    assert "notebook cell 3 (output)" in oai.message


def test_kubernetes_secret_values_are_decoded(tmp_path: Path) -> None:
    t = Tokens(5)
    b64 = lambda s: base64.b64encode(s.encode()).decode()  # noqa: E731
    manifest = (
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: trainer\ntype: Opaque\ndata:\n"
        f"  GITHUB_TOKEN: {b64(t.github())}\n"
        f"  db-password: {b64(t.password())}\n"
        f"  username: {b64('trainer')}\n"
    )
    assert found(tmp_path, "k8s/secret.yaml", manifest) == [
        ("MLS-SEC-007", 7, Severity.HIGH),
        ("MLS-SEC-017", 8, Severity.MEDIUM),
    ]


def test_gcp_service_account_and_private_keys(tmp_path: Path) -> None:
    t = Tokens(6)
    sa = {
        "type": "service_account", "project_id": "ml-prod", "private_key_id": t.wandb(),
        "private_key": t.pkcs8_key(), "client_email": "trainer@ml-prod.iam.gserviceaccount.com",
    }  # fmt: skip
    assert found(tmp_path, "sa.json", json.dumps(sa, indent=2)) == [("MLS-SEC-003", 5, Severity.CRITICAL)]
    assert found(tmp_path, "keys/id_rsa", t.openssh_key()) == [("MLS-SEC-001", 1, Severity.CRITICAL)]
    assert found(tmp_path, "deploy/key.pem", "\n" + t.rsa_key()) == [("MLS-SEC-001", 2, Severity.CRITICAL)]


def test_inline_waivers(tmp_path: Path) -> None:
    t = Tokens(8)
    text = (
        f'TOKEN = "{t.hf()}"  # mlsec: ignore[MLS-SEC-004] revoked on 2026-01-03, kept as a parser fixture\n'
        "# mlsec: ignore rotated key used by the offline test server\n"
        f'GH = "{t.github()}"\n'
        f'OTHER = "{t.github()}"  # mlsec: ignore[MLS-SEC-004] wrong rule named, does not cover 007\n'
        f'NOREASON = "{t.hf()}"  # mlsec' + ": ignore[MLS-SEC-004]\n"
    )
    (tmp_path / "fixtures.py").write_text(text)
    result = scan_path(tmp_path / "fixtures.py", root=tmp_path)
    suppressed = {(s.finding.rule_id, s.finding.location.line): s.reason for s in result.suppressed}
    assert suppressed == {
        ("MLS-SEC-004", 1): "inline waiver: revoked on 2026-01-03, kept as a parser fixture",
        ("MLS-SEC-007", 3): "inline waiver: rotated key used by the offline test server",
    }
    kept = sorted(
        (f.rule_id, f.location.line, f.severity) for f in result.findings if f.rule_id.startswith("MLS-SEC")
    )
    assert kept == [
        ("MLS-SEC-004", 5, Severity.HIGH),
        ("MLS-SEC-007", 4, Severity.HIGH),
        ("MLS-SEC-018", 5, Severity.LOW),
    ]


@pytest.mark.parametrize("name", [".env.example", "config.sample.yaml", "settings.py.dist", ".env.template"])
def test_template_files_are_info(tmp_path: Path, name: str) -> None:
    text = f'HF_TOKEN = "{Tokens(9).hf()}"\n'
    assert found(tmp_path, name, text) == [("MLS-SEC-004", 1, Severity.INFO)]


def test_large_text_file_is_reported_not_skipped_silently(tmp_path: Path) -> None:
    from mlsec_dagster.scanners.secrets import text as text_module

    path = tmp_path / "dump.sql"
    path.write_bytes(b"INSERT INTO t VALUES (1);\n" * (text_module.MAX_TEXT_BYTES // 26 + 10))
    assert found(tmp_path, "dump.sql", path.read_text()) == [("MLS-SEC-019", None, Severity.LOW)]


def test_docker_config_auth_is_decoded_and_netrc_wandb_key_found(tmp_path: Path) -> None:
    t = Tokens(11)
    auth = base64.b64encode(f"ml-bot:{t.github()}".encode()).decode()
    config = json.dumps({"auths": {"ghcr.io": {"auth": auth}}, "credsStore": ""}, indent=2)
    assert found(tmp_path, ".docker/config.json", config) == [("MLS-SEC-007", 4, Severity.HIGH)]
    netrc = f"machine api.wandb.ai\n  login user\n  password {t.wandb()}\n"
    assert found(tmp_path, ".netrc", netrc) == [("MLS-SEC-009", 3, Severity.HIGH)]
    plain = json.dumps(
        {"auths": {"ghcr.io": {"auth": base64.b64encode(b"ml-bot:not-a-token").decode()}}}, indent=2
    )
    assert found(tmp_path, "other/config.json", plain) == []
