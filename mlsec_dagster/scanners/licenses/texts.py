"""Which licence a LICENSE/COPYING file holds, offline: distinctive phrases per licence, scored.

Texts are compared after folding case, punctuation and whitespace, so reflowed or Markdown copies match.
A full text is recognised when at least half of its phrases (and two or more) occur; the best fraction
wins, ties going to the more specific licence listed first (AGPL/LGPL before GPL, BSD-3 before BSD-2,
CC-BY-NC-SA before CC-BY). Only when no full text matches do one-line notices count ("Licensed under
the Apache License, Version 2.0", "All rights reserved"), so a LICENSE quoting another licence in passing
keeps its own identity.
"""

from __future__ import annotations

import re

from mlsec_dagster.scanners.licenses.catalog import PROPRIETARY

MAX_TEXT_BYTES = 512 * 1024
"""Licence texts are < 40 KB; only this much of a file is read and compared."""

_SPDX_TAG = re.compile(r"SPDX-License-Identifier:[ \t]*([^\r\n]{1,200})")
_FOLD = re.compile(r"[^a-z0-9]+")

_CC_COMMON = ("creative commons corporation", "licensed material")

_FULL: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("AGPL-3.0-only", (
        "gnu affero general public license version 3 19 november 2007",
        "the gnu affero general public license is a free copyleft license for software and other kinds of "
        "works specifically designed to ensure cooperation with the community in the case of network server "
        "software",
        "remote network interaction",
    )),
    ("LGPL-3.0-only", (
        "gnu lesser general public license version 3 29 june 2007",
        "this version of the gnu lesser general public license incorporates the terms and conditions of "
        "version 3 of the gnu general public license",
        "the library refers to a covered work governed by this license",
    )),
    ("LGPL-2.1-only", (
        "gnu lesser general public license version 2 1 february 1999",
        "this license the lesser general public license applies to some specially designated software",
        "everyone is permitted to copy and distribute verbatim copies",
    )),
    ("GPL-3.0-only", (
        "gnu general public license version 3 29 june 2007",
        "the gnu general public license is a free copyleft license for software and other kinds of works",
        "the program refers to any copyrightable work licensed under this license",
        "everyone is permitted to copy and distribute verbatim copies",
    )),
    ("GPL-2.0-only", (
        "gnu general public license version 2 june 1991",
        "the licenses for most software are designed to take away your freedom to share and change it",
        "this general public license applies to most of the free software foundation s software",
        "everyone is permitted to copy and distribute verbatim copies",
    )),
    ("Apache-2.0", (
        "apache license version 2 0 january 2004",
        "terms and conditions for use reproduction and distribution",
        "grant of copyright license",
        "grant of patent license",
    )),
    ("MPL-2.0", (
        "mozilla public license version 2 0",
        "covered software",
        "incompatible with secondary licenses",
    )),
    ("BSL-1.0", (
        "boost software license version 1 0",
        "permission is hereby granted free of charge to any person or organization obtaining a copy of the "
        "software and accompanying documentation covered by this license",
    )),
    ("MIT", (
        "permission is hereby granted free of charge to any person obtaining a copy of this software and "
        "associated documentation files",
        "the above copyright notice and this permission notice shall be included in all copies or "
        "substantial portions of the software",
        "the software is provided as is without warranty of any kind express or implied",
    )),
    ("BSD-3-Clause", (
        "redistribution and use in source and binary forms with or without modification are permitted",
        "redistributions of source code must retain the above copyright notice",
        "redistributions in binary form must reproduce the above copyright notice",
        "neither the name of",
        "this software is provided by the copyright holders and contributors as is",
    )),
    ("BSD-2-Clause", (
        "redistribution and use in source and binary forms with or without modification are permitted",
        "redistributions of source code must retain the above copyright notice",
        "redistributions in binary form must reproduce the above copyright notice",
        "this software is provided by the copyright holders and contributors as is",
    )),
    ("ISC", (
        "permission to use copy modify and or distribute this software for any purpose with or without "
        "fee is hereby granted",
        "the software is provided as is and the author disclaims all warranties with regard to this software",
    )),
    ("Zlib", (
        "the origin of this software must not be misrepresented",
        "altered source versions must be plainly marked as such",
        "this notice may not be removed or altered from any source distribution",
    )),
    ("Unlicense", (
        "this is free and unencumbered software released into the public domain",
        "anyone is free to copy modify publish use compile sell or distribute this software",
        "unlicense org",
    )),
    ("CC0-1.0", ("cc0 1 0 universal", "statement of purpose", "affirmer")),
    ("CC-BY-NC-ND-4.0", (
        "attribution noncommercial noderivatives 4 0 international public license", *_CC_COMMON,
        "noncommercial means not primarily intended for or directed towards commercial advantage",
    )),
    ("CC-BY-NC-SA-4.0", (
        "attribution noncommercial sharealike 4 0 international public license", *_CC_COMMON,
        "noncommercial means not primarily intended for or directed towards commercial advantage",
    )),
    ("CC-BY-NC-4.0", (
        "attribution noncommercial 4 0 international public license", *_CC_COMMON,
        "noncommercial means not primarily intended for or directed towards commercial advantage",
    )),
    ("CC-BY-SA-4.0", (
        "attribution sharealike 4 0 international public license", *_CC_COMMON, "adapter s license",
    )),
    ("CC-BY-4.0", ("creative commons attribution 4 0 international public license", *_CC_COMMON)),
    ("LicenseRef-CreativeML-OpenRAIL-M", (
        "creativeml open rail m", "dated august 22 2022", "use based restrictions",
    )),
    ("LicenseRef-BigScience-BLOOM-RAIL-1.0", ("bigscience rail license v1 0", "use based restrictions")),
    ("LicenseRef-BigScience-OpenRAIL-M", (
        "bigscience open rail m license", "dated august 18 2022", "use based restrictions",
    )),
    ("LicenseRef-OpenRAIL-M", ("open rail m license", "use based restrictions", "responsible ai license")),
    ("LicenseRef-Llama-3.3", (
        "llama 3 3 community license agreement", "llama 3 3 version release date december 6 2024",
        "built with llama", "700 million monthly active users",
    )),
    ("LicenseRef-Llama-3.2", (
        "llama 3 2 community license agreement", "llama 3 2 version release date september 25 2024",
        "built with llama", "700 million monthly active users",
    )),
    ("LicenseRef-Llama-3.1", (
        "llama 3 1 community license agreement", "llama 3 1 version release date july 23 2024",
        "built with llama", "700 million monthly active users",
    )),
    ("LicenseRef-Llama-3", (
        "meta llama 3 community license agreement", "meta llama 3 version release date april 18 2024",
        "built with meta llama 3", "700 million monthly active users",
    )),
    ("LicenseRef-Llama-2", (
        "llama 2 community license agreement", "llama 2 version release date july 18 2023",
        "700 million monthly active users",
    )),
    ("LicenseRef-Gemma", (
        "gemma terms of use", "gemma services", "model derivatives", "gemma prohibited use policy",
    )),
)  # fmt: skip

_NOTICES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Apache-2.0", ("licensed under the apache license version 2 0",)),
    ("MIT", ("licensed under the mit license", "released under the mit license", "mit license")),
    ("MPL-2.0", ("subject to the terms of the mozilla public license v 2 0",)),
    ("GPL-3.0-or-later", ("either version 3 of the license or at your option any later version",)),
    ("GPL-2.0-or-later", ("either version 2 of the license or at your option any later version",)),
    (PROPRIETARY, (
        "all rights reserved", "proprietary and confidential",
        "unauthorized copying of this file via any medium is strictly prohibited",
    )),
)  # fmt: skip


def fold(text: str) -> str:
    return " " + _FOLD.sub(" ", text.lower()).strip() + " "


def _has(folded: str, phrase: str) -> bool:
    return f" {phrase} " in folded


def spdx_tag(text: str) -> tuple[str, int] | None:
    """An ``SPDX-License-Identifier:`` line: (expression, 1-based line), the most explicit declaration."""
    match = _SPDX_TAG.search(text)
    if match is None:
        return None
    return match.group(1).strip().rstrip("*/ -#>").strip(), text.count("\n", 0, match.start()) + 1


def identify(text: str) -> str | None:
    """The canonical id of the licence this text is, or None when no table entry matches."""
    folded = fold(text)
    best: tuple[float, str] | None = None
    for licence, phrases in _FULL:
        hits = sum(_has(folded, p) for p in phrases)
        score = hits / len(phrases)
        if hits >= 2 and score >= 0.5 and (best is None or score > best[0]):
            best = (score, licence)
    if best is not None:
        return best[1]
    return next((lic for lic, phrases in _NOTICES if any(_has(folded, p) for p in phrases)), None)
