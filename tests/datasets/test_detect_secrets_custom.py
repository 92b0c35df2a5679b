"""Secrets and custom policy patterns in a 12,000-row chat/Q&A text table.

Tokens are generated with the real shapes (random bodies, never real credentials); benign traps
are the documentation stand-ins that fill tutorials: ``hf_xxx…``, ``AKIAIOSFODNN7EXAMPLE``,
``<YOUR_TOKEN>``, git hashes, ``hf_hub_download`` calls and PEM headers with no key material.
"""

from __future__ import annotations

import json
import random
import re
import string

import polars as pl
import pytest

from mlsec_dagster import scan_dataframe
from mlsec_dagster.engine.findings import Finding, Severity
from mlsec_dagster.engine.policy import CustomPattern, DatasetRules, Policy
from mlsec_dagster.scanners.secret_patterns import PATTERNS, is_placeholder

ROWS = 12_000
RNG = random.Random(20261126)
ALNUM = string.ascii_letters + string.digits


def _rand(alphabet: str, n: int) -> str:
    return "".join(RNG.choice(alphabet) for _ in range(n))


HF = "hf_" + _rand(string.ascii_letters, 34)
AWS_ID = "AKIA" + _rand(string.ascii_uppercase + "234567", 16)
AWS_SECRET = _rand(ALNUM + "/+", 40)
OPENAI = "sk-proj-" + _rand(ALNUM + "_-", 74) + "T3BlbkFJ" + _rand(ALNUM + "_-", 74)
GITHUB = "ghp_" + _rand(ALNUM, 36)
PEM_BODY = "\n".join(_rand(ALNUM + "+/", 64) for _ in range(6))
PEM = f"-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n-----END RSA PRIVATE KEY-----"
GCP = json.dumps(
    {
        "type": "service_account",
        "project_id": "vision-prod-4411",
        "private_key_id": _rand("0123456789abcdef", 40),
        "private_key": f"-----BEGIN PRIVATE KEY-----\n{PEM_BODY}\n-----END PRIVATE KEY-----\n",
        "client_email": "trainer@vision-prod-4411.iam.gserviceaccount.com",
    }
)
WANDB = _rand("0123456789abcdef", 40)
SECRETS = (HF, AWS_ID, AWS_SECRET, OPENAI, GITHUB, PEM_BODY.splitlines()[0], WANDB)

PLACEHOLDERS = (
    "Log in with `huggingface-cli login --token hf_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx`.",
    "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"
    "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "export HF_TOKEN=<YOUR_TOKEN> and OPENAI_API_KEY=<YOUR_OPENAI_KEY>",
    "stripe.api_key = 'sk_live_xxxxxxxxxxxxxxxxxxxxxxxx'",
    "token = 'ghp_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'",
    "from huggingface_hub import hf_hub_download\n"
    "path = hf_hub_download(repo_id='gpt2', filename='config.json')",
    "Fixed in commit 9fceb02d0ae598e95dc970b74767f19372d61af8, see the changelog.",
    "Paste your key:\n-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----",
    "The HF token looks like hf_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefgh (34 letters).",
    "Trips to Southeast ASIA and the AKIANE gallery; wandb is a tracking tool.",
)

SENTENCES = (
    "How do I fine-tune a {m} model on my own {d} data?",
    "The {m} checkpoint was trained for {n} steps with a batch size of 32.",
    "Use `pip install {p}` and then import it in your notebook.",
    "Our {d} split has {n} rows; validation loss plateaued after epoch 3.",
    "See https://huggingface.co/{m} and https://github.com/{p}/{p} for details.",
)
WORDS = {
    "m": ("bert-base-uncased", "llama-3-8b", "resnet50", "whisper-small", "t5-large"),
    "d": ("sentiment", "medical", "legal", "code", "speech"),
    "p": ("transformers", "datasets", "polars", "torch", "accelerate"),
}


def _sentence(i: int) -> str:
    template = SENTENCES[i % len(SENTENCES)]
    return template.format(n=i * 7, **{k: v[(i // 5) % len(v)] for k, v in WORDS.items()})


ROW_HF, ROW_AWS, ROW_OPENAI, ROW_GCP, ROW_LONG, ROW_PEM, ROW_WANDB = (
    42,
    5_000,
    3_333,
    8_000,
    10_250,
    11_111,
    9_876,
)
LONG_PREFIX = " ".join(_sentence(i) for i in range(80))
assert len(LONG_PREFIX) > 4_096


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    text = [_sentence(i) for i in range(ROWS)]
    notes = ["" for _ in range(ROWS)]
    for i in range(0, ROWS, 40):
        text[i] = PLACEHOLDERS[(i // 40) % len(PLACEHOLDERS)]
    text[ROW_HF] = f"Ключ доступа: {HF} — не публикуйте его."  # noqa: RUF001
    text[ROW_AWS] = f"[default]\naws_access_key_id = {AWS_ID}\naws_secret_access_key = {AWS_SECRET}\n"
    text[ROW_OPENAI] = f'client = OpenAI(api_key="{OPENAI}")'
    text[ROW_GCP] = f"Here is my credentials file: {GCP}"
    text[ROW_LONG] = f"{LONG_PREFIX}\n\nI pushed with GIT_TOKEN={GITHUB} to the repo."
    text[ROW_PEM] = f"Server key below, please fix my nginx config:\n{PEM}"
    text[ROW_WANDB] = f"import wandb\nwandb.login(key='{WANDB}')"
    text[7_777] = "Status update on Project Bluebird: the launch moves to Q3."
    notes[7_777] = "project bluebird"  # outside the pattern's columns
    return pl.DataFrame({"text": text, "notes": notes})


@pytest.fixture(scope="module")
def findings(frame: pl.DataFrame) -> list[Finding]:
    bluebird = CustomPattern(
        "bluebird",
        r"(?i)project[ -]bluebird",
        Severity.MEDIUM,
        "Internal code name; mask it before export.",
        ("text",),
    )
    policy = Policy(dataset_rules=DatasetRules(custom_patterns=(bluebird,)))
    return scan_dataframe(frame, "chat", policy).findings


def _one(findings: list[Finding], rule: str, row: int) -> Finding:
    hits = [f for f in findings if f.rule_id == rule and f.location.row == row]
    assert len(hits) == 1, [f.to_dict() for f in findings if f.rule_id.startswith(("MLS-SEC", "MLS-DSC"))]
    return hits[0]


@pytest.mark.parametrize(
    ("rule", "row", "severity", "secret", "before"),
    [
        ("MLS-SEC-004", ROW_HF, Severity.HIGH, HF, None),
        ("MLS-SEC-002", ROW_AWS, Severity.CRITICAL, AWS_ID, None),
        ("MLS-SEC-005", ROW_OPENAI, Severity.HIGH, OPENAI, None),
        ("MLS-SEC-007", ROW_LONG, Severity.HIGH, GITHUB, None),
        ("MLS-SEC-001", ROW_PEM, Severity.CRITICAL, None, "-----BEGIN RSA"),
        ("MLS-SEC-003", ROW_GCP, Severity.CRITICAL, None, '"private_key"'),
        ("MLS-SEC-009", ROW_WANDB, Severity.HIGH, WANDB, None),
    ],
)
def test_planted_secrets_are_found_at_their_char_offset(
    frame: pl.DataFrame, findings: list[Finding], rule: str, row: int, severity: Severity, secret: str | None,
    before: str | None,
) -> None:  # fmt: skip
    hit = _one(findings, rule, row)
    cell = frame["text"][row]
    assert (hit.severity, hit.location.field) == (severity, "text")
    assert hit.location.char_offset == cell.index(secret if secret is not None else before)
    assert "redacted" in hit.evidence


def test_secret_past_char_4096_keeps_its_exact_offset(frame: pl.DataFrame, findings: list[Finding]) -> None:
    hit = _one(findings, "MLS-SEC-007", ROW_LONG)
    assert hit.location.char_offset is not None and hit.location.char_offset > 4_096
    assert frame["text"][ROW_LONG][hit.location.char_offset :].startswith("ghp_")


def test_service_account_key_is_not_double_reported_as_a_bare_private_key(findings: list[Finding]) -> None:
    assert [f.rule_id for f in findings if f.location.row == ROW_GCP] == ["MLS-SEC-003"]


def test_no_full_secret_in_any_message_evidence_or_key(findings: list[Finding]) -> None:
    published = json.dumps([f.to_dict() for f in findings]) + "\n".join(f.key for f in findings)
    for secret in SECRETS:
        assert secret not in published
    for f in findings:
        if f.rule_id.startswith("MLS-SEC-"):
            assert re.search(r"[0-9a-f]{16}", f.key)  # a hash, not the value


def test_placeholders_and_look_alikes_are_not_secrets(findings: list[Finding]) -> None:
    planted = {ROW_HF, ROW_AWS, ROW_OPENAI, ROW_GCP, ROW_LONG, ROW_PEM, ROW_WANDB}
    trap_rows = set(range(0, ROWS, 40)) - planted
    reported = [f for f in findings if f.location.row in trap_rows and f.rule_id.startswith("MLS-SEC-")]
    assert reported == []
    assert {f.location.row for f in findings if f.rule_id.startswith("MLS-SEC-")} == planted


def test_custom_pattern_reports_with_its_own_severity_and_description(findings: list[Finding]) -> None:
    hit = _one(findings, "MLS-DSC-001", 7_777)
    offset = "Status update on Project Bluebird".index("Project")
    assert (hit.severity, hit.location.field, hit.location.char_offset) == (Severity.MEDIUM, "text", offset)
    assert "'bluebird'" in hit.message and "Internal code name" in hit.message
    assert not [f for f in findings if f.rule_id == "MLS-DSC-001" and f.location.field != "text"]


def test_custom_pattern_offsets_count_characters_not_bytes() -> None:
    pattern = CustomPattern("han", r"\p{Han}{2}", Severity.LOW, "CJK text in an English-only set.")
    policy = Policy(dataset_rules=DatasetRules(custom_patterns=(pattern,)))
    findings = scan_dataframe(pl.DataFrame({"q": ["plain", "café → 東京 tower"]}), "t", policy).findings
    hit = _one(findings, "MLS-DSC-001", 1)
    assert (hit.severity, hit.location.char_offset) == (Severity.LOW, "café → 東京 tower".index("東"))


def test_pattern_table_is_prefilter_safe_and_python_compatible() -> None:
    assert len({p for pattern in PATTERNS for p in pattern.prefixes}) <= 55  # a fast literal-set size
    samples = [HF, AWS_ID, OPENAI, GITHUB, PEM, GCP, f"wandb key {WANDB}", *PLACEHOLDERS]
    for pattern in PATTERNS:
        python = re.compile(pattern.regex)
        polars = pl.Series(samples).str.contains(pattern.regex).to_list()
        assert polars == [python.search(s) is not None for s in samples], pattern.name
        for sample in samples:
            if python.search(sample) and not is_placeholder(python.search(sample).group(pattern.group)):  # type: ignore[union-attr]
                assert any(p in sample for p in pattern.prefixes), (pattern.name, sample)


def test_every_spelling_of_a_case_insensitive_pattern_and_pgp_keys_are_candidates() -> None:
    from mlsec_dagster.scanners.secret_patterns import CASED_PREFILTER, FOLDED_PREFILTER

    body = "".join(random.Random(3).choices(string.ascii_letters + string.digits, k=64))
    wandb = "".join(random.Random(4).choices("0123456789abcdef", k=40))
    texts = [f"WaNdB_api_key = {wandb}", f"-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n{body}\n"]
    findings = scan_dataframe(pl.DataFrame({"text": ["nothing here"] * 50 + texts}), "t").findings
    assert {(f.rule_id, f.location.row) for f in findings} == {("MLS-SEC-009", 50), ("MLS-SEC-001", 51)}
    for pattern in PATTERNS:  # every literal is found by the prefilter that owns it
        if pattern.folded is None:
            assert pl.Series(pattern.prefixes).str.contains(CASED_PREFILTER).all(), pattern.name
        else:
            assert pattern.folded == pattern.folded.lower()
            assert pl.Series([pattern.folded]).str.contains(FOLDED_PREFILTER).all(), pattern.name
