"""What calls do at install time: the verdict tables of the install-time code analyser.

Qualified names (``os.system``, ``builtins.exec``) after alias resolution. Data, not branching code:
adding a dangerous callable is one line here.
"""

from __future__ import annotations

from typing import Literal

Kind = Literal["network", "process", "dynamic", "write", "secret"]

PROCESS_CALLS = frozenset({
    "os.system", "os.popen", "os.popen2", "os.popen3", "os.popen4", "os.startfile", "os.posix_spawn",
    "os.posix_spawnp", "os.execl", "os.execle", "os.execlp", "os.execlpe", "os.execv", "os.execve",
    "os.execvp", "os.execvpe", "os.spawnl", "os.spawnle", "os.spawnlp", "os.spawnlpe", "os.spawnv",
    "os.spawnve", "os.spawnvp", "os.spawnvpe", "posix.system", "nt.system", "platform.popen",
    "asyncio.create_subprocess_exec", "asyncio.create_subprocess_shell",
})  # fmt: skip
PROCESS_PREFIXES = ("subprocess.", "asyncio.subprocess.", "_posixsubprocess.", "pty.", "commands.", "popen2.")
NETWORK_CALLS = frozenset({"urllib.urlopen", "urllib.urlretrieve", "pip.main", "pip._internal.main"})
NETWORK_PREFIXES = (
    "urllib.request.", "urllib2.", "urllib3.", "requests.", "httpx.", "http.client.", "httplib.",
    "socket.", "ftplib.", "smtplib.", "telnetlib.", "aiohttp.", "pycurl.", "paramiko.",
    "xmlrpc.client.", "webbrowser.", "dns.",
)  # fmt: skip
NETWORK_MODULES = frozenset({
    "urllib.request", "urllib2", "urllib3", "requests", "httpx", "http.client", "httplib", "socket",
    "ftplib", "smtplib", "telnetlib", "aiohttp", "pycurl", "paramiko", "xmlrpc.client",
})  # fmt: skip
"""Importing these in install-time code is reported (MEDIUM) even before a call is seen."""
DYNAMIC_CALLS = frozenset({
    "builtins.exec", "builtins.eval", "builtins.compile", "builtins.__import__", "importlib.import_module",
    "importlib.__import__", "marshal.loads", "marshal.load", "pickle.loads", "pickle.load", "_pickle.loads",
    "cPickle.loads", "dill.loads", "cloudpickle.loads", "runpy.run_path", "runpy.run_module",
    "types.FunctionType", "types.CodeType", "ctypes.CDLL", "ctypes.cdll.LoadLibrary", "ctypes.WinDLL",
    "imp.load_source", "imp.load_module", "importlib.machinery.SourceFileLoader", "code.interact",
    "importlib.util.spec_from_file_location",
})  # fmt: skip
FILE_LOADERS: dict[str, int] = {
    "runpy.run_path": 0, "importlib.util.spec_from_file_location": 1, "imp.load_source": 1,
    "importlib.machinery.SourceFileLoader": 1,
}  # fmt: skip
"""Calls that run a Python file, with the index of the path argument (a file in the package is followed)."""
CODE_RUNNERS = frozenset({"builtins.exec", "builtins.eval", "builtins.compile"})
IMPORTERS = frozenset({"builtins.__import__", "importlib.import_module", "importlib.__import__"})
DECODERS = frozenset({
    "base64.b64decode", "base64.b32decode", "base64.b16decode", "base64.a85decode", "base64.b85decode",
    "base64.decodebytes", "base64.decodestring", "base64.urlsafe_b64decode", "base64.standard_b64decode",
    "binascii.a2b_base64", "binascii.unhexlify", "binascii.a2b_hex", "builtins.bytes.fromhex",
    "codecs.decode", "zlib.decompress", "bz2.decompress", "lzma.decompress", "gzip.decompress",
    "marshal.loads",
})  # fmt: skip
"""Decoding calls: fed into exec/eval they hide the code that runs."""
SENSITIVE_MODULES = frozenset({
    "os", "posix", "nt", "subprocess", "builtins", "socket", "urllib", "urllib.request", "requests",
    "importlib", "sys", "ctypes", "marshal", "pickle", "shutil", "pty", "sys.modules",
})  # fmt: skip
"""``getattr`` on these with a computed name is how lookups of ``system``/``exec`` are hidden."""

BUILD_TOOLS = frozenset({
    "cmake", "make", "gmake", "ninja", "meson", "gcc", "g++", "cc", "c++", "clang", "clang++", "nvcc",
    "pkg-config", "swig", "protoc", "cython", "rustc", "cargo", "go", "javac", "mvn", "xcrun", "ld",
})  # fmt: skip
GIT_READ_ONLY = frozenset({"describe", "rev-parse", "log", "status", "show", "tag", "ls-files", "rev-list"})
"""A process call with a literal argv naming one of these (git only with read-only subcommands) is a
build step: reported MEDIUM for review, not HIGH."""
SHELL_META = frozenset(";|&$`<>\n")
DOWNLOAD_AND_RUN = (
    "curl ", "wget ", "http://", "https://", "/dev/tcp", "nc -e", "powershell", "| sh", "|sh", "| bash",
    "base64 -d", "python -c", "bash -c", "sh -c",
)  # fmt: skip
"""Command fragments that make any process call HIGH, whatever tool it starts."""
PIP_COMMANDS = frozenset({
    "install", "develop", "egg_info", "dist_info", "bdist_wheel", "build", "build_py", "build_ext", "sdist",
    "editable_wheel", "bdist_egg", "install_lib", "install_scripts", "install_egg_info", "easy_install",
    "build_clib", "build_scripts", "install_headers", "install_data", "bdist", "clean", "check",
})  # fmt: skip
"""setup.py arguments installers and build frontends use: code guarded by anything else (``publish``,
``upload``, ``test``) does not run when the package is installed."""
HOME_VARIABLES = frozenset({
    "HOME", "USERPROFILE", "APPDATA", "LOCALAPPDATA", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "VIRTUAL_ENV",
    "CONDA_PREFIX", "PYTHONUSERBASE", "HOMEPATH", "PROGRAMDATA",
})  # fmt: skip
"""Environment variables that name the user's home or the interpreter's environment."""

WRITE_DEST_ARG: dict[str, int] = {
    "builtins.open": 0, "io.open": 0, "codecs.open": 0, "shutil.copy": 1, "shutil.copy2": 1,
    "shutil.copyfile": 1, "shutil.copytree": 1, "shutil.move": 1, "os.rename": 1, "os.replace": 1,
    "os.symlink": 1, "os.link": 1, "distutils.file_util.copy_file": 1, "urllib.request.urlretrieve": 1,
}  # fmt: skip
"""Calls that create or overwrite a file, and the index of the destination argument."""
OPENERS = frozenset({"builtins.open", "io.open", "codecs.open"})
PATH_WRITE_METHODS = frozenset({"write_text", "write_bytes", "touch", "symlink_to", "hardlink_to"})
PATH_READ_METHODS = frozenset({"read_text", "read_bytes"})
OUTSIDE_MARKERS = frozenset({
    "os.path.expanduser", "os.path.expandvars", "pathlib.Path.home", "site.getsitepackages",
    "site.getusersitepackages", "site.USER_SITE", "site.USER_BASE",
    "sysconfig.get_paths", "sysconfig.get_path", "distutils.sysconfig.get_python_lib", "sys.prefix",
    "sys.base_prefix", "sys.exec_prefix", "os.path.expanduser()", "pathlib.Path.home()",
})  # fmt: skip
"""Values that point into the user's home, the environment or the interpreter's prefix."""
OUTSIDE_FRAGMENTS = (
    ".bashrc", ".bash_profile", ".zshrc", ".zprofile", ".profile", "site-packages", "dist-packages",
    ".ssh", "authorized_keys", "sitecustomize", "usercustomize", "crontab", "AppData", "Startup",
    "LaunchAgents", "autostart", ".config/systemd",
)  # fmt: skip
SECRET_FRAGMENTS = (
    "id_rsa", "id_ed25519", "id_ecdsa", ".aws/credentials", ".netrc", ".pypirc", ".git-credentials",
    ".docker/config.json", ".kube/config", "/etc/shadow", "/etc/passwd", ".gnupg", "Login Data",
    ".azure/", ".config/gcloud", "wallet.dat", ".npmrc",
)  # fmt: skip


def strip_call(name: str) -> str:
    return name.replace("()", "")


def classify(name: str, exact: bool = False) -> Kind | None:
    """What calling ``name`` does at install time; ``exact`` ignores module prefixes (for value reaches)."""
    plain = strip_call(name)
    if plain in PROCESS_CALLS:
        return "process"
    if plain in NETWORK_CALLS:
        return "network"
    if plain in DYNAMIC_CALLS - IMPORTERS:
        return "dynamic"
    if exact:
        return None
    if plain.startswith(PROCESS_PREFIXES):
        return "process"
    if plain.startswith(NETWORK_PREFIXES):
        return "network"
    return None
