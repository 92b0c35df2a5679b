"""Binary cells: what each value really holds, whatever the column claims (images, blobs, files).

An image column is read by decoders, thumbnailers and data loaders; a cell that is really a
pickle (some loaders unpickle cells), an executable, a script, or an image with something glued
after its end marker is a payload smuggled past review. Every check is an Arrow/polars kernel over
the whole column (anchored magic-byte regexes, ``ends_with``, one RE2 pass for payload opcodes);
Python walks image structure only for the few cells that are reported, to give the exact byte
offset of appended data.

Judgement (the rule descriptions are the catalogue): plain PNG/JPEG/GIF/WebP/TIFF cells are
silent; a column where many cells are markup documents (stored web pages) lowers script/HTML to
MEDIUM with a note, the way a text column of crawl HTML does; archives are MEDIUM (zips and gzip
blobs are ordinary in feature stores) unless they carry a pickle, which is what a loader runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from mlsec_dagster.engine.findings import Severity
from mlsec_dagster.engine.rules import Rule, define
from mlsec_dagster.scanners.datasets.evidence import hex_snippet
from mlsec_dagster.scanners.datasets.model import Cells, Detector, DetectorContext, Explained, Match

_FAMILY = "dataset binary"
_UNPICKLE = (
    "Some loaders (pandas.read_pickle on a column, datasets' pickled features, custom collate functions) "
    "unpickle cell bytes, which runs the code a pickle names."
)

PICKLE_CELL = define(
    "MLS-BIN-001",
    "Pickle stream in a binary cell",
    Severity.HIGH,
    "A binary cell holds a pickle (protocol header and STOP, GLOBAL opcodes, or a pickle inside a stored "
    "archive such as a torch file). " + _UNPICKLE + " CRITICAL when it names a code-execution callable "
    "(os/posix/nt.system, subprocess, builtins eval/exec/getattr/__import__, runpy, socket, ...).",
    "Store plain arrays/tensors (Arrow lists, safetensors, npy without object dtype) instead of pickles; "
    "drop the row if nobody can explain where the pickle came from. Never unpickle it to look.",
    family=_FAMILY,
    tags=("code-execution",),
)
EXECUTABLE_CELL = define(
    "MLS-BIN-002",
    "Executable program in a binary cell",
    Severity.HIGH,
    "A binary cell holds a native executable (Windows PE, ELF, Mach-O or Java class): a dataset is a "
    "distribution channel for malware the moment anything extracts its cells to disk.",
    "Remove the cell. If the dataset is a malware corpus, keep it out of general pipelines and declare the "
    "column with `allow: [binary]`.",
    family=_FAMILY,
)
ARCHIVE_CELL = define(
    "MLS-BIN-003",
    "Archive in a binary cell",
    Severity.MEDIUM,
    "A binary cell holds a compressed archive (zip, gzip, 7z, rar, xz, bzip2, zstd) whose members are not "
    "checked here: a place to hide any other payload, and a decompression-bomb risk for consumers.",
    "Store the members as their own columns/files so they can be scanned, or declare the column with "
    "`allow: [binary]` if archives are expected.",
    family=_FAMILY,
)
SCRIPT_CELL = define(
    "MLS-BIN-004",
    "Script or HTML in a binary cell",
    Severity.HIGH,
    "A binary cell holds a shell/PowerShell/PHP script, or HTML/SVG with active content (<script>, "
    "iframes, event handlers, javascript: URIs); a viewer or labeling tool that renders or saves the cell "
    "runs it. Plain HTML documents without active content are MEDIUM, and so is everything in a column where "
    "more than a fifth of the cells are markup (stored web pages).",
    "Remove the cell, or if the column stores web pages declare it with `html_allowed`.",
    family=_FAMILY,
)
APPENDED_DATA = define(
    "MLS-BIN-005",
    "Data appended after an image's end marker",
    Severity.MEDIUM,
    "An image cell continues after its end (PNG IEND chunk, JPEG EOI FF D9, GIF trailer 3B, WebP RIFF size). "
    "Decoders ignore the tail, so it is a classic hiding place. HIGH when the appended bytes are themselves "
    "a pickle, executable, archive, script or HTML; CRITICAL when they are a pickle naming a code-execution "
    "callable. A few bytes of zero padding after the end marker are tolerated.",
    "Re-encode the image (decode and save it again) to drop the tail, and find out how it got there.",
    family=_FAMILY,
)
POLYGLOT_IMAGE = define(
    "MLS-BIN-006",
    "Polyglot image: active content inside image data",
    Severity.HIGH,
    "A valid-looking image carries a script, HTML, archive, executable or pickle inside its structure "
    "(comment or text chunks, metadata): the same bytes are an image to one program and a payload to "
    "another. CRITICAL when the pickle names a code-execution callable.",
    "Re-encode the image without metadata, and drop the row if its origin is unknown.",
    family=_FAMILY,
)

_RE_PREFIX = "(?s)"
"""RE2 on Arrow binary arrays runs in Latin-1 mode, so ``\\xNN`` escapes match single bytes; the same
source compiles as a Python bytes regex (escapes only, no non-ASCII literals)."""


_AFTER_GLOBAL = r"(?:p[0-9]|q[\x00-\xff]|r[\x00-\xff]|\(|\)|\x94|\x85|\x86|X|V|S|N|K|\})"
"""What follows a GLOBAL's name in a real pickle (memo PUT, MARK, tuple, args): rules out prose."""
_GLOBAL = r"c[A-Za-z_][A-Za-z0-9_.]{0,60}\n[A-Za-z_][A-Za-z0-9_]{0,60}\n" + _AFTER_GLOBAL
"""A protocol 0-3 GLOBAL opcode with its module and name lines."""


@dataclass(frozen=True)
class _Magic:
    name: str
    kind: str
    start: str
    """Regex anchored at the start of the cell."""


_MAGICS: tuple[_Magic, ...] = (
    _Magic("PNG image", "image", r"\x89PNG\r\n\x1a\n"),
    _Magic("JPEG image", "image", r"\xff\xd8\xff"),
    _Magic("GIF image", "image", r"GIF8[79]a"),
    _Magic("WebP image", "image", r"RIFF[\x00-\xff]{4}WEBP"),
    _Magic("TIFF image", "image", r"II\*\x00|MM\x00\*"),
    _Magic("pickle stream", "pickle", r"\x80[\x02-\x05]|\((?:dp|lp|tp)[0-9]|" + _GLOBAL),
    _Magic("Windows executable (PE)", "executable", r"MZ(?:\x90\x00|[\x00-\xff]{58,512}PE\x00\x00)"),
    _Magic("ELF executable", "executable", r"\x7fELF"),
    _Magic("Mach-O executable", "executable", r"\xfe\xed\xfa[\xce\xcf]|[\xce\xcf]\xfa\xed\xfe"),
    _Magic("Mach-O universal binary or Java class", "executable", r"\xca\xfe\xba\xbe"),
    _Magic("ZIP archive", "archive", r"PK\x03\x04|PK\x05\x06"),
    _Magic("gzip stream", "archive", r"\x1f\x8b\x08"),
    _Magic("7-Zip archive", "archive", r"7z\xbc\xaf\x27\x1c"),
    _Magic("RAR archive", "archive", r"Rar!\x1a\x07"),
    _Magic("xz stream", "archive", r"\xfd7zXZ\x00"),
    _Magic("bzip2 stream", "archive", r"BZh[1-9]1AY&SY"),
    _Magic("zstd stream", "archive", r"\x28\xb5\x2f\xfd"),
    _Magic("script", "script", r"(?:\xef\xbb\xbf)?[ \t\r\n]{0,16}(?:#! ?/|<\?php|@echo off)"),
)  # fmt: skip
_MAGIC = {m.name: m for m in _MAGICS}

_DANGEROUS_MODULES = (
    "os", "posix", "nt", "subprocess", "sys", "socket", "shutil", "runpy", "importlib", "pty", "webbrowser",
    "commands", "code", "marshal", "ctypes", "pickle", "_pickle", "dill", "timeit", "pdb",
)  # fmt: skip
_DANGEROUS_BUILTINS = (
    "eval", "exec", "execfile", "compile", "open", "getattr", "setattr", "__import__", "apply", "input",
    "breakpoint", "globals", "vars",
)  # fmt: skip


def _short_unicode(name: str) -> str:
    return rf"\x8c\x{len(name):02x}{re.escape(name)}\x94?"


_PIECES: dict[str, tuple[str, ...]] = {
    "danger": (
        rf"c(?:(?:{'|'.join(_DANGEROUS_MODULES)})\n[A-Za-z_][A-Za-z0-9_]{{0,40}}\n{_AFTER_GLOBAL}"
        rf"|(?:__builtin__|builtins)\n(?:{'|'.join(_DANGEROUS_BUILTINS)})\n)",
        "(?:" + "|".join(_short_unicode(m) for m in _DANGEROUS_MODULES) + r")\x8c[\x01-\x40][A-Za-z_]|"
        + _short_unicode("builtins") + "(?:" + "|".join(_short_unicode(b) for b in _DANGEROUS_BUILTINS) + ")",
    ),
    "pickle": (
        r"\x80[\x04\x05]\x95[\x00-\xff]{3}\x00{5}"  # protocol 4/5 header + FRAME of < 16 MiB
        r"|\x80[\x02\x03](?:c[A-Za-z_][A-Za-z0-9_.]{0,60}\n[A-Za-z_][A-Za-z0-9_]{0,60}\n|[\]\}\)]q\x00|\(X)",
    ),
    "executable": (r"MZ\x90\x00\x03\x00", r"\x7fELF[\x01\x02][\x01\x02]\x01"),
    "active": (
        r"<(?i:script|iframe|object|embed)[ \t\r\n/>]|<\?(?i:php)"
        r"|<[A-Za-z][A-Za-z0-9]{0,10}[ \t\r\n/][^<>]{0,300}?"
        r"(?:[ \t\r\n/\"'](?i:on(?:load|error|click|mouseover|focus|begin|pageshow))[ \t\r\n]*="
        r"|(?i:(?:java|vb)script):)",
    ),
    "zip": (r"PK\x03\x04[\x0a\x14\x2d]\x00",),
    "gif_script": (r"GIF8[79]a/\*",),  # the GIF's width bytes open a JavaScript comment: a GIF/JS polyglot
    "markup": (r"<(?i:html[ \t\r\n>]|!doctype html|body[ \t\r\n>])",),
}  # fmt: skip
"""Payloads searched inside every cell, images included. Each piece starts with a literal byte so RE2
skips ahead with memchr (~8 GB/s); one alternation of them all would fall back to the DFA (~300 MB/s).
``danger``: GLOBAL (protocols 0-3) and STACK_GLOBAL (4-5) references to code-execution callables."""

_TEXT_ACTIVE = (
    r"(?i:(?:java|vb)script:|[ \t\r\n/\"']on(?:load|error|click|mouseover|focus|begin|pageshow)[ \t\r\n]*="
    r"|invoke-expression|downloadstring\(|-encodedcommand|frombase64string\(|net\.webclient)"
)
"""Case-insensitive script markers with no literal anchor (a full DFA pass): only run on the cells that
are not images, where text payloads live."""

_DANGER = "|".join(_PIECES["danger"])
_PICKLE_INSIDE = "|".join(_PIECES["pickle"])
_EXE_INSIDE = "|".join(_PIECES["executable"])
_ACTIVE = "|".join((*_PIECES["active"], _TEXT_ACTIVE))
_ZIP_INSIDE = "|".join(_PIECES["zip"])
_MARKUP = "|".join(_PIECES["markup"])
_GIF_SCRIPT = "|".join(_PIECES["gif_script"])

_MARKUP_COLUMN_SHARE = 0.2
"""Above this share of markup cells, a column stores documents: script/HTML findings drop to MEDIUM."""
_ZERO_PADDING = 16
"""Zero bytes tolerated after an image end marker (some writers pad to a block size)."""
_PNG_END = b"IEND\xaeB`\x82"

Mask = np.ndarray[Any, np.dtype[np.bool_]]


def detect(cells: Cells, ctx: DetectorContext) -> Iterator[Match]:
    array: Any = cells.arrow
    if len(array) == array.null_count:
        return
    kinds = {kind: _any_start(array, kind) for kind in ("image", "pickle", "executable", "archive", "script")}
    image = kinds["image"]
    found = {name: _search_any(array, pieces) for name, pieces in _PIECES.items()}
    danger, pickled, markup = found["danger"], found["pickle"], found["markup"]
    active = found["active"] | _refine(array, ~image, _TEXT_ACTIVE)
    embedded = danger | pickled | active | markup | found["executable"] | found["zip"] | found["gif_script"]

    pickle_cell = ~image & ((kinds["pickle"] & _ends_with(array, b".")) | danger | pickled)
    claimed = image | pickle_cell
    executable = ~claimed & kinds["executable"]
    claimed |= executable
    archive = ~claimed & kinds["archive"]
    claimed |= archive
    script = ~claimed & (kinds["script"] | active)
    document = ~claimed & ~script & markup

    yield from _split(PICKLE_CELL, pickle_cell, danger, _explain_pickle)
    yield from _matches(EXECUTABLE_CELL, executable, _explain_start("executable"))
    yield from _matches(ARCHIVE_CELL, archive, _explain_start("archive"))
    share = float((script | document).sum()) / max(1, len(array) - array.null_count)
    regrade = share > _MARKUP_COLUMN_SHARE
    note = (
        f"{share:.0%} of this column's cells are scripts or markup, so it looks like stored documents; "
        "declare it with `html_allowed` if that is expected."
        if regrade
        else ""
    )
    yield from _matches(SCRIPT_CELL, script, _explain_script, Severity.MEDIUM if regrade else None, note)
    yield from _matches(SCRIPT_CELL, document, _explain_script, Severity.MEDIUM, note)

    appended = _appended(array, image)
    yield from _split(APPENDED_DATA, appended & embedded, danger, _explain_appended(Severity.HIGH))
    yield from _matches(APPENDED_DATA, appended & ~embedded, _explain_appended(Severity.MEDIUM))
    yield from _split(POLYGLOT_IMAGE, image & ~appended & embedded, danger, _explain_polyglot)


# --- vectorised masks -------------------------------------------------------------------------------


def _as_mask(result: Any) -> Mask:
    return np.asarray(pc.fill_null(result, False).to_numpy(zero_copy_only=False), dtype=np.bool_)


def _search(array: Any, regex: str, anchored: bool = False) -> Mask:
    pattern = _RE_PREFIX + ("^(?:" + regex + ")" if anchored else regex)
    return _as_mask(pc.match_substring_regex(array, pattern))


def _search_any(array: Any, pieces: tuple[str, ...]) -> Mask:
    out = np.zeros(len(array), dtype=np.bool_)
    for piece in pieces:
        out |= _search(array, piece)
    return out


def _refine(array: Any, candidates: Mask, regex: str) -> Mask:
    """``regex`` over only the cells ``candidates`` selects: keeps a costly pattern off most of a column."""
    out = np.zeros(len(array), dtype=np.bool_)
    where = np.flatnonzero(candidates)
    if where.size:
        out[where] = _search(array.take(pa.array(where)), regex)
    return out


def _any_start(array: Any, kind: str) -> Mask:
    return _search(array, "|".join(m.start for m in _MAGICS if m.kind == kind), anchored=True)


def _ends_with(array: Any, suffix: bytes) -> Mask:
    return _as_mask(pc.ends_with(array, pattern=suffix))


def _ends_padded(array: Any, mine: Mask, end: bytes) -> Mask:
    """Cells of ``mine`` ending with ``end`` plus up to ``_ZERO_PADDING`` zero bytes."""
    out = mine & _ends_with(array, end)
    rest = np.flatnonzero(mine & ~out)
    if rest.size:
        subset = array.take(pa.array(rest))
        padded = np.zeros(rest.size, dtype=np.bool_)
        for pad in range(1, _ZERO_PADDING + 1):
            padded |= _ends_with(subset, end + b"\x00" * pad)
        out[rest] = padded
    return out


def _appended(array: Any, image: Mask) -> Mask:
    """Image cells whose bytes continue past the format's end marker.

    A cell that has no end marker at all is truncated, not appended to: PNGs are told apart cheaply
    (IEND anywhere); JPEG/GIF end bytes are too short to search for, so a truncated one is reported
    here at MEDIUM and its explanation says the end was not found.
    """
    out = np.zeros(len(array), dtype=np.bool_)
    png = image & _search(array, _MAGIC["PNG image"].start, anchored=True)
    out |= _refine(array, png & ~_ends_padded(array, png, _PNG_END), r"IEND\xaeB`\x82")
    for magic, end in ((_MAGIC["JPEG image"], b"\xff\xd9"), (_MAGIC["GIF image"], b";")):
        mine = image & _search(array, magic.start, anchored=True)
        out |= mine & ~_ends_padded(array, mine, end)
    webp = image & _search(array, _MAGIC["WebP image"].start, anchored=True)
    where = np.flatnonzero(webp)
    if where.size:
        declared = pl.Series(pc.binary_slice(array.take(pa.array(where)), 4, 8)).bin.reinterpret(
            dtype=pl.UInt32, endianness="little"
        )
        riff_end = declared.to_numpy().astype(np.int64) + 8
        out[where] = _sizes(array)[where] > riff_end + 1  # RIFF pads odd chunks with one byte
    return out


def _sizes(array: Any) -> np.ndarray[Any, np.dtype[np.int64]]:
    return np.asarray(pc.fill_null(pc.binary_length(array), 0).to_numpy(zero_copy_only=False), dtype=np.int64)


def _matches(
    rule: Rule,
    mask: Mask,
    explain: Callable[[Any], Explained],
    severity: Severity | None = None,
    note: str = "",
) -> Iterator[Match]:
    indices = np.flatnonzero(mask).astype(np.int64)
    if indices.size:
        yield Match(rule, indices, explain, severity=severity, note=note)


def _split(rule: Rule, mask: Mask, danger: Mask, explain: Callable[[Any], Explained]) -> Iterator[Match]:
    """Cells naming a code-execution callable first, as CRITICAL, so counts keep the worst grade."""
    yield from _matches(rule, mask & danger, explain, Severity.CRITICAL)
    yield from _matches(rule, mask & ~danger, explain)


# --- per-cell explanations (reported cells only) -------------------------------------------------------


@cache
def _bytes_re(regex: str) -> re.Pattern[bytes]:
    return re.compile((_RE_PREFIX + "(?:" + regex + ")").encode("ascii"))


def _sniff(data: bytes) -> _Magic | None:
    for magic in _MAGICS:
        if _bytes_re(magic.start).match(data):
            return magic
    return None


def _globals(data: bytes) -> list[str]:
    """``module.name`` pairs a pickle references, for the message (GLOBAL and STACK_GLOBAL forms)."""
    found = [
        f"{m.group(1).decode()}.{m.group(2).decode()}"
        for m in _bytes_re(
            r"(?<![A-Za-z0-9_.])c([A-Za-z_][A-Za-z0-9_.]{0,60})\n([A-Za-z_][A-Za-z0-9_]{0,60})\n"
            + _AFTER_GLOBAL
        ).finditer(data)
    ]
    found += [
        f"{m.group(1).decode()}.{m.group(2).decode()}"
        for m in re.finditer(rb"\x8c[\x01-\x40]([A-Za-z_][A-Za-z0-9_.]{0,63})\x94?\x8c[\x01-\x40]"
                             rb"([A-Za-z_][A-Za-z0-9_]{0,63})\x94?\x93", data)
    ]  # fmt: skip
    return list(dict.fromkeys(found))[:6]


def _payload_at(data: bytes) -> tuple[int, str] | None:
    """The most dangerous embedded payload (table order): its offset and what it is."""
    for regex, what in (
        (_DANGER, "a pickle naming a code-execution callable"),
        (_PICKLE_INSIDE, "a pickle stream"),
        (_EXE_INSIDE, "an executable"),
        (_ACTIVE, "script/active HTML"),
        (_ZIP_INSIDE, "a ZIP archive"),
        (_GIF_SCRIPT, "a JavaScript comment opened by the GIF header (GIF/JS polyglot)"),
        (_MARKUP, "an HTML document"),
    ):
        m = _bytes_re(regex).search(data)
        if m is not None:
            return m.start(), what
    return None


def looks_like_pickle(data: bytes) -> bool:
    """A pickle stream starts here (protocol header, or a protocol-0 GLOBAL)."""
    magic = _sniff(data)
    return (magic is not None and magic.kind == "pickle") or _bytes_re(_DANGER).match(data) is not None


def names_dangerous_callable(data: bytes) -> bool:
    return _bytes_re(_DANGER).search(data) is not None


def pickle_globals(data: bytes) -> list[str]:
    return _globals(data)


def _explain_pickle(value: Any) -> Explained:
    data = bytes(value)
    container = _sniff(data)
    hit = _bytes_re(_DANGER).search(data) or _bytes_re(_PICKLE_INSIDE).search(data)
    offset = 0 if hit is None or (container is not None and container.kind == "pickle") else hit.start()
    names = _globals(data)
    where = f"inside a {container.name} " if container is not None and container.kind != "pickle" else ""
    return Explained(
        offset,
        f"Binary cell holds a pickle stream {where}(at byte {offset})"
        + (f" referencing {', '.join(names)}" if names else "")
        + f". {_UNPICKLE} Replace it with a non-executable format and never unpickle it to inspect it.",
        hex_snippet(data, offset),
        "pickle:" + (",".join(names) if names else "stream"),
    )


def _explain_start(kind: str) -> Callable[[Any], Explained]:
    def explain(value: Any) -> Explained:
        data = bytes(value)
        magic = _sniff(data)
        name = magic.name if magic is not None else kind
        advice = (
            "Remove the cell; nothing in a training set should be a runnable program."
            if kind == "executable"
            else "Store its members as separate columns so they can be scanned, or allow `binary` here."
        )
        return Explained(0, f"Binary cell holds a {name} (at byte 0). {advice}", hex_snippet(data, 0), name)

    return explain


def _explain_script(value: Any) -> Explained:
    data = bytes(value)
    hit = _bytes_re(_ACTIVE).search(data) or _bytes_re(_MARKUP).search(data)
    magic = _sniff(data)
    offset = 0 if magic is not None and magic.kind == "script" else (hit.start() if hit else 0)
    what = magic.name if magic is not None and magic.kind == "script" else "HTML/script content"
    token = (hit.group(0) if hit else data[:12]).decode("latin-1").strip().lower()
    return Explained(
        offset,
        f"Binary cell holds {what} (at byte {offset}); a viewer or labeling tool that renders or saves it "
        "runs it. Remove the cell, or declare the column with `html_allowed` if it stores web pages.",
        hex_snippet(data, offset),
        token[:40],
        families=("html", "code"),
    )


def _explain_appended(floor: Severity) -> Callable[[Any], Explained]:
    def explain(value: Any) -> Explained:
        data = bytes(value)
        magic = _sniff(data)
        name = magic.name if magic is not None else "image"
        end = _image_end(data, name)
        if end is None or end >= len(data):
            found = _payload_at(data)
            return Explained(
                None,
                f"{name} cell does not end with its end marker and its structure could not be followed to "
                "one: the image is truncated or corrupt, or data was added inside it"
                + (f" ({found[1]} at byte {found[0]})" if found else "")
                + ". Re-encode or re-download the image.",
                hex_snippet(data, max(0, len(data) - 32)),
                f"{name}:no-end",
                severity=max(floor, Severity.MEDIUM),
            )
        what, kind, severity = _tail_verdict(data[end:])
        return Explained(
            end,
            f"{name} cell continues after its end marker at byte {end} ({len(data) - end} bytes); the "
            f"appended data {what}. Decoders ignore it, so it can carry a payload past review: re-encode the "
            "image to drop the tail.",
            hex_snippet(data, end),
            f"{name}:{kind}",
            severity=max(severity, floor),
        )

    return explain


def _tail_verdict(tail: bytes) -> tuple[str, str, Severity]:
    """What the appended bytes are: (message text, stable key, severity)."""
    if _bytes_re(_DANGER).search(tail):
        names = _globals(tail)
        return (
            f"is a pickle naming {', '.join(names) or 'a code-execution callable'}",
            "pickle",
            Severity.CRITICAL,
        )
    magic = _sniff(tail.lstrip(b"\x00\r\n\t "))
    if magic is not None and magic.kind != "image":
        return f"is a {magic.name}", magic.name, Severity.HIGH
    found = _payload_at(tail)
    if found is not None:
        return f"contains {found[1]} at tail byte {found[0]}", found[1], Severity.HIGH
    return "is not a known format", "unknown", Severity.MEDIUM


def _explain_polyglot(value: Any) -> Explained:
    data = bytes(value)
    magic = _sniff(data)
    name = magic.name if magic is not None else "image"
    found = _payload_at(data)
    offset, what = found if found is not None else (0, "a payload")
    return Explained(
        offset,
        f"{name} cell also contains {what} at byte {offset}, inside the image data: a polyglot that is an "
        "image to a decoder and a payload to whatever parses it otherwise. Re-encode the image without "
        "metadata.",
        hex_snippet(data, offset),
        f"{name}:{what}",
        severity=Severity.CRITICAL if what.startswith("a pickle naming") else None,
        families=("html", "code") if "HTML" in what or "script" in what else (),
    )


# --- image structure walks: where the image really ends ---------------------------------------------


def _image_end(data: bytes, name: str) -> int | None:
    walk = {"PNG image": _png_end, "JPEG image": _jpeg_end, "GIF image": _gif_end, "WebP image": _webp_end}
    return walk[name](data) if name in walk else None


def _png_end(data: bytes) -> int | None:
    pos = 8
    while pos + 12 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        pos += 12 + length
        if kind == b"IEND":
            return pos
    return None


def _jpeg_end(data: bytes) -> int | None:
    pos = 2
    while pos + 2 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
        elif marker == 0xD9:
            return pos + 2
        elif 0xD0 <= marker <= 0xD7 or marker == 0x01:
            pos += 2
        else:
            pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
            if marker == 0xDA:
                pos = _next_marker(data, pos)
    return None


def _next_marker(data: bytes, pos: int) -> int:
    """Skip entropy-coded scan data: FF 00 is a stuffed byte, FF D0-D7 a restart marker."""
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= len(data):
            return len(data)
        follower = data[pos + 1]
        if follower == 0x00 or 0xD0 <= follower <= 0xD7 or follower == 0xFF:
            pos += 1 if follower == 0xFF else 2
            continue
        return pos


def _gif_end(data: bytes) -> int | None:
    if len(data) < 13:
        return None
    pos = 13 + (3 * (2 << (data[10] & 7)) if data[10] & 0x80 else 0)
    while pos < len(data):
        block = data[pos]
        if block == 0x3B:
            return pos + 1
        if block == 0x21:
            pos = _skip_sub_blocks(data, pos + 2)
        elif block == 0x2C and pos + 10 <= len(data):
            flags = data[pos + 9]
            pos += 10 + (3 * (2 << (flags & 7)) if flags & 0x80 else 0) + 1
            pos = _skip_sub_blocks(data, pos)
        else:
            return None
    return None


def _skip_sub_blocks(data: bytes, pos: int) -> int:
    while pos < len(data):
        size = data[pos]
        pos += 1 + size
        if size == 0:
            break
    return pos


def _webp_end(data: bytes) -> int | None:
    return int.from_bytes(data[4:8], "little") + 8 if len(data) >= 12 else None


DETECTOR = Detector("binary", detect, binary=True)
