"""Load pickle, joblib and skops files resolving only exact, vetted globals (see ``catalogue``).

Every global a file imports goes through ``GlobalPolicy.resolve``: the pair must be in the
baseline, or recorded in the signed manifest and vetted by the catalogue (or an explicit
extension); the object is then taken from the module's namespace by that exact name. Nothing
else is imported, and ``find_class`` never falls back to pickle's own lookup (which walks dotted
names and maps Python 2 module names). A file whose recorded globals include a ``rebuild_only``
class of the catalogue is read by the pure-Python unpickler, which refuses to call such a class
(``REDUCE``, ``INST``, ``OBJ``): it may only be rebuilt from its state.

joblib files are read by a pure-Python unpickler that replaces each ``NumpyArrayWrapper`` with the
array joblib wrote after it (raw bytes, or a nested pickle stream read by the same restricted
unpickler), after refusing array data that would sit inside a pickle frame.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Iterable
from typing import Any, BinaryIO

from modelward.artifacts.catalogue import GlobalPolicy, Pair
from modelward.artifacts.scan import NDARRAY, WRAPPER, open_joblib
from modelward.errors import UnsafePickle

_READ_CHUNK = 16 * 1024 * 1024


class _RestrictedUnpickler(pickle.Unpickler):
    """The C unpickler, resolving globals through a ``GlobalPolicy`` only."""

    def __init__(self, file: BinaryIO, policy: GlobalPolicy, where: str) -> None:
        super().__init__(file)
        self._policy = policy
        self._where = where

    def find_class(self, module: str, name: str) -> Any:
        return self._policy.resolve(module, name, self._where)


def safe_pickle_loads(data: bytes, policy: GlobalPolicy, where: str) -> Any:
    """Unpickle ``data`` resolving only the globals ``policy`` allows (rebuild-only classes never called)."""
    stream = io.BytesIO(data)
    rebuild_only = policy.catalogue.rebuild_only & (policy.recorded | policy.extensions)
    unpickler = _PyRestricted if rebuild_only else _RestrictedUnpickler
    try:
        value = unpickler(stream, policy, where).load()
    except UnsafePickle:
        raise
    except Exception as exc:
        raise UnsafePickle(f"{where}: cannot be unpickled: {type(exc).__name__}: {exc}") from None
    if stream.tell() != len(data):
        raise UnsafePickle(f"{where}: {len(data) - stream.tell()} bytes follow the pickle's STOP opcode")
    return value


_PyUnpickler: Any = pickle._Unpickler  # the pure-Python unpickler: its BUILD can be intercepted


class _PyRestricted(_PyUnpickler):  # type: ignore[misc]
    """The pure-Python unpickler, resolving through a policy and never calling a rebuild-only class.

    joblib files need it to intercept BUILD; pickles that record a rebuild-only class need it to
    intercept the opcodes that call a global with arguments (REDUCE, INST, OBJ).
    """

    dispatch = _PyUnpickler.dispatch.copy()

    def __init__(self, file: BinaryIO, policy: GlobalPolicy, where: str) -> None:
        super().__init__(file)
        self._stream = file
        self._policy = policy
        self._where = where

    def find_class(self, module: str, name: str) -> Any:
        return self._policy.resolve(module, name, self._where)

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickle(f"{self._where}: uses persistent ids, which modelward refuses")

    def _refuse_call(self, callee: Any) -> None:
        if self._policy.catalogue.is_rebuild_only(callee):
            raise UnsafePickle(f"{self._where}: refuses to call global '{callee.__module__}:{callee.__qualname__}': "
                               "the catalogue lets a pickle rebuild it from its state, never call it with "
                               "arguments (its constructor does more than store data)")

    def load_reduce(self) -> None:
        self._refuse_call(self.stack[-2])
        _PyUnpickler.load_reduce(self)

    dispatch[pickle.REDUCE[0]] = load_reduce

    def _instantiate(self, klass: Any, args: Any) -> None:  # INST and OBJ
        self._refuse_call(klass)
        _PyUnpickler._instantiate(self, klass, args)


class _JoblibUnpickler(_PyRestricted):
    dispatch = _PyRestricted.dispatch.copy()

    def load_build(self) -> None:
        super().load_build()
        kind = type(self.stack[-1])
        if (kind.__module__, kind.__qualname__) == WRAPPER:
            self.stack[-1] = self._read_array(self.stack[-1])

    dispatch[pickle.BUILD[0]] = load_build

    def _read_array(self, wrapper: Any) -> Any:
        import numpy as np

        shape, dtype, order = (getattr(wrapper, k, None) for k in ("shape", "dtype", "order"))
        if (not isinstance(dtype, np.dtype) or not isinstance(shape, tuple) or order not in ("C", "F")
                or not all(isinstance(d, int) and d >= 0 for d in shape)
                or getattr(wrapper, "subclass", None) is not np.ndarray):
            raise UnsafePickle(f"{self._where}: a joblib array wrapper with an unexpected shape, dtype, order "
                               f"or subclass (only {NDARRAY[0]}.{NDARRAY[1]} arrays are read)")
        frame = self._unframer.current_frame
        if frame is not None and frame.read(1):
            raise UnsafePickle(f"{self._where}: joblib array data inside a pickle frame (not joblib's layout)")
        if dtype.hasobject:
            array = _PyRestricted(self._stream, self._policy, self._where).load()
            if not isinstance(array, np.ndarray):
                raise UnsafePickle(f"{self._where}: a joblib object array that unpickles to a {type(array).__name__}")
            return array
        if getattr(wrapper, "numpy_array_alignment_bytes", None) is not None:
            padding = self._stream.read(1)
            self._read_exact(padding[0] if padding else 0)
        count = 1
        for size in shape:
            count *= size
        flat = np.frombuffer(self._read_exact(count * dtype.itemsize), dtype=dtype, count=count).copy()
        return flat.reshape(shape[::-1]).transpose() if order == "F" else flat.reshape(shape)

    def _read_exact(self, count: int) -> bytes:
        chunks, left = [], count
        while left > 0:
            chunk = self._stream.read(min(left, _READ_CHUNK))
            if not chunk:
                raise UnsafePickle(f"{self._where}: truncated joblib file (array data runs past the end)")
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)


def safe_joblib_loads(data: bytes, policy: GlobalPolicy, where: str) -> Any:
    """Load a joblib file (plain or compressed) resolving only the globals ``policy`` allows."""
    stream = open_joblib(data, where)
    try:
        value = _JoblibUnpickler(stream, policy, where).load()
    except UnsafePickle:
        raise
    except Exception as exc:
        raise UnsafePickle(f"{where}: cannot be loaded as joblib: {type(exc).__name__}: {exc}") from None
    left = len(stream.getbuffer()) - stream.tell() if isinstance(stream, io.BytesIO) else 0
    if left:
        raise UnsafePickle(f"{where}: {left} bytes follow the joblib pickle's STOP opcode")
    return value


# --- skops ------------------------------------------------------------------------------------------


def skops_pair(type_name: str) -> Pair:
    """skops names a type ``module.name``; the name is the part after the last dot (skops never walks dots)."""
    module, _, name = str(type_name).rpartition(".")
    return module, name


def record_skops_types(data: bytes, policy: GlobalPolicy, where: str) -> tuple[str, ...]:
    """The types a skops file needs beyond skops' own trusted set, each vetted by ``policy``."""
    import skops.io

    try:
        types = sorted(str(t) for t in skops.io.get_untrusted_types(data=data))
    except Exception as exc:
        raise UnsafePickle(f"{where}: not a readable skops file: {exc}") from None
    for full in types:
        module, name = skops_pair(full)
        policy.check(module, name, where, recorded_only=False)
    return tuple(types)


def safe_skops_loads(data: bytes, recorded: Iterable[str], policy: GlobalPolicy, where: str) -> Any:
    """Load a skops file trusting exactly the types it needs, each recorded and vetted (never ``trusted=True``)."""
    import skops.io

    needed = record_skops_types(data, policy, where)
    missing = sorted(set(needed) - set(recorded))
    if missing:
        raise UnsafePickle(f"{where}: refuses type(s) {', '.join(missing)}: not recorded in the signed manifest")
    try:
        return skops.io.load(io.BytesIO(data), trusted=list(needed))
    except Exception as exc:
        raise UnsafePickle(f"{where}: skops refused to load it: {type(exc).__name__}: {exc}") from None


__all__ = ["WRAPPER", "record_skops_types", "safe_joblib_loads", "safe_pickle_loads", "safe_skops_loads",
           "skops_pair"]
