"""The gridded HDF5 cache of a LASERNet point-cloud data set: convert once, reopen instantly.

Layout (``T`` time steps on an ``X x Y x Z`` grid, C order, chunked per step):

==================  ======================  =================================================
dataset             shape, dtype            meaning
==================  ======================  =================================================
``temperature``     [T, X, Y, Z] float32    kelvin (0 where the point is missing)
``ipf``             [T, X, Y, Z, 9] float16 ``ipf_x:0..2, ipf_y:0..2, ipf_z:0..2`` in [0, 1]
``ori_inds``        [T, X, Y, Z] int32      grain orientation label (-1 where missing)
``mask``            [T, X, Y, Z] bool       True where the CSV had a point
``x``, ``y``, ``z`` [X], [Y], [Z] float64   node coordinates, metres
``steps``           [T] int64               the ``k`` of ``Alldata_withpoints_<k>.csv``
``t_min, t_max``    [T] float32             per-step temperature range over present points
``step_complete``   [T] bool                conversion flags (all True in a finished cache)
==================  ======================  =================================================

Attributes: ``format``, ``format_version``, ``simrnn_version``, ``downsample``, ``tolerance``,
``source_dir`` and ``sources`` (JSON list of ``{step, name, size_bytes, sha256}``).

Conversion writes ``<cache>.partial`` next to the target, marks each step complete as soon as it is
written, and renames the file onto the target when every step is done. Running the same conversion
again after an interruption reopens the partial file and converts only the unfinished steps.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from simrnn.config import setting
from simrnn.errors import Interrupted, UserInputError
from simrnn.fields.pointcloud import (
    FILE_PATTERN,
    Grid,
    GriddedStep,
    find_step_files,
    read_point_cloud,
    snap_to_grid,
)
from simrnn.files import (
    check_output_location,
    exclusive_lock,
    make_parents,
    remove_created,
    rename_into_place,
    sha256_file,
)
from simrnn.hdf5_read import check_dataset, hdf5_errors, open_hdf5, read_dataset, resolve

FORMAT = "simrnn.fields.cache"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class ConvertedStep:
    """What a worker hands back: the step's position, its gridded data and its source record."""

    index: int
    data: GriddedStep
    source: dict


@dataclass(frozen=True)
class ConvertSettings:
    """Options of a conversion (``simrnn fields convert``); defaults written once, here."""

    downsample: int = setting(1, "Keep every n-th node per axis (2: 930x188x94 -> 465x94x47).")
    tolerance: float = setting(0.05, "Largest distance of a point from its node, in spacings.")
    workers: int = setting(2, "Files read and gridded at the same time.")

    def validate(self, source: str = "convert") -> None:
        """One sentence naming the first impossible setting (its key in ``.key``)."""
        if not 1 <= self.downsample <= 1000:
            raise UserInputError(f"downsample {self.downsample}: expected downsample >= 1 (at most 1000).",
                                 key="downsample")
        if not 0 < self.tolerance < 0.5:  # also refuses nan
            raise UserInputError(f"tolerance {self.tolerance}: expected 0 < tolerance < 0.5 (in grid spacings).",
                                 key="tolerance")
        if not 1 <= self.workers <= 256:
            raise UserInputError(f"workers {self.workers}: expected 1 to 256 files at once.", key="workers")


def convert(
    csv_dir: str | Path,
    cache_path: str | Path,
    downsample: int = ConvertSettings.downsample,
    tolerance: float = ConvertSettings.tolerance,
    workers: int = ConvertSettings.workers,
    pattern: str = FILE_PATTERN,
    on_step: Callable[[dict], None] | None = None,
) -> Path:
    """Convert the CSVs of ``csv_dir`` into the HDF5 cache ``cache_path`` and return its path.

    ``downsample`` keeps every n-th node per axis (2 turns 930x188x94 into 465x94x47); ``workers``
    files are read and gridded at once (pyarrow additionally parses each file on all cores).
    ``on_step`` is called with each finished step's source record (for progress bars).

    The lock ``<cache>.lock`` is taken before anything is looked at, so a second conversion to
    the same target is refused instead of truncating the first one's partial file; the partial
    file is verified complete before it is renamed (never over an existing file). Ctrl-C raises
    :class:`~simrnn.errors.Interrupted` saying how many steps the partial file keeps.
    """
    cache_path = Path(cache_path)
    ConvertSettings(downsample, tolerance, workers).validate()
    files = find_step_files(csv_dir, pattern)
    partial = cache_path.with_name(cache_path.name + ".partial")
    settings = {"downsample": downsample, "tolerance": tolerance, "source_dir": str(Path(csv_dir).resolve())}
    created = make_parents(cache_path)
    try:
        with exclusive_lock(cache_path):
            check_target(cache_path)
            _convert_locked(files, partial, settings, workers, on_step)
            _verify_complete(partial, len(files))
            rename_into_place(partial, cache_path, replace=False)
    except BaseException:
        if not partial.exists():
            remove_created(created)
        raise
    return cache_path


def _convert_locked(files: list[tuple[int, Path]], partial: Path, settings: dict, workers: int,
                    on_step: Callable[[dict], None] | None) -> None:
    """Fill ``partial`` with every step not yet complete in it (the lock is held)."""
    downsample, tolerance = settings["downsample"], settings["tolerance"]
    writer = _PartialCache.reopen(partial, files, settings) if partial.exists() else None
    todo = [i for i in range(len(files)) if writer is None or not writer.complete[i]]

    def work(i: int) -> ConvertedStep:
        k, path = files[i]
        before = path.stat()
        digest = sha256_file(path)
        data = snap_to_grid(read_point_cloud(path), tolerance=tolerance, downsample=downsample)
        after = path.stat()
        if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns):
            raise UserInputError(f"{path}: changed while it was being converted; convert again once it is complete.")
        source = {"step": k, "name": path.name, "size_bytes": after.st_size, "sha256": digest}
        return ConvertedStep(i, data, source)

    reference = files[0][1] if writer is None else None
    try:
        with ThreadPoolExecutor(max_workers=min(workers, max(len(todo), 1))) as pool:
            futures = [pool.submit(work, i) for i in todo]
            try:
                for future in as_completed(futures):
                    step = future.result()
                    if writer is None:
                        writer = _PartialCache.create(partial, files, settings, step.data.grid)
                        reference = files[step.index][1]
                    elif not writer.grid.matches(step.data.grid, tolerance):
                        raise UserInputError(
                            f"grids differ between time steps: {files[step.index][1].name} has "
                            f"{step.data.grid.describe()} but {reference.name if reference else partial.name} "
                            f"has {writer.grid.describe()}."
                        )
                    writer.write(step)
                    if on_step is not None:
                        on_step(step.source)
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
            finally:
                if writer is not None:
                    writer.close()
    except UserInputError as exc:
        if writer is None or not writer.complete.any():
            raise
        raise UserInputError(
            f"{str(exc).rstrip('.')}; the {int(writer.complete.sum())} time steps converted so far are kept in "
            f"{partial.name}: fix the input and run the same command again to resume."
        ) from None
    except KeyboardInterrupt:
        done = int(writer.complete.sum()) if writer is not None else 0
        kept = (
            f"{done} of {len(files)} time steps are kept in {partial}; run the same command again to resume"
            if writer is not None else "no time step was complete, nothing was written"
        )
        raise Interrupted(kept) from None


def _verify_complete(partial: Path, n_steps: int) -> None:
    """Reopen the finished partial file and check that it is a complete cache of ``n_steps`` steps."""
    import h5py

    try:
        with h5py.File(partial, "r") as h5:
            complete = h5["step_complete"][()]
            ok = h5.attrs.get("format") == FORMAT and complete.shape == (n_steps,) and bool(complete.all())
    except (OSError, KeyError, RuntimeError):
        ok = False
    if not ok:
        raise UserInputError(f"{partial}: the finished conversion does not read back complete; delete it and convert again.")


def check_target(cache_path: str | Path) -> Path:
    """``cache_path`` as a Path, or :class:`UserInputError` if it already exists (never overwritten)."""
    cache_path = Path(cache_path)
    if cache_path.exists() or cache_path.is_symlink():
        raise UserInputError(f"{cache_path}: already exists; choose another output name or delete it first.")
    check_output_location(cache_path)
    return cache_path


class _PartialCache:
    """The cache under construction (``<cache>.partial``): datasets, per-step flags, source records."""

    def __init__(self, h5, path: Path) -> None:
        self.h5 = h5
        self.path = path
        self.grid = Grid(h5["x"][()], h5["y"][()], h5["z"][()])
        self.complete = h5["step_complete"][()]
        self.sources = json.loads(h5.attrs["sources"])

    @classmethod
    def create(cls, path: Path, files: list[tuple[int, Path]], settings: dict, grid: Grid) -> _PartialCache:
        from simrnn import __version__

        n = len(files)
        shape = (n, *grid.shape)
        chunks = (1, min(grid.shape[0], 64), min(grid.shape[1], 16), min(grid.shape[2], 16))
        h5 = h5py.File(path, "w-")  # never truncates: the lock is held and the file is new
        h5.create_dataset("temperature", shape=shape, dtype="f4", chunks=chunks)
        h5.create_dataset("ipf", shape=(*shape, 9), dtype="f2", chunks=(*chunks, 9))
        h5.create_dataset("ori_inds", shape=shape, dtype="i4", chunks=chunks)
        h5.create_dataset("mask", shape=shape, dtype=bool, chunks=chunks)
        for name, axis in zip("xyz", (grid.x, grid.y, grid.z), strict=True):
            h5.create_dataset(name, data=np.asarray(axis, dtype=np.float64))
        h5.create_dataset("steps", data=np.array([k for k, _ in files], dtype=np.int64))
        h5.create_dataset("t_min", data=np.zeros(n, np.float32))
        h5.create_dataset("t_max", data=np.zeros(n, np.float32))
        h5.create_dataset("step_complete", data=np.zeros(n, dtype=bool))
        h5.attrs.update({"format": FORMAT, "format_version": FORMAT_VERSION, "simrnn_version": __version__})
        h5.attrs.update(settings)
        h5.attrs["sources"] = json.dumps([{"step": k, "name": p.name} for k, p in files])
        return cls(h5, path)

    @classmethod
    def reopen(cls, path: Path, files: list[tuple[int, Path]], settings: dict) -> _PartialCache:
        try:
            h5 = h5py.File(path, "r+")
            recorded = json.loads(h5.attrs.get("sources", "[]"))
            complete = h5["step_complete"][()]
        except (OSError, KeyError, RuntimeError, ValueError, TypeError):
            raise UserInputError(
                f"{path}: unreadable interrupted conversion; delete it and convert again."
            ) from None
        same = [(r.get("step"), r.get("name")) for r in recorded] == [(k, p.name) for k, p in files]
        same &= all(h5.attrs.get(key) == value for key, value in settings.items())
        if not same:
            h5.close()
            raise UserInputError(
                f"{path}: an interrupted conversion of different files or settings; delete it to start afresh."
            )
        for record, (_, source), done in zip(recorded, files, complete, strict=True):
            if done and not _unchanged(source, record):
                h5.close()
                raise UserInputError(
                    f"{source}: changed since it was converted into {path.name} (size or SHA-256 differs); "
                    f"delete {path} to convert afresh."
                )
        return cls(h5, path)

    def write(self, step: ConvertedStep) -> None:
        """Write one step's arrays, then its flag and source record (the flag last)."""
        i, data = step.index, step.data
        self.h5["temperature"][i] = data.temperature
        self.h5["ipf"][i] = data.ipf
        self.h5["ori_inds"][i] = data.ori_inds
        self.h5["mask"][i] = data.mask
        present = data.temperature[data.mask]
        self.h5["t_min"][i] = present.min() if present.size else np.nan
        self.h5["t_max"][i] = present.max() if present.size else np.nan
        self.sources[i] = step.source
        self.h5.attrs["sources"] = json.dumps(self.sources)
        self.h5.flush()
        self.complete[i] = True
        self.h5["step_complete"][i] = True
        self.h5.flush()

    def close(self) -> None:
        self.h5.close()


def _unchanged(source: Path, record: dict) -> bool:
    """True if ``source`` still has the size and SHA-256 recorded when it was converted."""
    try:
        return source.stat().st_size == record.get("size_bytes") and sha256_file(source) == record.get("sha256")
    except OSError:
        return False


@dataclass(frozen=True)
class FieldCache:
    """An opened, complete cache: its path, shape ``(T, X, Y, Z)``, axes, steps and attributes.

    Only the small arrays are read; the fields stay on disk (read them with :meth:`open`).
    """

    path: Path
    shape: tuple[int, int, int, int]
    grid: Grid
    steps: np.ndarray
    t_min: np.ndarray
    t_max: np.ndarray
    attrs: dict

    @property
    def sources(self) -> list[dict]:
        return json.loads(self.attrs["sources"])

    def open(self):
        """The underlying read-only ``h5py.File`` (the caller closes it)."""
        return h5py.File(self.path, "r")


_FIELDS = {"temperature": (4, "f"), "ipf": (5, "f"), "ori_inds": (4, "i"), "mask": (4, "b")}
_ATTRS = ("downsample", "tolerance", "simrnn_version", "source_dir", "sources")


def open_cache(path: str | Path) -> FieldCache:
    """Open a finished cache, checking its format, layout and completeness; fast (reads ~KB)."""
    path = Path(path)
    if not path.is_file():
        partial = path.with_name(path.name + ".partial")
        hint = (
            f"; {partial.name} is an interrupted conversion: run the conversion again"
            if partial.exists()
            else ""
        )
        raise UserInputError(f"{path}: cache file not found{hint}.")
    try:
        h5 = open_hdf5(path)
    except UserInputError:
        raise UserInputError(
            f"{path}: not an HDF5 file; expected a cache made by `simrnn fields convert`."
        ) from None
    with h5, hdf5_errors(path):
        if h5.attrs.get("format") != FORMAT:
            raise UserInputError(f"{path}: not a simrnn field cache (attribute 'format' is not {FORMAT!r}).")
        missing = [key for key in _ATTRS if key not in h5.attrs]
        if missing:
            raise UserInputError(f"{path}: field cache without the attribute(s) {', '.join(missing)}.")
        axes = [read_dataset(h5, name, path, ndim=1, dtype=np.float64) for name in "xyz"]
        steps = read_dataset(h5, "steps", path, ndim=1, dtype=np.int64)
        order = np.flatnonzero(np.diff(steps) <= 0)
        if order.size:
            i = int(order[0]) + 1
            raise UserInputError(f"{path}: dataset 'steps' must increase strictly, but index {i} is {int(steps[i])} "
                                 f"after {int(steps[i - 1])} (duplicated or reversed steps); convert the CSVs again.")
        complete = read_dataset(h5, "step_complete", path, ndim=1, dtype=bool)
        if not complete.all():
            raise UserInputError(f"{path}: incomplete cache; convert the CSVs again.")
        shape = (len(steps), *(len(a) for a in axes))
        for name, (ndim, kind) in _FIELDS.items():
            dset = resolve(h5, name, path)
            expected = shape if ndim == 4 else (*shape, 9)
            if not isinstance(dset, h5py.Dataset) or dset.shape != expected or dset.dtype.kind != kind:
                raise UserInputError(
                    f"{path}: dataset '{name}' is missing or not of shape {expected} ({kind} type); not a "
                    "cache written by `simrnn fields convert`."
                )
            check_dataset(dset, path, whole=False)
        t_range = []
        for name in ("t_min", "t_max"):
            dset = resolve(h5, name, path)
            if not isinstance(dset, h5py.Dataset) or dset.shape != (len(steps),):
                raise UserInputError(f"{path}: dataset '{name}' is missing or not of shape ({len(steps)},).")
            check_dataset(dset, path)
            t_range.append(dset[()].astype(np.float32))
        attrs = dict(h5.attrs)
    try:
        sources = json.loads(attrs["sources"])
    except (TypeError, ValueError):
        sources = None
    if not isinstance(sources, list):
        raise UserInputError(f"{path}: attribute 'sources' is not a JSON list of source files.")
    return FieldCache(path=path, shape=shape, grid=Grid(*axes), steps=steps, t_min=t_range[0], t_max=t_range[1],
                      attrs=attrs)


def check_cache_unchanged(path: str | Path, sha256: str | None, run_dir: str | Path) -> None:
    """Refuse a run's own cache whose content changed since training (its SHA-256 differs from config.json's)."""
    if sha256 and Path(path).is_file() and sha256_file(path) != sha256:
        raise UserInputError(f"{path}: changed since {run_dir} was trained on it (SHA-256 differs from "
                             "config.json's data.sha256); give the original file, or another one as cache.",
                             key="cache")
