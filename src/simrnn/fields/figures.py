"""Figures of field data (temperature and IPF maps of a plane at a few time steps)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from simrnn.fields.cache import open_cache
from simrnn.fields.dataset import _LAYOUT
from simrnn.plots import save_figure, subplots


def plot_planes(
    cache_path: str | Path,
    out_path: str | Path,
    plane: str = "xz",
    slice_index: int | None = None,
    positions: list[int] | None = None,
) -> Path:
    """Save a PNG with one row per time step: temperature (K) and the IPF-Z colour map of one plane.

    ``slice_index`` defaults to the middle slice (for ``xz`` the laser track's centre line, for ``xy``
    the top surface); ``positions`` are step positions in the cache (default: 3 spread over the run).
    Images are ``[H, W]`` as in :class:`~simrnn.fields.dataset.FieldSequenceDataset`, drawn with
    ``origin="lower"`` and physical extents in micrometres (axes stretched to fill each panel).
    """
    cache = open_cache(cache_path)
    fixed, perm = _LAYOUT[plane]
    n_steps = cache.shape[0]
    if slice_index is None:
        slice_index = cache.shape[1 + fixed] - 1 if plane == "xy" else cache.shape[1 + fixed] // 2
    if positions is None:
        positions = sorted({min(1, n_steps - 1), n_steps // 2, n_steps - 1})
    axes_um = [np.asarray(a) * 1e6 for a in (cache.grid.x, cache.grid.y, cache.grid.z)]
    extent = [axes_um[perm[2]][0], axes_um[perm[2]][-1], axes_um[perm[1]][0], axes_um[perm[1]][-1]]
    index = tuple(slice_index if a == fixed else slice(None) for a in range(3))
    plane_axes = [a for a in range(3) if a != fixed]
    hw = tuple(plane_axes.index(a) for a in perm[1:])
    fig, grid = subplots(len(positions), 2, figsize=(10, 1.2 + 1.6 * len(positions)), squeeze=False)
    with cache.open() as h5:
        t_hi = float(cache.t_max.max())
        for row, t in enumerate(positions):
            temp = h5["temperature"][(t, *index)].transpose(hw)
            ipf_z = h5["ipf"][(t, *index)].transpose(*hw, 2)[..., 6:9].astype(np.float32)
            shown = {"origin": "lower", "extent": extent, "aspect": "auto", "interpolation": "nearest"}
            im = grid[row, 0].imshow(temp, cmap="inferno", vmin=300, vmax=t_hi, **shown)
            grid[row, 1].imshow(np.clip(ipf_z, 0, 1), **shown)
            grid[row, 0].set_title(f"step {int(cache.steps[t])}: temperature (K)", fontsize=9)
            grid[row, 1].set_title(f"step {int(cache.steps[t])}: IPF-Z (molten = black)", fontsize=9)
            fig.colorbar(im, ax=grid[row, 0], fraction=0.025)
    names = "xyz"
    for ax in grid.ravel():
        ax.set_xlabel(f"{names[perm[2]]} (µm)", fontsize=8)
        ax.set_ylabel(f"{names[perm[1]]} (µm)", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle(f"{plane} plane at {names[fixed]} index {slice_index} (axes not to scale)", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, out_path, dpi=110, bbox_inches=None)
