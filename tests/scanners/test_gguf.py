"""GGUF header walking and chat-template sandbox escapes (threat 31, CVE-2024-34359)."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest
from shared_fixtures import LLAMA3

from mlsec_dagster import scan_path
from mlsec_dagster.engine.findings import Finding, Severity

CHATML = (
    "{%- set ns = namespace(found=false) -%}{% for message in messages %}{{'<|im_start|>' + message['"
    "role'] + '\\n' + "
    "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_st"
    "art|>assistant\\n' }}"
    "{% endif %}{{ strftime_now('%d %b %Y') }}{% if tools %}{{ tools | tojson }}{% endif %}"
)
MISTRAL = (
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % "
    "2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif messa"
    "ge['role'] == "
    "'assistant' %}{{ message['content'] + eos_token}}{% endif %}{% endfor %}"
)
EVIL_TEMPLATES = [
    "{% for x in ().__class__.__base__.__subclasses__() %}{% if 'warning' in x.__name__ %}"
    "{{ x()._module.__builtins__['__import__']('os').popen('touch CANARY') }}{% endif %}{% endfor %}",
    "{{ lipsum.__globals__['os'].popen('touch CANARY').read() }}",
    "{{ cycler.__init__.__globals__.os.popen('touch CANARY') }}",
    "{{ joiner|attr('\\x5f\\x5finit\\x5f\\x5f') }}",
    "{{ self._TemplateReference__context.cycler }}",
    "{{ request.application.__self__._get_data_for_json.__globals__ }}",
]

S, A = 8, 9


def gstr(s: str | bytes, endian: str = "<", v1: bool = False) -> bytes:
    raw = s.encode() if isinstance(s, str) else s
    return struct.pack(endian + ("I" if v1 else "Q"), len(raw)) + raw


def kv(key: str, vtype: int, payload: bytes, endian: str = "<", v1: bool = False) -> bytes:
    return gstr(key, endian, v1) + struct.pack(endian + "I", vtype) + payload


def build(
    kvs: list[bytes],
    tensors: list[tuple[str, list[int], int, int]],
    data: bytes,
    *,
    endian: str = "<",
    version: int = 3,
    alignment: int = 32,
    n_kv: int | None = None,
) -> bytes:
    v1 = version == 1
    count = "I" if v1 else "Q"
    out = b"GGUF" + struct.pack(endian + "I", version)
    out += struct.pack(endian + count, len(tensors)) + struct.pack(
        endian + count, len(kvs) if n_kv is None else n_kv
    )
    out += b"".join(kvs)
    for name, dims, ggml_type, offset in tensors:
        out += gstr(name, endian, v1) + struct.pack(endian + "I", len(dims))
        out += b"".join(struct.pack(endian + count, d) for d in dims)
        out += struct.pack(endian + "IQ", ggml_type, offset)
    out += b"\x00" * (-len(out) % alignment)
    return out + data


def realistic(template: str, endian: str = "<", version: int = 3) -> bytes:
    v1 = version == 1
    tokens = b"".join(gstr(t, endian, v1) for t in ("<s>", "</s>", "hello", "world"))
    scores = struct.pack(endian + "4f", 0.0, 0.0, -1.0, -2.0)
    kvs = [
        kv("general.architecture", S, gstr("llama", endian, v1), endian, v1),
        kv("general.alignment", 4, struct.pack(endian + "I", 32), endian, v1),
        kv("llama.context_length", 4, struct.pack(endian + "I", 4096), endian, v1),
        kv(
            "tokenizer.ggml.tokens",
            A,
            struct.pack(endian + "I", S) + struct.pack(endian + ("I" if v1 else "Q"), 4) + tokens,
            endian,
            v1,
        ),
        kv(
            "tokenizer.ggml.scores",
            A,
            struct.pack(endian + "I", 6) + struct.pack(endian + ("I" if v1 else "Q"), 4) + scores,
            endian,
            v1,
        ),
        kv(
            "nested",
            A,
            struct.pack(endian + "I", A)
            + struct.pack(endian + ("I" if v1 else "Q"), 1)
            + struct.pack(endian + "I", 7)
            + struct.pack(endian + ("I" if v1 else "Q"), 2)
            + b"\x01\x00",
            endian,
            v1,
        ),
        kv("tokenizer.chat_template", S, gstr(template, endian, v1), endian, v1),
    ]
    tensors = [("tok_embd.weight", [4, 2], 0, 0), ("output.weight", [4, 2], 1, 32)]
    return build(kvs, tensors, b"\x01" * 32 + b"\x02" * 16, endian=endian, version=version)


def findings_for(tmp_path: Path, data: bytes, name: str = "model.gguf") -> list[Finding]:
    (tmp_path / name).write_bytes(data)
    result = scan_path(tmp_path / name)
    assert [a.format for a in result.artifacts] == ["gguf"]
    return result.findings


@pytest.mark.parametrize("template", [LLAMA3, CHATML, MISTRAL])
@pytest.mark.parametrize(("endian", "version"), [("<", 3), (">", 3), ("<", 2), ("<", 1)])
def test_benign_templates_and_layouts(tmp_path: Path, template: str, endian: str, version: int) -> None:
    assert findings_for(tmp_path, realistic(template, endian, version)) == []


@pytest.mark.parametrize("template", EVIL_TEMPLATES)
def test_template_escapes_are_critical(tmp_path: Path, template: str, canary: Path) -> None:
    data = realistic("{{ bos_token }}\n" + template.replace("CANARY", str(canary)))
    findings = findings_for(tmp_path, data)
    assert [(f.rule_id, f.severity) for f in findings] == [("MLS-GGUF-001", Severity.CRITICAL)]
    offset = findings[0].location.offset
    assert offset is not None and data.find(b"{{ bos_token }}") < offset < data.find(b"{{ bos_token }}") + 400


def test_named_template_variant_is_checked(tmp_path: Path) -> None:
    data = build([kv("tokenizer.chat_template.tool_use", S, gstr("{{ ''.__class__.__mro__ }}"))], [], b"")
    assert [f.rule_id for f in findings_for(tmp_path, data)] == ["MLS-GGUF-001"]


@pytest.mark.parametrize(
    ("tensors", "data", "problem"),
    [
        ([("a", [4], 0, 0), ("b", [4], 0, 64)], b"\x00" * 32, "runs past the end"),
        ([("a", [4], 0, 4)], b"\x00" * 64, "not a multiple of the alignment"),
        ([("a", [16], 0, 0), ("b", [4], 0, 32)], b"\x00" * 96, "overlaps"),
    ],
)
def test_tensor_bounds(tmp_path: Path, tensors: Any, data: bytes, problem: str) -> None:
    findings = findings_for(tmp_path, build([], tensors, data))
    assert [(f.rule_id, f.severity) for f in findings] == [("MLS-GGUF-003", Severity.HIGH)]
    assert problem in findings[0].message


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + gstr("key")[:-1], "ends inside the header"),
        (build([], [], b"", n_kv=10**12), "exceed the file size"),
        (build([kv("k", 99, b"")], [], b""), "unknown or too deeply nested value type"),
        (build([kv("k", S, struct.pack("<Q", 10**9) + b"x")], [], b""), "runs past the end of the file"),
        (build([kv("general.alignment", 4, struct.pack("<I", 3))], [], b""), "not a power of two"),
    ],
    ids=["truncated", "huge-count", "bad-type", "long-string", "alignment"],
)
def test_malformed_headers_fail_closed(tmp_path: Path, data: bytes, problem: str) -> None:
    findings = findings_for(tmp_path, data)
    assert [(f.rule_id, f.severity) for f in findings] == [("MLS-GGUF-002", Severity.HIGH)]
    assert problem in findings[0].message
    assert findings[0].location.offset is not None


def test_tensor_data_is_never_read(tmp_path: Path) -> None:
    """A 64 MiB sparse data section is scanned by seeking; the scan stays fast and clean."""
    path = tmp_path / "big.gguf"
    header = build([kv("general.architecture", S, gstr("llama"))], [("w", [16 * 1024 * 1024], 0, 0)], b"")
    with path.open("wb") as fh:
        fh.write(header)
        fh.truncate(len(header) + 64 * 1024 * 1024)
    result = scan_path(path)
    assert result.findings == [] and result.duration_seconds < 5


def test_random_bytes_and_other_magic_are_not_gguf(tmp_path: Path) -> None:
    (tmp_path / "x.gguf").write_bytes(b"GGUF" + struct.pack("<I", 77) + b"\x00" * 32)
    result = scan_path(tmp_path / "x.gguf")
    assert "gguf" not in {a.format for a in result.artifacts}
    assert [f.rule_id for f in result.findings] == ["MLS-SCN-003"]


def test_metadata_over_the_header_limit_is_a_limit_finding(tmp_path: Path) -> None:
    from mlsec_dagster.engine.limits import Limits
    from mlsec_dagster.engine.policy import Policy

    tokens = b"".join(gstr(f"tok{i}") for i in range(20000))
    data = build([kv("tokenizer.ggml.tokens", A, struct.pack("<IQ", S, 20000) + tokens)], [], b"")
    (tmp_path / "m.gguf").write_bytes(data)
    policy = Policy(limits=Limits(max_header_bytes=64 * 1024))
    findings = scan_path(tmp_path / "m.gguf", policy=policy).findings
    assert [(f.rule_id, f.key) for f in findings] == [("MLS-SCN-002", "max_header_bytes")]
