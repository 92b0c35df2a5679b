"""Typosquatting judge: is a dependency name a near miss of a popular PyPI name?

Attackers register names one slip away from a popular package (``reqeusts``, ``urlib3``,
``python3-dateutil``, ``jeIlyfish``) and wait for a typo in a requirements file. Every registry
dependency is compared offline with the vendored list of the most-downloaded PyPI names
(``data/top_pypi_packages.txt``, see ``data/SOURCE.md``). Popular packages are legitimately close to
each other (``scipy``/``scapy``, ``pytest-cov``/``pytest-xdist``), so the thresholds below were chosen
on data (``benchmarks/bench_typosquat.py``): only single typing slips (Damerau distance 1) of the kinds
fingers make, separator and ``py``/``python`` affix games, and look-alike characters are reported; a name
that is itself in the list, allowlisted, or internal is never reported. Distance 2 is not: against the
top 1,000 it flagged 0.37% more of the packages ranked 5,001-15,000 even for names of 10+ letters, every
one a legitimate project (``pytest-cover``, ``jupyterhub``), and no reported squat needed it.

Lookups are O(name length): the popular names are indexed once by their single-character deletions
(symmetric delete), so a 500-entry lock file is judged in milliseconds.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from types import MappingProxyType

from mlsec_dagster.engine.artifact import Artifact
from mlsec_dagster.engine.findings import Finding, Severity
from mlsec_dagster.engine.policy import DependencyRules
from mlsec_dagster.engine.rules import define
from mlsec_dagster.scanners.dependencies.model import Dependency, Manifest

_FAMILY = "dependencies"

TYPOSQUAT = define(
    "MLS-DEP-001",
    "Possible typosquat of a popular package",
    Severity.HIGH,
    "The dependency name is one typing slip away from one of the 5,000 most-downloaded PyPI packages "
    "(swapped, doubled, missing or mistyped letter), or differs from it only by separators or a "
    "`python`/`py`/`-dev`/`-lib` affix, or uses look-alike characters (`0` for `o`, capital `I` for "
    "`l`), and is not itself one of the 15,000 most downloaded. Typosquatted names are "
    "registered by attackers so that a typo installs their code; installing runs it (setup.py, .pth).",
    "Correct the name to the popular package named in the message. If the dependency really is the "
    "package you meant (your own, or a vetted one), add its name to `dependency_rules.allowlist` in "
    "the policy with a reason.",
    family=_FAMILY,
    tags=("supply-chain", "typosquatting"),
)
HOMOGLYPH = define(
    "MLS-DEP-002",
    "Package name with look-alike characters",
    Severity.HIGH,
    "The dependency name contains non-ASCII letters (Cyrillic or Greek letters that look like Latin "
    "ones, full-width forms) or mixes scripts. No PyPI project has such a name (PEP 508 names are "
    "ASCII) and pip rejects it, so the name is there to deceive a reader: it reads like a popular "
    "package but is something else, e.g. installed from another index or copied into a notebook.",
    "Retype the name in plain ASCII (the message shows the name it imitates), or remove the entry.",
    family=_FAMILY,
    tags=("supply-chain", "typosquatting"),
)
RENAMED = define(
    "MLS-DEP-003",
    "Renamed or deprecated package name",
    Severity.LOW,
    "The dependency is a name whose maintainers renamed or retired it (`sklearn`, `tensorflow-gpu`, "
    "`pep8`), an obsolete backport of a standard-library module (`enum34`, `typing`), or an import "
    "name that is not the distribution's name on PyPI (`cv2`, `yaml`, `PIL`). Such names install "
    "nothing useful, stop installing one day, or could be registered by someone else.",
    "Depend on the current package named in the message (or drop the backport), or add the name to "
    "`dependency_rules.allowlist` with a reason if you really need it.",
    family=_FAMILY,
    tags=("supply-chain",),
)

EDIT_TARGETS = 5_000
"""Near misses are searched among this many most-downloaded names (the issue asks for >= 5,000). Names
ranked below are still never reported themselves (the whole list is the guard)."""
MIN_LENGTH = 5
"""Shortest name (in PEP 503 form) judged by edit distance: at 4 letters and fewer almost every name
is one slip from a popular one (``six``/``sip``, ``dash``/``dask``)."""
MIN_LENGTH_SUBSTITUTION = 6
"""A single changed letter is the weakest signal (``slack``/``black``); it needs a longer name, except
against the most popular names (``nunpy``)."""
MOST_POPULAR = 1_000
"""The names attackers aim at most get the weaker signals too: an added or dropped final ``s``
(``request``), a changed letter in a 5-letter name, and weak affixes (``urllib`` for ``urllib3``)."""

_STRONG_PREFIXES = ("python3-", "python2-", "python-", "py3-", "py2-", "py-")
_STRONG_SUFFIXES = ("-python3", "-python", "-py3", "-py")
_WEAK_PREFIXES = ("python", "py")
_WEAK_SUFFIXES = ("py", "-dev", "-lib", "lib", "-2", "-3", "2", "3")
"""Strong affixes are separate words added to a name (``python3-dateutil``); weak ones are glued on or
are versions (``pyserial``/``serial``, ``nose2``), a common legitimate naming pattern, so they count
only against the most popular names, as does dropping an affix (``kafka`` for ``kafka-python``)."""
_PREFIXES = (*_STRONG_PREFIXES, *_WEAK_PREFIXES)
_SUFFIXES = (*_STRONG_SUFFIXES, *_WEAK_SUFFIXES)
_MIN_CORE = 4
"""Affix games are judged only when what remains is this long (``py`` + ``t`` is not ``pytest``)."""

_LOOKALIKE: Mapping[str, str] = MappingProxyType(
    {"0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "l": "i", "i": "l"}
)
"""ASCII characters read as another in most fonts (``crypt0graphy``, ``jeilyfish``)."""
_LOOKALIKE_RUNS = (("rn", "m"), ("vv", "w"), ("cl", "d"))
_VOWELS = frozenset("aeiouy")
_KEYBOARD_ROWS = ("1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm")
_ROW_OFFSETS = (0.0, 0.5, 0.75, 1.25)


def _key_positions() -> dict[str, tuple[float, float]]:
    return {
        ch: (col + _ROW_OFFSETS[row], float(row))
        for row, keys in enumerate(_KEYBOARD_ROWS)
        for col, ch in enumerate(keys)
    }


_KEYS = _key_positions()


def _adjacent(a: str, b: str) -> bool:
    """QWERTY neighbours, diagonals included: the letters a slipping finger hits."""
    pa, pb = _KEYS.get(a), _KEYS.get(b)
    if pa is None or pb is None:
        return False
    return (pa[0] - pb[0]) ** 2 + (pa[1] - pb[1]) ** 2 <= 1.6


_HOMOGLYPH_NAMES: Mapping[str, str] = MappingProxyType(
    {
        "a": "CYRILLIC SMALL LETTER A|GREEK SMALL LETTER ALPHA",
        "b": "CYRILLIC SMALL LETTER VE|CYRILLIC SMALL LETTER SOFT SIGN|GREEK SMALL LETTER BETA",
        "c": "CYRILLIC SMALL LETTER ES",
        "d": "CYRILLIC SMALL LETTER KOMI DE",
        "e": "CYRILLIC SMALL LETTER IE|CYRILLIC SMALL LETTER IO|GREEK SMALL LETTER EPSILON",
        "g": "LATIN SMALL LETTER SCRIPT G",
        "h": "CYRILLIC SMALL LETTER SHHA|CYRILLIC SMALL LETTER EN",
        "i": "CYRILLIC SMALL LETTER BYELORUSSIAN-UKRAINIAN I|CYRILLIC SMALL LETTER YI|GREEK SMALL LETTER IOTA"
        "|LATIN SMALL LETTER DOTLESS I",
        "j": "CYRILLIC SMALL LETTER JE|LATIN SMALL LETTER DOTLESS J",
        "k": "CYRILLIC SMALL LETTER KA|GREEK SMALL LETTER KAPPA",
        "l": "CYRILLIC SMALL LETTER PALOCHKA|SCRIPT SMALL L",
        "m": "CYRILLIC SMALL LETTER EM",
        "n": "GREEK SMALL LETTER ETA",
        "o": "CYRILLIC SMALL LETTER O|GREEK SMALL LETTER OMICRON|ARMENIAN SMALL LETTER OH",
        "p": "CYRILLIC SMALL LETTER ER|GREEK SMALL LETTER RHO",
        "q": "CYRILLIC SMALL LETTER QA",
        "s": "CYRILLIC SMALL LETTER DZE|LATIN SMALL LETTER LONG S",
        "t": "CYRILLIC SMALL LETTER TE|GREEK SMALL LETTER TAU",
        "u": "GREEK SMALL LETTER UPSILON|ARMENIAN SMALL LETTER SEH",
        "v": "GREEK SMALL LETTER NU",
        "w": "CYRILLIC SMALL LETTER WE|GREEK SMALL LETTER OMEGA",
        "x": "CYRILLIC SMALL LETTER HA|GREEK SMALL LETTER CHI",
        "y": "CYRILLIC SMALL LETTER U|GREEK SMALL LETTER GAMMA",
    }
)
"""Letters of other scripts that render like ASCII ones (Unicode TR39 confusables, lowercase; names,
not the characters, so this source stays readable). NFKC already folds full-width and math forms."""
_HOMOGLYPHS: Mapping[str, str] = MappingProxyType(
    {unicodedata.lookup(n): ascii_ for ascii_, names in _HOMOGLYPH_NAMES.items() for n in names.split("|")}
)


@dataclass(frozen=True)
class Match:
    """The popular name a dependency imitates, and how."""

    target: str
    rank: int
    technique: str


def normalise(name: str) -> str:
    """PEP 503 form (``Django``/``scikit_learn``/``ruamel.yaml`` are their canonical names)."""
    return re.sub(r"[-_.]+", "-", name).lower()


class PopularNames:
    """The ranked popular names with the indexes that make each lookup a handful of dict probes."""

    def __init__(self, ranked: Sequence[str], edit_targets: int = EDIT_TARGETS) -> None:
        self.ranks: dict[str, int] = {}
        for position, name in enumerate(ranked, start=1):
            self.ranks.setdefault(name, position)
        targets = [n for n in ranked[:edit_targets] if self.ranks[n] <= edit_targets]
        self._targets = frozenset(targets)
        self._longest = max(map(len, targets), default=0) + len("python3-") + len("-python3")
        self._deletes: dict[str, list[str]] = {}
        self._squashed: dict[str, str] = {}
        self._cores: dict[str, str] = {}
        for name in targets:  # most popular first: setdefault keeps the best-ranked owner of a key
            for key in {name, *_deletions(name)}:
                self._deletes.setdefault(key, []).append(name)
            self._squashed.setdefault(name.replace("-", ""), name)
            for core in (name, _core(name, weak=False), _core(name)):
                self._cores.setdefault(core, name)

    def __contains__(self, name: str) -> bool:
        return name in self.ranks

    def __len__(self) -> int:
        return len(self.ranks)

    def nearest(self, name: str) -> Match | None:
        """The popular name ``name`` (PEP 503, ASCII) imitates, or None. Never a name of the list."""
        if name in self.ranks or len(name) > self._longest:
            return None  # too long to be any technique's variant: and keeps hostile input linear
        for finder in (self._lookalike, self._separators, self._affix, self._edit):
            match = finder(name)
            if match is not None:
                return match
        return None

    def _match(self, target: str, technique: str) -> Match:
        return Match(target, self.ranks[target], technique)

    def _lookalike(self, name: str) -> Match | None:
        if len(name) < _MIN_CORE:
            return None
        for i, ch in enumerate(name):
            swap = _LOOKALIKE.get(ch)
            if swap is not None:
                candidate = name[:i] + swap + name[i + 1 :]
                if candidate in self._targets:
                    return self._match(candidate, f"look-alike character '{ch}' for '{swap}'")
        for run, letter in _LOOKALIKE_RUNS:
            start = name.find(run)
            while start >= 0:
                candidate = name[:start] + letter + name[start + len(run) :]
                if candidate in self._targets:
                    return self._match(candidate, f"look-alike letters '{run}' for '{letter}'")
                start = name.find(run, start + 1)
        return None

    def _separators(self, name: str) -> Match | None:
        target = self._squashed.get(name.replace("-", ""))
        if target is None:
            return None
        return self._match(target, "separators added or removed")

    def _affix(self, name: str) -> Match | None:
        """``python3-dateutil``/``dateutil-python`` for ``python-dateutil``, ``urllib`` for ``urllib3``."""
        for core in dict.fromkeys((_core(name, weak=False), _core(name), name)):
            target = self._cores.get(core)
            if target is None or len(core) < _MIN_CORE:
                continue
            if _around(name, core)[1].lstrip("-").isdigit():
                continue  # nose2, httpx2, gitdb2: forks and major versions add a digit
            if _strong_affix(name, target, core) or self.ranks[target] <= MOST_POPULAR:
                return self._match(target, f"affix game ({_affix_story(name, target, core)})")
        return None

    def _edit(self, name: str) -> Match | None:
        if len(name) < MIN_LENGTH:
            return None
        found: Match | None = None
        for key in (name, *_deletions(name)):
            for target in self._deletes.get(key, ()):
                technique = _slip(name, target, self.ranks[target])
                if technique is not None and (found is None or self.ranks[target] < found.rank):
                    found = self._match(target, technique)
        return found


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def _core(name: str, *, weak: bool = True) -> str:
    """``name`` without one known prefix and one known suffix (``python3-dateutil`` -> ``dateutil``)."""
    core = name
    for prefix in _PREFIXES if weak else _STRONG_PREFIXES:
        if core.startswith(prefix) and len(core) - len(prefix) >= 3:
            core = core[len(prefix) :]
            break
    for suffix in _SUFFIXES if weak else _STRONG_SUFFIXES:
        if core.endswith(suffix) and len(core) - len(suffix) >= 3:
            core = core[: -len(suffix)]
            break
    return core


def _around(word: str, core: str) -> tuple[str, str]:
    at = word.find(core)
    return word[:at], word[at + len(core) :]


def _strong_affix(name: str, target: str, core: str) -> bool:
    """The name adds or swaps a separate ``python``/``py`` word around the popular name's core."""
    (np, ns), (tp, ts) = _around(name, core), _around(target, core)
    return (
        np in ("", *_STRONG_PREFIXES)
        and ns in ("", *_STRONG_SUFFIXES)
        and tp in ("", *_STRONG_PREFIXES)
        and ts in ("", *_STRONG_SUFFIXES)
        and bool(np or ns)
    )


def _affix_story(name: str, target: str, core: str) -> str:
    (np, ns), (tp, ts) = _around(name, core), _around(target, core)
    parts = []
    for mine, theirs in ((np, tp), (ns, ts)):
        if mine != theirs:
            if mine and theirs:
                parts.append(f"'{mine}' instead of '{theirs}'")
            elif mine:
                parts.append(f"adds '{mine}'")
            else:
                parts.append(f"drops '{theirs}'")
    return ", ".join(parts)


def _token_at(word: str, index: int) -> str:
    start = word.rfind("-", 0, index) + 1
    end = word.find("-", index)
    return word[start : end if end >= 0 else len(word)]


def _slip(name: str, target: str, rank: int) -> str | None:
    """How ``name`` is one typing slip from ``target`` (Damerau distance 1), if it is a slip a finger
    makes and not one of the ways related projects are legitimately named; None otherwise."""
    n, t = len(name), len(target)
    i = next((k for k in range(min(n, t)) if name[k] != target[k]), min(n, t))
    if n == t:
        if i == n:
            return None
        if name[i + 1 :] == target[i + 1 :]:
            kind, mine, theirs = "changed", name[i], target[i]
        elif name[i + 2 :] == target[i + 2 :] and name[i : i + 2] == target[i : i + 2][::-1]:
            kind, mine, theirs = "swapped", name[i : i + 2], target[i : i + 2]
        else:
            return None
    elif n == t + 1 and name[i + 1 :] == target[i:]:
        kind, mine, theirs = "extra", name[i], ""
    elif t == n + 1 and target[i + 1 :] == name[i:]:
        kind, mine, theirs = "missing", "", target[i]
    else:
        return None
    if "-" in mine + theirs:
        return None  # separator moves are judged by _separators
    if (mine + theirs).isdigit():
        return None  # pyside2/pyside6, elasticsearch7: versions and variants, not typos
    longer = name if kind == "extra" else target
    if kind in ("changed", "swapped") and "-" in target and len(_token_at(target, min(i, t - 1))) <= 3:
        return None  # a short word inside a hyphenated name is a product (types-boto3-sns/-sqs)
    if kind == "swapped":
        return f"swapped letters '{mine}' for '{theirs}'"
    letter = mine or theirs
    doubled = (i > 0 and longer[i - 1] == letter) or (i + 1 < len(longer) and longer[i + 1] == letter)
    if doubled:
        return f"doubled letter '{letter}'" if kind == "extra" else f"missing doubled letter '{letter}'"
    at_end = i == 0 or i == len(longer) - 1
    if kind in ("extra", "missing"):
        if at_end and not (letter == "s" and i == len(longer) - 1 and rank <= MOST_POPULAR):
            return None  # torchx, grequests, whisperx: a new name built on a popular one
        return f"{kind} letter '{letter}'"
    if n < (MIN_LENGTH if rank <= MOST_POPULAR else MIN_LENGTH_SUBSTITUTION) or i == 0:
        return None  # slack/black, hyper/typer: first letters are rarely mistyped
    if _adjacent(mine, theirs) or (mine in _VOWELS and theirs in _VOWELS):
        return f"mistyped letter '{mine}' for '{theirs}'"
    return None


@functools.cache
def popular_names() -> PopularNames:
    """The shipped list, read once per process."""
    text = (
        files("mlsec_dagster.scanners.dependencies")
        .joinpath("data", "top_pypi_packages.txt")
        .read_text(encoding="ascii")
    )
    return PopularNames([line for line in text.splitlines() if line and not line.startswith("#")])


def skeleton(raw: str) -> str:
    """ASCII reading of a name with look-alike letters (``requests`` typed with a Cyrillic e)."""
    folded = unicodedata.normalize("NFKC", raw).lower()
    return "".join(_HOMOGLYPHS.get(ch, ch) for ch in folded)


def _scripts(raw: str) -> list[str]:
    seen: dict[str, None] = {}
    for ch in raw:
        if ch.isalpha():
            seen.setdefault(unicodedata.name(ch, "UNKNOWN").split(" ")[0].title(), None)
    return list(seen)


# Names whose maintainers retired or renamed them, obsolete backports, and import names that are not
# the distribution's name. Each entry: what to use instead, and the evidence (PyPI summaries as of the
# vendored list's date, project announcements). Deliberately absent: ``bs4`` (an official alias of
# beautifulsoup4 kept by its author), ``jwt`` and ``attr`` (different, maintained projects that share
# an import name with PyJWT and attrs: not a rename), ``pyyaml``/``Pillow`` spellings (PEP 503 equal).
RENAMES: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "sklearn": (
            "scikit-learn",
            "a deprecated placeholder (PyPI: 'use scikit-learn instead'); installing it fails since 2023-12",
        ),
        "scikits-learn": ("scikit-learn", "the project's name until 2011"),
        "tensorflow-gpu": (
            "tensorflow",
            "removed by TensorFlow ('please install \"tensorflow\" instead'; GPU: `tensorflow[and-cuda]`)",
        ),
        "tf-nightly-gpu": ("tf-nightly", "removed by TensorFlow ('please install \"tf-nightly\" instead')"),
        "pytorch": ("torch", "a placeholder whose install fails with a message to install `torch`"),
        "pandas-profiling": ("ydata-profiling", "deprecated (PyPI: use 'ydata-profiling' instead)"),
        "beautifulsoup": ("beautifulsoup4", "Beautiful Soup 3, Python 2 only, last released 2012"),
        "msgpack-python": ("msgpack", "renamed to msgpack in 2018 (0.5.6 was its last release)"),
        "docker-py": ("docker", "renamed to docker in 2016 (2.0)"),
        "pep8": ("pycodestyle", "renamed to pycodestyle in 2016"),
        "pep257": ("pydocstyle", "renamed to pydocstyle in 2016"),
        "python3-ldap": ("ldap3", "renamed (PyPI: install the ldap3 package instead)"),
        "fake-factory": ("faker", "deprecated on 2016-12-15 in favour of Faker"),
        "slackclient": ("slack-sdk", "legacy (PyPI: use slack-sdk instead)"),
        "pinecone-client": ("pinecone", "deprecated: renamed to pinecone"),
        "python-gflags": ("absl-py", "obsolete (PyPI: migrate to absl-py)"),
        "dotenv": ("python-dotenv", "a deprecated package (PyPI: 'Deprecated package')"),
        "pycrypto": (
            "pycryptodome",
            "unmaintained since 2014, with known flaws (CVE-2013-7459, CVE-2018-6594)",
        ),
        "pypdf2": ("pypdf", "finished at 3.0.x; development continues as pypdf"),
        "distribute": ("setuptools", "merged back into setuptools in 2013"),
        "mysql-python": (
            "mysqlclient",
            "MySQLdb for Python 2 only (last release 2014); mysqlclient is its fork",
        ),
        "nose": ("pytest", "unmaintained since 2015 and broken on Python 3.12+ (use pytest or nose2)"),
        "discord": ("discord-py", "a mirror (PyPI: install discord.py instead)"),
        "asyncio": ("", "a deprecated backport (PyPI: 'use the stdlib package instead')"),
        "enum34": ("", "a backport of Python 3.4's enum that breaks the standard library on 3.6+"),
        "typing": ("", "a backport of the standard library's typing that shadows and breaks it on 3.7+"),
        "futures": ("", "a Python 2 backport of concurrent.futures that refuses to install on Python 3"),
        "argparse": ("", "a backport of argparse, in the standard library since Python 2.7/3.2"),
        "pkg-resources": ("", "not on PyPI: a `pip freeze` artefact of Debian's pip (setuptools ships it)"),
        "cv2": ("opencv-python", "the import name, not a PyPI project: the install fails or gets a squatter"),
        "opencv": ("opencv-python", "not a PyPI project; OpenCV's wheels are opencv-python(-headless)"),
        "pil": ("pillow", "the import name; PIL was never installable from PyPI, Pillow is its fork"),
        "yaml": ("pyyaml", "the import name, not a PyPI project"),
        "dateutil": ("python-dateutil", "the import name, not a PyPI project"),
    }
)


def check(manifest: Manifest, artifact: Artifact, rules: DependencyRules) -> Iterator[Finding]:
    """Judge each registry dependency once per line: renamed, homoglyph, then typosquat."""
    names = popular_names()
    for dep in manifest.dependencies:
        if dep.kind != "registry":
            continue  # URL/VCS/path dependencies are judged by the confusion judge, by their source
        norm = dep.normalized
        if (
            norm in rules.allowlist
            or normalise(skeleton(dep.name)) in rules.allowlist
            or rules.is_internal(norm)
        ):
            continue
        finding = (
            _renamed(dep, norm, artifact)
            or _homoglyph(dep, names, artifact)
            or _typosquat(dep, norm, names, artifact)
        )
        if finding is not None:
            yield finding


def _renamed(dep: Dependency, norm: str, artifact: Artifact) -> Finding | None:
    entry = RENAMES.get(norm)
    if entry is None:
        return None
    replacement, why = entry
    fix = f"depend on `{replacement}` instead" if replacement else "remove it (the standard library has it)"
    return RENAMED.finding(
        artifact.path,
        f"{artifact.display}: `{dep.name}` is {why}. Fix: {fix}, or add `{norm}` to "
        "`dependency_rules.allowlist` with a reason if you really need this name.",
        location=artifact.location(line=dep.line),
        evidence=f"{dep.name} -> {replacement or '(standard library)'}",
        key=norm,
    )


_SHOWN = 120
"""Characters of a (possibly hostile, huge) non-ASCII name quoted in a finding."""


def _homoglyph(dep: Dependency, names: PopularNames, artifact: Artifact) -> Finding | None:
    if dep.name.isascii():
        return None
    ascii_form = normalise(skeleton(dep.name))[:_SHOWN]
    odd = ", ".join(
        f"'{ch}' ({unicodedata.name(ch, f'U+{ord(ch):04X}').lower()})"
        for ch in list(dict.fromkeys(c for c in dep.name if not c.isascii()))[:8]
    )
    imitated = ascii_form if ascii_form in names else None
    near = None if imitated or not ascii_form.isascii() else names.nearest(ascii_form)
    if imitated:
        target = f"it reads as `{imitated}` (popular package, rank {names.ranks[imitated]})"
        evidence_target = f"{imitated} (rank {names.ranks[imitated]}, homoglyphs)"
    elif near is not None:
        target = f"it reads as `{ascii_form}`, close to `{near.target}` (rank {near.rank}, {near.technique})"
        evidence_target = f"{near.target} (rank {near.rank}, homoglyphs + {near.technique})"
    else:
        target = f"it reads as `{ascii_form}`"
        evidence_target = ascii_form
    fix = imitated or (near.target if near is not None else None)
    scripts = _scripts(dep.name)
    mixed = f" and mixes scripts ({', '.join(scripts)})" if len(scripts) > 1 else ""
    return HOMOGLYPH.finding(
        artifact.path,
        f"{artifact.display}: dependency `{dep.name[:_SHOWN]}` contains non-ASCII look-alike characters "
        f"{odd}{mixed}; "
        f"{target}. No PyPI project has a non-ASCII name. Fix: retype the name in ASCII"
        f"{f' (`{fix}`)' if fix else ''}, or remove the entry.",
        location=artifact.location(line=dep.line),
        evidence=f"{dep.name[:_SHOWN]} -> {evidence_target}",
        key=ascii_form,
    )


def _typosquat(dep: Dependency, norm: str, names: PopularNames, artifact: Artifact) -> Finding | None:
    match = _capital_i(dep.name, names) or names.nearest(norm)
    if match is None:
        return None
    return TYPOSQUAT.finding(
        artifact.path,
        f"{artifact.display}: `{dep.name}` looks like a typosquat of `{match.target}` (popular package, "
        f"rank {match.rank:,} of the {len(names):,} most downloaded): {match.technique}. "
        f"Fix: correct the name to `{match.target}`; if `{norm}` really is the package you want "
        "(your own or a vetted one), add it to `dependency_rules.allowlist` with a reason.",
        location=artifact.location(line=dep.line),
        evidence=f"{dep.name} -> {match.target} (rank {match.rank}, {match.technique})",
        key=norm,
    )


def _capital_i(raw: str, names: PopularNames) -> Match | None:
    """``jeIlyfish``: a capital I reads as l in most fonts, and PEP 503 lowercases it away."""
    if "I" not in raw or raw.isupper():
        return None
    for i, ch in enumerate(raw):
        if ch == "I" and i > 0 and raw[i - 1].islower():
            candidate = normalise(raw[:i] + "l" + raw[i + 1 :])
            if candidate in names:
                return Match(candidate, names.ranks[candidate], "capital 'I' posing as 'l'")
    return None
