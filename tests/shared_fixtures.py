"""Fixtures several test files need: one definition each (importable because pytest puts tests/ on the path).

Malicious fixtures stay harmless: ``CanaryPayload`` only touches the ``canary`` path, and the
``canary`` fixture in conftest.py fails a test if that file ever appears.
"""

from __future__ import annotations

import io
import os
import pickle
from collections.abc import Callable
from pathlib import Path

DESIGN_NOTE = """\
version: "1.0"
policy:
  fail_on_severity: HIGH
  artifact_rules:
    block_pickle_execution: true
    require_safetensors_format: true
  license_rules:
    fail_on_missing_license: true
    custom_restricted_licenses:
      - "cc-by-nc-4.0"
      - "agpl-3.0"
"""
"""The policy file of the original design note, verbatim (a `veritensor.yaml`)."""

LLAMA3 = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_he"
    "ader_id|>' + "
    "message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}{% if lo"
    "op.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_"
    "prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
)
"""The Llama 3 chat template as shipped on the Hub: a benign template every template check must pass."""


class CanaryPayload:
    """Pickles to ``os.system("touch <canary>")``: harmless, and proof of execution if it ever runs."""

    def __init__(self, canary: Path) -> None:
        self.canary = canary

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.canary}",))


def canary_pickle(canary: Path, protocol: int = 2) -> bytes:
    return pickle.dumps(CanaryPayload(canary), protocol=protocol)


def counting_opener(path: Path) -> tuple[Callable[[], io.FileIO], dict[str, int]]:
    """An opener for ``Artifact`` whose streams count the bytes read: proves what a scan skipped."""
    counted = {"bytes": 0}

    class Counting(io.FileIO):
        def read(self, size: int | None = -1) -> bytes:
            data = super().read(size if size is not None else -1) or b""
            counted["bytes"] += len(data)
            return data

    return (lambda: Counting(str(path), "rb")), counted
