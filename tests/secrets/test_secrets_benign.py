"""Look-alikes that are not secrets, and the guarantee that no report ever prints a secret in full."""

from __future__ import annotations

import hashlib
import json
import string
import uuid
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from secret_tokens import Tokens

from mlsec_dagster import scan_path
from mlsec_dagster.reports.json_report import render_json
from mlsec_dagster.reports.sarif import render_sarif
from mlsec_dagster.reports.text import render_text


def sec_rules(root: Path) -> list[tuple[str, str, int | None]]:
    result = scan_path(root, root=root)
    return sorted(
        (f.path, f.rule_id, f.location.line) for f in result.findings if f.rule_id.startswith("MLS-SEC")
    )


def test_placeholders_references_and_docs_examples(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text(
        "Set your token:\n\n```bash\nexport HF_TOKEN=hf_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n"
        "export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\n"
        "export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"
        "export OPENAI_API_KEY=sk-...\n"
        'export API_KEY="<YOUR_API_KEY>"\n```\n'
        "The header `-----BEGIN RSA PRIVATE KEY-----` starts a PEM key.\n"
    )
    (tmp_path / "settings.py").write_text(
        "import os\n"
        'HF_TOKEN = os.environ["HF_TOKEN"]\n'
        'DB_PASSWORD = os.getenv("DB_PASSWORD", "")\n'
        'password = "${DB_PASSWORD}"\n'
        'api_key = "your-api-key-here"\n'
        'tokenizer_name = "meta-llama/Llama-3.1-8B-Instruct"\n'
        'pad_token = "<|finetune_right_pad_id|>"\n'
        "max_tokens = 4096\n"
        'ENV_GITHUB_TOKEN = "GITHUB_TOKEN"\n'
    )
    (tmp_path / "docker-compose.yml").write_text(
        "services:\n  db:\n    environment:\n      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD}\n"
        "      DATABASE_URL: postgres://ml:${DB_PASSWORD}@db/ml\n"
    )
    assert sec_rules(tmp_path) == []


def test_hashes_shas_uuids_and_lock_files(tmp_path: Path) -> None:
    digest = hashlib.sha256(b"numpy").hexdigest()
    (tmp_path / "requirements.lock").write_text(
        f"numpy==2.1.3 \\\n    --hash=sha256:{digest} \\\n"
        f"    --hash=sha256:{hashlib.sha256(b'x').hexdigest()}\n"
    )
    (tmp_path / "poetry.lock").write_text(
        f'[[package]]\nname = "torch"\nfiles = [{{file = "t.whl", hash = "sha256:{digest}"}}]\n'
    )
    sha = hashlib.sha1(b"commit").hexdigest()
    (tmp_path / "CHANGELOG.md").write_text(
        f"Fixed in {sha}.\nRun id {uuid.UUID(int=12345678901234567890)}.\n"
    )
    (tmp_path / "config.json").write_text(
        json.dumps({"run_id": str(uuid.uuid4()), "commit": sha, "model_sha": digest, "token_type_ids": True})
    )
    (tmp_path / "ci.yaml").write_text(f"model:\n  revision: {sha}\n  checksum: sha256:{digest}\n")
    assert sec_rules(tmp_path) == []


def test_fake_test_fixture_values(tmp_path: Path) -> None:
    (tmp_path / "test_client.py").write_text(
        'FAKE_TOKEN = "hf_testtesttesttesttesttesttesttesttest"\n'
        'client = Client(api_key="dummy-key-for-tests")\n'
        'password = "password123"\n'
    )
    assert sec_rules(tmp_path) == []


def test_no_report_contains_a_secret_in_full(tmp_path: Path) -> None:
    t = Tokens(21)
    conn, account_key = t.azure_conn()
    secrets = [t.hf(), t.openai(), t.anthropic(), t.aws_id(), t.aws_secret(), t.github(), t.slack(),
               t.wandb(), t.pypi(), t.azure_client_secret(), t.password(), t.password()]  # fmt: skip
    lines = [
        f"HF_TOKEN={secrets[0]}", f"OPENAI_API_KEY={secrets[1]}", f"ANTHROPIC_API_KEY={secrets[2]}",
        f"AWS_ACCESS_KEY_ID={secrets[3]}", f"AWS_SECRET_ACCESS_KEY={secrets[4]}",
        f"GITHUB_TOKEN={secrets[5]}",
        f"SLACK_TOKEN={secrets[6]}", f"WANDB_API_KEY={secrets[7]}", f"PYPI_TOKEN={secrets[8]}",
        f"AZURE_CLIENT_SECRET={secrets[9]}", f"DB_PASSWORD={secrets[10]}", f"AZURE={conn}",
        f"REDIS_URL=redis://default:{secrets[11]}@cache:6379/0",
    ]  # fmt: skip
    (tmp_path / ".env").write_text("\n".join(lines) + "\n")
    key = t.rsa_key()
    (tmp_path / "id_rsa").write_text(key)
    save_file({"w": torch.zeros(1)}, str(tmp_path / "m.safetensors"), metadata={"token": secrets[0]})
    result = scan_path(tmp_path, root=tmp_path)
    found = [f for f in result.findings if f.rule_id.startswith("MLS-SEC")]
    assert len(found) == 15
    body = "\n".join(key.splitlines()[1:-1])
    outputs = [render_json(result), render_sarif(result), render_text(result)]
    outputs += [json.dumps([f.to_dict() for f in found]), "\n".join(f.key for f in found)]
    for secret in [*secrets, account_key, body, *key.splitlines()[1:-1]]:
        for out in outputs:
            assert secret not in out


def test_documentation_examples_are_info(tmp_path: Path) -> None:
    t = Tokens(31)
    (tmp_path / "docs.md").write_text(
        f"For example, a token looks like this:\n\n    {t.github()}\n\nOur CI token: {t.hf()}\n"
    )
    result = scan_path(tmp_path / "docs.md", root=tmp_path)
    got = sorted((f.rule_id, f.location.line, f.severity.name) for f in result.findings)
    assert got == [("MLS-SEC-004", 5, "HIGH"), ("MLS-SEC-007", 3, "INFO")]


def test_loose_shapes_bearer_and_jwt(tmp_path: Path) -> None:
    t = Tokens(32)
    header = "eyJhbGciOiJIUzI1NiJ9"
    payload = "eyJzdWIiOiJ0cmFpbmVyIiwiaWF0IjoxNzAwMDAwMDAwfQ"
    alnum = string.ascii_letters + string.digits
    sig = t.pick(alnum + "_-", 43)
    (tmp_path / "client.py").write_text(
        f'OPENAI_KEY = "sk-{t.pick(alnum, 48)}"  # openai\n'
        f'headers = {{"Authorization": "Bearer {t.pick(string.ascii_lowercase + string.digits, 32)}"}}\n'
        f'session = "{header}.{payload}.{sig}"\n'
        'auth = {"Authorization": f"Bearer {token}"}\n'
    )
    result = scan_path(tmp_path / "client.py", root=tmp_path)
    got = sorted((f.rule_id, f.location.line) for f in result.findings)
    assert got == [("MLS-SEC-005", 1), ("MLS-SEC-017", 2), ("MLS-SEC-017", 3)]


def test_published_emulator_keys_are_not_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Vendors publish local-emulator keys (Azurite); they are listed by digest, so none is stored here."""
    from mlsec_dagster.scanners import secret_patterns

    connection, key = Tokens(23).azure_conn()
    (tmp_path / "local.settings.json").write_text(json.dumps({"Values": {"AzureWebJobsStorage": connection}}))
    assert [f.rule_id for f in scan_path(tmp_path, root=tmp_path).findings] == ["MLS-SEC-014"]
    published = secret_patterns.PUBLISHED_KEY_DIGESTS | {hashlib.sha256(key.encode()).hexdigest()}
    monkeypatch.setattr(secret_patterns, "PUBLISHED_KEY_DIGESTS", published)
    assert scan_path(tmp_path, root=tmp_path).findings == []
