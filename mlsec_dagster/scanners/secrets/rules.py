"""Rules of the repository-wide secret search (token shapes themselves live in ``secret_patterns``)."""

from __future__ import annotations

from mlsec_dagster.engine.findings import Severity
from mlsec_dagster.engine.rules import define

_FAMILY = "secrets"

GENERIC = define(
    "MLS-SEC-017",
    "Hard-coded password or secret",
    Severity.MEDIUM,
    "A value assigned to a password/secret/token/api_key name (or the password of a URL) that looks like "
    "a real credential: long enough, mixed characters, high entropy, not a reference such as ${VAR} or "
    "os.environ. MEDIUM because the shape is guessed from context, unlike the fixed token formats.",
    "Revoke or rotate the credential at its issuer first (it is compromised once committed), then read it "
    "from the environment or a secret manager and remove it from the file and from the git history.",
    family=_FAMILY,
    tags=("secret",),
)
WAIVER_WITHOUT_REASON = define(
    "MLS-SEC-018",
    "Inline waiver without a reason",
    Severity.LOW,
    "An `mlsec: ignore` comment gives no reason, so it suppresses nothing: a waiver must say why (e.g. "
    "`# mlsec: ignore[MLS-SEC-004] revoked test token`).",
    "Add the reason after the comment, or remove the comment.",
    family=_FAMILY,
)
TEXT_TOO_LARGE = define(
    "MLS-SEC-019",
    "Text file too large to search for secrets",
    Severity.LOW,
    "The file is text but larger than the secret search's size limit, so it was not searched.",
    "Exclude the file in `.mlsecignore` with a comment if it is generated data, or split it.",
    family=_FAMILY,
)
