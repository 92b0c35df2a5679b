"""The MLS-PKL rule family: what a pickle can do to the process that loads it."""

from __future__ import annotations

from mlsec_dagster.engine.findings import Severity
from mlsec_dagster.engine.policy import CODE_EXECUTION_TAG
from mlsec_dagster.engine.rules import define

_FAMILY = "pickle"
_EXEC = (CODE_EXECUTION_TAG, "pickle")
_TRUST = (
    "If you produced this file yourself and trust the code it names, add the exact name to "
    "`artifact_rules.trusted_globals` in mlsec.yaml; better, re-export the weights as safetensors."
)

DANGEROUS_CALLABLE = define(
    "MLS-PKL-001",
    "Pickle references a known-dangerous callable",
    Severity.CRITICAL,
    "The pickle imports a callable that runs commands, evaluates code, loads further pickles, "
    "touches files or opens network connections (os.system, builtins.eval, subprocess, pickle.loads...). "
    "Loading it with pickle, with torch.load when weights_only is off, or with joblib runs that code.",
    "Do not load this file. Delete it, find out where it came from, and obtain the model as safetensors "
    "from a trusted source.",
    family=_FAMILY,
    tags=_EXEC,
)
UNKNOWN_CALL = define(
    "MLS-PKL-002",
    "Pickle calls a callable outside the allowlist",
    Severity.HIGH,
    "Loading the pickle invokes a callable with arguments that is not on the allowlist of known "
    "data-rebuilding constructors. Any code reachable that way runs at load time.",
    "Check what the named callable does. " + _TRUST,
    family=_FAMILY,
    tags=_EXEC,
)
UNVERIFIED_CLASS = define(
    "MLS-PKL-003",
    "Pickle rebuilds an instance of an unverified class",
    Severity.LOW,
    "An object of a class outside the well-known ML packages is rebuilt through the standard object "
    "protocol (__new__ plus state). Its __setstate__ runs at load time; usually harmless for your own "
    "classes, but the class is importable code that the scanner cannot vet.",
    "If the class is yours or from a package you trust, list it in `artifact_rules.trusted_globals` in "
    "mlsec.yaml. `artifact_rules.strict_unknown_classes: true` makes this finding HIGH.",
    family=_FAMILY,
    tags=_EXEC,
)
DYNAMIC_CALLABLE = define(
    "MLS-PKL-004",
    "Pickle computes the callable it invokes",
    Severity.HIGH,
    "The callable is not a plain import: it comes from getattr with a computed name, from the result of "
    "another call, from STACK_GLOBAL with non-string operands, or from the copyreg extension registry "
    "(EXT1/EXT2/EXT4). Legitimate serializers do not do this; payloads do, to hide from scanners.",
    "Treat the file as hostile unless you can explain the construct; re-export the model as safetensors.",
    family=_FAMILY,
    tags=_EXEC,
)
MALFORMED = define(
    "MLS-PKL-005",
    "Malformed or truncated pickle stream",
    Severity.MEDIUM,
    "The opcode stream is invalid or ends early. The unpickler runs every opcode before the error, so "
    "anything before it still executes; the rest could not be analysed as a whole.",
    "Re-create the file from its source. A file that is truncated on purpose is a common way to hide a "
    "payload from scanners that stop at the first error.",
    family=_FAMILY,
)
NESTED_PICKLE = define(
    "MLS-PKL-006",
    "Pickle deserializes an embedded pickle",
    Severity.CRITICAL,
    "The pickle calls a deserializer (pickle.loads, dill.loads...) on data it carries, possibly encoded "
    "(base64, hex, zlib). The embedded payload is scanned separately, but the construct itself exists "
    "only to run a second stage at load time.",
    "Do not load this file; obtain the model from a trusted source as safetensors.",
    family=_FAMILY,
    tags=_EXEC,
)
TRAILING_DATA = define(
    "MLS-PKL-007",
    "Data after the end of the pickle",
    Severity.LOW,
    "Bytes follow the pickle's STOP opcode. Loaders that read several pickles from one file see them; "
    "scanners that stop at the first STOP do not. Appended streams are analysed and reported on their own.",
    "Re-create the file; a model file should contain exactly what its serializer wrote.",
    family=_FAMILY,
)
TORCH_MAGIC = define(
    "MLS-PKL-008",
    "Legacy PyTorch file with a wrong magic number",
    Severity.MEDIUM,
    "The file has the layout of a pre-1.6 torch.save file but the magic number is not PyTorch's. It was "
    "altered or forged to look like a checkpoint.",
    "Re-save the checkpoint with a current PyTorch (zip format), or better as safetensors.",
    family=_FAMILY,
)
BUILD_ON_GLOBAL = define(
    "MLS-PKL-009",
    "Pickle modifies an imported object",
    Severity.HIGH,
    "BUILD, SETITEM or APPEND applies state to an imported module, class, function or module-level "
    "container instead of a freshly built object; it can overwrite a function's code, a module's settings "
    "or a registry (such as copyreg's extension registry) at load time.",
    "Treat the file as hostile; legitimate serializers never do this.",
    family=_FAMILY,
    tags=_EXEC,
)
