"""Defence in depth for pickles: record the globals at packaging time, allow only those at load time.

A pickle can call any importable function while it loads. Even a validly signed pickle is therefore
loaded with an allow-list: the globals recorded in the signed manifest when it was packaged, plus a
small safe baseline, minus a deny-list (``os.system``, ``subprocess``, ``builtins.eval``,
``importlib``, ``operator.methodcaller``, ``runpy``...) that no manifest can re-allow.

Plain pickles are scanned statically with ``pickletools`` (nothing runs). joblib files interleave
raw numpy buffers with pickle opcodes, which a static scan cannot walk, so their globals are
recorded by loading them once at packaging time with an unpickler that refuses the deny-list
before resolving anything.
"""

from __future__ import annotations

import io
import pickle
import pickletools
from collections.abc import Iterable
from typing import Any, BinaryIO

from modelward.errors import UnsafePickle

DENIED_MODULES = frozenset({
    "os", "posix", "nt", "subprocess", "sys", "importlib", "runpy", "shutil", "socket", "pty",
    "ctypes", "multiprocessing", "code", "codeop", "pickle", "_pickle", "marshal", "types",
    "webbrowser", "operator", "_operator", "io", "_io", "pathlib", "tempfile", "signal", "threading",
    "asyncio", "commands", "popen2", "pdb", "bdb", "timeit", "cProfile", "profile", "trace",
    "inspect", "gc", "dill", "cloudpickle", "joblib.numpy_pickle_compat", "numpy.testing", "numpy.f2py",
    "numpy.distutils", "numpy.lib.npyio", "torch", "__builtin__", "urllib", "http", "ftplib", "smtplib",
    "builtins_", "zipimport", "pkgutil", "sqlite3", "glob", "fileinput",
    "pydoc", "logging.config", "shelve", "_posixsubprocess", "_winapi", "imp", "distutils", "setuptools",
    "pip", "ensurepip", "venv", "idlelib", "pandas.io.pickle",
})
SAFE_BUILTINS = frozenset({
    "set", "frozenset", "slice", "range", "complex", "bytearray", "bytes", "dict", "list", "tuple",
    "int", "float", "str", "bool", "object",
})
DENIED_NAMES = frozenset({
    "numpy.load", "numpy.save", "numpy.fromfile", "numpy.loadtxt", "numpy.genfromtxt", "numpy.memmap",
    "joblib.load", "joblib.dump", "functools.reduce", "pandas.read_pickle",
})
BASELINE = frozenset({
    *(f"builtins.{name}" for name in SAFE_BUILTINS),
    "copyreg._reconstructor", "copy_reg._reconstructor",
    "collections.OrderedDict", "collections.deque", "collections.defaultdict",
    "datetime.datetime", "datetime.date", "datetime.time", "datetime.timedelta", "datetime.timezone",
    "decimal.Decimal",
    "numpy.dtype", "numpy.ndarray",
    "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct",
    "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar",
    "numpy.core.numeric._frombuffer", "numpy._core.numeric._frombuffer",
    "joblib.numpy_pickle.NumpyArrayWrapper",
})


def denied_reason(module: str, name: str) -> str | None:
    """Why ``module.name`` may never be loaded, or None if it is not on the deny-list."""
    full = f"{module}.{name}"
    root = module.split(".")[0]
    if module == "builtins":
        return None if name in SAFE_BUILTINS else "a builtin that can run code or touch the system"
    if full in DENIED_NAMES:
        return "reads or writes files or calls arbitrary functions"
    prefixes = [module[: i] for i in range(len(module) + 1) if i == len(module) or module[i] == "."]
    if root in DENIED_MODULES or any(p in DENIED_MODULES for p in prefixes):
        return f"module '{module}' can run commands, import code or touch the system"
    if name.startswith("__") and name.endswith("__") and name not in {"__bit_generator_ctor",
                                                                    "__randomstate_ctor",
                                                                    "__generator_ctor"}:
        return "a dunder attribute"
    return None


def check_global(module: str, name: str, allowed: frozenset[str], where: str) -> None:
    """Raise ``UnsafePickle`` unless ``module.name`` is allowed and not denied."""
    reason = denied_reason(module, name)
    if reason is not None:
        raise UnsafePickle(f"{where}: refuses global '{module}.{name}': {reason}")
    if f"{module}.{name}" not in allowed:
        raise UnsafePickle(f"{where}: refuses global '{module}.{name}': not recorded in the signed "
                           "manifest for this file")


def allowed_for(recorded: Iterable[str], extra: Iterable[str] = ()) -> frozenset[str]:
    """The allow-list for one file: what the manifest recorded, the caller's extras, the baseline."""
    return frozenset(recorded) | frozenset(extra) | BASELINE


# --- scanning at packaging time --------------------------------------------------------------------

_STRING_OPS = {"SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8", "SHORT_BINSTRING",
               "BINSTRING", "STRING"}
_PUT_OPS = {"PUT", "BINPUT", "LONG_BINPUT"}
_GET_OPS = {"GET", "BINGET", "LONG_BINGET"}


def scan_pickle_globals(data: bytes, where: str) -> tuple[str, ...]:
    """Every ``module.name`` a plain pickle imports, read from its opcodes without running it."""
    found: set[str] = set()
    strings: list[Any] = []
    memo: dict[Any, Any] = {}
    try:
        for opcode, arg, _ in pickletools.genops(data):
            _scan_step(opcode.name, arg, strings, memo, found, where)
    except (ValueError, pickle.UnpicklingError) as exc:
        raise UnsafePickle(f"{where}: not a readable pickle: {exc}") from None
    return tuple(sorted(found))


def _scan_step(op: str, arg: Any, strings: list[Any], memo: dict[Any, Any], found: set[str],
               where: str) -> None:
    if op in _STRING_OPS:
        strings.append(arg)
    elif op == "MEMOIZE":
        memo[len(memo)] = strings[-1] if strings else None
    elif op in _PUT_OPS:
        memo[arg] = strings[-1] if strings else None
    elif op in _GET_OPS:
        strings.append(memo.get(arg))
    elif op in {"GLOBAL", "INST"}:
        module, _, name = str(arg).partition(" ")
        found.add(f"{module}.{name}")
    elif op == "STACK_GLOBAL":
        if len(strings) < 2 or not all(isinstance(s, str) for s in strings[-2:]):
            raise UnsafePickle(f"{where}: a STACK_GLOBAL whose module and name cannot be read statically")
        found.add(f"{strings[-2]}.{strings[-1]}")
    elif op in {"EXT1", "EXT2", "EXT4"}:
        raise UnsafePickle(f"{where}: uses the copyreg extension registry (opcode {op})")


def record_joblib_globals(data: bytes, where: str) -> tuple[str, ...]:
    """The globals of a joblib file, recorded by loading it with the deny-list enforced."""
    seen: set[str] = set()

    def recorder(module: str, name: str) -> None:
        reason = denied_reason(module, name)
        if reason is not None:
            raise UnsafePickle(f"{where}: refuses global '{module}.{name}': {reason}")
        seen.add(f"{module}.{name}")

    _joblib_load(data, recorder, where)
    return tuple(sorted(seen))


# --- loading ---------------------------------------------------------------------------------------


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: BinaryIO, allowed: frozenset[str], where: str) -> None:
        super().__init__(file)
        self._allowed = allowed
        self._where = where

    def find_class(self, module: str, name: str) -> Any:
        check_global(module, name, self._allowed, self._where)
        return super().find_class(module, name)


def safe_pickle_loads(data: bytes, allowed: frozenset[str], where: str) -> Any:
    """Unpickle ``data`` allowing only ``allowed`` globals (never the deny-list)."""
    stream = io.BytesIO(data)
    try:
        value = _RestrictedUnpickler(stream, allowed, where).load()
    except UnsafePickle:
        raise
    except Exception as exc:
        raise UnsafePickle(f"{where}: cannot be unpickled: {type(exc).__name__}: {exc}") from None
    if stream.tell() != len(data):
        raise UnsafePickle(f"{where}: {len(data) - stream.tell()} bytes follow the pickle's STOP opcode")
    return value


def safe_joblib_loads(data: bytes, allowed: frozenset[str], where: str) -> Any:
    """Load a joblib file (a pickle with numpy buffers inline) allowing only ``allowed`` globals."""
    return _joblib_load(data, lambda m, n: check_global(m, n, allowed, where), where)


def _joblib_load(data: bytes, check: Any, where: str) -> Any:
    from joblib import numpy_pickle

    class Restricted(numpy_pickle.NumpyUnpickler):  # type: ignore[misc]
        def find_class(self, module: str, name: str) -> Any:
            check(module, name)
            return super().find_class(module, name)

    try:
        with numpy_pickle._validate_fileobject_and_memmap(io.BytesIO(data), where, None) as (fobj, _):
            if isinstance(fobj, str):
                raise UnsafePickle(f"{where}: written by joblib < 0.10 (companion files); not supported")
            return Restricted(where, fobj, True).load()
    except UnsafePickle:
        raise
    except Exception as exc:
        raise UnsafePickle(f"{where}: cannot be loaded as joblib: {type(exc).__name__}: {exc}") from None


def record_skops_types(data: bytes, where: str) -> tuple[str, ...]:
    """The types a skops file needs beyond skops' own trusted set (refusing the deny-list)."""
    import skops.io

    try:
        types = skops.io.get_untrusted_types(data=data)
    except Exception as exc:
        raise UnsafePickle(f"{where}: not a readable skops file: {exc}") from None
    for full in types:
        module, _, name = str(full).rpartition(".")
        reason = denied_reason(module, name)
        if reason is not None:
            raise UnsafePickle(f"{where}: refuses type '{full}': {reason}")
    return tuple(sorted(str(t) for t in types))


def safe_skops_loads(data: bytes, trusted: Iterable[str], where: str) -> Any:
    """Load a skops file trusting only the types recorded in the signed manifest."""
    import skops.io

    record_skops_types(data, where)
    try:
        return skops.io.load(io.BytesIO(data), trusted=list(trusted))
    except Exception as exc:
        raise UnsafePickle(f"{where}: skops refused to load it: {type(exc).__name__}: {exc}") from None
