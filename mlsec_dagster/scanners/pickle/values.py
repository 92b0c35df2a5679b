"""The symbolic values the pickle machine pushes instead of real objects.

Only what judgement needs is kept: constants (for names, getattr targets and nested payloads),
references to imported objects, and the shape of calls. Containers keep at most ``KEEP`` items, so
a memo-expansion bomb costs references, never copies.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mlsec_dagster.scanners.pickle.opcodes import Blob

KEEP = 256
"""Items kept per container; the count beyond it is tracked, the items are not."""


@dataclass(slots=True)
class Const:
    value: object


@dataclass(slots=True)
class Ref:
    """An object the unpickler would import: ``GLOBAL``, ``STACK_GLOBAL``, ``INST`` or a resolved getattr."""

    name: str
    pos: int


@dataclass(slots=True)
class Module:
    """A module object obtained at load time (``importlib.import_module("os")``)."""

    name: str


@dataclass(slots=True)
class Seq:
    kind: str
    items: list[Value] = field(default_factory=list)
    total: int = 0

    def add(self, values: list[Value]) -> None:
        room = KEEP - len(self.items)
        if room > 0:
            self.items.extend(values[:room])
        self.total += len(values)

    def pairs(self) -> list[tuple[Value, Value]]:
        return list(zip(self.items[0::2], self.items[1::2], strict=False))


@dataclass(slots=True)
class Result:
    """What a call, NEWOBJ or reconstruction returns; ``cls`` names the class when known."""

    func: Value
    pos: int
    cls: str | None = None
    args: Value | None = None
    state: Value | None = None


@dataclass(slots=True)
class Unknown:
    """A value the scanner cannot know statically (persistent ids, buffers, extension codes)."""

    what: str


Value = Const | Ref | Module | Seq | Result | Unknown | Blob


def describe(value: Value, depth: int = 0) -> str:
    """Short readable form for messages; bounded in depth and width so bombs stay cheap."""
    if depth > 3:
        return "..."
    if isinstance(value, Const):
        return repr(value.value)[:80]
    if isinstance(value, Ref):
        return value.name
    if isinstance(value, Module):
        return f"<module {value.name}>"
    if isinstance(value, Seq):
        inner = ", ".join(describe(v, depth + 1) for v in value.items[:6])
        more = ", ..." if value.total > 6 else ""
        return f"{value.kind}({inner}{more})"
    if isinstance(value, Result):
        return f"<result of {describe(value.func, depth + 1)}>"
    if isinstance(value, Blob):
        return f"<{value.length} bytes at {value.offset}>"
    return f"<{value.what}>"
