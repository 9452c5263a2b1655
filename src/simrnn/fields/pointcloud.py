"""LASERNet CSV point clouds: find the per-step files, read them fast, snap the points to a grid.

One CSV per time step, ``Alldata_withpoints_<k>.csv`` (ordered by the trailing integer ``k``),
with the columns ``Points:0..2`` (x, y, z in metres), ``T`` (kelvin), the nine IPF colour
components ``ipf_x:0..2, ipf_y:0..2, ipf_z:0..2`` (RGB in [0, 1]) and ``ori_inds`` (an integer
grain-orientation label). Extra columns are ignored and rows may come in any order.

Reading uses pyarrow's multi-threaded CSV parser (only the needed columns are converted).
Gridding infers each regular axis from the unique coordinates (median spacing of the distinct
values, so a few stray points cannot change it), snaps every point to the nearest grid index and
refuses points farther than ``tolerance`` (a fraction of the spacing) from a grid node.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simrnn.errors import UserInputError

COORD_COLUMNS = ("Points:0", "Points:1", "Points:2")
IPF_COLUMNS = tuple(f"ipf_{axis}:{c}" for axis in "xyz" for c in range(3))
REQUIRED_COLUMNS = (*COORD_COLUMNS, "T", *IPF_COLUMNS, "ori_inds")
FILE_PATTERN = "Alldata_withpoints_*.csv"
_TRAILING_INT = re.compile(r"(\d+)\.csv$", re.IGNORECASE)
_SAMPLE_ROWS = 1_000_000
#: largest time-step number ``k`` (stored as int64).
MAX_STEP = 2**63 - 1
#: accepted temperature range in kelvin (stored as float32).
T_RANGE_K = (0.0, 1e6)
#: largest IPF magnitude (stored as float16; the colours lie in [0, 1]).
IPF_MAX = float(np.finfo(np.float16).max)
#: ori_inds range (stored as int32).
ORI_RANGE = (int(np.iinfo(np.int32).min), int(np.iinfo(np.int32).max))
#: a grid may have at most this many nodes per point (missing points are masked, but a stray
#: coordinate far off the domain must not make a grid of 10**12 nodes).
MAX_NODES_PER_POINT = 64


@dataclass(frozen=True)
class PointCloud:
    """One time step as read from a CSV (N points, in file order).

    ``coords`` three ``[N]`` float64 arrays x, y, z in metres; ``temperature [N]`` float32 kelvin; ``ipf [9][N]`` float32
    (one array per IPF column, LASERNet column order); ``ori_inds [N]`` int32.
    """

    path: Path
    coords: tuple[np.ndarray, np.ndarray, np.ndarray]
    temperature: np.ndarray
    ipf: tuple[np.ndarray, ...]
    ori_inds: np.ndarray


@dataclass(frozen=True)
class Grid:
    """A regular grid: ``x [X], y [Y], z [Z]`` node coordinates in metres."""

    x: np.ndarray
    y: np.ndarray
    z: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int]:
        return (len(self.x), len(self.y), len(self.z))

    def describe(self) -> str:
        spacing = [float(a[1] - a[0]) if len(a) > 1 else 0.0 for a in (self.x, self.y, self.z)]
        return (
            f"{'x'.join(map(str, self.shape))} nodes from ({self.x[0]:.6g}, {self.y[0]:.6g}, "
            f"{self.z[0]:.6g}) m with spacing ({spacing[0]:.4g}, {spacing[1]:.4g}, {spacing[2]:.4g}) m"
        )

    def matches(self, other: Grid, tolerance: float) -> bool:
        """True if both grids have the same node counts and nodes within ``tolerance`` spacings."""
        if self.shape != other.shape:
            return False
        for a, b in zip((self.x, self.y, self.z), (other.x, other.y, other.z), strict=True):
            step = (a[-1] - a[0]) / (len(a) - 1) if len(a) > 1 else 1.0
            if np.max(np.abs(a - b)) > tolerance * abs(step):
                return False
        return True


@dataclass(frozen=True)
class GriddedStep:
    """One time step on its grid (``X, Y, Z`` after downsampling).

    ``temperature [X, Y, Z]`` float32 K (0 where missing), ``ipf [X, Y, Z, 9]`` float16,
    ``ori_inds [X, Y, Z]`` int32 (-1 where missing), ``mask [X, Y, Z]`` bool (True = point present).
    """

    grid: Grid
    temperature: np.ndarray
    ipf: np.ndarray
    ori_inds: np.ndarray
    mask: np.ndarray


def find_step_files(csv_dir: str | Path, pattern: str = FILE_PATTERN) -> list[tuple[int, Path]]:
    """The CSVs of ``csv_dir`` matching ``pattern`` as ``[(k, path)]`` sorted by the trailing integer."""
    csv_dir = Path(csv_dir)
    if not csv_dir.is_dir():
        raise UserInputError(f"{csv_dir}: directory not found; expected a folder of {pattern} files.")
    found: dict[int, Path] = {}
    for path in csv_dir.glob(pattern):
        match = _TRAILING_INT.search(path.name)
        if match is None:
            raise UserInputError(
                f"{path}: expected a file name ending in a time-step number, like {pattern}."
            )
        if not path.is_file():
            raise UserInputError(f"{path}: is not a regular file; expected a CSV point cloud.")
        k = int(match.group(1)[-20:]) if len(match.group(1)) <= 20 else MAX_STEP + 1
        if k > MAX_STEP:
            raise UserInputError(f"{path}: time-step number {match.group(1)[:30]} is larger than {MAX_STEP}.")
        if k in found:
            raise UserInputError(
                f"{found[k].name} and {path.name} in {csv_dir} both have time-step number {k}."
            )
        found[k] = path
    if not found:
        raise UserInputError(f"{csv_dir}: no CSV found matching {pattern}.")
    return sorted(found.items())


def read_header(path: Path) -> list[str]:
    """Column names of a CSV's first line (a UTF-8 byte-order mark is skipped)."""
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as handle:
        return [name.strip() for name in next(csv.reader(handle), [])]


def read_point_cloud(path: str | Path) -> PointCloud:
    """Read the LASERNet columns of one CSV with pyarrow's multi-threaded parser.

    Raises :class:`UserInputError` (naming the file, line and column) for a missing column, a
    malformed row, no data rows, a non-numeric or missing value, a non-finite value, a temperature
    outside :data:`T_RANGE_K`, an IPF value beyond float16 or an ``ori_inds`` that is not an
    integer within int32 (the types of the cache).
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    path = Path(path)
    header = read_header(path)
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise UserInputError(
            f"{path}: missing column {', '.join(repr(c) for c in missing)}; "
            f"expected the LASERNet columns {', '.join(REQUIRED_COLUMNS)}."
        )
    types = {c: pa.float64() for c in REQUIRED_COLUMNS}
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(use_threads=True, block_size=1 << 24),
            convert_options=pacsv.ConvertOptions(
                include_columns=list(REQUIRED_COLUMNS), column_types=types, null_values=[""], strings_can_be_null=False
            ),
        )
    except pa.ArrowInvalid as exc:
        raise _locate_bad_value(path, header, str(exc)) from None
    if table.num_rows == 0:
        raise UserInputError(f"{path}: holds a header but no data rows.")

    def column(name: str, what: str, low: float = -np.inf, high: float = np.inf) -> np.ndarray:
        data = table.column(name)
        if data.null_count:
            line = data.is_null().to_numpy(zero_copy_only=False).argmax() + 2
            raise UserInputError(
                f"{path}, line {line}: missing {what} in column {name!r} ({data.null_count} such rows in the file)."
            )
        values = data.to_numpy()
        for bad, kind in ((np.isnan(values), "NaN"), (np.isinf(values), "infinite"),
                          ((values < low) | (values > high), "out-of-range")):
            if bad.any():
                line = int(np.flatnonzero(bad)[0]) + 2
                expected = f" {values[line - 2]:.6g} (expected {low:g} to {high:g})" if kind == "out-of-range" else ""
                raise UserInputError(
                    f"{path}, line {line}: {kind} {what}{expected} in column {name!r} "
                    f"({int(bad.sum())} such rows in the file)."
                )
        return values

    ori = column("ori_inds", "grain label", *ORI_RANGE)
    if not np.array_equal(ori, np.rint(ori)):
        line = int(np.flatnonzero(ori != np.rint(ori))[0]) + 2
        raise UserInputError(f"{path}, line {line}: ori_inds must be an integer grain label.")
    return PointCloud(
        path=path,
        coords=tuple(column(c, "coordinate") for c in COORD_COLUMNS),
        temperature=column("T", "temperature", *T_RANGE_K).astype(np.float32),
        ipf=tuple(column(c, "IPF value", -IPF_MAX, IPF_MAX).astype(np.float32) for c in IPF_COLUMNS),
        ori_inds=ori.astype(np.int32),
    )


def _locate_bad_value(path: Path, header: list[str], message: str) -> UserInputError:
    """Turn pyarrow's parse or conversion error into a sentence naming the file, line and column."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if "CSV parse error" in message or "UTF8" in message or ("columns" in message and "Expected" in message):
        return _locate_bad_row(path, len(header))
    match = re.search(r"column #(\d+)", message)
    names = [header[int(match.group(1))]] if match and int(match.group(1)) < len(header) else REQUIRED_COLUMNS
    for name in names:
        try:
            strings = pacsv.read_csv(
                path,
                convert_options=pacsv.ConvertOptions(include_columns=[name], column_types={name: pa.string()}),
            ).column(name)
        except pa.ArrowInvalid:
            return _locate_bad_row(path, len(header))
        for row, value in enumerate(strings.to_pylist()):
            if value is None:
                continue
            try:
                float(value)
            except ValueError:
                return UserInputError(
                    f"{path}, line {row + 2}: value {value[:40]!r} in column {name!r} is not a number."
                )
    return UserInputError(f"{path}: could not read the numeric columns ({message[:200]}).")


def _locate_bad_row(path: Path, n_columns: int) -> UserInputError:
    """The first line that is not UTF-8 or whose number of fields differs from the header's."""
    with open(path, "rb") as handle:
        for line, raw in enumerate(handle, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return UserInputError(f"{path}, line {line}: bytes that are not UTF-8 text; expected numbers.")
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as handle:
        reader = csv.reader(handle)
        next(reader, None)
        for row in reader:
            if len(row) != n_columns:
                return UserInputError(
                    f"{path}, line {reader.line_num}: {len(row)} fields where the header has {n_columns} "
                    "(a truncated or malformed row)."
                )
    return UserInputError(f"{path}: malformed CSV (quoting or line structure); expected {n_columns} fields per row.")


def infer_axis(values: np.ndarray, tolerance: float = 0.05) -> np.ndarray:
    """The regular axis ``[n]`` of coordinates ``values [N]`` (float64, metres).

    The spacing is the median gap between distinct values of a deterministic sample (the first
    rows plus random rows, so 16 M points stay cheap); the lattice is anchored at a value whose
    neighbour lies one spacing away, and spans the extreme values within ``tolerance`` spacings of
    it. Stray off-grid points therefore cannot move the axis; :func:`snap_to_grid` reports them.
    """
    sample = values
    if len(values) > 2 * _SAMPLE_ROWS:
        rows = np.random.default_rng(0).integers(0, len(values), _SAMPLE_ROWS)
        sample = np.concatenate([values[:_SAMPLE_ROWS], values[rows]])
    distinct = np.unique(sample)
    span = float(distinct[-1] - distinct[0])
    gaps = np.diff(distinct)
    keep = gaps > 1e-6 * span  # merge round-off duplicates
    if span <= 1e-12 * max(float(np.abs(distinct).max()), 1e-300) or not keep.any():
        return np.array([float(np.median(values))])
    step = float(np.median(gaps[keep]))
    anchor = float(distinct[:-1][keep][np.argmin(np.abs(gaps[keep] - step))])
    lo, hi = float(values.min()), float(values.max())
    if not (_on_lattice(lo, anchor, step, tolerance) and _on_lattice(hi, anchor, step, tolerance)):
        phase = (values - anchor) / step  # a stray point at an end: span only the on-lattice values
        on = np.abs(phase - np.rint(phase)) <= tolerance
        lo, hi = float(values[on].min()), float(values[on].max())
    return np.linspace(lo, hi, int(round((hi - lo) / step)) + 1)


def _on_lattice(value: float, anchor: float, step: float, tolerance: float) -> bool:
    phase = (value - anchor) / step
    return abs(phase - round(phase)) <= tolerance


def snap_to_grid(
    cloud: PointCloud, tolerance: float = 0.05, downsample: int = 1, grid: Grid | None = None
) -> GriddedStep:
    """Place a point cloud on its regular grid, keeping every ``downsample``-th node per axis.

    ``grid`` is inferred from the cloud when not given. Off-grid points (farther than ``tolerance``
    spacings from a node) and duplicated nodes raise :class:`UserInputError` with counts; nodes
    without a point are recorded as ``mask == False``.
    """
    if grid is None:
        grid = Grid(*(infer_axis(values, tolerance) for values in cloud.coords))
        n_points = len(cloud.temperature)
        if np.prod(grid.shape, dtype=np.float64) > MAX_NODES_PER_POINT * n_points:
            raise UserInputError(
                f"{cloud.path}: the coordinates make a grid of {grid.describe()} for only {n_points} points; "
                "is a coordinate far off the domain?"
            )
    index = []
    for name, values, axis in zip("xyz", cloud.coords, (grid.x, grid.y, grid.z), strict=True):
        step = (axis[-1] - axis[0]) / (len(axis) - 1) if len(axis) > 1 else 1.0
        phase = np.subtract(values, axis[0])  # in place from here on: 16 M points
        phase /= step
        nearest = np.rint(phase)
        phase -= nearest
        np.abs(phase, out=phase)
        off = phase > tolerance
        if off.any() or nearest.min() < 0 or nearest.max() >= len(axis):
            off |= (nearest < 0) | (nearest >= len(axis))
            row = int(np.flatnonzero(off)[0])
            raise UserInputError(
                f"{cloud.path}: {int(off.sum())} of {len(values)} points lie off the regular grid "
                f"({grid.describe()}, tolerance {tolerance:g} spacing), first at line {row + 2} "
                f"with {name} = {values[row]:.9g} m."
            )
        index.append(nearest.astype(np.int32))
    ix, iy, iz = index
    full_shape = grid.shape
    if downsample > 1:
        keep = (ix % downsample == 0) & (iy % downsample == 0) & (iz % downsample == 0)
        ix, iy, iz = ix[keep] // downsample, iy[keep] // downsample, iz[keep] // downsample
        grid = Grid(grid.x[::downsample], grid.y[::downsample], grid.z[::downsample])
    else:
        keep = None
    shape = grid.shape
    flat = (ix * np.int64(shape[1]) + iy) * shape[2] + iz
    mask = np.zeros(int(np.prod(shape)), dtype=bool)
    mask[flat] = True
    n_present = int(np.count_nonzero(mask))
    if n_present != len(flat):
        raise UserInputError(
            f"{cloud.path}: {len(flat) - n_present} points repeat a grid node already present "
            f"(grid {'x'.join(map(str, full_shape))}); expected one row per node."
        )
    order = _regular_order(flat, shape)

    def place(values: np.ndarray, dtype: type, fill: float) -> np.ndarray:
        if keep is not None:
            values = values[keep]
        if order == "c":
            return values.astype(dtype, copy=False).reshape(shape)
        if order == "vtk":  # x fastest: a transpose instead of a scatter
            return np.ascontiguousarray(values.reshape(shape[::-1]).transpose(2, 1, 0), dtype=dtype)
        out = np.full(mask.size, fill, dtype=dtype)
        out[flat] = values
        return out.reshape(shape)

    ipf = np.empty((*shape, 9), dtype=np.float16)
    for c, values in enumerate(cloud.ipf):
        ipf[..., c] = place(values, np.float16, 0.0)
    return GriddedStep(
        grid=grid,
        temperature=place(cloud.temperature, np.float32, 0.0),
        ipf=ipf,
        ori_inds=place(cloud.ori_inds, np.int32, -1),
        mask=mask.reshape(shape),
    )


def _regular_order(flat: np.ndarray, shape: tuple[int, int, int]) -> str | None:
    """``"c"`` if the rows list every node with z fastest, ``"vtk"`` if x fastest (ParaView), else None.

    ``flat [N]`` are the rows' C-order node indices; a regular order lets gridding use a reshape or a
    transpose instead of a scatter, which matters for 16 M points.
    """
    nx, ny, nz = shape
    if len(flat) != nx * ny * nz:
        return None
    head = flat[: min(len(flat), 4)]
    if np.array_equal(head, np.arange(len(head))) and np.array_equal(flat, np.arange(len(flat))):
        return "c"
    vtk = (np.arange(nx)[None, None, :] * ny + np.arange(ny)[None, :, None]) * nz + np.arange(nz)[
        :, None, None
    ]
    if np.array_equal(head, vtk.ravel()[: len(head)]) and np.array_equal(flat, vtk.ravel()):
        return "vtk"
    return None
