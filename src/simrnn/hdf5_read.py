"""The one place that reads untrusted HDF5 files: links, dtypes and declared sizes checked before reading.

An HDF5 file can declare far more than it holds: a never-written chunked dataset of shape
``(10**9, 5)`` costs a few KB on disk and 20 GB when read (the missing chunks read as fill
values, i.e. silently invented data). Before any dataset is read, :func:`read_dataset` checks

* the link: a dangling soft link, an external link (data in another file) or a dataset with
  external or virtual storage is refused with a sentence naming it;
* the dtype: only real numbers (float, integer, bool); complex, string, compound/opaque and
  reference types are refused;
* the declared size against the bytes actually stored (no stored data, chunks missing in an
  uncompressed dataset, an implausible compression ratio) and against a memory cap;

and after reading, that values are finite and (optionally) of plausible magnitude, naming the
dataset and the index of the first offender. Errors h5py raises for damaged files (corrupt
interior bytes) become one sentence too, through :func:`hdf5_errors`.

Example::

    with open_hdf5(path) as f, hdf5_errors(path):
        inputs = read_dataset(f, "0.2e6/drained/inputs", path, ndim=3, max_abs=1e15)
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np

from simrnn.errors import UserInputError

#: ``gzip`` cannot compress by more than ~1030:1; a larger ratio means chunks were never written.
MAX_COMPRESSION_RATIO = 1100
#: largest attribute list of names accepted.
MAX_NAMES = 100_000


def max_read_bytes() -> int:
    """The most bytes one dataset may need in memory: a quarter of the physical memory."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 4
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 4 << 30


def open_hdf5(path: str | os.PathLike) -> h5py.File:
    """Open ``path`` read-only; :class:`UserInputError` if it is missing or not an HDF5 file."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"{path}: file not found." if not path.exists() else f"{path}: not a file.")
    try:
        return h5py.File(path, "r")
    except (OSError, RuntimeError, ValueError) as exc:
        raise UserInputError(f"{path}: not a readable HDF5 file ({_short(exc)}).") from None


@contextlib.contextmanager
def hdf5_errors(path: str | os.PathLike) -> Iterator[None]:
    """Turn the errors h5py raises on damaged files into one :class:`UserInputError` naming ``path``."""
    try:
        yield
    except (OSError, RuntimeError, KeyError, TypeError) as exc:
        raise UserInputError(f"{path}: damaged or unreadable HDF5 content ({_short(exc)}).") from None


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def resolve(group: h5py.Group, name: str, path: str | os.PathLike) -> h5py.Group | h5py.Dataset | None:
    """The object ``group[name]`` (None if there is no such link), refusing external and dangling links."""
    where = f"{group.name.rstrip('/')}/{name}".lstrip("/")
    try:
        link = group.get(name, getlink=True)
    except (KeyError, ValueError):
        link = None
    if link is None:
        return None
    if isinstance(link, h5py.ExternalLink):
        raise UserInputError(
            f"{path}: '{where}' is an external link to {link.filename}:{link.path}; only data stored in "
            "the file itself is read."
        )
    if isinstance(link, h5py.SoftLink) and link.path not in group.file:
        raise UserInputError(f"{path}: '{where}' is a link to '{link.path}', which does not exist.")
    try:
        return group[name]
    except (KeyError, OSError, RuntimeError) as exc:
        raise UserInputError(f"{path}: '{where}' is damaged and cannot be opened ({_short(exc)}).") from None


def check_dataset(dset: h5py.Dataset, path: str | os.PathLike, *, whole: bool = True) -> None:
    """Refuse a dataset whose dtype is not real numbers or whose declared size is implausible.

    ``whole=False`` is for datasets read in parts (e.g. one time step at a time): the memory cap
    does not apply, the stored-size checks do.
    """
    where = dset.name.lstrip("/")
    kind = dset.dtype.kind
    problem = {
        "c": "complex numbers", "S": "strings", "U": "strings", "O": "strings or references",
        "V": "a compound or opaque type",
    }.get(kind)
    if problem is not None or kind not in "fiub":
        raise UserInputError(f"{path}: dataset '{where}' holds {problem or dset.dtype}; expected real numbers.")
    if dset.is_virtual or dset.external:
        raise UserInputError(f"{path}: dataset '{where}' stores its data outside the file; only data in the file is read.")
    declared = int(dset.size) * dset.dtype.itemsize
    if declared == 0:
        return
    stored = int(dset.id.get_storage_size())
    filtered = dset.id.get_create_plist().get_nfilters() > 0
    layout = dset.id.get_create_plist().get_layout()
    if layout != h5py.h5d.COMPACT:
        if stored == 0:
            raise UserInputError(
                f"{path}: dataset '{where}' declares shape {dset.shape} but none of its data was ever written."
            )
        if (not filtered and stored < declared) or stored * MAX_COMPRESSION_RATIO < declared:
            raise UserInputError(
                f"{path}: dataset '{where}' declares shape {dset.shape} ({declared} bytes) but stores only "
                f"{stored} bytes; parts of it were never written."
            )
    if whole and declared > max_read_bytes():
        raise UserInputError(
            f"{path}: dataset '{where}' of shape {dset.shape} needs {declared / 2**30:.1f} GiB, more than a quarter "
            "of this machine's memory."
        )


def read_dataset(
    group: h5py.Group,
    name: str,
    path: str | os.PathLike,
    *,
    ndim: int | None = None,
    max_abs: float | None = None,
    dtype: type = np.float32,
) -> np.ndarray:
    """Read ``group[name]`` as ``dtype`` after :func:`check_dataset`; values must be finite.

    ``ndim`` is the expected number of dimensions; ``max_abs`` refuses values of larger magnitude
    (checked before the conversion, so 1e300 is not silently turned into inf). Raises
    :class:`UserInputError` naming the dataset (and the index of the first bad value).
    """
    where = f"{group.name.rstrip('/')}/{name}".lstrip("/")
    dset = resolve(group, name, path)
    if dset is None:
        raise UserInputError(f"{path}: dataset '{where}' not found.")
    if not isinstance(dset, h5py.Dataset):
        raise UserInputError(f"{path}: '{where}' is a group, expected a dataset.")
    if ndim is not None and dset.ndim != ndim:
        raise UserInputError(f"{path}: dataset '{where}' has shape {dset.shape}, expected {ndim} dimensions.")
    check_dataset(dset, path)
    with hdf5_errors(path):
        data = dset[()]
    data = np.asarray(data)
    if data.dtype.kind == "f":
        bad = ~np.isfinite(data)
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            raise UserInputError(
                f"{path}: dataset '{where}' holds {int(bad.sum())} NaN/inf values (first at index {first})."
            )
    if max_abs is not None and data.size:
        magnitude = np.abs(data.astype(np.float64, copy=False))
        if magnitude.max() > max_abs:
            first = tuple(int(i) for i in np.argwhere(magnitude > max_abs)[0])
            raise UserInputError(
                f"{path}: dataset '{where}' holds {float(data[first]):.3g} at index {first}, beyond the "
                f"plausible magnitude {max_abs:g}."
            )
    if dtype is not None and data.dtype != dtype:
        if np.dtype(dtype).kind == "f" and data.size and np.abs(data.astype(np.float64, copy=False)).max() > np.finfo(dtype).max:
            raise UserInputError(f"{path}: dataset '{where}' holds values beyond the range of {np.dtype(dtype)}.")
        data = data.astype(dtype)
    return data


def read_names(obj: h5py.Group, key: str, path: str | os.PathLike) -> list[str] | None:
    """The attribute ``key`` of ``obj`` as a list of strings (None if absent); one sentence if it is not."""
    where = "root attribute" if obj.name == "/" else f"attribute of '{obj.name.lstrip('/')}'"
    with hdf5_errors(path):
        if key not in obj.attrs:
            return None
        try:
            value = obj.attrs[key]
        except (OSError, TypeError, ValueError) as exc:
            raise UserInputError(f"{path}: {where} '{key}' cannot be read ({_short(exc)}).") from None
    values = np.atleast_1d(np.asarray(value, dtype=object)).ravel()
    if len(values) > MAX_NAMES or not all(isinstance(v, (str, bytes)) for v in values):
        raise UserInputError(f"{path}: {where} '{key}' must be a list of names (strings).")
    try:
        return [v.decode("utf-8") if isinstance(v, bytes) else v for v in values]
    except UnicodeDecodeError:
        raise UserInputError(f"{path}: {where} '{key}' holds names that are not UTF-8 text.") from None
