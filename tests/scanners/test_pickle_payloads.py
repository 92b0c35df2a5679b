"""Malicious pickles (threats.md 1-20, 22, 25, 34) built as real byte streams with canary payloads.

Each must be flagged at HIGH or above with the right rule, key and opcode offset, and nothing is
ever executed (the canary fixture checks that).
"""

from __future__ import annotations

import base64
import binascii
import collections
import os
import pickle
import random
import struct
import zlib
from pathlib import Path

import pytest

from mlsec_dagster import scan_path
from mlsec_dagster.engine.findings import Finding, Severity
from mlsec_dagster.engine.limits import Limits
from mlsec_dagster.engine.policy import Policy


# -- hand assembly ------------------------------------------------------------------------
def sbu(text: str) -> bytes:
    """SHORT_BINUNICODE."""
    raw = text.encode()
    return b"\x8c" + bytes([len(raw)]) + raw


def glob0(module: str, name: str) -> bytes:
    """Protocol 0 GLOBAL."""
    return f"c{module}\n{name}\n".encode()


def call0(module: str, name: str, arg: str) -> bytes:
    """``module.name(arg)`` in protocol 0: GLOBAL, MARK, STRING, TUPLE, REDUCE, STOP."""
    return glob0(module, name) + f"(S'{arg}'\ntR.".encode()


def call4(module: str, name: str, arg: str) -> bytes:
    """``module.name(arg)`` in protocol 4 with STACK_GLOBAL."""
    return b"\x80\x04" + sbu(module) + sbu(name) + b"\x93" + sbu(arg) + b"\x85R."


def scan_bytes(
    tmp_path: Path, data: bytes, name: str = "model.pkl", policy: Policy | None = None
) -> list[Finding]:
    target = tmp_path / "scan"
    target.mkdir(exist_ok=True)
    (target / name).write_bytes(data)
    return scan_path(str(target / name), root=str(target), policy=policy).findings


def find(findings: list[Finding], rule: str, key: str | None = None) -> Finding:
    for f in findings:
        if f.rule_id == rule and (key is None or f.key == key):
            return f
    raise AssertionError(f"no {rule} {key} in {[(f.rule_id, f.key, f.severity.name) for f in findings]}")


def assert_blocked(findings: list[Finding]) -> None:
    assert any(f.severity >= Severity.HIGH for f in findings), [f.to_dict() for f in findings]


class Reduce:
    """An object whose pickle calls ``func(*args)``."""

    def __init__(self, func: object, *args: object) -> None:
        self.func = func
        self.args = args

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return (self.func, self.args)


# -- 1. os.system ---------------------------------------------------------------------------
@pytest.mark.parametrize("protocol", range(6))
def test_os_system_every_protocol(tmp_path: Path, canary: Path, protocol: int) -> None:
    data = pickle.dumps({"weights": Reduce(os.system, f"touch {canary}")}, protocol=protocol)
    findings = scan_bytes(tmp_path, data)
    hit = find(findings, "MLS-PKL-001", "posix.system")
    assert hit.severity is Severity.CRITICAL
    assert hit.location.offset == (data.index(b"cposix") if protocol < 4 else data.index(b"\x93"))
    assert "system" in hit.evidence and str(canary) in hit.evidence


@pytest.mark.parametrize("module", ["os", "posix", "nt"])
def test_system_global_reduce(tmp_path: Path, canary: Path, module: str) -> None:
    data = call0(module, "system", f"touch {canary}")
    hit = find(scan_bytes(tmp_path, data), "MLS-PKL-001", f"{module}.system")
    assert hit.location.offset == 0 and hit.severity is Severity.CRITICAL
    data4 = call4(module, "system", f"touch {canary}")
    assert find(
        scan_bytes(tmp_path, data4), "MLS-PKL-001", f"{module}.system"
    ).location.offset == 2 + 2 * 2 + len(module) + len("system")


# -- 2. builtins ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name", ["eval", "exec", "compile", "__import__", "setattr", "apply", "breakpoint", "open", "execfile"]
)
@pytest.mark.parametrize("module", ["builtins", "__builtin__"])
def test_builtins(tmp_path: Path, canary: Path, module: str, name: str) -> None:
    findings = scan_bytes(tmp_path, call0(module, name, f"__import__('os').system('touch {canary}')"))
    assert find(findings, "MLS-PKL-001", f"builtins.{name}").severity is Severity.CRITICAL


def test_getattr_with_computed_name_is_dynamic(tmp_path: Path) -> None:
    # getattr(builtins.str, str(...)): the attribute name is the result of a call
    data = b"\x80\x02" + glob0("builtins", "getattr") + glob0("builtins", "str") + glob0("builtins", "str")
    data += sbu("sys") + b"\x85R\x86R."
    hit = find(scan_bytes(tmp_path, data), "MLS-PKL-004", "builtins.getattr")
    assert hit.severity is Severity.HIGH


# -- 3. import_module + getattr -------------------------------------------------------------
def test_import_module_getattr_resolves_to_os_system(tmp_path: Path, canary: Path) -> None:
    data = (
        b"\x80\x02" + glob0("builtins", "getattr")
        + glob0("importlib", "import_module") + sbu("os") + b"\x85R"
        + sbu("system") + b"\x86R"
        + sbu(f"touch {canary}") + b"\x85R."
    )  # fmt: skip
    findings = scan_bytes(tmp_path, data)
    hit = find(findings, "MLS-PKL-001", "os.system")
    assert hit.location.offset == data.index(b"\x86R") + 1  # the REDUCE that yields os.system
    find(findings, "MLS-PKL-001", "importlib.import_module")


# -- 4. code objects and subinterpreters ---------------------------------------------------
@pytest.mark.parametrize(
    ("module", "name"),
    [("marshal", "loads"), ("types", "FunctionType"), ("types", "CodeType"),
     ("_xxsubinterpreters", "run_string"),
     ("_interpreters", "run_string")],
)  # fmt: skip
def test_code_objects(tmp_path: Path, canary: Path, module: str, name: str) -> None:
    find(scan_bytes(tmp_path, call4(module, name, f"touch {canary}")), "MLS-PKL-001", f"{module}.{name}")


# -- 5. INST / OBJ / NEWOBJ / BUILD ---------------------------------------------------------
def test_inst_opcode(tmp_path: Path, canary: Path) -> None:
    data = f"(S'touch {canary}'\nios\nsystem\n.".encode()
    hit = find(scan_bytes(tmp_path, data, "weights"), "MLS-PKL-001", "os.system")
    assert hit.location.offset == data.index(b"ios")


def test_obj_opcode(tmp_path: Path, canary: Path) -> None:
    data = b"(" + glob0("os", "system") + f"S'touch {canary}'\no.".encode()
    assert find(scan_bytes(tmp_path, data, "weights"), "MLS-PKL-001", "os.system").location.offset == 1


def test_obj_with_unknown_callable_is_high(tmp_path: Path) -> None:
    data = b"(" + glob0("mytools.helpers", "run") + b"S'x'\no."
    hit = find(scan_bytes(tmp_path, data), "MLS-PKL-002", "mytools.helpers.run")
    assert hit.severity is Severity.HIGH


@pytest.mark.parametrize("opcode", [b"\x81", b"\x92"])
def test_newobj_with_arguments(tmp_path: Path, opcode: bytes) -> None:
    kwargs = b"}" if opcode == b"\x92" else b""
    data = (
        b"\x80\x04" + sbu("evilpkg") + sbu("Runner") + b"\x93" + sbu("arg") + b"\x85" + kwargs + opcode + b"."
    )
    # __new__ with __getnewargs__ arguments is the standard object protocol (namedtuples): an
    # unverified class, LOW by default and HIGH under strict_unknown_classes, not an arbitrary call.
    hit = find(scan_bytes(tmp_path, data), "MLS-PKL-003", "evilpkg.Runner")
    assert hit.severity is Severity.LOW
    assert hit.location.offset == len(data) - 2


def test_newobj_of_subprocess_popen(tmp_path: Path, canary: Path) -> None:
    data = b"\x80\x04" + sbu("subprocess") + sbu("Popen") + b"\x93" + sbu(f"touch {canary}") + b"\x85\x81."
    find(scan_bytes(tmp_path, data), "MLS-PKL-001", "subprocess.Popen")


def test_build_on_imported_object(tmp_path: Path) -> None:
    data = b"\x80\x02" + glob0("mymod", "config") + b"}" + sbu("debug") + b"\x88sb."
    hit = find(scan_bytes(tmp_path, data), "MLS-PKL-009", "mymod.config")
    assert hit.severity is Severity.HIGH and hit.location.offset == len(data) - 2


# -- 6. STACK_GLOBAL from the memo, with decoys ---------------------------------------------
def test_stack_global_from_memo_with_decoys(tmp_path: Path, canary: Path) -> None:
    data = (
        b"\x80\x04" + sbu("builtins") + b"\x94" + sbu("print") + b"\x94"  # decoys, memo 0 and 1
        + sbu("torch") + b"q\x05" + sbu("Size") + b"q\x06"  # more decoys
        + sbu("os") + b"q\x07" + sbu("system") + b"q\x080"  # memo 7 and 8 ; POP
        + b"0000" + b"h\x07h\x08\x93"
        + sbu(f"touch {canary}") + b"\x85R."
    )  # fmt: skip
    hit = find(scan_bytes(tmp_path, data), "MLS-PKL-001", "os.system")
    assert hit.location.offset == data.index(b"\x93")
    assert not any(f.key in ("builtins.print", "torch.Size") for f in scan_bytes(tmp_path, data))


# -- 7. unusual string opcodes and non-string operands --------------------------------------
def _strings() -> dict[str, object]:
    return {
        "BINUNICODE8": lambda s: b"\x8d" + struct.pack("<Q", len(s)) + s.encode(),
        "BINUNICODE": lambda s: b"X" + struct.pack("<I", len(s)) + s.encode(),
        "UNICODE": lambda s: b"V" + s.encode() + b"\n",
        "STRING": lambda s: b"S'" + s.encode() + b"'\n",
        "SHORT_BINSTRING": lambda s: b"U" + bytes([len(s)]) + s.encode(),
        "BINSTRING": lambda s: b"T" + struct.pack("<i", len(s)) + s.encode(),
    }


@pytest.mark.parametrize("opcode", list(_strings()))
def test_stack_global_with_unusual_string_opcodes(tmp_path: Path, canary: Path, opcode: str) -> None:
    enc = _strings()[opcode]
    data = b"\x80\x04" + enc("os") + enc("system") + b"\x93" + enc(f"touch {canary}") + b"\x85R."  # type: ignore[operator]
    find(scan_bytes(tmp_path, data), "MLS-PKL-001", "os.system")


def test_stack_global_with_non_string_operands(tmp_path: Path) -> None:
    data = b"\x80\x04K\x01K\x02\x93" + sbu("x") + b"\x85R."
    findings = scan_bytes(tmp_path, data)
    assert find(findings, "MLS-PKL-004", "STACK_GLOBAL").location.offset == 6


# -- 8 / 9. appended pickles and trailing garbage -------------------------------------------
def test_second_pickle_appended_after_benign_one(tmp_path: Path, canary: Path) -> None:
    first = pickle.dumps({"layer.weight": [0.1, 0.2]}, protocol=4)
    second = pickle.dumps(Reduce(os.system, f"touch {canary}"), protocol=2)
    findings = scan_bytes(tmp_path, first + second)
    hit = find(findings, "MLS-PKL-001", "posix.system")
    assert hit.location.offset == len(first) + second.index(b"cposix")
    assert find(findings, "MLS-PKL-007").location.offset == len(first)


def test_payload_followed_by_garbage(tmp_path: Path, canary: Path) -> None:
    payload = pickle.dumps(Reduce(os.system, f"touch {canary}"), protocol=4)[:-1]  # no STOP
    findings = scan_bytes(tmp_path, payload + b"\xff\xfe\x00garbage" * 10)
    find(findings, "MLS-PKL-001", "posix.system")
    assert find(findings, "MLS-PKL-005").severity is Severity.MEDIUM


@pytest.mark.parametrize("seed", range(5))
def test_payload_hidden_after_garbage_is_found_by_resync(tmp_path: Path, canary: Path, seed: int) -> None:
    benign = pickle.dumps([1, 2, 3], protocol=2)
    payload = call0("os", "system", f"touch {canary}")
    noise = random.Random(seed).randbytes(3000)
    data = benign[:-1] + b"\xff" + noise + b"\x80\x02" + noise[:500] + payload
    findings = scan_bytes(tmp_path, data)
    assert find(findings, "MLS-PKL-001", "os.system").location.offset == data.index(b"cos\nsystem")


def test_truncated_payload_without_stop(tmp_path: Path, canary: Path) -> None:
    data = call0("os", "system", f"touch {canary}")[:-1]
    findings = scan_bytes(tmp_path, data, "model.txt")
    find(findings, "MLS-PKL-001", "os.system")
    assert find(findings, "MLS-PKL-005").key == "truncated"


# -- 10-16, 18-19. named gadgets ------------------------------------------------------------
GADGETS = [
    "pip.main", "pip._internal.main", "ensurepip._run_pip", "venv.create",
    "timeit.timeit", "cProfile.run", "profile.Profile.run", "trace.Trace.run", "pdb.run", "bdb.Bdb.run",
    "doctest.debug_script", "code.InteractiveInterpreter", "runpy.run_path", "runpy._run_code",
    "operator.attrgetter", "operator.itemgetter", "operator.methodcaller", "_operator.methodcaller",
    "functools.partial", "functools.reduce",
    "shutil.rmtree", "_io.FileIO", "io.open", "distutils.file_util.write_file", "tempfile.mktemp",
    "asyncio.unix_events._UnixSubprocessTransport", "asyncio.subprocess.create_subprocess_exec",
    "_posixsubprocess.fork_exec", "multiprocessing.util.spawnv_passfds", "pty.spawn", "os.execv", "os.spawnl",
    "os.popen", "subprocess.check_output",
    "socket.create_connection", "http.client.HTTPConnection", "urllib.request.urlopen", "requests.get",
    "aiohttp.ClientSession", "ssl.wrap_socket", "webbrowser.open", "smtplib.SMTP", "ftplib.FTP",
    "numpy.f2py.crackfortran.myeval", "torch.utils.collect_env.run", "torch.hub.load", "torch.load",
    "pandas.read_csv", "mlflow.pyfunc.load_model", "numpy.load", "numpy.testing._private.utils.runstring",
    "weakref.finalize", "re.sub", "string.Template", "copyreg.add_extension",
    "picklescan.scanner.scan_pickle_bytes", "fickling.fickle.Pickled", "modelscan.modelscan.ModelScan",
    "mlsec_dagster.engine.policy.Policy", "sys.modules", "ctypes.CDLL",
]  # fmt: skip


@pytest.mark.parametrize("qualified", GADGETS)
def test_named_gadget(tmp_path: Path, canary: Path, qualified: str) -> None:
    module, name = qualified.rsplit(".", 1)
    if "." in name or (qualified.count(".") > 1 and module in ("profile.Profile", "trace.Trace", "bdb.Bdb")):
        module, name = qualified.split(".", 1)
    data = call4(module, name, f"touch {canary}")
    hit = find(scan_bytes(tmp_path, data), "MLS-PKL-001", qualified)
    assert hit.severity is Severity.CRITICAL and hit.location.offset == data.index(b"\x93")


def test_dunder_reach_through_allowlisted_module(tmp_path: Path, canary: Path) -> None:
    data = call4("numpy", "__builtins__.eval", f"open('{canary}','w')")
    find(scan_bytes(tmp_path, data), "MLS-PKL-001", "numpy.__builtins__.eval")
    data = call4("torch._utils", "os.system", f"touch {canary}")
    find(scan_bytes(tmp_path, data), "MLS-PKL-001", "torch._utils.os.system")


def test_pathlib_write_text_via_getattr(tmp_path: Path, canary: Path) -> None:
    data = (
        b"\x80\x02" + glob0("builtins", "getattr") + glob0("pathlib", "Path") + sbu("write_text") + b"\x86R"
        + sbu("x") + b"\x85R."
    )  # fmt: skip
    find(scan_bytes(tmp_path, data), "MLS-PKL-001", "pathlib.Path.write_text")


def test_defaultdict_with_dangerous_factory(tmp_path: Path) -> None:
    data = pickle.dumps(collections.defaultdict(os.system), protocol=2)
    findings = scan_bytes(tmp_path, data)
    find(findings, "MLS-PKL-001", "posix.system")
    assert not any(f.key == "collections.defaultdict" for f in findings)


@pytest.mark.parametrize("ext", [b"\x82\x01", b"\x83\x01\x02", b"\x84\x01\x02\x03\x04"])
def test_extension_registry_codes(tmp_path: Path, ext: bytes) -> None:
    data = b"\x80\x02" + ext + sbu("id") + b"\x85R."
    hit = find(scan_bytes(tmp_path, data), "MLS-PKL-004")
    assert hit.key.startswith("extension code") and hit.location.offset == 2


# -- 17. nested pickles ---------------------------------------------------------------------
def _loads_of(loader: tuple[str, str], decoder: tuple[str, str] | None, arg: bytes) -> bytes:
    inner = b"C" + bytes([len(arg)]) + arg if decoder is None else sbu(arg.decode())
    if decoder is not None:
        inner = glob0(*decoder) + inner + b"\x85R"
    return b"\x80\x02" + glob0(*loader) + inner + b"\x85R."


@pytest.mark.parametrize(
    ("loader", "decoder", "encode"),
    [
        (("pickle", "loads"), None, lambda b: b),
        (("_pickle", "loads"), ("base64", "b64decode"), base64.b64encode),
        (("dill", "loads"), ("binascii", "a2b_hex"), binascii.hexlify),
        (("pickle", "loads"), ("codecs", "decode"), None),
        (("cloudpickle", "loads"), ("zlib", "decompress"), None),
    ],
)
def test_nested_pickle(tmp_path: Path, canary: Path, loader: tuple[str, str], decoder: tuple[str, str] | None,
                       encode: object) -> None:  # fmt: skip
    inner = call4("os", "system", f"touch {canary}")
    if decoder == ("codecs", "decode"):
        data = (
            b"\x80\x02" + glob0(*loader) + glob0(*decoder)
            + sbu(base64.b64encode(inner).decode()) + sbu("base64")
            + b"\x86R\x85R."
        )  # fmt: skip
    elif decoder == ("zlib", "decompress"):
        packed = zlib.compress(inner)
        data = (
            b"\x80\x02"
            + glob0(*loader)
            + glob0(*decoder)
            + b"C"
            + bytes([len(packed)])
            + packed
            + b"\x85R\x85R."
        )
    else:
        data = _loads_of(loader, decoder, encode(inner))  # type: ignore[operator]
    findings = scan_bytes(tmp_path, data)
    nested = find(findings, "MLS-PKL-006", ".".join(loader))
    assert nested.severity is Severity.CRITICAL
    inner_hit = find(findings, "MLS-PKL-001", "os.system")
    assert inner_hit.location.member and inner_hit.location.member[0].startswith("<nested pickle @ byte")
    assert inner_hit.location.offset == inner.index(b"\x93")


# -- 20. resource exhaustion ----------------------------------------------------------------
def test_opcode_bomb_hits_limit(tmp_path: Path) -> None:
    data = b"\x80\x02" + b"N0" * 5000 + b"N."
    policy = Policy(limits=Limits(max_pickle_opcodes=1000))
    hit = find(scan_bytes(tmp_path, data, policy=policy), "MLS-SCN-002", "max_pickle_opcodes")
    assert hit.severity is Severity.HIGH


def test_memo_bomb_hits_limit(tmp_path: Path) -> None:
    data = b"\x80\x02N" + b"".join(b"r" + struct.pack("<I", i) for i in range(5000)) + b"."
    policy = Policy(limits=Limits(max_pickle_memo=1000))
    find(scan_bytes(tmp_path, data, policy=policy), "MLS-SCN-002", "max_pickle_memo")


def test_billion_laughs_is_cheap(tmp_path: Path, canary: Path) -> None:
    # each level is a tuple of ten references to the previous one: 10**200 leaves if expanded
    body = b"\x80\x02" + sbu("lol") + b"q\x00"
    for level in range(200):
        body += b"(" + b"h\x00" * 10 + b"tq\x00" + b"0"
        del level
    body += b"h\x00" + glob0("os", "system") + sbu(f"touch {canary}") + b"\x85R0."
    findings = scan_bytes(tmp_path, body)
    find(findings, "MLS-PKL-001", "os.system")


def test_deep_nesting_hits_limit(tmp_path: Path) -> None:
    data = b"\x80\x02" + b"(" * 20000 + b"N."
    find(scan_bytes(tmp_path, data), "MLS-SCN-002", "max_pickle_stack_depth")


def test_huge_declared_length_is_malformed_not_allocated(tmp_path: Path, canary: Path) -> None:
    payload = call4("os", "system", f"touch {canary}")[:-1]
    data = payload + b"\x8e" + struct.pack("<Q", 1 << 60) + b"abc"
    findings = scan_bytes(tmp_path, data)
    find(findings, "MLS-PKL-001", "os.system")
    assert find(findings, "MLS-PKL-005").location.offset == len(payload)


# -- 22. protocol 0/1 without magic under any name ------------------------------------------
@pytest.mark.parametrize("name", ["pytorch_model.bin", "weights", "model.txt", "image.png"])
@pytest.mark.parametrize("protocol", [0, 1])
def test_text_pickle_without_magic(tmp_path: Path, canary: Path, name: str, protocol: int) -> None:
    data = pickle.dumps([1.5, Reduce(os.system, f"touch {canary}")], protocol=protocol)
    assert not data.startswith(b"\x80")
    find(scan_bytes(tmp_path, data, name), "MLS-PKL-001", "posix.system")


# -- 25 / 34. legacy torch and weights_only bypass carriers ---------------------------------
def _legacy(path: Path, obj: object) -> bytes:
    torch = pytest.importorskip("torch")
    torch.save(obj, str(path), _use_new_zipfile_serialization=False)
    return path.read_bytes()


def test_legacy_torch_with_payload(tmp_path: Path, canary: Path) -> None:
    torch = pytest.importorskip("torch")
    data = _legacy(tmp_path / "x.pt", {"w": torch.ones(2), "evil": Reduce(os.system, f"touch {canary}")})
    find(scan_bytes(tmp_path, data, "model.pt"), "MLS-PKL-001", "posix.system")


def test_legacy_torch_wrong_magic(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    data = bytearray(_legacy(tmp_path / "x.pt", {"w": torch.ones(2)}))
    data[4] ^= 0x55  # inside the LONG1 magic number
    hit = find(scan_bytes(tmp_path, bytes(data), "model.pt"), "MLS-PKL-008", "magic-number")
    assert hit.severity is Severity.MEDIUM and hit.location.offset == 0


def test_payload_appended_after_legacy_storages(tmp_path: Path, canary: Path) -> None:
    torch = pytest.importorskip("torch")
    data = _legacy(tmp_path / "x.pt", {"w": torch.ones(2)})
    payload = call4("os", "system", f"touch {canary}")
    findings = scan_bytes(tmp_path, data + payload, "model.pt")
    assert find(findings, "MLS-PKL-001", "os.system").location.offset == len(data) + payload.index(b"\x93")
    find(findings, "MLS-PKL-007")


def test_zip_checkpoint_with_payload_in_data_pkl(tmp_path: Path, canary: Path) -> None:
    torch = pytest.importorskip("torch")
    torch.save({"w": torch.ones(2), "evil": Reduce(os.system, f"touch {canary}")}, str(tmp_path / "ckpt.pt"))
    findings = scan_path(str(tmp_path / "ckpt.pt"), root=str(tmp_path)).findings
    hit = find(findings, "MLS-PKL-001", "posix.system")
    assert hit.location.member and hit.location.member[-1].endswith("data.pkl")


@pytest.mark.parametrize(
    ("helper", "position"),
    [("numpy.random._pickle __generator_ctor", 1), ("numpy.random._pickle __bit_generator_ctor", 0),
     ("torch._tensor _rebuild_from_type_v2", 0)],
)  # fmt: skip
def test_allowlisted_helper_that_calls_its_argument(tmp_path: Path, helper: str, position: int) -> None:
    module, name = helper.split()
    args = [sbu("MT19937"), glob0("evilpkg.run", "go"), b"N", b"}"][: max(2, position + 1)]
    if position == 0:
        args[0] = glob0("evilpkg.run", "go")
        args[1] = glob0("torch", "Tensor") if "torch" in module else b"N"
    data = b"\x80\x02" + glob0(module, name) + b"(" + b"".join(args) + b"tR."
    hit = find(scan_bytes(tmp_path, data), "MLS-PKL-002", "evilpkg.run.go")
    assert hit.severity is Severity.HIGH


def test_setitem_into_an_imported_registry(tmp_path: Path) -> None:
    data = b"\x80\x02" + glob0("mylib.registry", "HANDLERS") + sbu("pkl") + glob0("mylib.x", "y") + b"s."
    hit = find(scan_bytes(tmp_path, data), "MLS-PKL-009", "mylib.registry.HANDLERS")
    assert hit.location.offset == len(data) - 2
    data = b"\x80\x02" + glob0("copyreg", "_extension_registry") + b"(" + sbu("os") + b"K\x01u."
    find(scan_bytes(tmp_path, data), "MLS-PKL-001", "copyreg._extension_registry")
