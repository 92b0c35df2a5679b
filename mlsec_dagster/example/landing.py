"""Where the demo keeps its files, and how a checkpoint "lands from outside".

The landing step only copies bytes: whatever arrives (a hub download, a partner's upload) is
untrusted until the mlsec check on ``pretrained_checkpoint`` has passed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from mlsec_dagster.example.training import make_pretrained_checkpoint, write_poisoned_checkpoint

DEMO_DIR_ENV = "MLSEC_DEMO_DIR"
LANDING_FILE_ENV = "MLSEC_LANDING_FILE"
CANARY_NAME = "CANARY_poisoned_checkpoint_executed"
"""Created in the demo folder if the poisoned demo checkpoint's payload ever runs."""


@dataclass(frozen=True)
class DemoPaths:
    root: Path

    @property
    def landed_checkpoint(self) -> Path:
        return self.root / "landing" / "pretrained.pt"

    @property
    def fine_tuned(self) -> Path:
        return self.root / "models" / "fine_tuned.safetensors"

    @property
    def release_dir(self) -> Path:
        return self.root / "release"

    @property
    def release_manifest(self) -> Path:
        return self.release_dir / "manifest.json"

    @property
    def training_environment(self) -> Path:
        return self.root / "environment" / "requirements.txt"

    @property
    def poisoned_source(self) -> Path:
        return self.root / "incoming" / "poisoned_pretrained.pt"

    @property
    def canary(self) -> Path:
        return self.root / CANARY_NAME


def demo_paths() -> DemoPaths:
    """Read at run time (not import time) so tests and scripts can point the demo elsewhere."""
    return DemoPaths(Path(os.environ.get(DEMO_DIR_ENV, "demo")))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def land_checkpoint(source: str | None, destination: Path) -> str:
    """Copy ``source`` (or ``$MLSEC_LANDING_FILE``) to ``destination``; default: a clean pretrained one.

    Returns a description of where the bytes came from, for the materialization metadata.
    """
    source = source or os.environ.get(LANDING_FILE_ENV) or None
    destination.parent.mkdir(parents=True, exist_ok=True)
    if source is None:
        make_pretrained_checkpoint(destination)
        return "generated clean pretrained checkpoint"
    shutil.copyfile(source, destination)
    return f"copied from {source}"


def make_poisoned_demo_checkpoint() -> Path:
    """Write the demo's hijacked checkpoint into ``<demo>/incoming/``; land it with
    ``MLSEC_LANDING_FILE=<that path>`` to watch the gate stop it. Its payload only touches the
    canary file in the demo folder, and never runs because nothing loads the file before the check.
    """
    paths = demo_paths()
    return write_poisoned_checkpoint(paths.poisoned_source, paths.canary.resolve())
