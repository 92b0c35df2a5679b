"""The MLS-ARC rule family: archive tricks that make a loader and a scanner see different files."""

from __future__ import annotations

from mlsec_dagster.engine.findings import Severity
from mlsec_dagster.engine.rules import define

_FAMILY = "archives"

UNPARSEABLE = define(
    "MLS-ARC-001",
    "Archive structure could not be parsed",
    Severity.HIGH,
    "The archive's directory or a member's header is missing or broken, so its members could not all "
    "be located and checked. Loaders are often more lenient than the specification (PyTorch's miniz "
    "reads what Python's zipfile rejects), so an unreadable part may still load.",
    "Re-create the archive with a standard tool from trusted sources; treat a file that only some tools "
    "can open as hostile.",
    family=_FAMILY,
)
NAME_MISMATCH = define(
    "MLS-ARC-002",
    "Member name differs between local header and central directory",
    Severity.HIGH,
    "Tools that read the central directory and loaders that read local headers see different member "
    "names (CVE-2025-1944): a scanner can be pointed at a harmless name while the loader reads the "
    "payload. No standard writer produces this.",
    "Do not load the file; re-create the archive with a standard tool.",
    family=_FAMILY,
)
ODD_FLAGS = define(
    "MLS-ARC-003",
    "Member has unusual general-purpose flags (e.g. encrypted)",
    Severity.MEDIUM,
    "Flag bits such as 'encrypted' make Python's zipfile refuse the member, which blinded scanners "
    "(CVE-2025-1945), while PyTorch ignores them. The member was read as stored/deflated anyway; if it "
    "was really encrypted its content could not be verified.",
    "Model archives are never encrypted: re-save the model with its framework's own save function.",
    family=_FAMILY,
)
BAD_CRC = define(
    "MLS-ARC-004",
    "Member CRC-32 does not match its content",
    Severity.MEDIUM,
    "The stored checksum does not match the bytes: the archive was edited after it was written, a "
    "known way to make strict readers (and scanners built on them) skip a member that lenient loaders "
    "still read (CVE-2025-10156).",
    "Re-create the archive from trusted sources; do not load a checkpoint that was patched by hand.",
    family=_FAMILY,
)
SPANNED = define(
    "MLS-ARC-005",
    "Split/spanned archive marker at the start",
    Severity.MEDIUM,
    "The file starts with the `PK\\x07\\x08` spanning signature. Single-file model archives never do; "
    "it confuses readers that check the first bytes for a local header.",
    "Re-create the archive as a single, unspanned zip.",
    family=_FAMILY,
)
DUPLICATE = define(
    "MLS-ARC-006",
    "Duplicate member names",
    Severity.HIGH,
    "Two members share a name; different readers pick different copies (first or last), so what was "
    "scanned need not be what is loaded. Both copies were scanned.",
    "Re-create the archive so every member name is unique.",
    family=_FAMILY,
)
TRAVERSAL = define(
    "MLS-ARC-007",
    "Member path escapes the extraction folder",
    Severity.HIGH,
    "An absolute member name or one with `..` components writes outside the target folder when the "
    "archive is extracted (zip-slip): it can overwrite code, configs or shell start-up files.",
    "Do not extract the archive; re-create it with relative member names only.",
    family=_FAMILY,
)
LINK_MEMBER = define(
    "MLS-ARC-008",
    "Symbolic link, hard link or device member",
    Severity.HIGH,
    "A link member makes a later member (or the loader) read or write a file outside the archive, "
    "e.g. `~/.ssh/authorized_keys`; a device node has no place in a model artifact.",
    "Re-create the archive with regular files only.",
    family=_FAMILY,
)
UNSUPPORTED_METHOD = define(
    "MLS-ARC-009",
    "Member stored in a way the scanner cannot read",
    Severity.HIGH,
    "The member uses a compression method or storage layout the scanner does not decode, so its "
    "content was not checked (fail closed).",
    "Re-create the archive with stored or deflated members (the default of every ML framework).",
    family=_FAMILY,
)
EXTRA_DATA = define(
    "MLS-ARC-010",
    "Data before the first member or after the end of the archive",
    Severity.MEDIUM,
    "Bytes outside the archive structure make a polyglot: another loader (pickle, a self-extractor) "
    "may read them as its own format. They were scanned as a separate stream.",
    "Re-create the archive so that it contains nothing but its members.",
    family=_FAMILY,
)
OVERLAP = define(
    "MLS-ARC-011",
    "Members overlap in the file",
    Severity.MEDIUM,
    "Two members share bytes. No writer does this; it is how non-recursive zip bombs multiply one "
    "compressed kernel and how one payload hides behind two names.",
    "Do not load the file; re-create the archive with a standard tool.",
    family=_FAMILY,
)
CORRUPT_MEMBER = define(
    "MLS-ARC-012",
    "Member data is truncated or corrupt",
    Severity.HIGH,
    "The member's compressed data could not be inflated to its end, so the part after the error was "
    "not checked (fail closed).",
    "Re-create the archive from trusted sources.",
    family=_FAMILY,
)
NOT_INSPECTED = define(
    "MLS-ARC-013",
    "Archive format not inspected",
    Severity.HIGH,
    "The file is an archive in a format the scanner cannot open (7z, RAR), so none of its members "
    "were checked (fail closed). Some checkpoints are shipped this way to slip past scanners.",
    "Unpack the archive in a sandbox and scan the extracted files, or ship the model as safetensors "
    "or a zip-based checkpoint instead.",
    family=_FAMILY,
)
