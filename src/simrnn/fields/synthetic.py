"""Synthetic melt-pool + solidification data in the LASERNet CSV format.

Physics (deliberately simple, but each ingredient is the textbook one):

* **Heat source.** A point source of absorbed power ``P`` moving at speed ``v`` along +x on the top
  surface (z = z_max, y = centre) of a semi-infinite body, Rosenthal's quasi-steady solution
  ``ΔT = P / (2 π k R) · exp(-v (ξ + R) / (2 α))`` with ``ξ = x - x_source`` and ``R`` the distance
  to the source, softly saturated at ``T_max`` (``T = T0 + ΔT_max tanh(ΔT / ΔT_max)``). It gives
  the teardrop melt pool (``T > T_melt``) and the hot trail behind it. Step 0 is the initial state
  (laser off, everything at ``T0``); from step 1 the source moves from 15 % to 85 % of the length,
  with the pool fully developed at switch-on (no start transient).
* **Base metal.** Voronoi grains (nearest random seed) with uniformly random cubic orientations.
* **Melting.** Molten cells have no orientation: IPF 0 (black) and ``ori_inds`` 0.
* **Solidification.** The source advances one cell at a time; the cells leaving the pool's trailing
  edge solidify epitaxially, taking the grain of the first solid cell found when stepping back
  along ``-∇T`` (the heat-flow direction at the trailing edge). Grains therefore grow from the
  fusion boundary as curved columns along the thermal gradient.

The cell size is ``1 mm / (X - 1)`` on all axes, so ``--grid 930x188x94`` reproduces the real
data's ~1.08 µm spacing and 1 x 0.2 x 0.1 mm domain.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simrnn.config import setting
from simrnn.errors import Interrupted, UserInputError
from simrnn.fields.ipf import ipf_xyz, random_orientations
from simrnn.fields.pointcloud import COORD_COLUMNS, FILE_PATTERN, IPF_COLUMNS
from simrnn.files import atomic_path, check_output_location, exclusive_lock, new_directory


@dataclass(frozen=True)
class MeltPoolModel:
    """Parameters of the synthetic process (SI units; defaults give a ~340 x 125 x 63 µm pool)."""

    power_w: float = 60.0
    speed_m_s: float = 0.5
    conductivity_w_mk: float = 20.0
    diffusivity_m2_s: float = 5e-6
    t_ambient_k: float = 300.0
    t_melt_k: float = 1700.0
    t_max_k: float = 4650.0
    length_m: float = 1e-3
    grain_size_m: float = 25e-6
    min_grain_cells: float = 5.0
    path_start: float = 0.15
    path_end: float = 0.85


@dataclass(frozen=True)
class SyntheticStep:
    """One generated time step: ``temperature [X, Y, Z]`` float32 K, ``ori_inds [X, Y, Z]`` int32
    (0 = molten), ``ipf [X, Y, Z, 9]`` float32 in [0, 1] (0 where molten)."""

    temperature: np.ndarray
    ori_inds: np.ndarray
    ipf: np.ndarray


def parse_grid(text: str) -> tuple[int, int, int]:
    """``"96x24x16"`` -> ``(96, 24, 16)``; every size must be at least 2."""
    parts = text.lower().split("x")
    try:
        sizes = tuple(int(p) for p in parts)
    except ValueError:
        sizes = ()
    if len(sizes) != 3 or min(sizes) < 2:
        raise UserInputError(f"grid {text!r}: expected three sizes of at least 2 like 96x24x16.", key="grid")
    if np.prod(sizes, dtype=np.float64) > MAX_NODES:
        raise UserInputError(f"grid {text!r}: {np.prod(sizes, dtype=np.float64):.3g} nodes is more than the "
                             f"{MAX_NODES} accepted.", key="grid")
    return sizes  # type: ignore[return-value]


#: largest grid accepted by ``fields synth`` (nodes): 4x the real data's 930x188x94.
MAX_NODES = 4 * 930 * 188 * 94
#: most time steps accepted by ``fields synth``.
MAX_STEPS = 100_000


def check_steps(steps: int) -> int:
    """``steps`` if it is a usable number of time steps, else :class:`UserInputError` naming ``steps``."""
    if not 2 <= steps <= MAX_STEPS:
        raise UserInputError(
            f"steps {steps}: expected 2 to {MAX_STEPS} time steps (an initial state and at least one laser step).",
            key="steps")
    return steps


@dataclass(frozen=True)
class FieldSynthSettings:
    """Options of ``simrnn fields synth`` (defaults written once, here)."""

    grid: str = setting("96x24x16", "Grid nodes XxYxZ; 930x188x94 is the real data's size.")
    steps: int = setting(24, "Time steps (files); step 0 is the all-ambient initial state.")
    seed: int = setting(0, "Random seed of the grains and their orientations.")

    def validate(self, source: str = "synth") -> None:
        """One sentence (with the key) for a grid, step count or seed that cannot be synthesised."""
        parse_grid(self.grid)
        check_steps(self.steps)
        if not 0 <= self.seed < 2**32:
            raise UserInputError(f"seed {self.seed}: expected 0 to {2**32 - 1}.", key="seed")

    @property
    def shape(self) -> tuple[int, int, int]:
        """The grid as ``(X, Y, Z)`` nodes."""
        return parse_grid(self.grid)


#: the default grid as ``(X, Y, Z)`` nodes.
DEFAULT_SHAPE = FieldSynthSettings().shape


def axes(grid: tuple[int, int, int], model: MeltPoolModel = MeltPoolModel()) -> tuple[np.ndarray, ...]:
    """Node coordinates ``x [X], y [Y], z [Z]`` in metres (cubic cells of ``length / (X - 1)``)."""
    h = model.length_m / (grid[0] - 1)
    return tuple(np.arange(n) * h for n in grid)


def simulate(
    grid: tuple[int, int, int] = DEFAULT_SHAPE,
    steps: int = FieldSynthSettings.steps,
    seed: int = FieldSynthSettings.seed,
    model: MeltPoolModel = MeltPoolModel(),
) -> Iterator[SyntheticStep]:
    """Yield ``steps`` time steps of the synthetic process on a ``grid = (X, Y, Z)`` node grid."""
    check_steps(steps)
    nx, ny, nz = grid
    rng = np.random.default_rng(seed)
    base = _voronoi_grains(grid, model, rng)
    n_grains = int(base.max())
    table = np.zeros((n_grains + 1, 9), dtype=np.float32)
    table[1:] = ipf_xyz(random_orientations(n_grains, rng))
    field = _moving_frame_temperature(grid, model)  # [2X-1, Y, Z], source at offset index X-1
    pool = field > model.t_melt_k
    has = pool.any(axis=0)
    first = np.where(has, pool.argmax(axis=0), 0) - (nx - 1)  # pool spans i - s in [first, last]
    last = np.where(has, 2 * nx - 2 - pool[::-1].argmax(axis=0), 0) - (nx - 1)
    cols_j, cols_l = np.nonzero(has)
    back = _growth_steps(grid, model, first[cols_j, cols_l], cols_j, cols_l)
    path = np.rint(np.linspace(model.path_start, model.path_end, steps - 1) * (nx - 1)).astype(int)

    yield SyntheticStep(np.full(grid, model.t_ambient_k, np.float32), base, table[base])
    labels = base.copy()
    s = path[0]
    labels[pool[nx - 1 - s : 2 * nx - 1 - s]] = 0
    for target in path:
        while s < target:
            _solidify(labels, base, s + first[cols_j, cols_l], cols_j, cols_l, back)
            front = s + 1 + last[cols_j, cols_l]
            inside = (front >= 0) & (front < nx)
            labels[front[inside], cols_j[inside], cols_l[inside]] = 0
            s += 1
        temperature = field[nx - 1 - s : 2 * nx - 1 - s]
        yield SyntheticStep(temperature, labels.copy(), table[labels])


def _voronoi_grains(grid: tuple[int, int, int], model: MeltPoolModel, rng: np.random.Generator) -> np.ndarray:
    """Grain labels ``[X, Y, Z]`` int32 in 1..G of a Voronoi tessellation of random seed nodes."""
    from scipy.ndimage import distance_transform_edt

    h = model.length_m / (grid[0] - 1)
    size = max(model.grain_size_m, model.min_grain_cells * h) / h  # grain diameter in cells
    n_cells = int(np.prod(grid))
    n_grains = int(np.clip(round(n_cells / size**3), 1, n_cells))
    seeds = np.zeros(n_cells, dtype=np.int32)
    seeds[rng.choice(n_cells, n_grains, replace=False)] = np.arange(1, n_grains + 1, dtype=np.int32)
    seeds = seeds.reshape(grid)
    nearest = distance_transform_edt(seeds == 0, return_distances=False, return_indices=True)
    return seeds[tuple(nearest)]


def _rosenthal_excess(xi: np.ndarray, y: np.ndarray, z: np.ndarray, model: MeltPoolModel) -> np.ndarray:
    """Temperature rise (K) at moving-frame offsets ``xi, y, z`` (metres, broadcastable arrays)."""
    k = model.speed_m_s / (2 * model.diffusivity_m2_s)
    r = np.maximum(np.sqrt(xi**2 + y**2 + z**2), 1e-9)
    rise = model.power_w / (2 * np.pi * model.conductivity_w_mk * r) * np.exp(-k * (xi + r))
    cap = model.t_max_k - model.t_ambient_k
    return cap * np.tanh(rise / cap)


def _moving_frame_temperature(grid: tuple[int, int, int], model: MeltPoolModel) -> np.ndarray:
    """``T [2X-1, Y, Z]`` float32 K for source-relative x offsets ``-(X-1)..X-1`` cells."""
    nx, ny, nz = grid
    x, y, z = axes(grid, model)
    h = x[1]
    out = np.empty((2 * nx - 1, ny, nz), dtype=np.float32)
    yy = (y - y[-1] / 2)[None, :, None]
    zz = (z - z[-1])[None, None, :]
    for start in range(0, 2 * nx - 1, 64):  # blocks keep float64 temporaries small
        xi = (np.arange(start, min(start + 64, 2 * nx - 1)) - (nx - 1))[:, None, None] * h
        out[start : start + 64] = model.t_ambient_k + _rosenthal_excess(xi, yy, zz, model)
    return out


def _growth_steps(
    grid: tuple[int, int, int], model: MeltPoolModel, first: np.ndarray, iy: np.ndarray, iz: np.ndarray
) -> np.ndarray:
    """Per pool column, the cell step ``[n, 3]`` (largest component ±1) along ``-∇T`` at the trailing edge."""
    x, y, z = axes(grid, model)
    h = x[1]
    xi, yy, zz = (first - 0.5) * h, y[iy] - y[-1] / 2, z[iz] - z[-1]
    k = model.speed_m_s / (2 * model.diffusivity_m2_s)
    r = np.maximum(np.sqrt(xi**2 + yy**2 + zz**2), 1e-9)
    # -∇ of exp(-k (ξ + R)) / R, up to a positive factor: the way back from the trailing edge.
    back = np.stack([k * (1 + xi / r) + xi / r**2, (k + 1 / r) * yy / r, (k + 1 / r) * zz / r], axis=1)
    return back / np.maximum(np.abs(back).max(axis=1, keepdims=True), 1e-12)


def _solidify(
    labels: np.ndarray, base: np.ndarray, ix: np.ndarray, iy: np.ndarray, iz: np.ndarray, back: np.ndarray
) -> None:
    """Give the cells ``(ix, iy, iz)`` leaving the pool the grain of the first solid cell along ``back``."""
    inside = (ix >= 0) & (ix < labels.shape[0])
    ix, iy, iz, back = ix[inside], iy[inside], iz[inside], back[inside]
    grain = np.zeros(len(ix), dtype=np.int32)
    start = np.stack([ix, iy, iz], axis=1).astype(np.float64)
    limit = np.array(labels.shape) - 1
    for m in range(1, 5):
        q = np.clip(np.rint(start + m * back).astype(np.int64), 0, limit)
        found = labels[q[:, 0], q[:, 1], q[:, 2]]
        grain = np.where((grain == 0) & (found > 0), found, grain)
    grain = np.where(grain == 0, base[ix, iy, iz], grain)  # no solid neighbour within 4 cells
    labels[ix, iy, iz] = grain


def synthesise(
    out_dir: str | Path,
    grid: tuple[int, int, int] = DEFAULT_SHAPE,
    steps: int = FieldSynthSettings.steps,
    seed: int = FieldSynthSettings.seed,
    model: MeltPoolModel = MeltPoolModel(),
    on_file: Callable[[Path], None] | None = None,
) -> list[Path]:
    """Write ``steps`` CSVs ``Alldata_withpoints_<k>.csv`` (k = 0..steps-1) into ``out_dir``.

    Rows are in ParaView order (x fastest); floats are written as float32. Each file is written
    under a temporary name and renamed when complete; existing CSVs are never overwritten. If
    the synthesis fails or is interrupted, the CSVs it wrote (and ``out_dir`` if it created it)
    are removed again: nothing is left behind.
    """
    check_steps(steps)
    out_dir = check_out_dir(out_dir)
    written: list[Path] = []
    folder = contextlib.nullcontext(out_dir) if out_dir.is_dir() else new_directory(out_dir)
    with folder, exclusive_lock(out_dir / FILE_PATTERN.replace("*", "")):
        try:
            coords = [
                np.ravel(c.astype(np.float32), order="F") for c in np.meshgrid(*axes(grid, model), indexing="ij")
            ]
            for k, step in enumerate(simulate(grid, steps, seed, model)):
                path = out_dir / FILE_PATTERN.replace("*", str(k))
                with atomic_path(path, replace=False) as tmp:
                    _write_csv(tmp, coords, step)
                written.append(path)
                if on_file is not None:
                    on_file(path)
        except BaseException as exc:
            for path in written:
                path.unlink(missing_ok=True)
            if isinstance(exc, KeyboardInterrupt):
                raise Interrupted(f"the {len(written)} CSV files written so far were removed; nothing was kept") from None
            raise
    return written


def check_out_dir(out_dir: str | Path) -> Path:
    """``out_dir`` as a Path, or :class:`UserInputError` if it holds LASERNet CSVs, is a file or cannot be made."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserInputError(f"{out_dir}: exists and is not a folder; choose a new or empty folder.")
    if out_dir.is_dir() and any(out_dir.glob(FILE_PATTERN)):
        raise UserInputError(f"{out_dir}: already contains {FILE_PATTERN} files; choose an empty folder.")
    check_output_location(out_dir / FILE_PATTERN if out_dir.is_dir() else out_dir)
    return out_dir


def _write_csv(path: Path, coords: list[np.ndarray], step: SyntheticStep) -> None:
    """Write one LASERNet CSV to ``path`` (a temporary file) (x-fastest rows; ``coords`` are the flattened x, y, z) via pyarrow's writer,
    formatting 2 M-row chunks on two threads."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    def flat(a: np.ndarray) -> np.ndarray:
        return np.ravel(a, order="F")

    columns = dict(zip(COORD_COLUMNS, coords, strict=True))
    columns["T"] = flat(step.temperature)
    for c, name in enumerate(IPF_COLUMNS):
        columns[name] = flat(step.ipf[..., c])
    columns["ori_inds"] = flat(step.ori_inds)
    table = pa.table(columns)
    rows = 1 << 21
    chunks = [table.slice(start, rows) for start in range(0, table.num_rows, rows)]

    def render(i: int) -> pa.Buffer:
        sink = pa.BufferOutputStream()
        options = pacsv.WriteOptions(include_header=i == 0, batch_size=1 << 16)
        pacsv.write_csv(chunks[i], sink, write_options=options)
        return sink.getvalue()

    with open(path, "wb") as handle, ThreadPoolExecutor(2) as pool:
        for first in range(0, len(chunks), 2):  # two chunks formatted at once, written in order
            for buffer in pool.map(render, range(first, min(first + 2, len(chunks)))):
                handle.write(buffer)
