"""Recognising a pickle from its first bytes, strictly.

Protocol 2+ pickles start with PROTO (``\\x80`` + version); protocol 0/1 pickles have no magic at
all (CVE-2025-10155 hid one in a ``.bin``). Both are accepted only when the head runs on the
symbolic machine (real stack semantics, so text, CSV or source code fail within a few bytes) and
looks like something a pickler wrote.
"""

from __future__ import annotations

import io
import re

from mlsec_dagster.engine.artifact import Artifact
from mlsec_dagster.engine.limits import Limits
from mlsec_dagster.scanners.pickle.machine import Budget, LimitHit, Machine
from mlsec_dagster.scanners.pickle.opcodes import OpReader, PickleFormatError

MAX_SNIFF_OPS = 4096
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_SNIFF_BUDGET = Budget(Limits(), lambda: False, lambda name: True)


def sniff(artifact: Artifact) -> bool:
    head = artifact.head
    if len(head) < 2 or (head[0] == 0x80 and head[1] > 5):
        return False
    reader = OpReader(io.BytesIO(head), max(artifact.size, len(head)))
    machine = Machine(reader, _SNIFF_BUDGET)
    ops = 0
    named = False
    try:
        while ops < MAX_SNIFF_OPS:
            op = reader.next()
            ops += 1
            if op.name in ("GLOBAL", "INST"):
                if not all(_IDENTIFIER.match(part) for part in op.arg):
                    return False
                named = True
            named = named or op.name == "STACK_GLOBAL"
            if op.name == "STOP":
                return len(machine.stack) >= 1 and ops >= (2 if head[0] == 0x80 else 3)
            machine.step(op)
    except (PickleFormatError, LimitHit) as exc:
        # A valid PROTO stream whose operand runs past the sniffed head but not past the file (a
        # 70 KB literal hiding a payload behind it) is a pickle the loader would read in full.
        if (
            isinstance(exc, PickleFormatError)
            and str(exc) == "unexpected end of data"
            and head[0] == 0x80
            and artifact.size > len(head)
        ):
            return True
        # a payload followed by garbage or cut short is still a pickle worth scanning
        return (ops > 4 and (named or head[0] == 0x80)) or ops > 16
    return True
