"""What a pickle may name: allow and deny tables as data, matched on exact ``module.name``.

Derived by pickling real objects of torch, numpy, pandas, scikit-learn, scipy, pyarrow and the
standard library (protocols 0-5) and listing every global they emit. Nothing here is imported:
names are strings, judged as strings.
"""

from __future__ import annotations

import _compat_pickle

DENY_MODULES: frozenset[str] = frozenset(
    {
        # process and code execution
        "os", "posix", "nt", "subprocess", "_posixsubprocess", "pty", "sys", "importlib", "imp",
        "marshal", "_interpreters", "_xxsubinterpreters", "interpreters", "concurrent.interpreters",
        "multiprocessing", "_winapi", "ctypes", "_ctypes", "signal", "code", "codeop", "runpy",
        "timeit", "cProfile", "profile", "trace", "pdb", "bdb", "doctest", "pydoc", "idlelib",
        "asyncio", "_asyncio", "threading", "_thread", "gc", "inspect", "linecache", "zipimport",
        "pkgutil", "site", "sysconfig", "commands", "popen2", "platform", "resource",
        # packaging
        "pip", "ensurepip", "venv", "setuptools", "distutils", "pkg_resources", "_distutils_hack",
        # files
        "shutil", "tempfile", "_io", "io", "fileinput", "glob", "zipfile", "tarfile", "shelve", "dbm",
        "sqlite3", "mmap", "fcntl",
        # network
        "socket", "_socket", "socketserver", "ssl", "_ssl", "http", "urllib", "urllib2", "urllib3",
        "requests", "httpx", "aiohttp", "webbrowser", "smtplib", "ftplib", "telnetlib", "poplib",
        "imaplib", "nntplib", "xmlrpc", "paramiko",
        # nested deserialisers and code-carrying formats
        "pickle", "_pickle", "cPickle", "dill", "cloudpickle", "joblib", "yaml", "jsonpickle",
        "pickletools", "functools", "_functools", "operator", "_operator",
        "weakref", "_weakref", "atexit",
        # ML packages whose entry points fetch or load code
        "mlflow", "numpy.f2py", "numpy.distutils", "numpy.testing", "torch.hub", "torch.utils.collect_env",
        "torch.package", "torch.jit", "torch._dynamo", "torch._inductor", "torch.utils.cpp_extension",
        "torch.serialization", "torch.distributed", "torch.multiprocessing", "huggingface_hub", "IPython",
        "jupyter_client",
        # scanners: a pickle that names them is trying to reach or disable them
        "picklescan", "modelscan", "fickling", "mlsec_dagster", "modelaudit", "veritensor",
    }
)  # fmt: skip
"""A global in one of these modules (or below them) is dangerous whatever its name."""

DENY_NAMES: frozenset[str] = frozenset(
    {
        "builtins.eval", "builtins.exec", "builtins.compile", "builtins.__import__", "builtins.setattr",
        "builtins.delattr", "builtins.apply", "builtins.breakpoint", "builtins.open", "builtins.input",
        "builtins.execfile", "builtins.file", "builtins.reload", "builtins.globals", "builtins.locals",
        "builtins.vars", "builtins.help", "builtins.memoryview", "builtins.exit", "builtins.quit",
        "builtins.type", "builtins.super", "builtins.classmethod", "builtins.staticmethod",
        "builtins.property", "builtins.map", "builtins.filter",
        "types.FunctionType", "types.CodeType", "types.LambdaType", "types.MethodType", "types.ModuleType",
        "types.new_class", "types.BuiltinFunctionType", "types.coroutine",
        "pathlib.Path.open", "pathlib.Path.unlink", "pathlib.Path.mkdir", "pathlib.Path.touch",
        "pathlib.Path.rename", "pathlib.Path.replace", "pathlib.Path.chmod", "pathlib.Path.rmdir",
        "pathlib.PosixPath.open", "pathlib.PosixPath.unlink", "pathlib.PosixPath.rename",
        "copyreg.add_extension", "copyreg.remove_extension", "copyreg.clear_extension_cache",
        "copyreg.pickle", "copyreg.constructor", "copyreg._extension_registry", "copyreg._inverted_registry",
        "copyreg._extension_cache", "copyreg.dispatch_table",
        "numpy.load", "numpy.save", "numpy.savez", "numpy.tofile", "numpy.fromfile", "numpy.loadtxt",
        "numpy.genfromtxt", "numpy.memmap", "numpy.lib.npyio.load", "numpy.lib._npyio_impl.load",
        "numpy.ctypeslib.load_library", "numpy.DataSource", "numpy.lib._datasource.DataSource",
        "numpy.lib.format.read_array", "numpy.core.multiarray.fromfile",
        "torch.load", "torch.save", "torch.storage._load_from_file", "torch.from_file",
        "torch.ops.load_library", "torch.classes.load_library", "torch._C._jit_load",
        "pandas.read_pickle", "pandas.read_csv", "pandas.read_json", "pandas.read_html", "pandas.read_sql",
        "pandas.read_excel", "pandas.read_parquet", "pandas.read_feather", "pandas.read_table",
        "pandas.read_xml", "pandas.read_fwf", "pandas.read_hdf", "pandas.read_orc", "pandas.read_sas",
        "pandas.read_spss", "pandas.read_stata", "pandas.read_clipboard", "pandas.eval",
        "pandas.io.pickle.read_pickle", "pandas.core.computation.eval.eval",
        "re.sub", "re.subn", "re.compile", "string.Template", "string.Formatter",
        "codecs.open", "logging.config.listen", "logging.config.fileConfig", "logging.config.dictConfig",
        "collections.namedtuple", "dataclasses.make_dataclass", "abc.ABCMeta", "enum.EnumMeta",
        "sklearn.utils._joblib.load", "scipy.io.loadmat", "scipy.io.savemat",
    }
)  # fmt: skip
"""Exact names that load, execute, write or fetch something, in otherwise harmless modules."""

DENY_ATTRIBUTES: frozenset[str] = frozenset(
    {
        "__builtins__", "__globals__", "__import__", "__subclasses__", "__code__", "__class__",
        "__base__", "__bases__", "__mro__", "__dict__", "__getattribute__", "__getattr__", "__loader__",
        "__spec__", "__self__", "__func__", "__closure__", "__reduce__", "__reduce_ex__", "__setattr__",
        "__delattr__", "__call__", "__init_subclass__", "__class_getitem__", "__init__", "__new__",
        "__setstate__", "__getstate__", "__wrapped__", "__module__", "system", "popen", "execfile",
        "fork_exec", "run_string", "load_module", "exec_module", "import_module", "from_pretrained",
        "write_text", "write_bytes", "rmtree", "symlink_to", "hardlink_to",
    }
)  # fmt: skip
"""Attributes that reach interpreter internals or side effects from any object (``x.__globals__``...).

Matched on every component after the module, so ``numpy.__builtins__.eval`` or
``pathlib.Path.write_text`` is caught whatever module it hangs from.
"""

ALLOW_CALL: frozenset[str] = frozenset(
    {
        # found by the red-team benign corpus: value constructors of stdlib, pandas, pyarrow, sklearn
        "zoneinfo.ZoneInfo._unpickle", "pandas.PeriodDtype", "pyarrow.lib._reconstruct_table",
        "re._compile", "types.SimpleNamespace",
        "sklearn._loss._loss.__pyx_unpickle_CyHalfMultinomialLoss",
        "sklearn._loss._loss.__pyx_unpickle_CyHalfSquaredError",
        "sklearn._loss._loss.__pyx_unpickle_CyHalfBinomialLoss",
        "sklearn._loss._loss.__pyx_unpickle_CyAbsoluteError",
        "sklearn._loss._loss.__pyx_unpickle_CyPinballLoss",
        "sklearn._loss._loss.__pyx_unpickle_CyHalfPoissonLoss",
        "sklearn._loss._loss.__pyx_unpickle_CyHalfGammaLoss",
        "sklearn._loss._loss.__pyx_unpickle_CyHalfTweedieLoss",
        "sklearn._loss._loss.__pyx_unpickle_CyHalfTweedieLossIdentity",
        "sklearn._loss._loss.__pyx_unpickle_CyHuberLoss",
        "sklearn._loss._loss.__pyx_unpickle_CyExponentialLoss",
        # stdlib value types and containers
        "builtins.set", "builtins.frozenset", "builtins.list", "builtins.dict", "builtins.tuple",
        "builtins.slice", "builtins.range", "builtins.complex", "builtins.bytearray", "builtins.bytes",
        "builtins.int", "builtins.float", "builtins.str", "builtins.bool", "builtins.object",
        "builtins.NotImplemented", "builtins.Ellipsis", "builtins.reversed", "builtins.enumerate",
        "_codecs.encode", "copyreg._reconstructor", "copyreg.__newobj__", "copyreg.__newobj_ex__",
        "collections.OrderedDict", "collections.defaultdict", "collections.deque", "collections.Counter",
        "datetime.datetime", "datetime.date", "datetime.time", "datetime.timedelta", "datetime.timezone",
        "decimal.Decimal", "fractions.Fraction", "uuid.UUID", "ipaddress.IPv4Address",
        "ipaddress.IPv6Address", "pathlib.PurePosixPath", "pathlib.PureWindowsPath", "pathlib.PosixPath",
        "pathlib.WindowsPath", "pathlib.PurePath", "pathlib.Path", "array.array",
        "array._array_reconstructor", "zoneinfo.ZoneInfo", "zoneinfo._common.load_tzdata", "enum.Enum",
        # numpy
        "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct",
        "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar", "numpy.dtype", "numpy.ndarray",
        "numpy.core.numeric._frombuffer", "numpy._core.numeric._frombuffer", "numpy.ma.core._mareconstruct",
        "numpy.random._pickle.__bit_generator_ctor", "numpy.random._pickle.__generator_ctor",
        "numpy.random._pickle.__randomstate_ctor", "numpy.random.bit_generator.__pyx_unpickle_SeedSequence",
        "numpy.random._mt19937.MT19937", "numpy.random._pcg64.PCG64", "numpy.random._pcg64.PCG64DXSM",
        "numpy.random._philox.Philox", "numpy.random._sfc64.SFC64", "numpy.random.bit_generator.SeedSequence",
        "numpy.matrix", "numpy.float64", "numpy.float32", "numpy.int64", "numpy.int32", "numpy.bool_",
        # torch
        "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor_v3",
        "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state",
        "torch._utils._rebuild_qtensor", "torch._utils._rebuild_sparse_tensor",
        "torch._utils._rebuild_nested_tensor", "torch._utils._rebuild_device_tensor_from_numpy",
        "torch._utils._rebuild_meta_tensor_no_storage", "torch._utils._rebuild_wrapper_subclass",
        "torch._tensor._rebuild_from_type_v2", "torch._tensor._rebuild_from_type", "torch.Size",
        "torch.device", "torch.dtype", "torch.storage.UntypedStorage", "torch.storage.TypedStorage",
        "torch.storage._load_from_bytes", "torch.nn.parameter.Parameter", "torch.Tensor",
        "torch._utils._rebuild_tensor_v2_with_fake", "collections.OrderedDict.fromkeys",
        "torch.FloatStorage", "torch.DoubleStorage", "torch.HalfStorage", "torch.BFloat16Storage",
        "torch.LongStorage", "torch.IntStorage", "torch.ShortStorage", "torch.CharStorage",
        "torch.ByteStorage", "torch.BoolStorage", "torch.ComplexFloatStorage", "torch.ComplexDoubleStorage",
        "torch.QInt8Storage", "torch.QUInt8Storage", "torch.QInt32Storage", "torch.UntypedStorage",
        "torch.float32", "torch.float64", "torch.float16", "torch.bfloat16", "torch.int64", "torch.int32",
        "torch.int16", "torch.int8", "torch.uint8", "torch.bool", "torch.complex64", "torch.complex128",
        # pandas
        "pandas._libs.internals._unpickle_block", "pandas.core.internals.blocks.new_block",
        "pandas._libs.arrays.__pyx_unpickle_NDArrayBacked",
        "pandas._libs.tslibs.timestamps._unpickle_timestamp",
        "pandas._libs.tslibs.timedeltas._timedelta_unpickle", "pandas._libs.tslibs.nattype.__nat_unpickle",
        "pandas.core.indexes.base._new_Index", "pandas.core.indexes.datetimes._new_DatetimeIndex",
        "pandas.core.indexes.period._new_PeriodIndex", "pandas._libs.tslibs.offsets.Day",
        "pandas._libs.tslibs.offsets.YearEnd", "pandas._libs.tslibs.offsets.MonthEnd",
        "pandas._libs.tslibs.offsets.Hour", "pandas._libs.tslibs.offsets.Minute",
        "pandas._libs.tslibs.offsets.Second", "pandas._libs.tslibs.offsets.BusinessDay",
        "pandas._libs.tslibs.offsets.Week", "pandas._libs.tslibs.offsets.QuarterEnd",
        "pandas.Timestamp", "pandas.Timedelta", "pandas.Interval", "pandas.Period", "pandas.Categorical",
        "pandas.CategoricalDtype", "pandas.StringDtype", "pandas.core.arrays.string_.StringDtype",
        "pandas.core.dtypes.dtypes.CategoricalDtype", "pandas.core.dtypes.dtypes.DatetimeTZDtype",
        "pandas.core.dtypes.dtypes.PeriodDtype", "pandas.core.dtypes.dtypes.IntervalDtype",
        "pandas._libs.interval.Interval", "pandas._libs.tslibs.period.Period",
        "pandas.core.internals.managers.BlockManager", "pandas.core.internals.managers.SingleBlockManager",
        "pyarrow.lib._restore_array", "pyarrow.lib.py_buffer", "pyarrow.lib.type_for_alias",
        "pyarrow.lib.field", "pyarrow.lib.schema", "pyarrow.lib.ChunkedArray", "pyarrow.lib.chunked_array",
        # scikit-learn / scipy compiled state
        "sklearn.tree._tree.Tree", "sklearn._loss._loss.CyHalfBinomialLoss",
        "sklearn._loss._loss.CyHalfSquaredError", "sklearn._loss._loss.CyHalfMultinomialLoss",
        "sklearn._loss._loss.CyHalfPoissonLoss", "sklearn._loss._loss.CyAbsoluteError",
        "sklearn._loss._loss.CyPinballLoss", "sklearn._loss._loss.CyHuberLoss",
        "sklearn.neighbors._kd_tree.KDTree", "sklearn.neighbors._ball_tree.BallTree",
        "sklearn.neighbors._kd_tree.newObj", "sklearn.neighbors._ball_tree.newObj",
        "sklearn.utils._bunch.Bunch", "sklearn.ensemble._hist_gradient_boosting._bitset.__pyx_unpickle_Enum",
        "sklearn.metrics._dist_metrics.EuclideanDistance64", "sklearn.metrics._dist_metrics.newObj",
        "scipy.sparse._csr.csr_matrix", "scipy.sparse._csc.csc_matrix", "scipy.sparse._coo.coo_matrix",
        "scipy.sparse._csr.csr_array", "scipy.sparse._csc.csc_array",
    }
)  # fmt: skip
"""Callables whose invocation with arguments only rebuilds data."""

TRUSTED_RECONSTRUCTION: tuple[str, ...] = (
    "sklearn.", "pandas.", "numpy.", "scipy.", "torch.nn.modules.", "torch.nn.parameter.", "torch.optim.",
    "xgboost.", "lightgbm.", "catboost.", "pyarrow.", "transformers.configuration_", "collections.",
    "datetime.", "builtins.", "joblib.numpy_pickle.NumpyArrayWrapper",
)  # fmt: skip
"""Namespaces whose classes may be rebuilt through the object protocol (``__new__`` + state).

A prefix here never allows *invoking* anything with arguments: that needs :data:`ALLOW_CALL`.
"""

NESTED_LOADERS: frozenset[str] = frozenset(
    {
        "pickle.loads", "_pickle.loads", "cPickle.loads", "dill.loads", "dill._dill.loads",
        "cloudpickle.loads", "cloudpickle.cloudpickle.loads", "torch.storage._load_from_bytes",
        "numpy.loads", "numpy.core.numeric.loads", "pickle._loads", "joblib.numpy_pickle.loads",
    }
)  # fmt: skip
"""Callables that deserialize their bytes argument: the argument is scanned as a nested stream."""

INVOKED_ARGUMENTS: dict[str, tuple[int, ...]] = {
    "torch._tensor._rebuild_from_type_v2": (0,),
    "torch._tensor._rebuild_from_type": (0,),
    "numpy.random._pickle.__bit_generator_ctor": (0,),
    "numpy.random._pickle.__generator_ctor": (0, 1),
    "numpy.random._pickle.__randomstate_ctor": (0, 1),
}
"""Allowlisted helpers that call one of their arguments: an imported argument there is judged as a call."""
CLASS_ARGUMENTS: dict[str, int] = {
    "torch._tensor._rebuild_from_type_v2": 1,
    "torch._tensor._rebuild_from_type": 1,
}
"""Allowlisted helpers that turn their result into an instance of the class passed at this index."""

RECONSTRUCTORS: frozenset[str] = frozenset({"copyreg._reconstructor"})
ARRAY_RECONSTRUCTORS: frozenset[str] = frozenset(
    {"numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct"}
)
"""``_reconstruct(subtype, ...)`` rebuilds an ndarray subclass whose ``__setstate__`` then runs."""
NEWOBJ_HELPERS: frozenset[str] = frozenset({"copyreg.__newobj__", "copyreg.__newobj_ex__"})

_EXTRA_MODULE_RENAMES = {"__builtin__": "builtins", "copy_reg": "copyreg", "exceptions": "builtins"}


def qualify(module: str, name: str) -> str:
    """``module.name`` with Python 2 spellings mapped the way the unpickler maps them."""
    mapped = _compat_pickle.NAME_MAPPING.get((module, name))
    if mapped is not None:
        module, name = mapped
    else:
        module = _compat_pickle.IMPORT_MAPPING.get(module, _EXTRA_MODULE_RENAMES.get(module, module))
    return f"{module}.{name}"


REEXPORTED_MODULES: frozenset[str] = frozenset(
    {"os", "posix", "nt", "subprocess", "builtins", "__builtins__", "sys", "importlib", "socket", "shutil"}
)
"""Module names that, as an inner component of a name, mean a dangerous module reached via attributes."""


def _in_modules(name: str, modules: frozenset[str]) -> bool:
    parts = name.split(".")
    return any(".".join(parts[:i]) in modules for i in range(1, len(parts)))


_TORCH_DATA_HELPERS = frozenset(
    {
        "torch.jit._pickle.build_intlist", "torch.jit._pickle.build_tensorlist",
        "torch.jit._pickle.build_doublelist", "torch.jit._pickle.build_boollist",
        "torch.jit._pickle.restore_type_tag", "torch.serialization._get_layout",
    }
)  # fmt: skip
"""Pure data builders inside denied torch modules: every TorchScript archive and sparse tensor uses them."""

DENY_EXCEPTIONS: frozenset[str] = frozenset({"joblib.numpy_pickle.NumpyArrayWrapper"}) | _TORCH_DATA_HELPERS
"""Data classes inside denied modules (joblib's array wrapper is in every joblib file)."""

ALLOW_CALL = ALLOW_CALL | _TORCH_DATA_HELPERS


def is_denied(name: str) -> bool:
    """Dangerous to merely reference: it may reach a call through a wrapper or factory."""
    if name in DENY_EXCEPTIONS:
        return False
    if name in DENY_NAMES or _in_modules(name, DENY_MODULES):
        return True
    parts = name.split(".")
    if any(part in DENY_ATTRIBUTES for part in parts[1:]):
        return True
    # a dangerous module re-exported as an attribute: ``torch.serialization.os.system``
    return any(parts[i] in REEXPORTED_MODULES for i in range(1, len(parts) - 1))


def is_allowed_call(name: str) -> bool:
    return name in ALLOW_CALL


def is_trusted_class(name: str) -> bool:
    return name in ALLOW_CALL or name.startswith(TRUSTED_RECONSTRUCTION)
