"""Licence identities: hub ids and common spellings -> one canonical id, and the families policy globs see.

A data table rather than a library: the Hugging Face hub ids (``llama3``, ``openrail``, ``gemma``) are not
SPDX and no licence library maps them, so an alias table is needed anyway; the SPDX ids ML repositories
actually declare are a few dozen. Canonical ids are SPDX where SPDX has one, else ``LicenseRef-<Name>``.
"""

from __future__ import annotations

import re

UNKNOWN = frozenset({"other", "unknown", "see license", "see licence", "custom", "noassertion", "none", ""})
"""Declared values that say nothing about the terms: judged with the policy's unknown-licence severity."""

PROPRIETARY = "LicenseRef-Proprietary"

# canonical id: aliases (lowercase; the canonical id lowercased is always an alias)
_TABLE: dict[str, tuple[str, ...]] = {
    "MIT": ("mit license", "the mit license", "expat"),
    "Apache-2.0": ("apache 2.0", "apache-2", "apache license 2.0", "apache license, version 2.0",
                   "apache license version 2.0", "apache 2", "apache2", "asl 2.0", "apache software license"),
    "BSD-2-Clause": ("bsd-2", "bsd 2-clause", "simplified bsd", "freebsd"),
    "BSD-3-Clause": ("bsd-3", "bsd 3-clause", "new bsd", "modified bsd", "bsd", "bsd license"),
    "ISC": ("isc license",),
    "MPL-2.0": ("mozilla public license 2.0", "mpl 2.0", "mpl2"),
    "GPL-2.0-only": ("gpl-2.0", "gpl-2", "gplv2", "gpl 2", "gnu general public license v2"),
    "GPL-2.0-or-later": ("gpl-2.0+", "gplv2+", "gnu general public license v2 or later (gplv2+)"),
    "GPL-3.0-only": ("gpl-3.0", "gpl-3", "gplv3", "gpl 3", "gpl", "gnu general public license v3 (gplv3)",
                     "gnu general public license v3"),
    "GPL-3.0-or-later": ("gpl-3.0+", "gplv3+", "gnu general public license v3 or later (gplv3+)"),
    "LGPL-2.1-only": ("lgpl-2.1", "lgplv2.1", "lgpl 2.1"),
    "LGPL-2.1-or-later": ("lgpl-2.1+",),
    "LGPL-3.0-only": ("lgpl-3.0", "lgpl-3", "lgplv3", "lgpl",
                      "gnu lesser general public license v3 (lgplv3)"),
    "LGPL-3.0-or-later": ("lgpl-3.0+", "lgplv3+"),
    "AGPL-3.0-only": ("agpl-3.0", "agpl-3", "agplv3", "agpl", "gnu affero general public license v3"),
    "AGPL-3.0-or-later": ("agpl-3.0+", "agplv3+"),
    "Unlicense": ("the unlicense", "unlicense"),
    "CC0-1.0": ("cc0", "cc0 1.0", "cc0 1.0 universal"),
    "CC-BY-4.0": ("cc by 4.0", "creative commons attribution 4.0"),
    "CC-BY-SA-4.0": ("cc by-sa 4.0", "creative commons attribution-sharealike 4.0"),
    "CC-BY-NC-4.0": ("cc by-nc 4.0", "creative commons attribution-noncommercial 4.0"),
    "CC-BY-NC-SA-4.0": ("cc by-nc-sa 4.0", "creative commons attribution-noncommercial-sharealike 4.0"),
    "CC-BY-NC-ND-4.0": ("cc by-nc-nd 4.0", "creative commons attribution-noncommercial-noderivatives 4.0"),
    "CC-BY-ND-4.0": ("cc by-nd 4.0",),
    "CC-BY-3.0": ("cc by 3.0",),
    "CC-BY-SA-3.0": ("cc by-sa 3.0",),
    "CC-BY-NC-2.0": (),
    "CC-BY-NC-3.0": (),
    "CC-BY-NC-SA-3.0": (),
    "CC-BY-2.0": (),
    "CC-BY-2.5": (),
    "BSL-1.0": ("boost", "boost software license 1.0", "bsl-1.0"),
    "Zlib": ("zlib license", "zlib/libpng"),
    "OpenRAIL": ("openrail", "open rail"),
    "LicenseRef-OpenRAIL-PlusPlus": ("openrail++",),
    "LicenseRef-OpenRAIL-M": ("openrail-m", "open rail-m"),
    "LicenseRef-CreativeML-OpenRAIL-M": ("creativeml-openrail-m", "creativeml open rail-m"),
    "LicenseRef-BigScience-OpenRAIL-M": ("bigscience-openrail-m", "bigscience open rail-m"),
    "LicenseRef-BigScience-BLOOM-RAIL-1.0": ("bigscience-bloom-rail-1.0", "bigscience bloom rail 1.0"),
    "LicenseRef-BigCode-OpenRAIL-M": ("bigcode-openrail-m",),
    "LicenseRef-Llama-2": ("llama2", "llama 2", "llama-2", "llama 2 community license",
                           "llama 2 community license agreement"),
    "LicenseRef-Llama-3": ("llama3", "llama 3", "llama-3", "meta llama 3 community license",
                           "meta llama 3 community license agreement", "llama 3 community license"),
    "LicenseRef-Llama-3.1": ("llama3.1", "llama 3.1", "llama-3.1", "llama 3.1 community license",
                             "llama 3.1 community license agreement"),
    "LicenseRef-Llama-3.2": ("llama3.2", "llama 3.2", "llama-3.2", "llama 3.2 community license",
                             "llama 3.2 community license agreement"),
    "LicenseRef-Llama-3.3": ("llama3.3", "llama 3.3", "llama-3.3", "llama 3.3 community license",
                             "llama 3.3 community license agreement"),
    "LicenseRef-Llama-4": ("llama4", "llama 4", "llama 4 community license agreement"),
    "LicenseRef-Gemma": ("gemma", "gemma terms of use"),
    "LicenseRef-DeepFloyd-IF": ("deepfloyd-if-license",),
    "LicenseRef-Apple-ASCL": ("apple-ascl",),
    "LicenseRef-Proprietary": ("proprietary", "other/proprietary license", "all rights reserved"),
    "Artistic-2.0": ("artistic-2.0",),
    "EPL-2.0": ("epl-2.0",),
    "AFL-3.0": ("afl-3.0",),
    "ECL-2.0": ("ecl-2.0",),
    "WTFPL": ("wtfpl",),
    "PDDL-1.0": ("pddl",),
    "ODbL-1.0": ("odbl", "odbl-1.0"),
    "ODC-By-1.0": ("odc-by",),
    "C-UDA-1.0": ("c-uda",),
    "OpenMDW-1.0": ("openmdw",),
}  # fmt: skip

_CANONICAL: dict[str, str] = {}
for _canonical, _aliases in _TABLE.items():
    for _alias in (_canonical.lower(), *_aliases):
        _CANONICAL.setdefault(_alias, _canonical)

_ALIASES: dict[str, frozenset[str]] = {}
for _alias, _canonical in _CANONICAL.items():
    _ALIASES[_canonical] = _ALIASES.get(_canonical, frozenset()) | {_alias}

_SPACES = re.compile(r"[\s_]+")
_TRAILING = re.compile(r"[\s.;,]+$")


def canonical(value: str) -> str | None:
    """The canonical id of one licence name or id (any case); None when it is not a licence we know.

    ``LicenseRef-`` ids a team invents are kept as written, so an allow-list can name them.
    """
    key = _TRAILING.sub("", _SPACES.sub(" ", value.strip().lower()))
    found = _CANONICAL.get(key) or _CANONICAL.get(key.replace(" ", "-"))
    if found is not None:
        return found
    if key.startswith("licenseref-") and len(key) > len("licenseref-"):
        return value.strip()
    return None


def policy_names(canonical_id: str) -> frozenset[str]:
    """Every lowercase name a policy glob may use for this licence: the SPDX id, the deprecated short
    form (``agpl-3.0`` for ``AGPL-3.0-only``) and the hub aliases (``llama3``)."""
    lowered = canonical_id.lower()
    names = {lowered, *(_ALIASES.get(canonical_id, ()))}
    for suffix in ("-only", "-or-later"):
        if lowered.endswith(suffix):
            names.add(lowered.removesuffix(suffix))
    if lowered.startswith("licenseref-"):
        names.add(lowered.removeprefix("licenseref-"))
    return frozenset(names)
