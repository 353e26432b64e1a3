"""Find the globals of a pickle or joblib file by reading its opcodes: nothing in it ever runs.

The scan walks ``pickletools.genops`` with a symbolic stack and memo, so a ``STACK_GLOBAL`` is
resolved only when both its operands are string constants pushed by the pickle itself; anything
built dynamically (the result of a call, an item of an unknown object) is refused instead of guessed.

joblib files are a pickle whose ``NumpyArrayWrapper`` objects are each followed, outside any pickle
frame, by raw array bytes (after a padding byte and padding, joblib >= 1.2) or, for arrays of Python
objects, by a nested pickle stream. The scan evaluates the wrapper's state (shape, dtype, alignment)
from constants only and skips exactly the bytes joblib's reader would read, or scans the nested
stream. Compressed joblib files (zlib, gzip, bz2, lzma, xz) are decompressed first, with a limit.
"""

from __future__ import annotations

import bz2
import io
import lzma
import math
import pickletools
import re
import zlib
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from modelward.artifacts.catalogue import Pair, check_syntax, load_catalogue, pair_text
from modelward.errors import UnsafePickle

WRAPPER: Pair = ("joblib.numpy_pickle", "NumpyArrayWrapper")
DTYPE: Pair = ("numpy", "dtype")
NDARRAY: Pair = ("numpy", "ndarray")
_SIMPLE_DTYPE = re.compile(r"[<>|=]?[bifcuUSVMmO?][0-9]*(\[[a-zA-Z0-9]+\])?\Z")
_CHUNK = 16 * 1024 * 1024
DEFAULT_LIMIT = 8 * 1024**3


class _Mark:
    """The MARK opcode's stack marker."""


class _Unknown:
    """A value the scan does not compute (the result of a call, a memo entry it never saw...)."""


MARK, UNKNOWN = _Mark(), _Unknown()


@dataclass
class _Global:
    pair: Pair


@dataclass
class _Instance:
    """``cls(*args)`` or ``cls.__new__(cls, *args)`` of a global, with the state BUILD gave it."""

    cls: Pair
    args: Any
    state: Any = UNKNOWN


@dataclass
class _Const:
    value: Any


@dataclass
class _Tuple:
    """A tuple with some items the scan does not know as constants (dtype objects, globals...)."""

    items: tuple[Any, ...]


def _plain(value: Any) -> Any:
    """A symbolic value with constants, tuples and dicts unwrapped (instances and globals stay symbolic)."""
    if isinstance(value, _Tuple):
        return tuple(_plain(v) for v in value.items)
    if isinstance(value, _Const):
        value = value.value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_plain(v) for v in value)
    return value


@dataclass
class _Scan:
    where: str
    found: dict[Pair, None] = field(default_factory=dict)  # in order of appearance
    rebuild_only: frozenset[Pair] = field(default_factory=lambda: load_catalogue().rebuild_only)


# --- the symbolic evaluator ----------------------------------------------------------------------

_STRINGS = {"SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8", "SHORT_BINSTRING", "BINSTRING", "STRING"}
_CONSTS = _STRINGS | {"INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "FLOAT", "BINFLOAT",
                      "SHORT_BINBYTES", "BINBYTES", "BINBYTES8", "NONE", "NEWTRUE", "NEWFALSE"}
_REFUSED = {"EXT1": "the copyreg extension registry", "EXT2": "the copyreg extension registry",
            "EXT4": "the copyreg extension registry", "PERSID": "persistent ids", "BINPERSID": "persistent ids"}


class _Machine:
    """One pickle stream's stack and memo, evaluated symbolically."""

    def __init__(self, scan: _Scan) -> None:
        self.scan = scan
        self.stack: list[Any] = []
        self.memo: dict[int, Any] = {}

    def step(self, name: str, arg: Any, opcode: Any) -> Any:
        """Apply one opcode; returns the object a BUILD applied to (else None)."""
        if name in _REFUSED:
            raise UnsafePickle(f"{self.scan.where}: uses {_REFUSED[name]} (opcode {name}), which modelward refuses")
        if name in _CONSTS:
            self.stack.append(_Const(True if name == "NEWTRUE" else False if name == "NEWFALSE" else arg))
        elif name in {"GLOBAL", "INST"}:
            module, _, qualname = str(arg).partition(" ")
            self._found(module, qualname)
            if name == "INST":
                self._refuse_call(_Global((module, qualname)))
                self._pop_mark()
            self.stack.append(_Global((module, qualname)) if name == "GLOBAL" else UNKNOWN)
        elif name == "STACK_GLOBAL":
            self._stack_global()
        elif name in {"MEMOIZE", "PUT", "BINPUT", "LONG_BINPUT"}:
            self.memo[len(self.memo) if name == "MEMOIZE" else int(arg)] = self._top()
        elif name in {"GET", "BINGET", "LONG_BINGET"}:
            self.stack.append(self.memo.get(int(arg), UNKNOWN))
        elif name == "DUP":
            self.stack.append(self._top())
        elif name in {"TUPLE", "TUPLE1", "TUPLE2", "TUPLE3", "EMPTY_TUPLE"}:
            self._tuple(name)
        elif name in {"EMPTY_LIST", "EMPTY_DICT", "LIST", "DICT"}:
            items = self._pop_mark() if name in {"LIST", "DICT"} else []
            value: Any = list(items) if name.endswith("LIST") else {}
            if name == "DICT":
                value = self._dict(items)
            self.stack.append(_Const(value) if value is not None else UNKNOWN)
        elif name in {"APPEND", "APPENDS", "SETITEM", "SETITEMS"}:
            self._fill(name)
        elif name in {"REDUCE", "NEWOBJ"}:
            args, callee = self._pop(), self._pop()
            if name == "REDUCE":
                self._refuse_call(callee)
            self.stack.append(_Instance(callee.pair, args) if isinstance(callee, _Global) else UNKNOWN)
        elif name == "OBJ":
            items = self._pop_mark()
            if items:
                self._refuse_call(items[0])
            self.stack.append(UNKNOWN)
        elif name == "BUILD":
            state, target = self._pop(), self._top()
            if isinstance(target, _Instance):
                target.state = state
            return target
        else:
            self._generic(opcode)
        return None

    def _refuse_call(self, callee: Any) -> None:
        """A rebuild-only class (catalogue) may be rebuilt by NEWOBJ, never called with arguments."""
        if isinstance(callee, _Global) and callee.pair in self.scan.rebuild_only:
            raise UnsafePickle(f"{self.scan.where}: refuses to call global '{pair_text(callee.pair)}': the catalogue "
                               "lets a pickle rebuild it from its state, never call it with arguments (its "
                               "constructor does more than store data)")

    def _found(self, module: str, qualname: str) -> None:
        check_syntax(module, qualname, self.scan.where)
        self.scan.found.setdefault((module, qualname))

    def _stack_global(self) -> None:
        name, module = self._pop(), self._pop()
        if not (isinstance(module, _Const) and isinstance(module.value, str)
                and isinstance(name, _Const) and isinstance(name.value, str)):
            raise UnsafePickle(f"{self.scan.where}: a STACK_GLOBAL whose module and name are not string constants "
                               "of the pickle (built dynamically); it cannot be checked statically")
        self._found(module.value, name.value)
        self.stack.append(_Global((module.value, name.value)))

    def _tuple(self, name: str) -> None:
        count = {"EMPTY_TUPLE": 0, "TUPLE1": 1, "TUPLE2": 2, "TUPLE3": 3}.get(name)
        items = self._pop_mark() if count is None else [self._pop() for _ in range(count)][::-1]
        known = all(isinstance(i, _Const) for i in items)
        self.stack.append(_Const(tuple(i.value for i in items)) if known else _Tuple(tuple(items)))

    @staticmethod
    def _dict(items: list[Any]) -> dict[Any, Any] | None:
        pairs = list(zip(items[::2], items[1::2], strict=False))
        if not all(isinstance(k, _Const) and isinstance(k.value, str) for k, _ in pairs):
            return None
        return {k.value: v for k, v in pairs}

    def _fill(self, name: str) -> None:
        if name.endswith("S"):
            items = self._pop_mark()
        else:
            items = [self._pop() for _ in range(2 if name == "SETITEM" else 1)][::-1]
        target = self._top()
        if not isinstance(target, _Const):
            return
        if isinstance(target.value, list) and name.startswith("APPEND"):
            target.value.extend(items)
        elif isinstance(target.value, dict) and name.startswith("SETITEM"):
            entries = self._dict(items)
            if entries is None:
                self.stack[-1] = UNKNOWN
            else:
                target.value.update(entries)

    def _generic(self, opcode: Any) -> None:
        before = opcode.stack_before
        if pickletools.markobject in before:
            self._pop_mark()
            for _ in range(before.index(pickletools.markobject)):
                self._pop()
        else:
            for _ in range(len(before)):
                self._pop()
        for kind in opcode.stack_after:
            self.stack.append(MARK if kind is pickletools.markobject else UNKNOWN)

    def _pop(self) -> Any:
        if not self.stack or self.stack[-1] is MARK:
            raise UnsafePickle(f"{self.scan.where}: malformed pickle (stack underflow)")
        return self.stack.pop()

    def _top(self) -> Any:
        if not self.stack:
            raise UnsafePickle(f"{self.scan.where}: malformed pickle (empty stack)")
        return self.stack[-1]

    def _pop_mark(self) -> list[Any]:
        if MARK not in self.stack:
            raise UnsafePickle(f"{self.scan.where}: malformed pickle (no MARK)")
        index = len(self.stack) - 1 - self.stack[::-1].index(MARK)
        items = self.stack[index + 1:]
        del self.stack[index:]
        return items


# --- reading streams -----------------------------------------------------------------------------


class _Reader:
    """A byte stream with a position, for genops and for skipping joblib's raw array bytes."""

    def __init__(self, data: bytes) -> None:
        self._buffer = io.BytesIO(data)
        self.size = len(data)

    def read(self, count: int = -1) -> bytes:
        return self._buffer.read(count)

    def readline(self) -> bytes:
        return self._buffer.readline()

    def tell(self) -> int:
        return self._buffer.tell()

    def skip(self, count: int, where: str) -> None:
        if count < 0 or self.tell() + count > self.size:
            raise UnsafePickle(f"{where}: truncated joblib file (array data runs past the end)")
        self._buffer.seek(count, io.SEEK_CUR)


def _scan_stream(reader: _Reader, scan: _Scan, joblib: bool) -> None:
    machine = _Machine(scan)
    frame_end = -1
    try:
        for opcode, arg, pos in pickletools.genops(reader):  # type: ignore[arg-type]
            if opcode.name == "FRAME":
                frame_end = int(pos or 0) + 9 + int(arg or 0)
            built = machine.step(opcode.name, arg, opcode)
            if joblib and isinstance(built, _Instance) and built.cls == WRAPPER:
                if reader.tell() < frame_end:
                    raise UnsafePickle(f"{scan.where}: joblib array data inside a pickle frame (not joblib's layout)")
                _skip_array(built, reader, scan)
                machine.stack[-1] = UNKNOWN
    except (ValueError, EOFError) as exc:
        raise UnsafePickle(f"{scan.where}: not a readable pickle: {exc}") from None


def _skip_array(wrapper: _Instance, reader: _Reader, scan: _Scan) -> None:
    """Skip the bytes joblib's ``NumpyArrayWrapper.read_array`` reads, or scan its nested pickle."""
    state = wrapper.state.value if isinstance(wrapper.state, _Const) else None
    if not isinstance(state, dict):
        raise UnsafePickle(f"{scan.where}: a joblib array whose wrapper state cannot be read statically")
    keys = ("shape", "dtype", "numpy_array_alignment_bytes")
    shape, dtype, alignment = (_const(state.get(k), scan.where, k) for k in keys)
    subclass = state.get("subclass")
    if not (isinstance(subclass, _Global) and subclass.pair == NDARRAY):
        raise UnsafePickle(f"{scan.where}: a joblib array of a subclass other than numpy.ndarray")
    if not isinstance(shape, tuple) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise UnsafePickle(f"{scan.where}: a joblib array whose shape is not a tuple of sizes")
    itemsize, has_object = _dtype_size(dtype, scan.where)
    if has_object:
        _scan_stream(reader, scan, joblib=False)
        return
    if alignment is not None:
        padding = reader.read(1)
        if len(padding) != 1:
            raise UnsafePickle(f"{scan.where}: truncated joblib file (padding byte missing)")
        reader.skip(padding[0], scan.where)
    reader.skip(math.prod(shape) * itemsize, scan.where)


def _const(value: Any, where: str, key: str) -> Any:
    if isinstance(value, _Const):
        return value.value
    if value is None and key == "numpy_array_alignment_bytes":
        return None  # written by joblib <= 1.1: no padding
    if isinstance(value, _Instance):
        return value
    raise UnsafePickle(f"{where}: a joblib array whose {key} cannot be read statically")


def _dtype_size(dtype: Any, where: str) -> tuple[int, bool]:
    """Itemsize and "holds objects" of a dtype pickled as numpy.dtype(str, False, True) + BUILD(state).

    state = (version, byte order, subarray, names, fields, elsize, alignment, flags[, metadata]);
    structured and sub-array dtypes carry their itemsize in ``elsize`` and their parts' dtypes.
    """
    import numpy as np

    args = _plain(dtype.args) if isinstance(dtype, _Instance) and dtype.cls == DTYPE else None
    state = _plain(dtype.state) if isinstance(dtype, _Instance) else None
    if not (isinstance(args, tuple) and args and isinstance(args[0], str) and _SIMPLE_DTYPE.match(args[0])
            and isinstance(state, tuple) and len(state) >= 8):
        raise UnsafePickle(f"{where}: a joblib array whose dtype cannot be read statically")
    base = np.dtype(args[0])
    elsize, subarray, fields = state[5], state[2], state[4]
    itemsize = elsize if isinstance(elsize, int) and elsize > 0 else base.itemsize
    parts: list[Any] = []
    if subarray is not None:
        parts.append(subarray[0] if isinstance(subarray, tuple) and subarray else None)
    if fields is not None:
        if not isinstance(fields, dict):
            raise UnsafePickle(f"{where}: a joblib array whose structured dtype cannot be read statically")
        parts.extend(f[0] if isinstance(f, tuple) and f else None for f in fields.values())
    has_object = base.hasobject or any(_dtype_size(part, where)[1] for part in parts)
    return itemsize, has_object


# --- public --------------------------------------------------------------------------------------


def scan_pickle(data: bytes, where: str) -> tuple[Pair, ...]:
    """Every (module, qualname) a plain pickle imports, in order of appearance; bytes after STOP are refused."""
    scan, reader = _Scan(where), _Reader(data)
    _scan_stream(reader, scan, joblib=False)
    if reader.tell() != reader.size:
        raise UnsafePickle(f"{where}: {reader.size - reader.tell()} bytes follow the pickle's STOP opcode")
    return tuple(scan.found)


def scan_joblib(data: bytes, where: str, limit: int = DEFAULT_LIMIT) -> tuple[Pair, ...]:
    """Every (module, qualname) a joblib file imports, skipping its array bytes as joblib reads them."""
    scan, reader = _Scan(where), _Reader(joblib_bytes(data, where, limit))
    _scan_stream(reader, scan, joblib=True)
    if reader.tell() != reader.size:
        raise UnsafePickle(f"{where}: {reader.size - reader.tell()} bytes follow the joblib pickle's STOP opcode")
    return tuple(scan.found)


_PREFIXES = (  # joblib's compressors, by the magic bytes their files start with
    (b"ZF", None), (b"\x04\x22\x4d\x18", None),
    (b"\x1f\x8b", "gzip"), (b"BZh", "bz2"), (b"\xfd7zXZ", "xz"), (b"]\x00\x00", "lzma"), (b"\x78", "zlib"),
)


def joblib_bytes(data: bytes, where: str, limit: int = DEFAULT_LIMIT) -> bytes:
    """The pickle bytes of a joblib file: itself, or decompressed (at most ``limit`` bytes)."""
    for prefix, method in _PREFIXES:
        if data.startswith(prefix):
            if method is None:
                raise UnsafePickle(f"{where}: a joblib format modelward does not read (written by joblib < 0.10, "
                                   "or lz4-compressed)")
            return _decompress(data, method, where, limit)
    return data


def _decompress(data: bytes, method: str, where: str, limit: int) -> bytes:
    decompressor: Any
    if method in {"gzip", "zlib"}:
        decompressor = zlib.decompressobj(31 if method == "gzip" else zlib.MAX_WBITS)
    elif method == "bz2":
        decompressor = bz2.BZ2Decompressor()
    else:
        decompressor = lzma.LZMADecompressor(lzma.FORMAT_XZ if method == "xz" else lzma.FORMAT_ALONE)
    out, pending = io.BytesIO(), data
    try:
        while True:
            chunk = decompressor.decompress(pending, _CHUNK)
            out.write(chunk)
            if out.tell() > limit:
                raise UnsafePickle(f"{where}: expands to more than {limit} bytes")
            pending = decompressor.unconsumed_tail if method in {"gzip", "zlib"} else b""
            if _finished(decompressor, method, pending, chunk):
                break
    except (zlib.error, OSError, lzma.LZMAError, EOFError) as exc:
        raise UnsafePickle(f"{where}: a corrupt {method}-compressed joblib file ({exc})") from None
    return out.getvalue()


def _finished(decompressor: Any, method: str, pending: bytes, chunk: bytes) -> bool:
    if method in {"gzip", "zlib"}:
        if decompressor.eof:
            return True
        if not pending and not chunk:
            raise EOFError("truncated stream")
        return False
    if decompressor.eof:
        return True
    if decompressor.needs_input and not chunk:
        raise EOFError("truncated stream")
    return False


def looks_like_joblib(data: bytes) -> bool:
    """A file named like a pickle that joblib wrote (compressed, or with numpy arrays inline)."""
    compressed = any(data.startswith(prefix) for prefix, method in _PREFIXES if method is not None)
    return compressed or (b"NumpyArrayWrapper" in data and b"joblib.numpy_pickle" in data)


def open_joblib(data: bytes, where: str, limit: int = DEFAULT_LIMIT) -> BinaryIO:
    """A stream of a joblib file's pickle bytes (decompressed), for the restricted loader."""
    return io.BytesIO(joblib_bytes(data, where, limit))
