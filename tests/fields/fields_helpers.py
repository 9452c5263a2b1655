"""Tiny hand-built LASERNet CSVs for the field-data tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from simrnn.fields.pointcloud import COORD_COLUMNS, IPF_COLUMNS

SPACING = 1e-6


def grid_fields(shape: tuple[int, int, int], step: int) -> dict[str, np.ndarray]:
    """Per-node values that encode the node and step: ``T [X,Y,Z]``, ``ipf [X,Y,Z,9]``, ``ori [X,Y,Z]``.

    ``T = 300 + 100 i + 10 j + k + 1000 step`` (step 0 is all ambient, 300 K); IPF channel c is
    ``(i + 2 j + 3 k + c + step) / 100`` and ``ori_inds = i + 7 j + 49 k``.
    """
    i, j, k = np.meshgrid(*(np.arange(n) for n in shape), indexing="ij")
    temperature = np.full(shape, 300.0) if step == 0 else 300.0 + 100 * i + 10 * j + k + 1000 * step
    ipf = np.stack([(i + 2 * j + 3 * k + c + step) / 100 for c in range(9)], axis=-1)
    return {"T": temperature, "ipf": ipf, "ori": i + 7 * j + 49 * k}


def write_step_csv(
    path: Path,
    shape: tuple[int, int, int],
    step: int,
    order: str = "vtk",
    drop: int = 0,
    extra: bool = False,
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0),
    rng: np.random.Generator | None = None,
) -> Path:
    """Write one CSV of :func:`grid_fields`; ``order`` is ``vtk`` (x fastest), ``c`` or ``shuffled``;
    ``drop`` removes that many rows (missing points); ``extra`` adds two unrelated columns first."""
    values = grid_fields(shape, step)
    coords = np.meshgrid(
        *(np.arange(n) * SPACING + o for n, o in zip(shape, origin, strict=True)), indexing="ij"
    )
    flat = "F" if order == "vtk" else "C"
    columns = {name: c.ravel(order=flat) for name, c in zip(COORD_COLUMNS, coords, strict=True)}
    columns["T"] = values["T"].ravel(order=flat)
    for c, name in enumerate(IPF_COLUMNS):
        columns[name] = values["ipf"][..., c].ravel(order=flat)
    columns["ori_inds"] = values["ori"].ravel(order=flat)
    rows = np.arange(len(columns["T"]))
    if order == "shuffled":
        rows = (rng or np.random.default_rng(0)).permutation(rows)
    rows = rows[drop:]
    names = list(columns)
    if extra:
        names = ["vtkValidPointMask", "Velocity:0", *names]
        columns["vtkValidPointMask"] = np.ones(len(columns["T"]))
        columns["Velocity:0"] = np.full(len(columns["T"]), 0.5)
    lines = [",".join(f'"{n}"' for n in names)]
    lines += [",".join(repr(float(columns[n][r])) for n in names) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_steps(folder: Path, shape: tuple[int, int, int], n_steps: int, **kwargs) -> Path:
    """Write ``Alldata_withpoints_<k>.csv`` for k = 0..n_steps-1 into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(n_steps):
        write_step_csv(folder / f"Alldata_withpoints_{k}.csv", shape, k, **kwargs)
    return folder
