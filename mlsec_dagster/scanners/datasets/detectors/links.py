"""Links and download commands in text cells that lead a reader, a tool or a model somewhere hostile.

A model trained on instructions that pipe a download into a shell learns to recommend it; an agent
or a reviewer follows a link whose host is hidden behind an IP literal, a look-alike IDN or a
shortener; a markdown image whose query string carries a placeholder leaks data the moment a chat
UI renders it. Ordinary links to well-known sites match nothing here. The hot path is one literal
pass over the column; the precise patterns only run on the cells that pass it.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import polars as pl

from mlsec_dagster.engine.findings import Severity
from mlsec_dagster.engine.rules import Rule, define
from mlsec_dagster.scanners.datasets.detectors.html import (
    HTML_SHARE,
    Indices,
    code_context,
    code_share,
    refine,
)
from mlsec_dagster.scanners.datasets.evidence import snippet
from mlsec_dagster.scanners.datasets.model import Cells, Detector, DetectorContext, Explained, Match

_FAMILY = "dataset links"

SHELL_PIPE = define(
    "MLS-URL-001",
    "Download piped into a shell or interpreter",
    Severity.HIGH,
    "A cell downloads a script and runs it in one step (`curl ... | sh`, `wget -qO- ... | python`, "
    '`bash <(curl ...)`, `sh -c "$(curl ...)"`). A model trained on it recommends running unreviewed '
    "code; an agent may run it. HIGH in prose, even in a programming Q&A column (an answer telling the "
    "reader to run it); MEDIUM inside a fenced, indented or inline code block or on a shell-prompt line, "
    "and MEDIUM for the well-known installers (rustup, Docker, Homebrew, nvm, Poetry, uv...) which are "
    "common and benign in documentation. Families `links` and `code` cover it.",
    "Remove the command or replace it with a download, a checksum check and a separate run step; allow "
    "`code` for a programming Q&A column.",
    family=_FAMILY,
)
WINDOWS_CRADLE = define(
    "MLS-URL-002",
    "PowerShell or Windows download cradle",
    Severity.HIGH,
    "A cell holds a Windows download-and-execute one-liner: `IEX (New-Object Net.WebClient)"
    ".DownloadString(...)`, `iwr ... | iex`, `powershell -enc <base64>`, `mshta http...`, `certutil "
    "-urlcache`, `bitsadmin /transfer` or `regsvr32 /i:http...`. These are malware droppers with no "
    "place in training text. HIGH; MEDIUM inside a code block or a programming Q&A column (security "
    "write-ups quote them).",
    "Remove the command from the dataset, or allow `code` for a column of security write-ups.",
    family=_FAMILY,
)
EXFIL_IMAGE = define(
    "MLS-URL-003",
    "Image link that can exfiltrate data through its query string",
    Severity.HIGH,
    "A markdown image (`![x](https://host/p?q=...)`) or `<img src>` whose query string holds a "
    "template placeholder (`{...}`, `[...]`, `$...`, `<...>`), names what it carries (`?conversation=`, "
    "`=SECRET`, `api_key`, `history`...) or is an unusually long payload. When a chat UI "
    "renders model output built from this text, the browser fetches the URL and hands the data to the "
    "host: a zero-click exfiltration channel used in prompt-injection attacks. Badges and thumbnails "
    "with short fixed queries do not match. MEDIUM inside a code block.",
    "Remove the image link, or drop the query string.",
    family=_FAMILY,
)
EXECUTABLE = define(
    "MLS-URL-004",
    "Link to an executable or script download",
    Severity.MEDIUM,
    "A URL points straight at a program or script (`.exe`, `.msi`, `.dll`, `.apk`, `.jar`, `.ps1`, "
    "`.sh`, `.hta`, `.vbs`, `.scr`...). MEDIUM; HIGH for types that are almost only used by droppers "
    "(`.hta`, `.scr`, `.vbs`, `.pif`, `.lnk`, `.bat`, `.ps1`...) or when the host is an IP literal; "
    "LOW on well-known software vendors and code hosts (python.org, github.com, microsoft.com...).",
    "Check the link; remove it or point to the vendor's download page instead of the binary.",
    family=_FAMILY,
)
IP_HOST = define(
    "MLS-URL-005",
    "URL with an IP-literal host",
    Severity.MEDIUM,
    "A URL names its host by IP address, or by an IP written in decimal, hex or octal to slip past "
    "filters (`http://0x7f000001/`). Real services use names; droppers and phishing kits use raw IPs. "
    "Loopback and `0.0.0.0` (local development examples) are not reported; private-network ranges "
    "(10/8, 172.16/12, 192.168/16, 100.64/10, link-local) are LOW; documentation ranges (192.0.2/24...) "
    "stay MEDIUM, as test payloads use them too; the cloud metadata address 169.254.169.254 "
    "(server-side request forgery to steal credentials) is HIGH.",
    "Check the address; replace it with the service's host name or remove the link.",
    family=_FAMILY,
)
LOOKALIKE_HOST = define(
    "MLS-URL-006",
    "Punycode or mixed-script host name",
    Severity.MEDIUM,
    "A URL host is punycode (`xn--`) or mixes Latin with Cyrillic/Greek/Armenian letters, or is made of "
    "Cyrillic letters that look Latin (`\u0430pple.com`): the homograph trick that makes a phishing "
    "host read like a known one. Host names wholly in one non-Latin script (`\u043f\u0440\u0438"
    "\u043c\u0435\u0440.\u0440\u0444`) are normal and not reported.",
    "Check which site the host really is; replace the link with the canonical ASCII host.",
    family=_FAMILY,
)
SHORTENER = define(
    "MLS-URL-007",
    "Link through a URL shortener",
    Severity.MEDIUM,
    "A URL goes through a shortener (bit.ly, tinyurl.com, t.co, goo.gl, is.gd...), which hides the "
    "destination from a reviewer and can be re-pointed after review. MEDIUM (a warning, not a block): "
    "social-media text is full of them; a column of them can be re-graded with `severity_overrides`.",
    "Expand the link and store the destination URL instead.",
    family=_FAMILY,
)

# ---------------------------------------------------------------- data tables

SHORTENERS = (
    "bit.ly", "bitly.com", "tinyurl.com", "t.co", "goo.gl", "is.gd", "v.gd", "ow.ly", "buff.ly",
    "rebrand.ly", "cutt.ly", "shorturl.at", "tiny.cc", "rb.gy", "t.ly", "bl.ink", "s.id", "shorte.st",
    "adf.ly", "bit.do", "lnkd.in", "db.tt", "qr.ae", "cli.gs", "x.co", "soo.gd", "clck.ru", "u.to",
    "tr.im", "mcaf.ee", "dlvr.it", "ift.tt", "fb.me", "wp.me", "tiny.one", "urlz.fr", "gg.gg",
    "shrtco.de", "kutt.it", "qrco.de", "surl.li", "short.gy", "shorturl.com", "linktr.ee", "t2m.io",
    "po.st", "su.pr", "tny.im", "zpr.io", "1url.com", "hyperurl.co", "urlzs.com", "cutt.us",
)  # fmt: skip
"""Link shorteners and redirectors whose destination is invisible in the text."""

KNOWN_INSTALLERS = (
    "sh.rustup.rs", "get.docker.com", "raw.githubusercontent.com/homebrew/", "install.python-poetry.org",
    "raw.githubusercontent.com/nvm-sh/", "deb.nodesource.com", "rpm.nodesource.com", "astral.sh/uv",
    "astral.sh/ruff", "get.helm.sh", "raw.githubusercontent.com/helm/", "ollama.com/install.sh",
    "bun.sh/install", "deno.land/install.sh", "get.sdkman.io", "pyenv.run", "get.k3s.io",
    "sdk.cloud.google.com", "starship.rs/install.sh", "nixos.org/nix/install", "install.determinate.systems",
    "tailscale.com/install.sh", "get.pnpm.io", "fnm.vercel.app", "rclone.org/install.sh",
    "cli.github.com", "get.rvm.io", "install.julialang.org", "micro.mamba.pm", "pixi.sh/install",
    "fly.io/install.sh", "get.volta.sh", "sh.vector.dev", "get.pulumi.com", "get.acme.sh",
)  # fmt: skip
"""Documented installers that docs pipe into a shell: graded MEDIUM, not HIGH."""

REPUTABLE_HOSTS = (
    "python.org", "pythonhosted.org", "pypi.org", "microsoft.com", "windows.net", "visualstudio.com",
    "github.com", "githubusercontent.com", "gitlab.com", "bitbucket.org", "apache.org", "mozilla.org",
    "mozilla.net", "google.com", "googleapis.com", "oracle.com", "java.com", "nodejs.org", "npmjs.com",
    "ubuntu.com", "canonical.com", "debian.org", "fedoraproject.org", "archlinux.org", "apple.com",
    "docker.com", "jetbrains.com", "sourceforge.net", "rust-lang.org", "golang.org", "go.dev",
    "nvidia.com", "intel.com", "amd.com", "adobe.com", "7-zip.org", "videolan.org", "libreoffice.org",
    "anaconda.com", "conda.io", "r-project.org", "eclipse.org", "gnu.org", "kernel.org", "mysql.com",
    "postgresql.org", "git-scm.com", "putty.org", "chiark.greenend.org.uk", "notepad-plus-plus.org",
    "maven.org",
)  # fmt: skip
"""Software vendors and code hosts: a binary download from them is LOW."""

EXECUTABLE_EXTENSIONS = (
    "exe", "msi", "msp", "msix", "appx", "dll", "apk", "xapk", "jar", "sh", "deb", "rpm", "dmg", "pkg",
    "appimage", "run", "elf", "docm", "xlsm", "pptm", "xll", "xlam", "iso", "reg", "inf",
)  # fmt: skip
DROPPER_EXTENSIONS = (
    "scr", "hta", "vbs", "vbe", "jse", "wsf", "wsh", "pif", "cpl", "lnk", "scf", "chm", "gadget",
    "bat", "cmd", "ps1", "psm1", "msc",
)  # fmt: skip
"""Types almost only ever delivered by droppers: graded HIGH."""

PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16", "fc00::/7",
              "fe80::/10")
)  # fmt: skip
"""Addresses only reachable inside a network: a URL to them is LOW (the metadata address excepted)."""

# ---------------------------------------------------------------- patterns (Rust and Python syntax)

_HOSTCHARS = r"[^/ \t\r\n\"'<>()\[\]{}|\\^`?#]"
_SCHEME = r"(?:https?|ftps?|wss?|sftp)://(?:[^/ \t\r\n@\"'<>]*@)?"
_END = r"(?:[:/?#\"'<>()\[\] \t\r\n,;!]|$)"
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_FIRST_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[3-9][0-9]|12[89]|12[0-6]|1[01][0-9]|[1-9][0-9]|[1-9])"

SHELL_PIPE_PATTERN = (
    r"(?i)\b(curl|wget)\b[^|\n;&]{0,400}\|[ \t]*(?:sudo[ \t]+(?:-[a-z]+[ \t]+)*)?(?:env[ \t]+)?"
    r"(?:(?:ba|z|da|k|fi)?sh|python[0-9.]*|perl|ruby|node|php)\b"
    r"|\b(?:(?:ba|z|da|k)?sh|source|eval)[ \t]+(?:-[a-z]+[ \t]+)*[\"']?(?:<\(|\$\(|`)[ \t]*(curl|wget)\b"
)
DOWNLOAD_CRADLE_PATTERN = (
    r"(?i)\b(iex|invoke-expression)\b[^\n]{0,300}?\b(?:downloadstring|downloaddata|downloadfile"
    r"|invoke-webrequest|invoke-restmethod|iwr|irm|net\.webclient|start-bitstransfer)\b"
    r"|\b(downloadstring|invoke-webrequest|invoke-restmethod|iwr|irm)\b[^\n]{0,300}?\|[ \t]*"
    r"(?:iex|invoke-expression)\b"
    r"|\b(powershell|pwsh)(?:\.exe)?\b[^\n]{0,120}?[ \t][-/]e(?:c|n[a-z]*)?[ \t]+[A-Za-z0-9+/=]{16,}"
    r"|\b(mshta)(?:\.exe)?[ \t]+[\"']?(?:https?|javascript|vbscript):"
    r"|\b(certutil)(?:\.exe)?\b[^\n]{0,60}?-urlcache\b[^\n]{0,80}?(?:https?|ftp)://"
    r"|\b(bitsadmin)(?:\.exe)?\b[^\n]{0,60}?/transfer\b"
    r"|\b(regsvr32)(?:\.exe)?\b[^\n]{0,80}?/i:(?:https?|ftp)://"
)
_PLACEHOLDER = (
    r"(?:[{}<>$\[]|%7[bd]|%24|%5b|%3c"
    r"|\b(?:secret|password|passwd|api[_-]?key|conversation|chat[_-]?history|history|memory|user[_-]?data)\b)"
)
_EXFIL = (
    r"(?i)!\[[^\]\n]{0,300}\]\([ \t]*<?((?:https?:)?//" + _HOSTCHARS + r"+)[^ \t\r\n)?#]*\?"
    r"(?:[^)\n]{0,500}?" + _PLACEHOLDER + r"|[^ \t\r\n)]{100,})"
    r"|<img\b[^>]{0,300}?\bsrc[ \t]*=[ \t]*[\"']?((?:https?:)?//" + _HOSTCHARS + r"+)[^ \t\r\n\"'>?#]*\?"
    r"(?:[^\"'>\n]{0,500}?" + _PLACEHOLDER + r"|[^ \t\r\n\"'>]{100,})"
)
_EXECUTABLE = (
    r"(?i)"
    + _SCHEME
    + r"("
    + _HOSTCHARS
    + r"+)/[^ \t\r\n\"'<>()\[\]?#]*\.("
    + "|".join(EXECUTABLE_EXTENSIONS + DROPPER_EXTENSIONS)
    + r")(?:[?#][^ \t\r\n\"'<>()]*)?(?:[ \t\r\n\"'<>()\[\].,;:!]|$)"
)
_IP = (
    r"(?i)" + _SCHEME + r"(" + _FIRST_OCTET + r"(?:\." + _OCTET + r"){3}"
    r"|\[[0-9a-f]{1,4}:[0-9a-f:.]*\]|0x[0-9a-f]{1,8}|[0-9]{8,10}|0[0-7]{1,3}(?:\.(?:0x)?[0-9a-f]+){1,3})"
    + _END
)
_CONFUSABLE = "\u0430\u0435\u043e\u0440\u0441\u0443\u0445\u0456\u0458\u0455\u0501\u04cf\u04bb\u051b\u051d"
_OTHER_SCRIPT = r"[\p{Cyrillic}\p{Greek}\p{Armenian}]"
_SHORTENER = (
    r"(?i)(?:https?:)?//(?:www\.)?(" + "|".join(re.escape(h) for h in SHORTENERS) + r")/[A-Za-z0-9_-]{2,}"
)
_ip_re = re.compile(_IP)

# Vectorised URL rules run on the URLs extracted from candidate cells (short strings, anchored).
_URL_EXTRACT = r"[A-Za-z][A-Za-z0-9+.-]{0,9}://[^ \t\r\n\"'<>()\[\]{}|\\^`]+"
_U_SCHEME = r"^(?i:https?|ftps?|wss?|sftp)://(?:[^/@]*@)?"
_U_EXECUTABLE = (
    _U_SCHEME + r"[^/]+/[^?#]*\.(?i:" + "|".join(EXECUTABLE_EXTENSIONS + DROPPER_EXTENSIONS) + r")"
    r"(?:[?#].*)?[.,;:!]*$"
)
_U_IP = (
    _U_SCHEME + r"(?:" + _FIRST_OCTET + r"(?:\." + _OCTET + r"){3}"
    r"|\[[0-9a-fA-F]{1,4}:[0-9a-fA-F:.]*\]|0[xX][0-9a-fA-F]{1,8}|[0-9]{8,10}"
    r"|0[0-7]{1,3}(?:\.(?:0[xX])?[0-9a-fA-F]+){1,3})(?:[:/?#]|[.,;:!]*$)"
)
_U_PUNYCODE = _U_SCHEME + r"(?:[A-Za-z0-9-]+\.)*(?i:xn--)"
_U_MIXED = (
    r"^[A-Za-z]+://(?:[^/@]*@)?[^/?#:]*?(?:[a-zA-Z][^/?#:.]*?"
    + _OTHER_SCRIPT
    + r"|"
    + _OTHER_SCRIPT
    + r"[^/?#:.]*?[a-zA-Z])"
    + r"|^[A-Za-z]+://(?:[^/@]*@)?(?:[^/?#:]*\.)?["
    + _CONFUSABLE
    + r"]+\.[a-zA-Z]{2,}"
)
_U_SHORTENER = (
    r"^(?i:https?)://(?:www\.)?(?i:" + "|".join(re.escape(h) for h in SHORTENERS) + r")/[A-Za-z0-9_-]{2,}"
)
_U_ANY = "|".join(f"(?:{p})" for p in (_U_EXECUTABLE, _U_IP, _U_PUNYCODE, _U_SHORTENER))
# Shapes over the lower-cased cell that every suspicious URL or exfiltrating image has; they let a
# column full of ordinary links skip URL extraction (~1 GB/s) for all but a few cells. Python ``re``
# and Rust agree on them. Non-ASCII cells skip the image shape: Unicode case folding (long s U+017F,
# the Kelvin sign) only exists there, and a URL holding non-ASCII text is suspicious by itself.
_URL_CHAR = r"[^ \t\r\n\"'<>()\[\]{}|\\^`]"
_USER_CHAR = r"[^/@ \t\r\n\"'<>()\[\]{}|\\^`]"
_URL_END = r"(?:[?#.,;:! \t\r\n\"'<>()\[\]{}|\\^`]|$)"
_URL_SUSPECT = (
    r"xn--|://(?:"
    + _URL_CHAR
    + r"*\.(?:"
    + "|".join(EXECUTABLE_EXTENSIONS + DROPPER_EXTENSIONS)
    + r")"
    + _URL_END
    + r"|(?:"
    + _USER_CHAR
    + r"*@)?[0-9\[]|(?:www\.)?(?:"
    + "|".join(re.escape(h) for h in SHORTENERS)
    + r")/)"
)
"""Executable path, IP-literal host, punycode label or shortener host, in any URL of the cell."""
_URL_NON_ASCII = "://" + _URL_CHAR + r"*[^\x00-\x7f]"
_WINDOWS_SHAPE = (
    r"(?:iex|invoke-expression)[^\n]*(?:downloadstring|downloaddata|downloadfile|invoke-webrequest"
    r"|invoke-restmethod|iwr|irm|net\.webclient|start-bitstransfer)"
    r"|(?:downloadstring|invoke-webrequest|invoke-restmethod|iwr|irm)[^\n]*\|[ \t]*(?:iex|invoke-expression)"
    r"|(?:powershell|pwsh)[^\n]*[ \t][-/]e(?:c|n[a-z]*)?[ \t]+[a-z0-9+/=]{16}"
    r"|mshta(?:\.exe)?[ \t]+[\"']?(?:https?|javascript|vbscript):"
    r"|certutil[^\n]*-urlcache[^\n]*(?:https?|ftp)://|bitsadmin[^\n]*/transfer|regsvr32[^\n]*/i:(?:https?|ftp)://"
)
"""``DOWNLOAD_CRADLE_PATTERN`` without word boundaries and length bounds (a superset), over lower-cased
text: it clears the cells where ``iex`` is only part of a word before the slow precise pattern runs."""
_IMAGE_SHAPE = (
    r"!\[[^\]\n]*\]\([ \t]*<?(?:https?:)?//[^ \t\r\n)?#]*\?"
    r"|<img[^>]*src[ \t]*=[ \t]*[\"']?(?:https?:)?//[^ \t\r\n\"'>?#]*\?"
)
"""``_EXFIL`` up to the query string, unbounded and without word boundaries (so a superset of it),
case-sensitive over lower-cased text: a DFA runs it at ~3-7 GB/s where ``_EXFIL`` runs at ~0.7."""
_HOST_PY = re.compile(r"(?i)(?:https?|ftp)://(?:[^/\s@]*@)?([^/\s?#:\"'<>]+)")

# Prefilters run on the lower-cased column (``Cells.lowered``, shared with the other detectors): a few
# literals per pass keep the regex engine on its SIMD literal search (a case-insensitive alternation
# is ~10x slower).
_PRE_SHELL = "curl|wget"
_PRE_WINDOWS = "iex|invoke-expression|powershell|pwsh|mshta|certutil|bitsadmin|regsvr32"
_PRE_IMAGE = r"!\[|<img"
_PRE_URL = "://"
_GATES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "curl|wget|iex|invoke-expression|powershell|pwsh|mshta|certutil|bitsadmin|regsvr32",
        (_PRE_SHELL, _PRE_WINDOWS),
    ),
    (r"://|<img|!\[", (_PRE_IMAGE, _PRE_URL)),
)
"""Literal passes over the whole column, and the prefilters that then run on the cells each one
found. Two passes of <= 10 literals run at 4-10 GB/s where one alternation of all of them falls to
~1 GB/s (measured on 450 MB of text); most columns stop here, and a column full of links pays the
image and URL prefilters on its link cells only, never the command ones."""


# ---------------------------------------------------------------- explanation


@dataclass(frozen=True)
class _Found:
    offset: int | None
    key: str
    detail: str
    severity: Severity | None = None


@dataclass(frozen=True)
class _Probe:
    rule: Rule
    prefilter: str
    """Regex over the lower-cased cell that every match needs (a cheap literal search)."""
    pattern: str
    """Precise regex: over the cell, or over each extracted URL when ``prefilter`` is ``_PRE_URL``."""
    judge: Callable[[str], _Found]
    message: str
    code_family: bool = False
    """Code blocks and programming Q&A columns grade it down to MEDIUM, family ``code`` covers it."""
    shape: str | None = None
    """A cheaper regex over the lower-cased ASCII cell that every match satisfies, run before ``pattern``."""


def _regex_judge(
    compiled: re.Pattern[str], grade: Callable[[re.Match[str], str], _Found]
) -> Callable[[str], _Found]:
    def judge(text: str) -> _Found:
        found = compiled.search(text)
        if found is None:
            return _Found(None, "unmatched", "")
        return grade(found, text)

    return judge


def _groups(match: re.Match[str]) -> list[str]:
    return [g for g in match.groups() if g]


def _grade_shell(match: re.Match[str], text: str) -> _Found:
    command = match.group(0).lower()
    tool = _groups(match)[0].lower() if _groups(match) else "curl"
    if any(host in command for host in KNOWN_INSTALLERS) and not _ip_re.search(command):
        return _Found(
            match.start(),
            f"{tool}|installer",
            " It is a well-known installer, graded MEDIUM.",
            Severity.MEDIUM,
        )
    return _Found(match.start(), f"{tool}|shell", "")


def _grade_windows(match: re.Match[str], text: str) -> _Found:
    return _Found(match.start(), _groups(match)[0].lower() if _groups(match) else "cradle", "")


def _grade_exfil(match: re.Match[str], text: str) -> _Found:
    host = _groups(match)[0].lower().split("//", 1)[-1] if _groups(match) else "?"
    return _Found(match.start(), host, f" (host {host})")


def _grade_executable(match: re.Match[str], text: str) -> _Found:
    host, extension = (g.lower() for g in match.groups()[:2])
    bare = host.split("@")[-1].split(":")[0]
    key = f"{bare}\x1f.{extension}"
    if _is_reputable(bare):
        return _Found(match.start(), key, f" (.{extension} from {bare}, a known vendor: LOW)", Severity.LOW)
    if extension in DROPPER_EXTENSIONS or _ip_re.search(match.group(0)):
        return _Found(
            match.start(), key, f" (.{extension} from {bare}: a dropper pattern, HIGH)", Severity.HIGH
        )
    return _Found(match.start(), key, f" (.{extension} from {bare})")


def _is_reputable(host: str) -> bool:
    return any(host == good or host.endswith("." + good) for good in REPUTABLE_HOSTS)


def _grade_ip(match: re.Match[str], text: str) -> _Found:
    literal = match.group(1)
    address = _parse_ip(literal)
    start = match.start(1)
    if address is None:
        return _Found(start, literal.lower(), f" ({literal})")
    plain = str(address)
    obfuscated = plain != literal.strip("[]").lower()
    if plain in ("169.254.169.254", "fd00:ec2::254"):
        return _Found(start, plain, f" ({plain}, the cloud instance-metadata service: HIGH)", Severity.HIGH)
    if obfuscated:
        return _Found(start, plain, f" ({literal} is {plain} written to slip past URL filters)")
    if any(address in network for network in PRIVATE_NETWORKS):
        return _Found(start, plain, f" ({plain}, a private-network address: LOW)", Severity.LOW)
    return _Found(start, plain, f" ({plain})")


def _parse_ip(literal: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """Dotted, bracketed IPv6, or the integer/hex/octal spellings browsers also accept."""
    text = literal.strip("[]").lower()
    try:
        if ":" in text:
            return ipaddress.IPv6Address(text)
        parts = text.split(".")
        numbers = [
            int(p, 16) if p.startswith("0x") else int(p, 8) if len(p) > 1 and p[0] == "0" else int(p)
            for p in parts
        ]
        if len(numbers) == 1:
            return ipaddress.IPv4Address(numbers[0])
        if len(numbers) == 4 and all(n < 256 for n in numbers):
            return ipaddress.IPv4Address(".".join(map(str, numbers)))
    except ValueError:
        return None
    return None


def _lookalike(text: str) -> _Found:
    for found in _HOST_PY.finditer(text):
        host = found.group(1)
        reason = _host_trick(host)
        if reason:
            return _Found(found.start(1), host.lower(), f" (host {host!r}: {reason})")
    return _Found(None, "lookalike", "")


def _host_trick(host: str) -> str:
    labels = host.lower().split(".")
    if any(label.startswith("xn--") for label in labels):
        return "punycode"
    for label in labels:
        scripts = {_script(ch) for ch in label if ch.isalpha()}
        if "LATIN" in scripts and len(scripts) > 1:
            return "mixes Latin with " + "/".join(sorted(scripts - {"LATIN"})).title() + " letters"
        if label and all(ch in _CONFUSABLE for ch in label) and labels[-1].isascii():
            return "Cyrillic letters that look Latin"
    return ""


def _script(ch: str) -> str:
    return unicodedata.name(ch, "UNKNOWN").split(" ")[0]


def _grade_shortener(match: re.Match[str], text: str) -> _Found:
    return _Found(match.start(), match.group(1).lower(), f" ({match.group(1).lower()})")


_PROBES = (
    _Probe(
        SHELL_PIPE,
        _PRE_SHELL,
        SHELL_PIPE_PATTERN,
        _regex_judge(re.compile(SHELL_PIPE_PATTERN), _grade_shell),
        "Cell pipes a download straight into a shell or interpreter; whoever follows it (or a model that "
        "learned it) runs unreviewed code. Remove it or split it into download, verify and run.{detail}",
        code_family=True,
    ),
    _Probe(
        WINDOWS_CRADLE,
        _PRE_WINDOWS,
        DOWNLOAD_CRADLE_PATTERN,
        _regex_judge(re.compile(DOWNLOAD_CRADLE_PATTERN), _grade_windows),
        "Cell contains a Windows download-and-execute command ({key}){detail}, the signature of a malware "
        "dropper. Remove it from the dataset.",
        code_family=True,
        shape=_WINDOWS_SHAPE,
    ),
    _Probe(
        EXFIL_IMAGE,
        _PRE_IMAGE,
        _EXFIL,
        _regex_judge(re.compile(_EXFIL), _grade_exfil),
        "Cell contains an image link whose query string carries a placeholder or payload{detail}; rendering "
        "it sends data to that host. Remove the image or its query string.",
        shape=_IMAGE_SHAPE,
    ),
    _Probe(
        EXECUTABLE,
        _PRE_URL,
        _U_EXECUTABLE,
        _regex_judge(re.compile(_EXECUTABLE), _grade_executable),
        "Cell links straight to an executable or script download{detail}. Check the link; point to the "
        "vendor's page instead or remove it.",
    ),
    _Probe(
        IP_HOST,
        _PRE_URL,
        _U_IP,
        _regex_judge(_ip_re, _grade_ip),
        "Cell contains a URL whose host is an IP address{detail}. Replace it with the service's host name "
        "or remove it.",
    ),
    _Probe(
        LOOKALIKE_HOST,
        _PRE_URL,
        _U_PUNYCODE,
        _lookalike,
        "Cell contains a URL with a look-alike host{detail}. Check which site it really is and use the "
        "canonical ASCII host.",
    ),
    _Probe(
        SHORTENER,
        _PRE_URL,
        _U_SHORTENER,
        _regex_judge(re.compile(_SHORTENER), _grade_shortener),
        "Cell links through a URL shortener{detail}, which hides the destination. Store the expanded URL.",
    ),
)


def _explainer(probe: _Probe) -> Callable[[Any], Explained]:
    def explain(value: Any) -> Explained:
        text = str(value)
        found = probe.judge(text)
        severity = found.severity
        families: tuple[str, ...] = ()
        message = probe.message.format(detail=found.detail, key=found.key.split("|")[0])
        if probe.code_family or probe.rule is EXFIL_IMAGE:
            where = code_context(text, found.offset) if found.offset is not None else ""
            if where:
                severity = min(severity or probe.rule.severity, Severity.MEDIUM)
                message += f" It is {where}, so graded MEDIUM."
            if probe.code_family:
                families = ("code",)
        return Explained(found.offset, message, snippet(text, found.offset), found.key, severity, families)

    return explain


class _Column:
    """Candidate rows per prefilter and the URLs of the URL candidates, computed once per column."""

    def __init__(self, cells: Cells) -> None:
        self.values = cells.values
        self.non_ascii = cells.non_ascii
        self.gated: dict[str, tuple[Indices, pl.Series]] = {}
        for literals, prefilters in _GATES:
            found = cells.lowered.str.contains(literals).fill_null(False)
            rows = found.arg_true().to_numpy().astype(np.int64)
            text = cells.lowered.gather(rows)
            for prefilter in prefilters:
                self.gated[prefilter] = (rows, text)
        self.empty = not any(len(rows) for rows, _ in self.gated.values())
        self.rows: dict[str, tuple[Indices, pl.Series]] = {}
        self._urls: pl.DataFrame | None = None

    def matching(self, prefilter: str) -> tuple[Indices, pl.Series]:
        """The rows whose lower-cased text matches ``prefilter``, and that text."""
        if prefilter not in self.rows:
            rows, text = self.gated[prefilter]
            if len(rows):  # each polars call costs ~0.1 ms even on nothing
                mask = text.str.contains(prefilter).fill_null(False)
                rows, text = rows[mask.to_numpy()], text.filter(mask)
            self.rows[prefilter] = (rows, text)
        return self.rows[prefilter]

    def candidates(self, prefilter: str, shape: str | None = None) -> tuple[Indices, pl.Series]:
        """``matching`` narrowed by ``shape`` (non-ASCII cells always pass: see ``_URL_CHAR``)."""
        rows, text = self.matching(prefilter)
        if shape is not None and len(rows):
            keep = text.str.contains(shape).fill_null(False).to_numpy() | self.non_ascii[rows]
            rows, text = rows[keep], text.filter(pl.Series(keep))
        return rows, text

    def urls(self) -> pl.DataFrame:
        """The column's suspicious URLs. Two shape passes over the URL cells drop those with only
        ordinary links (almost all), so URL extraction and each URL rule run on a handful of cells."""
        if self._urls is None:
            where, text = self.matching(_PRE_URL)
            if len(where) == 0:
                self._urls = pl.DataFrame(schema={"i": pl.Int64, "u": pl.String})
                return self._urls
            suspect = text.str.contains(_URL_SUSPECT).fill_null(False).to_numpy()
            wide = np.flatnonzero(self.non_ascii[where] & ~suspect)
            if len(wide):
                suspect[wide] = text.gather(wide).str.contains(_URL_NON_ASCII).fill_null(False).to_numpy()
            where = where[suspect]
            found = self.values.gather(where).str.extract_all(_URL_EXTRACT)
            urls = pl.DataFrame({"i": where, "u": found}, schema={"i": pl.Int64, "u": pl.List(pl.String)})
            urls = urls.explode("u").drop_nulls("u")
            url = pl.col("u")
            self._urls = urls.filter(url.str.contains(_U_ANY) | (url.str.len_bytes() != url.str.len_chars()))
        return self._urls

    def url_hits(self, pattern: str) -> Indices:
        if self.urls().is_empty():
            return np.empty(0, dtype=np.int64)
        hit = self.urls().filter(pl.col("u").str.contains(pattern))["i"]
        return np.unique(hit.to_numpy().astype(np.int64))


@cache
def _ascii_form(pattern: str) -> str:
    """``pattern`` for lower-cased ASCII text: no case folding and ASCII word boundaries. On ASCII text it
    matches exactly where ``pattern`` matches the original (its letters are lower-case), and the
    DFA runs it 3-8x faster: Unicode ``\\b`` and case folding push the engine off the DFA."""
    return pattern.removeprefix("(?i)").replace(r"\b", r"(?-u:\b)")


def _hits(column: _Column, probe: _Probe) -> Indices:
    if probe.prefilter != _PRE_URL:
        rows, text = column.candidates(probe.prefilter, probe.shape)
        if len(rows) == 0:
            return rows
        wide = column.non_ascii[rows]
        plain = text.filter(pl.Series(~wide)).str.contains(_ascii_form(probe.pattern)).fill_null(False)
        return np.union1d(rows[~wide][plain.to_numpy()], refine(column.values, rows[wide], probe.pattern))
    hits = column.url_hits(probe.pattern)
    if probe.rule is LOOKALIKE_HOST:
        hits = np.union1d(hits, column.url_hits(_U_MIXED))
    return hits


def detect(cells: Cells, ctx: DetectorContext) -> Iterator[Match]:
    values = cells.values
    column = _Column(cells)
    if column.empty:
        return
    coded: float | None = None
    for probe in _PROBES:
        hits = _hits(column, probe)
        if len(hits) == 0:
            continue
        if coded is None:
            coded = 0.0 if cells.header else code_share(values)
        if coded >= HTML_SHARE and probe.code_family:
            # Q&A data quotes commands in code blocks (MEDIUM, per cell); one told to the reader in
            # prose ("to fix it just run: curl ... | sh") stays HIGH even in a code-heavy column.
            note = (
                f"{coded:.0%} of this column's cells show code (programming Q&A?): commands inside code "
                "blocks are MEDIUM; declare the column with `allow: [code]` if such commands are expected."
            )
            yield Match(probe.rule, hits, _explainer(probe), None, note)
        else:
            yield Match(probe.rule, hits, _explainer(probe))


DETECTOR = Detector("links", detect, binary=False)
