"""Is this archive a wheel or an sdist? Decided from member names, never from the file name alone.

Sniffs run on every zip and tar, so they read only the zip central directory (at the end of the
file) or the tar headers (skipping member data), within fixed bounds.
"""

from __future__ import annotations

import tarfile
from collections.abc import Callable
from typing import Literal

from mlsec_dagster.engine.artifact import Artifact
from mlsec_dagster.scanners.archives.zipdir import ZipFormatError, find_end, parse_central

Layout = Literal["wheel", "sdist"]

SNIFF_MEMBERS = 20_000
"""Members a sniff looks at; an sdist's setup.py may come after every package file."""
SNIFF_DIRECTORY_BYTES = 16 * 1024 * 1024
"""Largest zip central directory a sniff reads (~150,000 members)."""
SDIST_MARKERS = ("setup.py",)
"""One of these in the single top folder (or at the root: pip builds that too) makes an sdist."""
SDIST_METADATA = ("PKG-INFO",)
SDIST_CONFIG = ("pyproject.toml", "setup.cfg")
"""PKG-INFO plus one of these also makes an sdist (PEP 517 sdists have no setup.py)."""


def clean(name: str) -> str:
    return name.replace("\\", "/").removeprefix("./")


def top_folder(names: list[str]) -> str | None:
    """The one folder every member sits in (sdists always have one), else None."""
    tops = {clean(n).split("/", 1)[0] for n in names if clean(n)}
    if len(tops) != 1:
        return None
    top = tops.pop()
    return top if any("/" in clean(n) for n in names) else None


def dist_info_dirs(names: list[str]) -> list[str]:
    return sorted(
        {clean(n).split("/", 1)[0] for n in names if clean(n).split("/", 1)[0].endswith(".dist-info")}
    )


def project_root(names: list[str]) -> str:
    """Where pip would look for setup.py: the single top folder, else the archive root ('')."""
    return top_folder(names) or ""


def join(root: str, name: str) -> str:
    return f"{root}/{name}" if root else name


def classify(names: list[str], filename: str) -> Layout | None:
    infos = dist_info_dirs(names)
    if filename.lower().endswith(".whl") or (len(infos) == 1 and top_folder(names) is None):
        return "wheel"
    root = project_root(names)
    present = {clean(n) for n in names}
    if any(join(root, m) in present for m in SDIST_MARKERS):
        return "sdist"
    has_metadata = any(join(root, m) in present for m in SDIST_METADATA)
    return "sdist" if has_metadata and any(join(root, m) in present for m in SDIST_CONFIG) else None


_last: list[tuple[tuple[object, ...], Layout | None]] = []
"""The last sniff result: the wheel and sdist sniffs ask about the same artifact back to back. Only a
key is kept, never the artifact (its opener may hold an inflated spool)."""


def _cached(artifact: Artifact, kind: str, compute: Callable[[Artifact], Layout | None]) -> Layout | None:
    key = (kind, artifact.path, artifact.member, artifact.size, id(artifact.open), artifact.head[:512])
    if _last and _last[0][0] == key:
        return _last[0][1]
    result = compute(artifact)
    _last[:] = [(key, result)]
    return result


def zip_layout(artifact: Artifact) -> Layout | None:
    return _cached(artifact, "zip", _zip_layout)


def tar_layout(artifact: Artifact) -> Layout | None:
    return _cached(artifact, "tar", _tar_layout)


def _zip_layout(artifact: Artifact) -> Layout | None:
    with artifact.open() as fh:
        size = artifact.size if artifact.size >= 0 else fh.seek(0, 2)
        try:
            end = find_end(fh, size)
        except ZipFormatError:
            return None
        if end.cd_size > SNIFF_DIRECTORY_BYTES:
            return "wheel" if artifact.name.lower().endswith(".whl") else None
        fh.seek(end.cd_start)
        entries, _, _ = parse_central(fh.read(end.cd_size), end.shift, SNIFF_MEMBERS)
    return classify([e.name for e in entries], artifact.name)


def _tar_layout(artifact: Artifact) -> Layout | None:
    names: list[str] = []
    with artifact.open() as fh:
        try:
            with tarfile.open(fileobj=fh, mode="r:") as archive:
                for _ in range(SNIFF_MEMBERS):
                    info = archive.next()
                    if info is None:
                        break
                    names.append(info.name)
        except (tarfile.TarError, EOFError, OSError):
            pass
    layout = classify(names, "")
    return layout if layout == "sdist" else None
