"""Realistic-looking credentials generated at test time (none is stored in the repository, so the
repository's own scan and push protection never see a token-shaped literal)."""

from __future__ import annotations

import base64
import random
import string

from mlsec_dagster.scanners.secret_patterns import is_placeholder

_ALNUM = string.ascii_letters + string.digits
_B64 = _ALNUM + "+/"


class Tokens:
    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)

    def pick(self, alphabet: str, n: int) -> str:
        while True:
            value = "".join(self.rng.choice(alphabet) for _ in range(n))
            if not is_placeholder(value) and not is_placeholder(value[:12]):
                return value

    def hf(self) -> str:
        return "hf_" + self.pick(string.ascii_letters, 34)

    def openai(self) -> str:
        return "sk-proj-" + self.pick(_ALNUM, 24) + "T3BlbkFJ" + self.pick(_ALNUM, 24)

    def anthropic(self) -> str:
        return "sk-ant-api03-" + self.pick(_ALNUM + "-_", 93) + "AA"

    def aws_id(self) -> str:
        return "AKIA" + self.pick(string.ascii_uppercase + "234567", 16)

    def aws_secret(self) -> str:
        return self.pick(_B64, 19) + "/" + self.pick(_ALNUM, 20)

    def github(self) -> str:
        return "ghp_" + self.pick(_ALNUM, 36)

    def github_pat(self) -> str:
        return "github_pat_" + self.pick(_ALNUM, 22) + "_" + self.pick(_ALNUM, 59)

    def slack(self) -> str:
        return f"xoxb-{self.pick(string.digits, 11)}-{self.pick(string.digits, 13)}-{self.pick(_ALNUM, 24)}"

    def slack_webhook(self) -> str:
        upper = string.ascii_uppercase + string.digits
        team, bot, key = self.pick(upper, 8), self.pick(upper, 10), self.pick(_ALNUM, 24)
        return f"https://hooks.slack.com/services/T{team}/B{bot}/{key}"

    def wandb(self) -> str:
        return self.pick("0123456789abcdef", 40)

    def pypi(self) -> str:
        return "pypi-AgEIcHlwaS5vcmc" + self.pick(_ALNUM + "-_", 70)

    def azure_conn(self) -> tuple[str, str]:
        key = self.pick(_B64, 86) + "=="
        return (
            f"DefaultEndpointsProtocol=https;AccountName=mlartifacts;AccountKey={key};EndpointSuffix=core.windows.net",
            key,
        )

    def azure_sas(self) -> str:
        sig = self.pick(_ALNUM, 43) + "%3D"
        return f"https://mlartifacts.blob.core.windows.net/models?sv=2022-11-02&ss=b&srt=o&sp=r&se=2026-01-01T00:00:00Z&sig={sig}"

    def azure_client_secret(self) -> str:
        return self.pick(_ALNUM, 3) + "8Q~" + self.pick(_ALNUM + "_~.-", 34)

    def password(self) -> str:
        return self.pick(_ALNUM, 10) + "#" + self.pick(_ALNUM, 5)

    def pem_body(self, lines: int = 6) -> str:
        return "\n".join(base64.b64encode(self.rng.randbytes(48)).decode() for _ in range(lines))

    def rsa_key(self) -> str:
        return f"-----BEGIN RSA PRIVATE KEY-----\n{self.pem_body()}\n-----END RSA PRIVATE KEY-----\n"

    def openssh_key(self) -> str:
        return f"-----BEGIN OPENSSH PRIVATE KEY-----\n{self.pem_body()}\n-----END OPENSSH PRIVATE KEY-----\n"

    def pkcs8_key(self) -> str:
        return f"-----BEGIN PRIVATE KEY-----\n{self.pem_body()}\n-----END PRIVATE KEY-----\n"
