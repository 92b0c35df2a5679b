"""Judging a Keras model config (``config.json`` of a ``.keras`` file, ``model_config`` of an ``.h5``).

Keras rebuilds a model by importing ``module`` and looking up ``class_name`` for every object in
the config tree, and a ``Lambda`` layer carries marshalled Python bytecode. The walk is generic
(every object anywhere in the tree, so wrappers such as ``TimeDistributed``, ``Bidirectional`` and
nested models are covered without a list of them): modules are allowlisted, dangerous names
inside Keras itself are denylisted, and anything else outside Keras is reported.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mlsec_dagster.engine.findings import Severity
from mlsec_dagster.engine.policy import CODE_EXECUTION_TAG
from mlsec_dagster.engine.rules import Rule, define

_FAMILY = "keras"

LAMBDA = define(
    "MLS-KER-001",
    "Keras Lambda layer with marshalled Python bytecode",
    Severity.CRITICAL,
    "A Lambda layer stores its function as marshalled Python bytecode that runs when the model is "
    "loaded or called (CVE-2024-3660). Legacy .h5 loading ignores safe_mode (CVE-2025-9905), and "
    "safe-mode bypasses exist for .keras files, so the bytecode is arbitrary code execution.",
    "Do not load this model. Re-implement the Lambda as a registered custom layer in reviewed code "
    "and re-save the model, or rebuild it from trusted code.",
    family=_FAMILY,
    tags=(CODE_EXECUTION_TAG,),
)
FOREIGN_OBJECT = define(
    "MLS-KER-002",
    "Keras config imports a class or function from outside Keras",
    Severity.HIGH,
    "Keras imports the `module` named in a config object and calls what `class_name` (or a "
    "serialized function's name) points to (CVE-2025-1550). Importing an arbitrary module runs its "
    "code; known-dangerous modules (os, subprocess, builtins, ...) are CRITICAL.",
    "Check which package the object comes from. If it is your own custom layer, pass it through "
    "`custom_objects` from reviewed code; otherwise do not load the model.",
    family=_FAMILY,
    tags=(CODE_EXECUTION_TAG,),
)
UNSAFE_MODE = define(
    "MLS-KER-003",
    "Keras config turns off safe mode or calls a Keras utility with side effects",
    Severity.CRITICAL,
    "The config references a Keras function that disables safe deserialization "
    "(`enable_unsafe_deserialization`, CVE-2025-9906), downloads or reads files (`get_file`, "
    "CVE-2025-8747), or loads another model, or it carries a `safe_mode: false` key. Each lets the "
    "rest of the config run code that safe mode would have refused.",
    "Do not load this model; rebuild it from trusted code.",
    family=_FAMILY,
    tags=(CODE_EXECUTION_TAG,),
)
EXTERNAL_RESOURCE = define(
    "MLS-KER-004",
    "Keras layer loads an external model or file",
    Severity.HIGH,
    "Layers such as `TFSMLayer` load a TensorFlow SavedModel (whose graph can read and write files), "
    "and lookup/vectorization layers whose `vocabulary` is a path read that file (or URL) at load "
    "time. The model's behaviour then depends on a file the scan never saw.",
    "Embed the vocabulary in the config as a list, or ship and scan the referenced SavedModel; "
    "never load configs pointing at absolute paths or URLs.",
    family=_FAMILY,
)
UNKNOWN_KERAS_FUNCTION = define(
    "MLS-KER-006",
    "Keras config calls a Keras function outside the known-safe families",
    Severity.MEDIUM,
    "Serialized functions normally come from activations, losses, metrics, initializers, "
    "regularizers, constraints or ops. Other Keras functions are not expected in a model config "
    "and may have side effects.",
    "Check what the named function does; if it is expected, waive this finding for the path.",
    family=_FAMILY,
)

SAFE_PREFIXES: tuple[str, ...] = (
    "keras",
    "tf_keras",
    "keras_hub",
    "keras_nlp",
    "keras_cv",
    "tensorflow.keras",
    "tensorflow.python.keras",
)
"""Modules whose classes Keras may rebuild (exact name or a submodule of it)."""

SAFE_FUNCTION_FAMILIES = frozenset({
    "activations", "losses", "metrics", "initializers", "regularizers", "constraints", "ops", "optimizers",
    "math", "nn", "numpy", "linalg",
})  # fmt: skip
"""A serialized function is expected when one of its module's parts is one of these."""

SIDE_EFFECT_NAMES = frozenset({
    "enable_unsafe_deserialization", "get_file", "load_model", "load_weights", "save_model", "save",
    "set_random_seed", "register_keras_serializable", "deserialize_keras_object", "get_custom_objects",
    "SafeModeScope", "file_utils", "gfile", "read_file", "write_file", "extract_archive", "copy",
    "rmtree", "makedirs", "remove", "set_global_attribute", "global_state",
})  # fmt: skip
"""Names inside Keras that must never be called by a config (safe-mode bypass gadgets)."""

DANGEROUS_MODULES = frozenset({
    "os", "posix", "nt", "subprocess", "builtins", "__builtin__", "sys", "importlib", "runpy", "pickle",
    "_pickle", "marshal", "shutil", "socket", "ctypes", "pty", "code", "codeop", "types", "operator",
    "functools", "io", "_io", "pathlib", "tempfile", "urllib", "requests", "http", "webbrowser", "pip",
    "timeit", "cProfile", "profile", "pdb", "bdb", "trace", "asyncio", "multiprocessing", "_posixsubprocess",
    "dill", "cloudpickle", "joblib", "numpy.f2py", "torch.hub", "torch.utils.collect_env",
})  # fmt: skip

LOOKUP_LAYERS = frozenset(
    {"StringLookup", "IntegerLookup", "IndexLookup", "TextVectorization", "Hashing", "Discretization"}
)
_MAX_NODES = 1_000_000


@dataclass(frozen=True)
class KerasHit:
    rule: Rule
    severity: Severity
    offset: int
    """Character offset of the JSON object (for line numbers), -1 if unknown."""
    message: str
    evidence: str
    key: str


def _in(module: str, roots: tuple[str, ...] | frozenset[str]) -> bool:
    return any(module == r or module.startswith(r + ".") for r in roots)


def _offset(node: dict[str, Any]) -> int:
    return int(getattr(node, "offset", -1))


def _snippet(node: Any) -> str:
    text = json.dumps(node, default=str)
    return text if len(text) < 3000 else text[:3000] + "..."


def _lambda_code(node: dict[str, Any]) -> str | None:
    """The marshalled code of a Lambda layer or ``__lambda__`` object, if any."""
    if node.get("class_name") == "__lambda__":
        conf = node.get("config")
        code = conf.get("code") if isinstance(conf, dict) else None
        return str(code) if code is not None else "<missing code>"
    conf = node.get("config")
    if node.get("class_name") == "Lambda" and isinstance(conf, dict):
        function = conf.get("function")
        if isinstance(function, (list, tuple)) and function and isinstance(function[0], str):
            return function[0]  # Keras 2 / legacy h5: [base64 code, defaults, closure]
        if isinstance(function, str) and conf.get("function_type") == "lambda":
            return function
    return None


def _function_module(node: dict[str, Any]) -> tuple[str, str] | None:
    """(module, name) of a serialized plain function, including Keras 2 ``function_type: raw``."""
    conf = node.get("config")
    if node.get("class_name") == "function" and isinstance(conf, str):
        return str(node.get("module") or ""), conf
    if node.get("class_name") == "Lambda" and isinstance(conf, dict) and conf.get("function_type") == "raw":
        return str(conf.get("module") or ""), str(conf.get("function"))
    return None


def _judge_name(node: dict[str, Any], module: str, name: str, *, is_function: bool) -> Iterator[KerasHit]:
    qualified = f"{module}.{name}" if module else name
    if name in SIDE_EFFECT_NAMES or "enable_unsafe_deserialization" in qualified:
        yield KerasHit(
            UNSAFE_MODE,
            Severity.CRITICAL,
            _offset(node),
            f"The config calls `{qualified}`, a function with side effects that safe mode "
            "does not stop (CVE-2025-9906 / CVE-2025-8747). Do not load this model.",
            _snippet(node),
            qualified,
        )
    elif not module or not _in(module, SAFE_PREFIXES):
        dangerous = _in(module, DANGEROUS_MODULES) or (not module and name in {"eval", "exec", "system"})
        yield KerasHit(
            FOREIGN_OBJECT,
            Severity.CRITICAL if dangerous else Severity.HIGH,
            _offset(node),
            f"The config makes Keras import `{module or '?'}` and use `{name}` "
            f"({'a known code-execution gadget' if dangerous else 'code from outside Keras'}). "
            "Loading the model imports that module and calls it; pass custom layers through "
            "`custom_objects` from reviewed code instead.",
            _snippet(node),
            qualified,
        )
    elif is_function and not set(module.split(".")) & SAFE_FUNCTION_FAMILIES:
        yield KerasHit(
            UNKNOWN_KERAS_FUNCTION,
            Severity.MEDIUM,
            _offset(node),
            f"The config calls Keras function `{qualified}`, which is not an activation, loss, "
            "metric, initializer or op. Check that it is expected.",
            _snippet(node),
            qualified,
        )


def _judge(node: dict[str, Any], layer: str) -> Iterator[KerasHit]:
    code = _lambda_code(node)
    if code is not None:
        name = layer
        yield KerasHit(
            LAMBDA,
            Severity.CRITICAL,
            _offset(node),
            f"Lambda layer `{name}` carries marshalled Python bytecode that executes when the model "
            "is loaded or run. Do not load it; replace the Lambda with reviewed custom-layer code.",
            f"marshalled code (base64, first 200 chars): {code[:200]}",
            f"lambda:{name}",
        )
    function = _function_module(node)
    if function is not None:
        yield from _judge_name(node, function[0], function[1], is_function=True)
    elif isinstance(node.get("class_name"), str):
        module = str(node.get("module") or "")
        class_name = str(node["class_name"])
        registered = node.get("registered_name")
        if module or class_name in SIDE_EFFECT_NAMES:
            yield from _judge_name(node, module, class_name, is_function=False)
        if isinstance(registered, str) and ">" not in registered and "." in registered:
            yield from _judge_name(
                node, registered.rsplit(".", 1)[0], registered.rsplit(".", 1)[1], is_function=False
            )
    conf = node.get("config")
    if isinstance(conf, dict):
        yield from _judge_resources(node, conf)
    if node.get("safe_mode") is False:
        yield KerasHit(
            UNSAFE_MODE,
            Severity.CRITICAL,
            _offset(node),
            "The config sets `safe_mode: false`, asking the loader to run marshalled code. "
            "Do not load this model.",
            _snippet(node)[:1000],
            "safe_mode",
        )


def _judge_resources(node: dict[str, Any], conf: dict[str, Any]) -> Iterator[KerasHit]:
    class_name = node.get("class_name")
    if class_name == "TFSMLayer":
        where = conf.get("filepath")
        yield KerasHit(
            EXTERNAL_RESOURCE,
            Severity.HIGH,
            _offset(node),
            f"TFSMLayer loads the TensorFlow SavedModel at {where!r} when the model is loaded; "
            "that graph was not scanned. Ship and scan it, or drop the layer.",
            _snippet(node),
            f"TFSMLayer:{where}",
        )
    elif class_name in LOOKUP_LAYERS and isinstance(conf.get("vocabulary"), str):
        where = conf["vocabulary"]
        yield KerasHit(
            EXTERNAL_RESOURCE,
            Severity.HIGH,
            _offset(node),
            f"{class_name} reads its vocabulary from {where!r} at load time. Embed the vocabulary "
            "in the config (a list) instead.",
            _snippet(node),
            f"{class_name}:{where}",
        )


def _layer_name(node: dict[str, Any], inherited: str) -> str:
    conf = node.get("config")
    name = conf.get("name") if isinstance(conf, dict) else None
    return name if isinstance(name, str) else inherited


def walk_config(root: Any) -> Iterator[KerasHit]:
    """Every finding in a parsed Keras config tree; bounded by ``_MAX_NODES`` visited values."""
    stack: list[tuple[Any, str]] = [(root, "?")]
    seen = 0
    while stack:
        node, layer = stack.pop()
        seen += 1
        if seen > _MAX_NODES:
            raise ValueError(f"Keras config has more than {_MAX_NODES} JSON values")
        if isinstance(node, dict):
            layer = _layer_name(node, layer)
            yield from _judge(node, layer)
            stack.extend((child, layer) for child in reversed(list(node.values())))
        elif isinstance(node, list):
            stack.extend((child, layer) for child in reversed(node))


def looks_like_keras(obj: Any) -> bool:
    """A Keras model config or ``metadata.json`` (as opposed to any other JSON object)."""
    if not isinstance(obj, dict):
        return False
    if "keras_version" in obj:
        return True
    return isinstance(obj.get("class_name"), str) and isinstance(obj.get("config"), dict)


MALFORMED = define(
    "MLS-KER-005",
    "Keras model config could not be read",
    Severity.HIGH,
    "The model's config (JSON in config.json or the HDF5 `model_config` attribute) is malformed, "
    "too large, or stored in a way the scanner cannot read, so the layers it would rebuild were not "
    "checked. Loaders may still accept it.",
    "Re-save the model with a current Keras version; if the file is legitimate and large, raise "
    "`policy.limits.max_header_bytes`.",
    family=_FAMILY,
)
