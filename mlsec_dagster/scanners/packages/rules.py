"""The MLS-PKG rule family: Python packages (wheels, sdists) that run code at install or start-up."""

from __future__ import annotations

from mlsec_dagster.engine.findings import Severity
from mlsec_dagster.engine.rules import define

_FAMILY = "packages"
_DONT = (
    "Do not install this package. Install a wheel pinned by hash from a trusted index instead "
    "(`--require-hashes`), or review and rebuild the package from its reviewed source."
)

PTH_CODE = define(
    "MLS-PKG-001",
    "`.pth` file runs code at every interpreter start",
    Severity.HIGH,
    "Lines of a `.pth` file that start with `import` are executed by `site` every time Python starts, "
    "in every program of the environment, long after the install. Malicious packages use this for "
    "persistence; a `.pth` file with only paths is harmless.",
    _DONT,
    family=_FAMILY,
)
RECORD_MISMATCH = define(
    "MLS-PKG-002",
    "Wheel file does not match its RECORD hash or size",
    Severity.HIGH,
    "The wheel's RECORD lists a sha256 and size for every file; a file whose bytes differ was changed "
    "after the wheel was built (a tampered or repacked wheel).",
    _DONT,
    family=_FAMILY,
)
RECORD_UNLISTED = define(
    "MLS-PKG-003",
    "Wheel file not listed in RECORD",
    Severity.MEDIUM,
    "Every file of a wheel except RECORD and its signature must be listed in RECORD. An unlisted file "
    "was added after the build, and uninstalling the package leaves it behind.",
    "Rebuild the wheel from source, or obtain it again from the trusted index and compare.",
    family=_FAMILY,
)
RECORD_MISSING_FILE = define(
    "MLS-PKG-004",
    "RECORD lists a file the wheel does not contain",
    Severity.MEDIUM,
    "RECORD names a file that is not in the archive: the wheel was edited after it was built.",
    "Rebuild the wheel from source, or obtain it again from the trusted index and compare.",
    family=_FAMILY,
)
NO_RECORD = define(
    "MLS-PKG-005",
    "Wheel has no readable RECORD",
    Severity.HIGH,
    "Without RECORD nothing in the wheel can be verified against what was built, and installers refuse "
    "or mishandle it. Hand-made malicious wheels often skip it.",
    _DONT,
    family=_FAMILY,
)
RECORD_ENTRY = define(
    "MLS-PKG-006",
    "RECORD entry cannot be verified",
    Severity.MEDIUM,
    "A RECORD row has no hash, a hash algorithm weaker than sha256, a bad size or is malformed, so the "
    "file it names cannot be checked.",
    "Rebuild the wheel with a current build backend (it writes sha256 hashes for every file).",
    family=_FAMILY,
)
SHADOWING_COMMAND = define(
    "MLS-PKG-007",
    "Console script shadows a common command",
    Severity.HIGH,
    "The package installs an executable named like a common tool (pip, python, sudo, git, curl, aws...). "
    "Whoever types that command in the environment then runs the package's code instead.",
    _DONT,
    family=_FAMILY,
)
NATIVE_IN_PURE = define(
    "MLS-PKG-008",
    "Native binary in a pure-Python wheel",
    Severity.MEDIUM,
    "The wheel is tagged as pure Python (`none-any`) but contains machine code (ELF, PE or Mach-O): "
    "either it is mis-tagged or it smuggles a binary that no source review covers.",
    "Build the wheel from reviewed source, or use the platform wheel published by the project.",
    family=_FAMILY,
)
BAD_METADATA = define(
    "MLS-PKG-009",
    "Wheel metadata missing or unreadable",
    Severity.MEDIUM,
    "`WHEEL`, `METADATA` or `entry_points.txt` is missing or cannot be parsed, so the wheel's tags, name "
    "and entry points could not be verified.",
    "Rebuild the wheel with a standard build backend.",
    family=_FAMILY,
)
NETWORK = define(
    "MLS-PKG-010",
    "Install-time code reaches the network",
    Severity.HIGH,
    "`setup.py` (or code it runs) downloads or sends data while the package is built or installed: "
    "the classic way to fetch a second stage or exfiltrate secrets from build machines.",
    _DONT,
    family=_FAMILY,
)
PROCESS = define(
    "MLS-PKG-011",
    "Install-time code starts processes",
    Severity.HIGH,
    "`setup.py` (or code it runs) starts shell commands or programs at install time. A literal build "
    "tool command (cmake, make, `git describe`) is reported MEDIUM for review; anything else HIGH.",
    _DONT,
    family=_FAMILY,
)
DYNAMIC = define(
    "MLS-PKG-012",
    "Install-time code runs dynamic or hidden code",
    Severity.HIGH,
    "`exec`, `eval`, `compile`, computed imports, marshal/pickle or a decoded (base64, zlib, hex) "
    "payload run code that a reviewer of `setup.py` cannot read. Decoded payloads are shown in the "
    "evidence and analysed too.",
    _DONT,
    family=_FAMILY,
)
COMMAND_OVERRIDE = define(
    "MLS-PKG-013",
    "setup.py replaces an install command (cmdclass)",
    Severity.MEDIUM,
    "A custom `install`/`develop`/`egg_info`/`build_py`/`bdist_wheel` command runs the package's own "
    "code during installation. HIGH when that command reaches a network, process, dynamic-code or file "
    "write finding.",
    "Review the command class; prefer a wheel built by a trusted party, which installs without running it.",
    family=_FAMILY,
)
WRITES_OUTSIDE = define(
    "MLS-PKG-014",
    "Install-time code writes outside the build folder",
    Severity.HIGH,
    "`setup.py` writes to absolute paths, the home folder (`~`, `.bashrc`, `.ssh`), `/etc`, "
    "site-packages or a `.pth` file: persistence or tampering with other packages.",
    _DONT,
    family=_FAMILY,
)
READS_SECRETS = define(
    "MLS-PKG-015",
    "Install-time code reads credential files",
    Severity.HIGH,
    "`setup.py` reads SSH keys, cloud or registry credentials (`~/.aws/credentials`, `.pypirc`, "
    "`.netrc`, `.kube/config`...): credential theft from the machine that installs it.",
    _DONT,
    family=_FAMILY,
)
UNANALYSABLE = define(
    "MLS-PKG-016",
    "Install-time code could not be analysed",
    Severity.MEDIUM,
    "`setup.py` (or a build helper) is not valid Python for the analyser, too large, or not readable, so "
    "what it does at install time was not checked.",
    "Review the file by hand before installing; installers on other Python versions may still run it.",
    family=_FAMILY,
)
IN_TREE_BACKEND = define(
    "MLS-PKG-017",
    "Build backend shipped inside the sdist",
    Severity.MEDIUM,
    "`pyproject.toml` sets `backend-path`, so the build backend is code from the package itself and runs "
    "at install time like `setup.py`. It was analysed with the same rules.",
    "Review the backend module; prefer a published build backend or a wheel from a trusted index.",
    family=_FAMILY,
)
