"""Credential shapes shared by every secret search: dataset cells today, repository files later.

A leaked token in a training set is leaked to everyone who downloads it, and models memorise
and repeat them. Only high-signal shapes are listed (a fixed prefix, a checksum-like marker or a
context word), so a hit is worth a rotation; generic "high-entropy string" guessing is left out
because it floods benign data (hashes, ids, base64 images).

Each entry is format-agnostic data: its catalogued rule, a short name (part of finding keys), a
regex that compiles identically in Rust/polars and Python ``re`` (ASCII classes, no look-around,
no back-references), the literal prefixes a cheap prefilter looks for (:data:`CASED_PREFILTER` /
:data:`FOLDED_PREFILTER`), and the group holding the secret itself. Shapes follow the public gitleaks
rules (MIT) in spirit; they are written afresh here. Placeholders (``hf_xxx…``,
``AKIAIOSFODNN7EXAMPLE``, ``sk_live_YOUR_KEY``) are not secrets: :func:`is_placeholder` and
:data:`PLACEHOLDER_MARKERS` say why, and consumers must skip them.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from mlsec_dagster.engine.findings import Severity
from mlsec_dagster.engine.rules import Rule, define

_FAMILY = "secrets"

_ROTATE = "Revoke or rotate the credential at its issuer first (it is compromised once published), then "
_REMOVE = "remove it from the data and from any published copy or history."


@dataclass(frozen=True)
class SecretPattern:
    rule: Rule
    name: str
    """Short stable name, used in finding keys: ``huggingface-token``."""
    label: str
    """How a message names it: "a Hugging Face access token"."""
    regex: str
    """Rust- and Python-compatible; group ``group`` is the secret."""
    prefixes: tuple[str, ...]
    """Case-sensitive literals, at least one of which occurs in every match (prefilter). Not always the
    token's prefix: a literal starting with an upper-case letter, ``_``, ``-`` or ``/`` (``_live_``
    for ``sk_live_``) keeps the SIMD literal search fast on lower-case prose."""
    group: int = 0
    requires: str | None = None
    """A second regex that must also match somewhere in the same text (e.g. the service-account type)."""
    unless: str | None = None
    """Text matching this regex is reported by another pattern instead (no double report)."""
    folded: str | None = None
    """For a pattern that ignores case: a lower-case literal that every match holds once the text is
    ASCII-lower-cased, so one search of the lower-cased text covers every spelling."""


def _rule(number: int, title: str, severity: Severity, description: str, remediation: str) -> Rule:
    return define(
        f"MLS-SEC-{number:03d}", title, severity, description, _ROTATE + remediation, family=_FAMILY,
        tags=("secret",),
    )  # fmt: skip


_PEM_BODY = r"(?:\\r|\\n|[\r\n \t])+[A-Za-z0-9+/=]{40,}"
"""After the header: real key material (a base64 line), through real or JSON-escaped newlines."""

PRIVATE_KEY = _rule(
    1, "Private key (PEM) in data", Severity.CRITICAL,
    "A PEM private key block (RSA, EC, DSA, OpenSSH, PKCS#8) with key material. Whoever holds the data "
    "can impersonate the key's owner (servers, deploy keys, signing). A header with no base64 body "
    "(documentation) is not reported.",
    _REMOVE,
)  # fmt: skip
AWS_KEY = _rule(
    2, "AWS access key in data", Severity.HIGH,
    "An AWS access key id (AKIA… long-term, ASIA… temporary). HIGH alone; CRITICAL when a 40-character "
    "secret access key sits next to it, since the pair grants API access to the account.",
    "deactivate the key in IAM, review CloudTrail for its use, and " + _REMOVE,
)  # fmt: skip
GCP_SERVICE_ACCOUNT = _rule(
    3, "Google Cloud service-account key in data", Severity.CRITICAL,
    "A GCP service-account JSON key (\"type\": \"service_account\" with a private_key): full API access as "
    "that service account.",
    "delete the key in IAM > Service accounts > Keys, and " + _REMOVE,
)  # fmt: skip
HUGGINGFACE = _rule(
    4, "Hugging Face token in data", Severity.HIGH,
    "A Hugging Face user or organisation access token (hf_/api_org_ + 34 letters): read or write access to "
    "the owner's models, datasets and Spaces.",
    "invalidate it at huggingface.co/settings/tokens, and " + _REMOVE,
)  # fmt: skip
OPENAI = _rule(
    5, "OpenAI API key in data", Severity.HIGH,
    "An OpenAI API key (sk-…, sk-proj-…, sk-svcacct-…, all carrying the T3BlbkFJ marker): usage billed to "
    "the owner, access to their files and fine-tunes.",
    "delete it at platform.openai.com/api-keys, and " + _REMOVE,
)  # fmt: skip
ANTHROPIC = _rule(
    6, "Anthropic API key in data", Severity.HIGH,
    "An Anthropic API or admin key (sk-ant-api03-…/sk-ant-admin01-…): usage billed to the owner.",
    "delete it in the Anthropic console, and " + _REMOVE,
)  # fmt: skip
GITHUB = _rule(
    7, "GitHub token in data", Severity.HIGH,
    "A GitHub personal, OAuth, app or fine-grained token (ghp_/gho_/ghu_/ghs_/ghr_/github_pat_): access to "
    "the owner's repositories and, with write scopes, a supply-chain foothold.",
    "revoke it at github.com/settings/tokens (GitHub also revokes tokens it finds public), and " + _REMOVE,
)  # fmt: skip
SLACK = _rule(
    8, "Slack token or webhook in data", Severity.HIGH,
    "A Slack bot/user/app token (xoxb-/xoxp-/xoxa-/xoxr-/xoxs-) or incoming-webhook URL: read or post "
    "messages in the workspace.",
    "revoke it in the Slack app settings, and " + _REMOVE,
)  # fmt: skip
WANDB = _rule(
    9, "Weights & Biases API key in data", Severity.HIGH,
    "A 40-hex-digit W&B API key within 100 characters after a wandb/WANDB_API_KEY mention (an env line, "
    "a `.netrc` entry for api.wandb.ai): access to the owner's runs, artifacts and models. (Bare 40-hex "
    "strings are git hashes and are not reported.)",
    "regenerate it at wandb.ai/authorize, and " + _REMOVE,
)  # fmt: skip
PYPI = _rule(
    10, "PyPI upload token in data", Severity.HIGH,
    "A PyPI API token (pypi-AgEIcHlwaS5vcmc…): can upload releases of the owner's packages, a supply-chain "
    "attack path.",
    "remove it at pypi.org/manage/account/token, and " + _REMOVE,
)  # fmt: skip
GOOGLE_API = _rule(
    11, "Google API key in data", Severity.MEDIUM,
    "A Google API key (AIza…). MEDIUM, not HIGH: browser keys are published in web pages by design and "
    "restricted by referrer, so web-crawl text holds many; a server key without restrictions is a real leak.",
    "check the key's restrictions in the Google Cloud console; if unrestricted, rotate it, and " + _REMOVE,
)  # fmt: skip
STRIPE = _rule(
    12, "Stripe live secret key in data", Severity.CRITICAL,
    "A Stripe live secret or restricted key (sk_live_/rk_live_): moves real money on the owner's account. "
    "Test-mode keys (sk_test_) are not reported.",
    "roll it in the Stripe dashboard, and " + _REMOVE,
)  # fmt: skip

_END = r"(?:[^A-Za-z0-9_]|$)"
"""ASCII end-of-token boundary, consumed (the secret is group 1). Patterns start with their literal
and no boundary: a leading ``\b`` (Unicode in both engines) or a consumed class would stop Rust's
regex from jumping to the literal, measured 2-15x slower on text full of candidate prefixes."""

_GCP_TYPE = r"\"type\"[ \t]*:[ \t]*\"service_account\""

PATTERNS: tuple[SecretPattern, ...] = (
    SecretPattern(
        GCP_SERVICE_ACCOUNT, "gcp-service-account", "a Google Cloud service-account key",
        r"\"private_key\"[ \t]*:[ \t]*\"-----BEGIN PRIVATE KEY-----" + _PEM_BODY,
        ("PRIVATE KEY",), requires=_GCP_TYPE,
    ),
    SecretPattern(
        PRIVATE_KEY, "private-key", "a private key",
        r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----" + _PEM_BODY,
        ("PRIVATE KEY",), unless=_GCP_TYPE,
    ),
    SecretPattern(
        AWS_KEY, "aws-access-key", "an AWS access key id",
        r"((?:AKIA|ASIA)[A-Z0-9]{16})" + _END, ("AKIA", "ASIA"), group=1,
    ),
    SecretPattern(
        HUGGINGFACE, "huggingface-token", "a Hugging Face access token",
        r"((?:hf_|api_org_)[A-Za-z]{34})" + _END, ("hf_", "_org_"), group=1,
    ),
    SecretPattern(
        OPENAI, "openai-key", "an OpenAI API key",
        r"(sk-(?:(?:proj|svcacct|admin)-)?[A-Za-z0-9_-]{16,200}T3BlbkFJ[A-Za-z0-9_-]{16,200})",
        ("T3BlbkFJ",), group=1,
    ),
    SecretPattern(
        ANTHROPIC, "anthropic-key", "an Anthropic API key",
        r"(sk-ant-(?:api|admin)[0-9]{2}-[A-Za-z0-9_-]{80,120}AA)(?:[^A-Za-z0-9_-]|$)", ("-ant-",),
        group=1,
    ),
    SecretPattern(
        GITHUB, "github-token", "a GitHub token",
        r"((?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59})"
        + _END,
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "_pat_"), group=1,
    ),
    SecretPattern(
        SLACK, "slack-token", "a Slack token",
        r"(xox[baprs]-[0-9]{8,13}-[A-Za-z0-9-]{8,}"
        r"|hooks\.slack\.com/services/T[A-Z0-9]{6,12}/B[A-Z0-9]{6,12}/[A-Za-z0-9]{20,32})",
        ("xox", "/services/"), group=1,
    ),
    SecretPattern(
        WANDB, "wandb-key", "a Weights & Biases API key",
        r"(?i:wandb)[^\x00]{0,100}?[^0-9a-fA-F]([0-9a-f]{40})(?:[^0-9a-fA-F]|$)",
        ("wandb", "WANDB", "Wandb", "WandB"), group=1, folded="wandb",
    ),
    SecretPattern(
        PYPI, "pypi-token", "a PyPI upload token",
        r"(pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,})", ("AgEIcHlwaS5vcmc",), group=1,
    ),
    SecretPattern(
        GOOGLE_API, "google-api-key", "a Google API key",
        r"(AIza[0-9A-Za-z_-]{35})(?:[^0-9A-Za-z_-]|$)", ("AIza",), group=1,
    ),
    SecretPattern(
        STRIPE, "stripe-live-key", "a Stripe live secret key",
        r"((?:sk|rk)_live_[0-9A-Za-z]{24,99})" + _END, ("_live_",), group=1,
    ),
)  # fmt: skip


def literal_alternation(literals: tuple[str, ...]) -> str:
    """Literals as one regex alternation: Rust's regex runs it with SIMD (Teddy), measured ~3x faster
    than ``contains_any`` over the same literals (1.6 GB/s vs 0.55 GB/s on 60 MB of chat text)."""
    return "|".join(re.sub(r"([.\\+*?()|\[\]{}^$])", r"\\\1", literal) for literal in literals)


CASED_PREFILTER = literal_alternation(
    tuple(dict.fromkeys(p for pattern in PATTERNS if pattern.folded is None for p in pattern.prefixes))
)
FOLDED_PREFILTER = literal_alternation(tuple(p.folded for p in PATTERNS if p.folded is not None))
"""Where lower-cased text is at hand (dataset columns), ``CASED_PREFILTER`` over the text plus
``FOLDED_PREFILTER`` over its lower-cased copy find every candidate, including odd spellings
(``wAnDb``); two short literal sets search ~1.5x faster than one long one."""

AWS_SECRET_NEAR = r"(?:^|[^A-Za-z0-9/+])([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)"
"""A 40-character AWS secret access key; searched within :data:`AWS_SECRET_WINDOW` chars of a key id."""
AWS_SECRET_WINDOW = 300

PLACEHOLDER_MARKERS: tuple[str, ...] = (
    "example", "dummy", "placeholder", "sample", "redacted", "your", "xxxx", "fake", "test", "abcdefgh",
    "12345678", "0000000",
)  # fmt: skip
"""Case-insensitive substrings that make a token a documentation stand-in, not a credential."""

PUBLISHED_KEY_DIGESTS: frozenset[str] = frozenset(
    {
        # the Azurite / Azure Storage Emulator account key, printed in Microsoft's documentation
        "0011cc25eb4320717494d2703e8cba85743e71b500283c21c8b88147992f9059",
    }
)
"""sha256 of credentials that vendors publish for local emulators: known to everyone, so not secrets.
Kept as digests so the repository carries no key-shaped literal."""

MIN_DISTINCT_CHARS = 10
"""A real token drawn at random has many distinct characters (a 34-letter hf_ body ~25, 40 hex ~15);
``hf_aaaa…`` or ``AKIA0000…`` has few. Counted over the whole matched secret; the floor is
``min(MIN_DISTINCT_CHARS, len // 3)`` so short ids (20-char AWS key ids) are judged fairly."""


def is_placeholder(secret: str) -> bool:
    """True for documentation look-alikes; consumers must not report these as secrets."""
    lowered = secret.lower()
    if hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest() in PUBLISHED_KEY_DIGESTS:
        return True
    return any(marker in lowered for marker in PLACEHOLDER_MARKERS) or len(set(secret)) < min(
        MIN_DISTINCT_CHARS, len(secret) // 3
    )


def redact(secret: str) -> str:
    """Enough to recognise the token (its kind and first characters), never enough to use it."""
    header_end = secret.rfind("-----")
    shown = secret[: header_end + 5] if header_end >= 0 else secret[:6]
    return f"{shown}… ({len(secret)} chars, redacted)"


def fingerprint(pattern: SecretPattern, secret: str) -> str:
    """A stable finding key that identifies the same secret across scans without revealing it."""
    return f"{pattern.name}:{hashlib.sha256(secret.encode('utf-8')).hexdigest()[:16]}"


def aws_secret_near(text: str, offset: int, length: int) -> str | None:
    """A 40-character AWS secret access key within :data:`AWS_SECRET_WINDOW` chars of a key id: base64-like
    (mixed case with a digit or ``/``/``+``), unlike hex digests and words."""
    start = max(0, offset - AWS_SECRET_WINDOW)
    window = text[start : offset + length + AWS_SECRET_WINDOW]
    for m in re.finditer(AWS_SECRET_NEAR, window):
        candidate = m.group(1)
        mixed = candidate.lower() != candidate != candidate.upper() and not candidate.isalpha()
        if mixed and not is_placeholder(candidate):
            return candidate
    return None


# -- shapes searched in repository text and artifact strings (not in dataset cells yet) -----------------
# Rust- and Python-compatible like PATTERNS, so they can join the dataset detector once its benchmarks
# cover them. Shapes after the gitleaks rules (MIT, https://github.com/gitleaks/gitleaks,
# config/gitleaks.toml: aws-secret-access-key context, azure-ad-client-secret), rewritten; TruffleHog
# (AGPL) was not used.

AWS_SECRET = _rule(
    13, "AWS secret access key in data", Severity.CRITICAL,
    "A 40-character AWS secret access key assigned to an aws_secret_access_key / SecretAccessKey name: "
    "with its key id (often in the same file) it grants API access to the account.",
    "deactivate the key pair in IAM, review CloudTrail for its use, and " + _REMOVE,
)  # fmt: skip
AZURE_STORAGE = _rule(
    14, "Azure storage account key in data", Severity.CRITICAL,
    "An Azure storage connection string or account key (AccountKey=<88 base64 chars>): full read/write "
    "access to every blob, queue and table of the storage account.",
    "rotate the account key under Storage account > Access keys (prefer Entra ID or SAS with expiry), and "
    + _REMOVE,
)  # fmt: skip
AZURE_SAS = _rule(
    15, "Azure shared access signature in data", Severity.HIGH,
    "A signed Azure SAS URL or token (sv=…&…sig=…): access to the storage resource until it expires.",
    "revoke it (rotate the signing key or delete its stored access policy), issue short-lived SAS only, "
    "and " + _REMOVE,
)  # fmt: skip
AZURE_CLIENT_SECRET = _rule(
    16, "Azure AD client secret in data", Severity.HIGH,
    "An Entra ID (Azure AD) application client secret (the …Q~… format): signs in as the application.",
    "delete the secret under App registrations > Certificates & secrets, and " + _REMOVE,
)  # fmt: skip

TEXT_PATTERNS: tuple[SecretPattern, ...] = (
    SecretPattern(
        AWS_SECRET, "aws-secret-key", "an AWS secret access key",
        r"(?i:aws_?secret_?(?:access_?)?key|secret_?access_?key)[\"']?[ \t]*(?::=|=>|[:=])[ \t]*[\"']?"
        r"([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)",
        (), group=1, folded="secret",
    ),
    SecretPattern(
        AZURE_STORAGE, "azure-storage-key", "an Azure storage account key",
        r"AccountKey=([A-Za-z0-9+/]{86}==)", ("AccountKey=",), group=1,
    ),
    SecretPattern(
        AZURE_SAS, "azure-sas", "an Azure shared access signature",
        r"sv=[0-9]{4}-[0-9]{2}-[0-9]{2}&[^\s\"'<>]{0,400}?sig=([A-Za-z0-9%/+]{30,}(?:%3D|=)*)",
        ("sig=",), group=1,
    ),
    SecretPattern(
        AZURE_CLIENT_SECRET, "azure-client-secret", "an Azure AD client secret",
        r"(?:^|[\\'\"`\s>=:(,])([A-Za-z0-9_~.]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34})(?:$|[\\'\"`\s<),])",
        ("Q~",), group=1,
    ),
)  # fmt: skip
"""Connection strings (``DefaultEndpointsProtocol=…;AccountKey=…``) are found by their ``AccountKey=``."""
