"""A symbolic unpickler: runs the opcode stream on a model of the stack, mark stack and memo.

Nothing is imported or called. Every object the real unpickler would import becomes a
:class:`Ref` and is judged when referenced (deny list) and again when invoked (allow list), so
obfuscation through the memo, unusual string opcodes, ``getattr`` chains or INST/OBJ all reduce to
the same qualified name. What cannot be resolved statically is reported, never assumed safe.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from mlsec_dagster.engine.limits import Limits
from mlsec_dagster.scanners.pickle import callables, decoders
from mlsec_dagster.scanners.pickle.opcodes import Blob, Op, OpReader, PickleFormatError
from mlsec_dagster.scanners.pickle.values import Const, Module, Ref, Result, Seq, Unknown, Value, describe

LATIN1_BLOB = "latin1"
"""Blob kind for a large text operand that ``_codecs.encode(..., "latin1")`` turns into bytes."""
CONTEXT_OPS = 12
"""Opcodes kept before each issue as its disassembly evidence."""
TIME_CHECK_EVERY = 1 << 14
MAX_STRINGS = 200_000
"""String constants kept per stream for the secret search; the rest are not searched."""


class Kind(Enum):
    DENIED = "denied"
    UNKNOWN_CALL = "unknown-call"
    UNVERIFIED_CLASS = "unverified-class"
    DYNAMIC = "dynamic"
    BUILD_GLOBAL = "build-global"
    NESTED = "nested"


@dataclass
class Issue:
    kind: Kind
    key: str
    pos: int
    detail: str
    context: list[Op] = field(default_factory=list)
    payload: bytes | Blob | None = None
    """For NESTED: the embedded stream to re-scan."""
    report: bool = True
    """False for nested streams that are scanned but not themselves a finding (torch's own)."""


class LimitHit(Exception):
    def __init__(self, limit: str, detail: str, pos: int) -> None:
        super().__init__(detail)
        self.limit = limit
        self.pos = pos


@dataclass
class Budget:
    """Shared by every stream of one artifact: the opcode budget is per member, not per stream."""

    limits: Limits
    out_of_time: Callable[[], bool]
    trusts: Callable[[str], bool]
    opcodes: int = 0


BuildHook = Callable[["Machine", Value, Value, int], None]


class Machine:
    """One pickle stream from the reader's current position to its STOP."""

    def __init__(self, reader: OpReader, budget: Budget, build_hook: BuildHook | None = None) -> None:
        self.reader = reader
        self.budget = budget
        self.build_hook = build_hook
        self.stack: list[Value] = []
        self.metastack: list[list[Value]] = []
        self.memo: dict[int, Value] = {}
        self.issues: dict[tuple[Kind, str], Issue] = {}
        self.recent: deque[Op] = deque(maxlen=CONTEXT_OPS)
        self.storages: dict[str, tuple[str, int]] = {}
        """Legacy torch: storage key -> (storage class, element count), from persistent ids."""
        self.start = reader.pos
        self.skipped_before = reader.skipped
        self.skipped_regions: list[tuple[int, int]] = []
        self.strings: list[tuple[int, str]] = []
        """String constants with their opcode offset, for the secret search (bounded by MAX_STRINGS)."""
        """Raw data skipped inside this stream (joblib arrays): plain ``pickle.load`` would parse it."""
        self.array_depth = 0
        """Nesting of joblib object arrays (each one a stream inside this stream)."""
        self.opcount = 0
        self.proto = 0

    # -- driver ---------------------------------------------------------------------------
    def run(self) -> Value:
        """Execute until STOP and return the top-level value; raises on malformed input or limits."""
        limits = self.budget.limits
        while True:
            op = self.reader.next()
            self.recent.append(op)
            self.opcount += 1
            self.budget.opcodes += 1
            if self.budget.opcodes > limits.max_pickle_opcodes:
                raise LimitHit("max_pickle_opcodes", f"more than {limits.max_pickle_opcodes} opcodes", op.pos)
            if self.budget.opcodes % TIME_CHECK_EVERY == 0 and self.budget.out_of_time():
                raise LimitHit("timeout_seconds", "the pickle took too long to analyse", op.pos)
            if (
                self.reader.pos - self.start - (self.reader.skipped - self.skipped_before)
                > limits.max_pickle_bytes
            ):
                raise LimitHit(
                    "max_pickle_bytes", f"pickle stream longer than {limits.max_pickle_bytes} bytes", op.pos
                )
            if op.name == "STOP":
                return self._pop(op)
            self.step(op)

    # -- issues ---------------------------------------------------------------------------
    def issue(
        self,
        kind: Kind,
        key: str,
        pos: int,
        detail: str,
        payload: bytes | Blob | None = None,
        report: bool = True,
    ) -> None:
        """Record the first occurrence of each (kind, key), with the opcodes that led to it."""
        slot = (kind, key)
        if slot not in self.issues:
            self.issues[slot] = Issue(kind, key, pos, detail, list(self.recent), payload, report)

    # -- stack primitives -----------------------------------------------------------------
    def _pop(self, op: Op) -> Value:
        if not self.stack:
            raise PickleFormatError(op.pos, f"{op.name} on an empty stack")
        return self.stack.pop()

    def _top(self, op: Op) -> Value:
        if not self.stack:
            raise PickleFormatError(op.pos, f"{op.name} on an empty stack")
        return self.stack[-1]

    def _push(self, value: Value, op: Op) -> None:
        if len(self.stack) >= self.budget.limits.max_pickle_memo:
            raise LimitHit("max_pickle_memo", "the pickle stack grew past the memo budget", op.pos)
        self.stack.append(value)

    def _pop_mark(self, op: Op) -> list[Value]:
        if not self.metastack:
            raise PickleFormatError(op.pos, f"{op.name} without a MARK")
        items = self.stack
        self.stack = self.metastack.pop()
        return items

    def _memo_put(self, index: int, op: Op) -> None:
        if len(self.memo) >= self.budget.limits.max_pickle_memo and index not in self.memo:
            raise LimitHit(
                "max_pickle_memo", f"more than {self.budget.limits.max_pickle_memo} memo entries", op.pos
            )
        self.memo[index] = self._top(op)

    # -- opcode semantics -----------------------------------------------------------------
    def step(self, op: Op) -> None:
        """Apply one opcode other than STOP."""
        name, arg = op.name, op.arg
        if name in _CONST_OPS:
            value = _BOOLS.get(name, arg)
            self._push(value if isinstance(value, Blob) else Const(value), op)
            if type(value) is str and len(self.strings) < MAX_STRINGS:
                self.strings.append((op.pos, value))
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            if arg not in self.memo:
                raise PickleFormatError(op.pos, f"memo key {arg} was never stored")
            self._push(self.memo[arg], op)
        elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
            self._memo_put(int(arg), op)
        elif name == "MEMOIZE":
            self._memo_put(len(self.memo), op)
        elif name == "PROTO":
            self.proto = int(arg)
            if self.proto > 5:
                raise PickleFormatError(op.pos, f"unsupported protocol {self.proto}")
        elif name in ("FRAME", "READONLY_BUFFER"):
            if name == "FRAME" and int(arg) > self.reader.remaining():
                raise PickleFormatError(op.pos, f"FRAME of {arg} bytes exceeds the stream", True)
        elif name in _EMPTY:
            self._push(Seq(_EMPTY[name]), op)
        elif name == "MARK":
            if len(self.metastack) >= self.budget.limits.max_pickle_stack_depth:
                raise LimitHit("max_pickle_stack_depth", "MARK nesting deeper than the budget", op.pos)
            self.metastack.append(self.stack)
            self.stack = []
        elif name in _FROM_MARK:
            seq = Seq(_FROM_MARK[name])
            seq.add(self._pop_mark(op))
            self._push(seq, op)
        elif name in _TUPLE_N:
            n = _TUPLE_N[name]
            if len(self.stack) < n:
                raise PickleFormatError(op.pos, f"{name} needs {n} items")
            seq = Seq("tuple")
            seq.add(self.stack[len(self.stack) - n :])
            del self.stack[len(self.stack) - n :]
            self._push(seq, op)
        elif name in ("APPEND", "SETITEM"):
            values = [self._pop(op)] if name == "APPEND" else list(reversed([self._pop(op), self._pop(op)]))
            self._add_to(self._top(op), values, op)
        elif name in ("APPENDS", "SETITEMS", "ADDITEMS"):
            values = self._pop_mark(op)
            self._add_to(self._top(op), values, op)
        elif name == "POP":
            if self.stack:
                self.stack.pop()
            else:
                self._pop_mark(op)
        elif name == "POP_MARK":
            self._pop_mark(op)
        elif name == "DUP":
            self._push(self._top(op), op)
        else:
            self._step_objects(op)

    def _step_objects(self, op: Op) -> None:
        name, arg = op.name, op.arg
        if name == "GLOBAL":
            module, attr = arg
            self._push(self.reference(callables.qualify(module, attr), op.pos), op)
        elif name == "STACK_GLOBAL":
            name_v, module_v = self._pop(op), self._pop(op)
            if isinstance(module_v, Const) and isinstance(name_v, Const) and isinstance(module_v.value, str) \
                    and isinstance(name_v.value, str):  # fmt: skip
                self._push(self.reference(callables.qualify(module_v.value, name_v.value), op.pos), op)
            else:
                operands = f"{describe(module_v)}, {describe(name_v)}"
                self.issue(
                    Kind.DYNAMIC,
                    "STACK_GLOBAL",
                    op.pos,
                    f"STACK_GLOBAL with non-string operands ({operands})",
                )
                self._push(Unknown("dynamic global"), op)
        elif name == "INST":
            module, attr = arg
            inst_args = Seq("tuple")
            inst_args.add(self._pop_mark(op))
            ref = self.reference(callables.qualify(module, attr), op.pos)
            self._push(self.call(ref, inst_args, op.pos), op)
        elif name == "OBJ":
            items = self._pop_mark(op)
            if not items:
                raise PickleFormatError(op.pos, "OBJ without a class")
            obj_args = Seq("tuple")
            obj_args.add(items[1:])
            self._push(self.call(items[0], obj_args, op.pos), op)
        elif name == "REDUCE":
            args = self._pop(op)
            func = self._pop(op)
            self._push(self.call(func, args, op.pos), op)
        elif name in ("NEWOBJ", "NEWOBJ_EX"):
            kwargs: Value = self._pop(op) if name == "NEWOBJ_EX" else Seq("dict")
            args = self._pop(op)
            cls = self._pop(op)
            has_args = _nonempty(args) or _nonempty(kwargs)
            self._push(Result(cls, op.pos, self.judge_class(cls, op.pos, has_args)), op)
        elif name == "BUILD":
            state = self._pop(op)
            obj = self._top(op)
            if isinstance(obj, Result):
                obj.state = state
            elif isinstance(obj, (Ref, Module)):
                key = obj.name
                self.issue(
                    Kind.BUILD_GLOBAL, key, op.pos, f"BUILD sets state {describe(state)} on imported {key}"
                )
            if self.build_hook is not None:
                self.build_hook(self, obj, state, op.pos)
        elif name in ("EXT1", "EXT2", "EXT4"):
            detail = f"{name} loads the callable registered under extension code {arg} (copyreg registry)"
            self.issue(Kind.DYNAMIC, f"extension code {arg}", op.pos, detail)
            self._push(Unknown(f"extension {arg}"), op)
        elif name == "PERSID":
            self._push(Unknown("persistent id"), op)
        elif name == "BINPERSID":
            pid = self._pop(op)
            self._record_storage(pid)
            self._push(_persistent_class(pid) or Unknown("persistent id"), op)
        elif name == "NEXT_BUFFER":
            self._push(Unknown("out-of-band buffer"), op)
        else:  # pragma: no cover - every opcode of pickletools is handled above
            raise PickleFormatError(op.pos, f"unhandled opcode {name}")

    def _add_to(self, target: Value, values: list[Value], op: Op) -> None:
        if isinstance(target, Seq):
            target.add(values)
        elif isinstance(target, (Ref, Module)):
            # e.g. SETITEM into copyreg's extension registry or APPEND to a module-level list
            detail = f"{op.name} adds {_list(values)} to imported {target.name}"
            self.issue(Kind.BUILD_GLOBAL, target.name, op.pos, detail)

    def _record_storage(self, pid: Value) -> None:
        if (
            not isinstance(pid, Seq)
            or len(pid.items) < 5
            or len(self.storages) >= self.budget.limits.max_pickle_memo
        ):
            return
        tag, storage_type, key, _location, numel = pid.items[:5]
        if (
            isinstance(tag, Const)
            and tag.value == "storage"
            and isinstance(key, Const)
            and isinstance(numel, Const)
        ):
            type_name = storage_type.name if isinstance(storage_type, Ref) else "?"
            if isinstance(key.value, str) and isinstance(numel.value, int):
                self.storages[key.value] = (type_name, numel.value)

    # -- judgement ------------------------------------------------------------------------
    def reference(self, name: str, pos: int) -> Ref:
        """An imported object: dangerous ones are reported even if never called."""
        if not self.budget.trusts(name) and callables.is_denied(name):
            self.issue(Kind.DENIED, name, pos, f"the pickle imports {name}")
        return Ref(name, pos)

    def judge_class(self, cls: Value, pos: int, has_args: bool) -> str | None:
        """A class rebuilt through ``__new__`` (+ state): an unverified class (LOW; HIGH when strict).

        ``__new__`` arguments (``__getnewargs__``: namedtuples, slotted value classes) are part of the
        standard object protocol, so they do not make the rebuild an arbitrary call; ``__init__`` is
        never run. Calling the class itself (REDUCE) is judged in :meth:`call` as a call.
        """
        if not isinstance(cls, Ref):
            self.issue(
                Kind.DYNAMIC, "dynamic class", pos, f"object rebuilt from a computed class {describe(cls)}"
            )
            return None
        name = cls.name
        if self.budget.trusts(name) or callables.is_denied(name) or callables.is_trusted_class(name):
            return name
        how = "through __new__ with arguments" if has_args else "and given state"
        self.issue(Kind.UNVERIFIED_CLASS, name, pos, f"an instance of {name} is rebuilt {how}")
        return name

    def call(self, func: Value, args: Value, pos: int) -> Value:
        """REDUCE / INST / OBJ: ``func(*args)``."""
        if not isinstance(func, Ref):
            key = f"{func.name} (module called)" if isinstance(func, Module) else "dynamic callable"
            self.issue(Kind.DYNAMIC, key, pos, f"the pickle calls a computed callable {describe(func)}")
            return Result(func, pos)
        name = func.name
        items = args.items if isinstance(args, Seq) else []
        special = self._special_call(name, items, pos)
        if special is not None:
            return special
        if not (self.budget.trusts(name) or callables.is_denied(name) or callables.is_allowed_call(name)):
            self.issue(Kind.UNKNOWN_CALL, name, pos, f"the pickle calls {name}{_args_text(args)}")
        self._judge_arguments(name, items, pos)
        return Result(func, pos, name, args)

    def _judge_arguments(self, name: str, items: list[Value], pos: int) -> None:
        """Arguments an allowlisted helper calls or instantiates are judged like direct calls."""
        for index in callables.INVOKED_ARGUMENTS.get(name, ()):
            if index < len(items) and isinstance(items[index], Ref):
                self.call(items[index], Seq("tuple", [], 1), pos)
        index = callables.CLASS_ARGUMENTS.get(name, -1)
        if 0 <= index < len(items):
            self.judge_class(items[index], pos, False)

    def _special_call(self, name: str, items: list[Value], pos: int) -> Value | None:
        if name == "builtins.getattr":
            target = items[0] if items else None
            attr = items[1] if len(items) > 1 else None
            if isinstance(target, (Ref, Module)) and isinstance(attr, Const) and isinstance(attr.value, str):
                return self.reference(f"{target.name}.{attr.value}", pos)
            self.issue(Kind.DYNAMIC, name, pos, f"getattr on values known only at load time ({_list(items)})")
            return Result(Unknown("getattr"), pos)
        if name in ("importlib.import_module", "builtins.__import__") and items \
                and isinstance(items[0], Const) and isinstance(items[0].value, str):  # fmt: skip
            return Module(callables.qualify(items[0].value, "x").rsplit(".", 1)[0])
        if name in callables.RECONSTRUCTORS and items:
            base = items[1] if len(items) > 1 else None
            state = items[2] if len(items) > 2 else None
            if isinstance(base, Ref) and base.name != "builtins.object" and not _is_none(state):
                self.call(base, Seq("tuple", [state] if state is not None else [], 1), pos)
            return Result(items[0], pos, self.judge_class(items[0], pos, False))
        if name in callables.ARRAY_RECONSTRUCTORS and items:
            return Result(items[0], pos, self.judge_class(items[0], pos, False))
        if name in callables.NEWOBJ_HELPERS and items:
            return Result(items[0], pos, self.judge_class(items[0], pos, len(items) > 1))
        if name in callables.NESTED_LOADERS:
            self._nested(name, items, pos)
            return None
        if (
            name == "_codecs.encode"
            and items
            and isinstance(items[0], Blob)
            and items[0].kind.startswith("unicode")
        ):
            # protocol 2 writes bytes as _codecs.encode(text, "latin1"): keep pointing at the file
            return Blob(LATIN1_BLOB, items[0].offset, items[0].length)
        if decoders.is_decoder(name):
            constants = [i.value for i in items if isinstance(i, Const)]
            if len(constants) == len(items):
                out = decoders.evaluate(name, constants, self.budget.limits.max_nested_pickle_bytes)
                if out is not None:
                    if not callables.is_allowed_call(name) and not self.budget.trusts(name):
                        self.issue(Kind.UNKNOWN_CALL, name, pos, f"the pickle decodes data with {name}")
                    return Const(out)
        return None

    def _nested(self, name: str, items: list[Value], pos: int) -> None:
        data = items[0] if items else None
        report = not callables.is_allowed_call(name)
        if isinstance(data, Const) and isinstance(data.value, (bytes, bytearray, str)):
            raw = (
                data.value.encode("latin-1", "replace") if isinstance(data.value, str) else bytes(data.value)
            )
            self.issue(Kind.NESTED, f"{name}@{pos}", pos, f"{name} deserializes an embedded payload",
                       payload=raw, report=report)  # fmt: skip
        elif isinstance(data, Blob):
            self.issue(Kind.NESTED, f"{name}@{pos}", pos, f"{name} deserializes an embedded payload",
                       payload=data, report=report)  # fmt: skip
        elif report:
            self.issue(Kind.DYNAMIC, f"{name} of a computed value", pos,
                       f"{name} deserializes a value computed at load time ({_list(items)})")  # fmt: skip
        else:
            self.issue(Kind.UNKNOWN_CALL, name, pos, f"{name} is called on a value that could not be checked")


_CONST_OPS = frozenset(
    {
        "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "STRING", "BINSTRING",
        "SHORT_BINSTRING", "BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "BYTEARRAY8", "UNICODE",
        "SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "FLOAT", "BINFLOAT", "NONE", "NEWTRUE", "NEWFALSE",
    }
)  # fmt: skip
_BOOLS = {"NEWTRUE": True, "NEWFALSE": False}
_EMPTY = {"EMPTY_LIST": "list", "EMPTY_TUPLE": "tuple", "EMPTY_DICT": "dict", "EMPTY_SET": "set"}
_FROM_MARK = {"LIST": "list", "TUPLE": "tuple", "DICT": "dict", "FROZENSET": "frozenset"}
_TUPLE_N = {"TUPLE1": 1, "TUPLE2": 2, "TUPLE3": 3}


def _persistent_class(pid: Value) -> Ref | None:
    """Legacy torch ``('module', cls, file, source)`` ids: torch's loader returns ``cls`` itself."""
    if isinstance(pid, Seq) and len(pid.items) >= 2 and isinstance(pid.items[0], Const) \
            and pid.items[0].value == "module" and isinstance(pid.items[1], Ref):  # fmt: skip
        return pid.items[1]
    return None


def _nonempty(value: Value) -> bool:
    return not (isinstance(value, Seq) and value.total == 0)


def _is_none(value: Value | None) -> bool:
    return value is None or (isinstance(value, Const) and value.value is None)


def _list(items: list[Value]) -> str:
    return ", ".join(describe(i) for i in items[:4])


def _args_text(args: Value) -> str:
    return f"({_list(args.items)})" if isinstance(args, Seq) else f"(*{describe(args)})"
