"""Model-scan cost follows the pickle, not the tensors: measured side by side in one run.

Builds a small (~2 MB) and a large (~2 GB by default) PyTorch checkpoint in both the zip and the
legacy format, plus safetensors files of both sizes, then times:

* ``mlsec``: ``scan_path`` on each file (best of N), and the bytes it actually read (``rchar``
  from /proc/self/io, which counts every read syscall, cached or not);
* ``picklescan``: the installed peer, on the same files (best of N);
* ``read-all``: reading the whole file once, the baseline for "cost grows with size".

Run: ``.venv/bin/python benchmarks/bench_models.py [--size-gb 2] [--repeat 3]``. Prints a
markdown table for the README.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def _rchar() -> int:
    with open("/proc/self/io") as fh:
        for line in fh:
            if line.startswith("rchar:"):
                return int(line.split()[1])
    return 0


def _best_of(repeat: int, fn: Callable[[], object]) -> tuple[float, int]:
    best = float("inf")
    read = 0
    for _ in range(repeat):
        before = _rchar()
        started = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - started
        if elapsed < best:
            best, read = elapsed, _rchar() - before
    return best, read


def _build(folder: Path, size_bytes: int) -> dict[str, Path]:
    import torch
    from safetensors.torch import save_file

    tensors = max(1, size_bytes // (256 * 1024 * 1024))
    per_tensor = size_bytes // tensors // 4
    state = {f"layer{i}.weight": torch.zeros(per_tensor, dtype=torch.float32) for i in range(tensors)}
    state["head.bias"] = torch.arange(16, dtype=torch.float32)
    label = f"{size_bytes / 1e6:,.0f} MB"
    paths = {
        f"PyTorch zip, {label}": folder / f"zip_{size_bytes}.pt",
        f"PyTorch legacy, {label}": folder / f"legacy_{size_bytes}.pt",
        f"safetensors, {label}": folder / f"st_{size_bytes}.safetensors",
    }
    zip_path, legacy_path, st_path = paths.values()
    torch.save(state, zip_path)
    torch.save(state, legacy_path, _use_new_zipfile_serialization=False)
    save_file(state, str(st_path))
    return paths


def _picklescan(path: Path) -> Callable[[], object]:
    from picklescan.scanner import scan_file_path

    return lambda: scan_file_path(str(path))


def _read_all(path: Path) -> Callable[[], object]:
    def run() -> None:
        with open(path, "rb") as fh:
            while fh.read(8 * 1024 * 1024):
                pass

    return run


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-gb", type=float, default=2.0, help="size of the large artifacts (default 2)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best is kept")
    parser.add_argument(
        "--workdir", type=Path, default=None, help="where to build files (default: a temp dir)"
    )
    args = parser.parse_args()

    from mlsec_dagster import scan_path

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="mlsec-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        files: dict[str, Path] = {}
        for size in (2 * 1024 * 1024, int(args.size_gb * 1024**3)):
            files.update(_build(workdir, size))
        print("| artifact | size | mlsec scan | mlsec bytes read | picklescan | read whole file |")
        print("|---|---:|---:|---:|---:|---:|")
        for label, path in files.items():
            mlsec_s, mlsec_read = _best_of(args.repeat, lambda p=path: scan_path(str(p), root=str(workdir)))
            peer_s, _ = _best_of(args.repeat, _picklescan(path))
            read_s, _ = _best_of(1, _read_all(path))
            findings = scan_path(str(path), root=str(workdir)).findings
            assert not [f for f in findings if f.severity >= 3], f"benign file flagged: {findings}"
            print(
                f"| {label} | {path.stat().st_size / 1e6:,.1f} MB | {mlsec_s * 1000:,.1f} ms "
                f"| {mlsec_read / 1e6:,.2f} MB | {peer_s * 1000:,.1f} ms | {read_s * 1000:,.1f} ms |"
            )
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
