"""Secret-search speed and accuracy side by side with detect-secrets, on a generated source tree and the repo.

Generates a 10,000-file tree of realistic Python modules, YAML/JSON configs, Markdown docs, ``.env``
files and notebooks, full of benign look-alikes (git SHAs, sha256 lock hashes, UUIDs, tokenizer
configs with ``pad_token``, ``os.environ`` references, documentation placeholders), and plants a few
dozen credentials of every supported kind at known lines. Then runs, in the same process run:

* ``mlsec``: ``scan_path`` on the tree (all scanners, secrets included) and on the repository;
* ``detect-secrets``: ``detect-secrets scan --all-files`` on the tree, and its default (git-tracked
  files) scan on the repository.

A planted secret counts as found when a finding sits on its file and line. Every other finding on the
tree is a false positive (the tree holds nothing else). Prints a markdown table. Run:
``.venv/bin/python benchmarks/bench_secrets.py [--files 10000] [--keep]`` (needs ``detect-secrets``).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import random
import shutil
import string
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ALNUM = string.ascii_letters + string.digits


class Gen:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def s(self, alphabet: str, n: int) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    def planted(self, kind: str) -> str:
        """One line (or block) holding a credential of ``kind``; the secret is on its first line."""
        s = self.s
        return {
            "hf": f'HF_TOKEN = "hf_{s(string.ascii_letters, 34)}"',
            "openai": f'client = OpenAI(api_key="sk-proj-{s(ALNUM, 24)}T3BlbkFJ{s(ALNUM, 24)}")',
            "anthropic": f"ANTHROPIC_API_KEY=sk-ant-api03-{s(ALNUM + '-_', 93)}AA",
            "aws": f"aws_secret_access_key = {s(ALNUM, 18)}/{s(ALNUM, 21)}",
            "aws-id": f"AWS_ACCESS_KEY_ID=AKIA{s(string.ascii_uppercase + '234567', 16)}",
            "github": f'GITHUB_TOKEN: "ghp_{s(ALNUM, 36)}"',
            "slack": f"SLACK_BOT_TOKEN=xoxb-{s(string.digits, 11)}-{s(string.digits, 13)}-{s(ALNUM, 24)}",
            "wandb": f"WANDB_API_KEY={s('0123456789abcdef', 40)}",
            "pypi": f"password = pypi-AgEIcHlwaS5vcmc{s(ALNUM + '-_', 70)}",
            "azure": "AZURE_STORAGE=DefaultEndpointsProtocol=https;AccountName=mlart;"
            f"AccountKey={s(ALNUM + '+/', 86)}==;EndpointSuffix=core.windows.net",
            "password": f'DB_PASSWORD = "{s(ALNUM, 9)}!{s(ALNUM, 6)}"',
            "url": f"DATABASE_URL=postgresql://trainer:{s(ALNUM, 14)}@db.internal:5432/features",
            "pem": "-----BEGIN RSA PRIVATE KEY-----\n"
            + "\n".join(base64.b64encode(self.rng.randbytes(48)).decode() for _ in range(8))
            + "\n-----END RSA PRIVATE KEY-----",
        }[kind]

    def python(self, i: int) -> list[str]:
        sha = hashlib.sha1(str(i).encode()).hexdigest()
        lines = [
            f'"""Feature pipeline step {i}: loads, cleans and writes features (revision {sha[:12]})."""',
            "", "from __future__ import annotations", "", "import os", "import logging", "",
            "import numpy as np", "from transformers import AutoTokenizer", "",
            "log = logging.getLogger(__name__)", f'MODEL = "org/model-{i % 97}"', f'REVISION = "{sha}"',
            'HF_TOKEN = os.environ.get("HF_TOKEN")', 'API_KEY = os.getenv("SERVICE_API_KEY", "")',
            f'RUN_ID = "{uuid.UUID(int=self.rng.getrandbits(128))}"', "",
        ]  # fmt: skip
        for f in range(self.rng.randint(3, 8)):
            lines += [
                f"def step_{f}(batch: dict[str, np.ndarray], max_tokens: int = 512) -> dict:",
                '    """Tokenise and pad one batch."""',
                "    tokenizer = AutoTokenizer.from_pretrained(MODEL, revision=REVISION, token=HF_TOKEN)",
                '    tokenizer.pad_token = tokenizer.eos_token or "<pad>"',
                f"    out = tokenizer(batch['text'], truncation=True, max_length=max_tokens + {f})",
                '    log.info("step %s done, %d rows", __name__, len(out["input_ids"]))',
                "    return dict(out)",
                "",
            ]
        return lines

    def yaml(self, i: int) -> list[str]:
        digest = hashlib.sha256(str(i).encode()).hexdigest()
        return [
            f"# training config {i}", "model:", f"  name: org/model-{i % 97}", "  tokenizer: bert-base",
            f"  revision: {hashlib.sha1(digest.encode()).hexdigest()}", "  pad_token: '[PAD]'",
            "training:", f"  lr: {self.rng.choice(['1e-4', '3e-5', '5e-5'])}", "  epochs: 3",
            "  max_tokens: 2048", "data:", f"  checksum: sha256:{digest}", "  path: s3://bucket/features/",
            "wandb:", "  project: nlp", "  api_key: ${WANDB_API_KEY}", "secrets:",
            "  db_password: ${DB_PASSWORD}", "  token: <YOUR_TOKEN>",
        ]  # fmt: skip

    def json_lines(self, i: int) -> list[str]:
        cfg = {
            "architectures": ["BertForSequenceClassification"], "hidden_size": 768, "pad_token_id": 0,
            "model_type": "bert", "_commit_hash": hashlib.sha1(str(i).encode()).hexdigest(),
            "run_id": str(uuid.UUID(int=self.rng.getrandbits(128))), "token_type_ids": True,
            "special_tokens": {"pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]"},
        }  # fmt: skip
        return json.dumps(cfg, indent=2).splitlines()

    def markdown(self, i: int) -> list[str]:
        return [
            f"# Model card {i}", "", "Log in first:", "", "```bash",
            "export HF_TOKEN=hf_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            "export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE", "export OPENAI_API_KEY=sk-...", "```", "",
            f"Trained at commit {hashlib.sha1(str(i).encode()).hexdigest()}.",
            "Set `password: <your password>` in the config.",
        ]  # fmt: skip

    def env(self, i: int) -> list[str]:
        return [
            "# local settings",
            "DEBUG=true",
            f"PORT={8000 + i % 100}",
            "HF_HOME=/data/hf",
            "LOG_LEVEL=info",
        ]


KINDS = ("hf", "openai", "anthropic", "aws", "aws-id", "github", "slack", "wandb", "pypi", "azure",
         "password", "url", "pem")  # fmt: skip


def build_tree(root: Path, n_files: int, n_planted: int, seed: int = 42) -> dict[tuple[str, int], str]:
    gen = Gen(seed)
    makers = [("py", gen.python), ("yaml", gen.yaml), ("json", gen.json_lines), ("md", gen.markdown)]
    planted_at = set(gen.rng.sample(range(n_files), n_planted))
    planted: dict[tuple[str, int], str] = {}
    for i in range(n_files):
        folder = root / f"pkg{i % 50}" / f"mod{i % 7}"
        folder.mkdir(parents=True, exist_ok=True)
        if i % 100 == 99:
            name, lines = f".env.{i}", gen.env(i)
        else:
            ext, make = makers[i % len(makers)]
            name, lines = f"file_{i}.{ext}", make(i)
        if i in planted_at and not name.endswith(".json"):
            kind = KINDS[len(planted) % len(KINDS)]
            at = gen.rng.randint(1, len(lines))
            block = gen.planted(kind).split("\n")
            lines[at:at] = block
            planted[((folder / name).relative_to(root).as_posix(), at + 1)] = kind
        (folder / name).write_text("\n".join(lines) + "\n")
    return planted


def run_mlsec(target: Path) -> tuple[float, int, set[tuple[str, int]], dict[str, int]]:
    sys.path.insert(0, str(REPO))
    from mlsec_dagster import scan_path

    start = time.perf_counter()
    result = scan_path(target, root=target)
    seconds = time.perf_counter() - start
    found = [f for f in result.findings if f.rule_id.startswith("MLS-SEC")]
    by_sev: dict[str, int] = {}
    for f in found:
        by_sev[f.severity.name] = by_sev.get(f.severity.name, 0) + 1
    return seconds, result.files_scanned, {(f.path, f.location.line or 0) for f in found}, by_sev


def run_detect_secrets(target: Path, all_files: bool) -> tuple[float, int, set[tuple[str, int]]]:
    exe = Path(sys.executable).parent / "detect-secrets"
    cmd = [str(exe), "scan", *(["--all-files"] if all_files else []), "."]
    start = time.perf_counter()
    out = subprocess.run(cmd, cwd=target, capture_output=True, text=True, check=True).stdout
    seconds = time.perf_counter() - start
    results = json.loads(out)["results"]
    hits = {(path, item["line_number"]) for path, items in results.items() for item in items}
    if all_files:
        files = sum(1 for p in target.rglob("*") if p.is_file())
    else:
        files = len(
            subprocess.run(["git", "ls-files"], cwd=target, capture_output=True, text=True).stdout.split()
        )
    return seconds, files, hits


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--planted", type=int, default=52)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-secrets-"))
    try:
        planted = build_tree(tmp, args.files, args.planted)
        rows = []
        secs, files, tree_hits, by_sev = run_mlsec(tmp)
        caught = sum(1 for key in planted if key in tree_hits)
        rows.append(
            ("mlsec", "tree", files, secs, f"{caught}/{len(planted)}", len(tree_hits - set(planted)), by_sev)
        )
        ds_secs, ds_files, tree_ds_hits = run_detect_secrets(tmp, all_files=True)
        ds_caught = sum(1 for key in planted if key in tree_ds_hits)
        rows.append(("detect-secrets", "tree", ds_files, ds_secs, f"{ds_caught}/{len(planted)}",
                     len(tree_ds_hits - set(planted)), {}))  # fmt: skip
        secs, files, hits, by_sev = run_mlsec(REPO)
        rows.append(("mlsec", "repo", files, secs, "-", len(hits), by_sev))
        ds_secs, ds_files, ds_hits = run_detect_secrets(REPO, all_files=False)
        rows.append(("detect-secrets", "repo (git files)", ds_files, ds_secs, "-", len(ds_hits), {}))
        print("| tool | target | files | seconds | files/s | planted found | other findings | by severity |")
        print("|---|---|---|---|---|---|---|---|")
        for tool, target, n, s, caught_s, other, sev in rows:
            sev_s = ", ".join(f"{k} {v}" for k, v in sorted(sev.items())) or "-"
            print(f"| {tool} | {target} | {n} | {s:.2f} | {n / s:,.0f} | {caught_s} | {other} | {sev_s} |")
        missed = sorted({kind for key, kind in planted.items() if key not in tree_hits})
        print(f"\nmlsec missed kinds: {missed}; false positives: {sorted(tree_hits - set(planted))[:10]}")
        ds_missed = sorted({kind for key, kind in planted.items() if key not in tree_ds_hits})
        print(f"detect-secrets missed kinds: {ds_missed}")
    finally:
        if args.keep:
            print(f"tree kept at {tmp}")
        else:
            shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
