"""Wheel metadata (WHEEL, METADATA, entry_points.txt), commands a package must not shadow, binary magic.

Parsing is deliberately plain (``email`` headers and ``configparser``): these files are read, never
acted on, and whatever does not parse is reported by the caller (fail closed).
"""

from __future__ import annotations

import configparser
import re
import struct
from dataclasses import dataclass
from email.parser import HeaderParser

from packaging.utils import canonicalize_name

SHADOWED_COMMANDS: dict[str, frozenset[str]] = {
    # package managers and interpreters: what every install or CI step types
    "pip": frozenset({"pip"}), "pip3": frozenset({"pip"}), "pipx": frozenset({"pipx"}),
    "python": frozenset(), "python3": frozenset(), "py": frozenset(),
    "conda": frozenset({"conda"}), "mamba": frozenset({"mamba"}), "micromamba": frozenset(),
    "uv": frozenset({"uv"}), "uvx": frozenset({"uv"}), "poetry": frozenset({"poetry"}),
    "pdm": frozenset({"pdm"}), "hatch": frozenset({"hatch"}), "twine": frozenset({"twine"}),
    "npm": frozenset(), "npx": frozenset(), "node": frozenset(), "yarn": frozenset(), "pnpm": frozenset(),
    "apt": frozenset(), "apt-get": frozenset(), "yum": frozenset(), "dnf": frozenset(), "brew": frozenset(),
    # privilege, shells and core utilities
    "sudo": frozenset(), "su": frozenset(), "doas": frozenset(), "sh": frozenset(), "bash": frozenset(),
    "zsh": frozenset(), "dash": frozenset(), "fish": frozenset(), "env": frozenset(), "ls": frozenset(),
    "cat": frozenset(), "cp": frozenset(), "mv": frozenset(), "rm": frozenset(), "chmod": frozenset(),
    "chown": frozenset(), "find": frozenset(), "grep": frozenset(), "sed": frozenset(), "awk": frozenset(),
    "tar": frozenset(), "unzip": frozenset(), "crontab": frozenset(), "systemctl": frozenset(),
    "which": frozenset(), "id": frozenset(), "ps": frozenset(), "kill": frozenset(),
    # version control, network and credentials
    "git": frozenset(), "ssh": frozenset(), "scp": frozenset(), "sftp": frozenset(), "rsync": frozenset(),
    "curl": frozenset(), "wget": frozenset(), "openssl": frozenset(), "gpg": frozenset(),
    # containers and cloud CLIs
    "docker": frozenset(), "podman": frozenset(), "kubectl": frozenset(), "helm": frozenset(),
    "terraform": frozenset(), "aws": frozenset({"awscli"}), "gcloud": frozenset(),
    "gsutil": frozenset({"gsutil"}),
    "az": frozenset({"azure-cli"}), "make": frozenset(), "gcc": frozenset(), "cc": frozenset(),
}  # fmt: skip
"""Commands a package must not install, with the distributions that legitimately own each name.

Package managers, interpreters, shells, privilege tools, VCS/network tools and cloud CLIs: the
commands a developer or CI job runs with credentials at hand. Names followed by a version
(``pip3.11``, ``python3.12``) and ``.exe`` variants count as the base name.
"""

_VERSIONED = re.compile(r"^(?P<base>pip|python|pypy|conda|uv)(?:\d+(?:\.\d+)*)?(?:\.exe)?$")
"""Interpreters and installers are also typed with their version (``pip3.11``, ``python3.12``)."""


def shadowed(command: str, distribution: str) -> str | None:
    """The common command ``command`` shadows, unless ``distribution`` is that command's owner."""
    name = command.strip().lower()
    match = _VERSIONED.match(name)
    candidates = [name.removesuffix(".exe")]
    if match:
        candidates.append(match.group("base"))
    for candidate in candidates:
        owners = SHADOWED_COMMANDS.get(candidate)
        if owners is not None and canonicalize_name(distribution) not in owners:
            return candidate
    return None


@dataclass(frozen=True)
class WheelInfo:
    tags: tuple[str, ...]
    problem: str = ""


def parse_wheel_file(text: str) -> WheelInfo:
    headers = HeaderParser().parsestr(text)
    if not headers.get("Wheel-Version"):
        return WheelInfo((), "has no Wheel-Version header")
    tags = tuple(t.strip() for t in headers.get_all("Tag", []) if t.strip())
    return WheelInfo(tags, "" if tags else "has no Tag header")


def metadata_problem(text: str) -> str:
    headers = HeaderParser().parsestr(text)
    missing = [k for k in ("Metadata-Version", "Name", "Version") if not headers.get(k)]
    return f"lacks {', '.join(missing)}" if missing else ""


def is_pure(tags: tuple[str, ...]) -> bool:
    """Every tag is ``<python>-none-any`` (a wheel that promises to contain no machine code)."""
    parts = [t.split("-") for t in tags]
    return bool(parts) and all(len(p) == 3 and p[1] == "none" and p[2] == "any" for p in parts)


def tags_from_filename(name: str) -> tuple[str, ...]:
    """``pkg-1.0-py3-none-any.whl`` -> ``("py3-none-any",)`` (compressed tag sets expanded)."""
    stem = name.removesuffix(".whl").split("-")
    if len(stem) < 5:
        return ()
    py, abi, plat = stem[-3:]
    return tuple(f"{p}-{a}-{pl}" for p in py.split(".") for a in abi.split(".") for pl in plat.split("."))


@dataclass(frozen=True)
class Script:
    name: str
    group: str
    target: str
    line: int


def parse_entry_points(text: str) -> list[Script]:
    """console_scripts/gui_scripts entries with their lines; raises configparser.Error when malformed."""
    parser = configparser.ConfigParser(interpolation=None, strict=False, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(text)
    lines = text.splitlines()
    out: list[Script] = []
    for group in ("console_scripts", "gui_scripts"):
        if not parser.has_section(group):
            continue
        for name, target in parser.items(group):
            key = re.compile(rf"\s*{re.escape(name)}\s*=")
            line = next((i for i, ln in enumerate(lines, 1) if key.match(ln)), 0)
            out.append(Script(name.strip(), group, target.strip(), line))
    return out


KNOWN_LAUNCHERS: dict[str, re.Pattern[str]] = {
    "setuptools": re.compile(r"setuptools/(cli|gui)(-32|-64|-arm64)?\.exe"),
    "pip": re.compile(r"pip/_vendor/distlib/[tw](32|64)(-arm)?\.exe"),
    "distlib": re.compile(r"distlib/[tw](32|64)(-arm)?\.exe"),
}
"""Windows script launchers that these pure wheels legitimately ship (matched for that distribution only)."""


def known_launcher(distribution: str, member: str) -> bool:
    pattern = KNOWN_LAUNCHERS.get(canonicalize_name(distribution))
    return pattern is not None and pattern.fullmatch(member) is not None


_MACHO = {b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe"}


PE_NAMES = (".exe", ".dll", ".pyd", ".sys", ".ocx", ".scr", ".cpl", ".com")
"""Under these names ``MZ`` alone is taken as a Windows binary; elsewhere the PE header must be there too."""


def native_kind(head: bytes, name: str = "") -> str | None:
    """ELF, PE or Mach-O (thin or fat) from a member's first bytes."""
    if head.startswith(b"\x7fELF"):
        return "ELF"
    if head[:4] in _MACHO:
        return "Mach-O"
    if head.startswith(b"\xca\xfe\xba\xbe") and len(head) >= 8:
        arches = struct.unpack(">I", head[4:8])[0]
        return "Mach-O universal" if 0 < arches < 32 else None  # Java class files have version >= 45 here
    if head.startswith(b"MZ") and name.lower().endswith(PE_NAMES):
        return "PE"
    if head.startswith(b"MZ") and len(head) >= 64:
        pe_at = struct.unpack("<I", head[60:64])[0]
        if pe_at + 4 > len(head):
            return "PE" if pe_at < 1 << 20 else None
        return "PE" if head[pe_at : pe_at + 4] == b"PE\x00\x00" else None
    return None
