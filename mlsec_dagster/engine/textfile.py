"""Reading the small files a team writes for the gate (policy, baseline): bounded, UTF-8, and every
problem an error that names the file, in the caller's own exception type."""

from __future__ import annotations

from pathlib import Path


def read_team_file(path: Path, limit: int, what: str, error: type[ValueError]) -> str:
    try:
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise error(f"{path}: cannot read {what}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise error(f"{path}: larger than {limit:,} bytes; this is not a {what}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text (byte {exc.start})") from None
