"""The model side of the demo: a tiny regression MLP, its pretrained checkpoint, fine-tuning.

Everything here is real torch (checkpoints are what ``torch.save`` writes), kept tiny so the demo
runs in seconds on a CPU. ``write_poisoned_checkpoint`` builds the attack the gate must stop.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

IN_FEATURES = 8
HIDDEN = 16


def _model() -> Any:
    import torch

    return torch.nn.Sequential(
        torch.nn.Linear(IN_FEATURES, HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, 1)
    )


def _synthetic_batch(seed: int, rows: int = 256) -> tuple[Any, Any]:
    """y = x . w + noise, with a fixed w: enough signal for the loss to visibly drop."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, IN_FEATURES, generator=gen)
    w = torch.linspace(-1.0, 1.0, IN_FEATURES)
    y = (x @ w).unsqueeze(1) + 0.05 * torch.randn(rows, 1, generator=gen)
    return x, y


def _train(model: Any, steps: int, seed: int, lr: float) -> tuple[float, float]:
    import torch

    x, y = _synthetic_batch(seed)
    optimiser = torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = torch.nn.MSELoss()
    with torch.no_grad():
        before = float(loss_fn(model(x), y))
    for _ in range(steps):
        optimiser.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        after = float(loss_fn(model(x), y))
    return before, after


def make_pretrained_checkpoint(path: Path, steps: int = 20) -> Path:
    """A clean, legitimately pickled PyTorch checkpoint (a state dict), as a model hub would ship."""
    import torch

    torch.manual_seed(0)
    model = _model()
    _train(model, steps, seed=1, lr=0.05)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    return path


class _CanaryPayload:
    """Runs ``touch <canary>`` if anything ever unpickles it: the demo's stand-in for malware."""

    def __init__(self, canary: Path) -> None:
        self.canary = canary

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, (f"touch {self.canary}",))


def write_poisoned_checkpoint(path: Path, canary: Path) -> Path:
    """A real PyTorch checkpoint whose pickle calls ``os.system`` on load (harmless canary payload).

    It looks like the pretrained checkpoint (same state dict) plus one poisoned entry, the way
    hijacked hub checkpoints do. Nothing in the demo ever loads it: the blocking check stops it.
    """
    import torch

    torch.manual_seed(0)
    state = {"state_dict": _model().state_dict(), "metadata": _CanaryPayload(canary)}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return path


@dataclass(frozen=True)
class FineTuneResult:
    loss_before: float
    loss_after: float
    parameters: int


def fine_tune(checkpoint: Path, output: Path, steps: int, lr: float) -> FineTuneResult:
    """Start from the pretrained weights, train a few steps, export to safetensors.

    Loading a pickle checkpoint is only acceptable because the caller runs downstream of the
    blocking mlsec check on that exact file; ``weights_only=True`` is the second line of defence.
    """
    import torch
    from safetensors.torch import save_file

    model = _model()
    state = torch.load(checkpoint, weights_only=True)  # mlsec: safe runs only after the blocking mlsec check passed; weights_only=True  # noqa: E501  # fmt: skip
    model.load_state_dict(state)
    before, after = _train(model, steps, seed=2, lr=lr)
    output.parent.mkdir(parents=True, exist_ok=True)
    tensors = {name: t.detach().contiguous() for name, t in model.state_dict().items()}
    save_file(tensors, str(output), metadata={"format": "pt", "source": "mlsec-dagster demo"})
    return FineTuneResult(before, after, sum(t.numel() for t in tensors.values()))
