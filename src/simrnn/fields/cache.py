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
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simrnn.errors import UserInputError
from simrnn.fields.pointcloud import (
    FILE_PATTERN,
    Grid,
    GriddedStep,
    find_step_files,
    read_point_cloud,
    snap_to_grid,
)

FORMAT = "simrnn.fields.cache"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class ConvertedStep:
    """What a worker hands back: the step's position, its gridded data and its source record."""

    index: int
    data: GriddedStep
    source: dict


def convert(
    csv_dir: str | Path,
    cache_path: str | Path,
    downsample: int = 1,
    tolerance: float = 0.05,
    workers: int = 2,
    pattern: str = FILE_PATTERN,
    on_step: Callable[[dict], None] | None = None,
) -> Path:
    """Convert the CSVs of ``csv_dir`` into the HDF5 cache ``cache_path`` and return its path.

    ``downsample`` keeps every n-th node per axis (2 turns 930x188x94 into 465x94x47); ``workers``
    files are read and gridded at once (pyarrow additionally parses each file on all cores).
    ``on_step`` is called with each finished step's source record (for progress bars).
    """
    cache_path = check_target(cache_path)
    if downsample < 1 or not 0 < tolerance < 0.5 or workers < 1:
        raise UserInputError(
            f"downsample={downsample}, tolerance={tolerance}, workers={workers}: expected downsample >= 1, "
            "0 < tolerance < 0.5 and workers >= 1."
        )
    files = find_step_files(csv_dir, pattern)
    partial = cache_path.with_name(cache_path.name + ".partial")
    settings = {"downsample": downsample, "tolerance": tolerance, "source_dir": str(Path(csv_dir).resolve())}
    writer = _PartialCache.reopen(partial, files, settings) if partial.exists() else None
    todo = [i for i in range(len(files)) if writer is None or not writer.complete[i]]

    def work(i: int) -> ConvertedStep:
        from simrnn.files import sha256_file

        k, path = files[i]
        data = snap_to_grid(read_point_cloud(path), tolerance=tolerance, downsample=downsample)
        source = {
            "step": k,
            "name": path.name,
            "size_bytes": path.stat().st_size,
            "sha256": sha256_file(path),
        }
        return ConvertedStep(i, data, source)

    reference = files[0][1] if writer is None else None
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
    if writer is None:  # every step was already complete in the partial file
        writer = _PartialCache.reopen(partial, files, settings)
        writer.close()
    if cache_path.exists():
        raise UserInputError(f"{cache_path}: appeared during the conversion; the result stays in {partial}.")
    os.replace(partial, cache_path)
    return cache_path


def check_target(cache_path: str | Path) -> Path:
    """``cache_path`` as a Path, or :class:`UserInputError` if it already exists (never overwritten)."""
    cache_path = Path(cache_path)
    if cache_path.exists():
        raise UserInputError(f"{cache_path}: already exists; choose another output name or delete it first.")
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
        import h5py

        from simrnn import __version__

        n = len(files)
        shape = (n, *grid.shape)
        chunks = (1, min(grid.shape[0], 64), min(grid.shape[1], 16), min(grid.shape[2], 16))
        h5 = h5py.File(path, "w")
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
        import h5py

        try:
            h5 = h5py.File(path, "r+")
        except OSError:
            raise UserInputError(
                f"{path}: unreadable interrupted conversion; delete it and convert again."
            ) from None
        recorded = json.loads(h5.attrs.get("sources", "[]"))
        same = [(r["step"], r["name"]) for r in recorded] == [(k, p.name) for k, p in files]
        same &= all(h5.attrs.get(key) == value for key, value in settings.items())
        if same:
            for record, (_, path_k), done in zip(recorded, files, h5["step_complete"][()], strict=True):
                same &= not done or record.get("size_bytes") == path_k.stat().st_size
        if not same:
            h5.close()
            raise UserInputError(
                f"{path}: an interrupted conversion of different files or settings; delete it to start afresh."
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
        import h5py

        return h5py.File(self.path, "r")


def open_cache(path: str | Path) -> FieldCache:
    """Open a finished cache, checking its format and completeness; fast (reads ~KB)."""
    import h5py

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
        h5 = h5py.File(path, "r")
    except OSError:
        raise UserInputError(
            f"{path}: not an HDF5 file; expected a cache made by `simrnn fields convert`."
        ) from None
    with h5:
        if h5.attrs.get("format") != FORMAT:
            raise UserInputError(f"{path}: not a simrnn field cache (attribute 'format' is not {FORMAT!r}).")
        if not h5["step_complete"][()].all():
            raise UserInputError(f"{path}: incomplete cache; convert the CSVs again.")
        return FieldCache(
            path=path,
            shape=tuple(int(n) for n in h5["temperature"].shape),
            grid=Grid(h5["x"][()], h5["y"][()], h5["z"][()]),
            steps=h5["steps"][()],
            t_min=h5["t_min"][()],
            t_max=h5["t_max"][()],
            attrs=dict(h5.attrs),
        )
