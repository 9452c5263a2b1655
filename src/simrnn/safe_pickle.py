"""The one reader of untrusted pickles and pickled ``.npy`` files (YADE simulations, GrainLearning stats).

A pickle is a program; this module runs only the part of it that rebuilds plain data:

* containers and scalars built by the pickle opcodes themselves (dict, list, tuple, str, bytes,
  int, float, bool, None) — no builtin is callable from the pickle except ``set``/``frozenset`` of
  an already built list, ``complex(real, imag)``, ``bytes``/``bytearray`` of an already built
  string (protocol-2 pickles) and ``_codecs.encode(text, "latin1")``;
* NumPy arrays, dtypes and scalars through NumPy's own reconstruction functions, each wrapped so
  that the size an array claims must equal the bytes (or objects) the pickle actually carries:
  nothing can allocate more memory than the file holds (``bytes(10**15)``, an array "of shape
  (10**12,)" with 8 bytes of data and a huge ``LONG4``/memo index are all refused).

It uses the pure-Python unpickler on an in-memory copy of the file (a size-capped read), so an
opcode's declared length can never make a read allocate more than the file, and the memo is a
dict, not an array sized by an attacker-chosen index. Anything else raises
:class:`~simrnn.errors.UserInputError` naming the file.

Example::

    stats = load_pickled_object("train_stats.npy")   # np.save(path, {...}) -> {...}
"""

from __future__ import annotations

import _compat_pickle
import io
import math
import os
import pickle
from pathlib import Path
from struct import error as struct_error
from typing import Any

import numpy as np
from numpy.lib import format as npy_format

from simrnn.errors import UserInputError

#: largest pickle read (bytes); simulation and statistics pickles are KB to MB.
MAX_PICKLE_BYTES = 1 << 30
#: deepest nesting of containers accepted (real files nest 2-3 levels).
MAX_DEPTH = 32

_NDARRAY = object()  # stands for numpy.ndarray: only usable as _reconstruct's first argument


def _multiarray():
    try:
        import numpy._core.multiarray as multiarray
    except ImportError:  # pragma: no cover - NumPy < 1.26
        import numpy.core.multiarray as multiarray
    return multiarray


def _n_elements(shape: Any) -> int:
    if not isinstance(shape, tuple) or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise pickle.UnpicklingError(f"array shape {shape!r} is not a tuple of non-negative integers")
    return math.prod(shape)


def _as_bytes(data: Any) -> bytes:
    if isinstance(data, str):  # protocol-2 pickles decoded with encoding="latin1"
        return data.encode("latin1")
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    raise pickle.UnpicklingError(f"array data of type {type(data).__name__} where bytes were expected")


def _reconstruct(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
    if subtype is not _NDARRAY or shape != (0,):
        raise pickle.UnpicklingError("only numpy.ndarray reconstruction with shape (0,) is allowed")
    return _multiarray()._reconstruct(np.ndarray, (0,), b"b")


def _dtype(spec: Any, align: Any = False, copy: Any = True) -> np.dtype:
    if not isinstance(spec, str) or not isinstance(align, bool) or not isinstance(copy, bool):
        raise pickle.UnpicklingError(f"dtype {spec!r} is not a plain type name")
    return np.dtype(spec, align, copy)


def _scalar(dtype: Any, data: Any = None) -> Any:
    if not isinstance(dtype, np.dtype):
        raise pickle.UnpicklingError("numpy scalar without a dtype")
    if dtype.hasobject:
        return _multiarray().scalar(dtype, data)
    raw = _as_bytes(data)
    if len(raw) != dtype.itemsize:
        raise pickle.UnpicklingError(f"numpy scalar of {dtype} carries {len(raw)} bytes, expected {dtype.itemsize}")
    return _multiarray().scalar(dtype, raw)


def _frombuffer(buffer: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    raw = _as_bytes(buffer)
    if not isinstance(dtype, np.dtype) or dtype.hasobject or _n_elements(shape) * dtype.itemsize != len(raw):
        raise pickle.UnpicklingError("numpy buffer whose size does not match its shape and dtype")
    if order not in ("C", "F"):
        raise pickle.UnpicklingError(f"array order {order!r} is not 'C' or 'F'")
    return np.frombuffer(raw, dtype=dtype).reshape(shape, order=order).copy()


def _encode(text: Any, encoding: Any = "utf-8") -> bytes:
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("_codecs.encode is allowed only for latin1 text")
    return text.encode("latin1")


def _bytes_of(kind: type):
    def build(*args: Any) -> Any:
        if not args:
            return kind()
        if len(args) <= 2 and isinstance(args[0], str) and all(isinstance(a, str) for a in args[1:]):
            return kind(_encode(args[0], *args[1:]))
        if len(args) == 1 and isinstance(args[0], (bytes, bytearray)):
            return kind(args[0])
        raise pickle.UnpicklingError(f"{kind.__name__}() is allowed only of an already built string")

    return build


def _set_of(kind: type):
    def build(items: Any = ()) -> Any:
        if not isinstance(items, (list, tuple)):
            raise pickle.UnpicklingError(f"{kind.__name__}() is allowed only of an already built list")
        return kind(items)

    return build


def _complex(real: Any = 0.0, imag: Any = 0.0) -> complex:
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (real, imag)):
        raise pickle.UnpicklingError("complex() is allowed only of two numbers")
    return complex(real, imag)


_NUMPY = {"_reconstruct": _reconstruct, "scalar": _scalar}
ALLOWED = {
    **{(f"{prefix}.multiarray", name): f for prefix in ("numpy.core", "numpy._core") for name, f in _NUMPY.items()},
    **{(f"{prefix}.numeric", "_frombuffer"): _frombuffer for prefix in ("numpy.core", "numpy._core")},
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _dtype,
    ("_codecs", "encode"): _encode,
    ("builtins", "bytes"): _bytes_of(bytes),
    ("builtins", "bytearray"): _bytes_of(bytearray),
    ("builtins", "set"): _set_of(set),
    ("builtins", "frozenset"): _set_of(frozenset),
    ("builtins", "complex"): _complex,
}
"""``(module, name)`` -> the guarded object a pickle gets for that global; nothing else resolves."""


class RestrictedUnpickler(pickle._Unpickler):
    """Pure-Python unpickler resolving only :data:`ALLOWED` and checking every ``BUILD`` of an array."""

    def find_class(self, module: str, name: str) -> Any:
        if self.proto < 3 and (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif self.proto < 3:
            module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        if (module, name) not in ALLOWED:
            raise pickle.UnpicklingError(f"global '{module}.{name}' is not allowed")
        return ALLOWED[(module, name)]

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("persistent ids are not allowed")

    def load_build(self) -> None:
        state = self.stack.pop()
        inst = self.stack[-1]
        if isinstance(inst, np.ndarray):
            _check_array_state(state)
            inst.__setstate__(state)
        elif isinstance(inst, np.dtype) and isinstance(state, tuple):
            inst.__setstate__(state)
        else:
            raise pickle.UnpicklingError(f"setting the state of a {type(inst).__name__} is not allowed")

    dispatch = dict(pickle._Unpickler.dispatch)
    dispatch[pickle.BUILD[0]] = load_build


def _check_array_state(state: Any) -> None:
    """``ndarray.__setstate__``'s ``(version, shape, dtype, fortran, data)`` must carry all its data."""
    if not isinstance(state, tuple) or len(state) not in (4, 5):
        raise pickle.UnpicklingError("malformed array state")
    shape, dtype, data = state[-4], state[-3], state[-1]
    n = _n_elements(shape)
    if not isinstance(dtype, np.dtype):
        raise pickle.UnpicklingError("array state without a dtype")
    if dtype.hasobject:
        if not isinstance(data, list) or len(data) != n:
            raise pickle.UnpicklingError(f"object array of {n} elements carries {len(data) if isinstance(data, list) else 'no'} items")
    elif len(_as_bytes(data)) != n * dtype.itemsize:
        raise pickle.UnpicklingError(f"array of {n} x {dtype} carries {len(_as_bytes(data))} bytes")


def _check_depth(obj: Any) -> None:
    stack = [(obj, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise pickle.UnpicklingError(f"containers nested deeper than {MAX_DEPTH} levels")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack.extend((v, depth + 1) for v in item)
        elif isinstance(item, np.ndarray) and item.dtype.hasobject:
            stack.extend((v, depth + 1) for v in item.ravel())


_HEADER_READERS = {(1, 0): npy_format.read_array_header_1_0, (2, 0): npy_format.read_array_header_2_0}


def _read_capped(path: Path, max_bytes: int) -> bytes:
    size = path.stat().st_size
    if size > max_bytes:
        raise UserInputError(f"{path}: {size} bytes is larger than the {max_bytes} accepted for a pickled file.")
    with open(path, "rb") as handle:
        return handle.read(max_bytes + 1)[:max_bytes]


def load_pickled_object(path: str | os.PathLike, *, max_bytes: int = MAX_PICKLE_BYTES) -> Any:
    """The object of an ``.npy`` file holding a pickle (an object array) or of a bare pickle file.

    A 0-d object array is unwrapped to its item (``np.save(path, {...})`` gives the dict back).

    Raises:
        UserInputError: missing/unreadable file, a plain numeric ``.npy``, or a pickle that uses
            anything outside :data:`ALLOWED` or claims more data than it carries.
    """
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"{path}: file not found." if not path.exists() else f"{path}: not a regular file.")
    handle = io.BytesIO(_read_capped(path, max_bytes))
    try:
        if handle.read(6) == npy_format.MAGIC_PREFIX:
            handle.seek(0)
            version = npy_format.read_magic(handle)
            if version not in _HEADER_READERS:
                raise ValueError(f".npy format version {version} is not supported")
            _, _, dtype = _HEADER_READERS[version](handle)
            if not dtype.hasobject:
                raise ValueError(f"it holds a plain {dtype} array, not a pickled object")
        else:
            handle.seek(0)
        obj = RestrictedUnpickler(handle, encoding="latin1").load()
        _check_depth(obj)
    except (pickle.UnpicklingError, ValueError, EOFError, TypeError, AttributeError, IndexError, KeyError,
            OverflowError, SyntaxError, MemoryError, RecursionError, UnicodeDecodeError, struct_error) as exc:
        raise UserInputError(
            f"{path}: not a safely readable pickle ({type(exc).__name__}: {exc}); only plain builtins and "
            "NumPy arrays are accepted."
        ) from None
    if isinstance(obj, np.ndarray) and obj.dtype.hasobject and obj.shape == ():
        obj = obj.item()
    return obj
