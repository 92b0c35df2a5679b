"""``require_safetensors_format``: every pickle-based weight file is a finding of its own.

Decided per top-level file after its scan (a PyTorch zip with three pickles is one finding), from
what the scanners identified inside it, never from its extension.
"""

from __future__ import annotations

from collections.abc import Iterable

from mlsec_dagster.engine.context import ArtifactRecord
from mlsec_dagster.engine.findings import Finding, Severity
from mlsec_dagster.engine.rules import define

PICKLE_WEIGHTS = define(
    "MLS-POL-001",
    "Pickle-based weight file where the policy requires safetensors",
    Severity.HIGH,
    "`artifact_rules.require_safetensors_format` is on and this file stores objects as pickle, which "
    "can execute code when loaded. Safetensors stores only tensors and metadata.",
    "Load the checkpoint once in an isolated sandbox and re-save its tensors with "
    "`safetensors.torch.save_file(model.state_dict(), 'model.safetensors')` (or the Hugging Face "
    "`convert` space / `transformers` `save_pretrained(safe_serialization=True)`); for scikit-learn "
    "or other non-tensor objects export to ONNX or skops instead. Then delete the pickle file.",
    family="policy",
)


def pickle_weight_findings(
    path: str, records: Iterable[ArtifactRecord], pickle_formats: frozenset[str]
) -> list[Finding]:
    members = [r for r in records if r.format in pickle_formats]
    if not members:
        return []
    where = ", ".join(" > ".join(r.member) or "(whole file)" for r in members[:5])
    return [
        PICKLE_WEIGHTS.finding(
            path,
            f"{path} is a pickle-based weight file ({where}); the policy requires safetensors. "
            "Convert it with safetensors.torch.save_file(...) in a sandbox and remove the pickle.",
            evidence=f"{len(members)} pickle stream(s): {where}",
            key="require_safetensors_format",
        )
    ]
