"""Plane sequences of a field cache: temporal splits, sequence windows and normalisation.

Every slice along the plane's fixed axis is a sample, at exact grid indices. Images follow
LASERNet's orientation: ``xy -> [H=Y, W=X]`` (fixed z), ``yz -> [H=Y, W=Z]`` (fixed x),
``xz -> [H=Z, W=X]`` (fixed y); row 0 is the smallest coordinate (plot with ``origin="lower"``).

**Split.** The time steps are cut into contiguous blocks in ``split_ratio`` proportions (train =
first 12, val = next 6, test = last 6 of 24 steps). A window is ``seq_length`` consecutive context
steps plus the next step as target, all inside one block, so no window crosses a split border.

**First step.** If the cache's first step is uniform in temperature (the all-ambient state before
the laser starts, ``t_max - t_min < 1e-3 K``) it is left out of every window by default
(``skip_uniform_first=True``): it carries no melt pool, unlike every other frame. For 24 steps, xz,
94 slices and ``seq_length=3`` this gives 8 x 94 = 752 train, 3 x 94 = 282 val and 282 test samples.
LASERNet had 752 / 188 / 188 because it drops the first step of *every* split block, losing one
window per slice in val and test although those blocks start mid-process.

**Normalisation.** ``T_norm = (T - t_ambient_K) / (t_max_train_K - t_ambient_K)`` with both
constants taken from the *train* steps (the minimum and maximum temperature over them), whatever
the requested split, so train/val/test share it; ``normalisation`` (a dict from a saved run) can
override it. Unlike LASERNet's clamp at 2000 K it keeps the melt pool's gradient. Missing points
(``mask == False``) get T_norm = 0 and IPF 0.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from simrnn.errors import UserInputError
from simrnn.fields.cache import FieldCache, open_cache

PLANES = ("xy", "xz", "yz")
SPLITS = ("train", "val", "test")
# plane -> (fixed axis of [X, Y, Z], permutation of [X, Y, Z] into [S, H, W])
_LAYOUT = {"xy": (2, (2, 1, 0)), "xz": (1, (1, 2, 0)), "yz": (0, (0, 1, 2))}


def split_blocks(n_steps: int, split_ratio: tuple[int, int, int] = (12, 6, 6)) -> dict[str, range]:
    """Contiguous step positions of each split: ``val``/``test`` get ``round(n * r / sum(r))``."""
    if len(split_ratio) != 3 or min(split_ratio) <= 0:
        raise UserInputError(
            f"split_ratio {tuple(split_ratio)}: expected three positive numbers like (12, 6, 6)."
        )
    total = sum(split_ratio)
    n_val = round(n_steps * split_ratio[1] / total)
    n_test = round(n_steps * split_ratio[2] / total)
    n_train = n_steps - n_val - n_test
    return {
        "train": range(0, n_train),
        "val": range(n_train, n_train + n_val),
        "test": range(n_train + n_val, n_steps),
    }


class FieldSequenceDataset(Dataset):
    """Sequences of 2-D planes from a field cache (see the module docstring for the conventions).

    Each item is a dict:

    * ``context [L, 10, H, W]`` float32: channel 0 normalised temperature, 1-9 IPF (x, y, z RGB);
    * ``future_temp [1, H, W]`` float32: normalised temperature at the target step;
    * ``target [9, H, W]`` float32: IPF at the target step;
    * ``mask [H, W]`` bool: True where every step of the window had a point;
    * ``slice_index`` int (index along the fixed axis), ``context_steps [L]`` int64 and
      ``target_step`` int (time-step numbers ``k`` of the CSV files).

    ``preload=True`` reads the split's frames once into RAM (``[steps, slices, ...]``, shared by all
    windows); ``preload=False`` reads only the window's planes from the HDF5 file per item.

    Example::

        train = FieldSequenceDataset("cache.h5", plane="xz", split="train")
        item = train[0]; item["context"].shape  # (3, 10, Z, X)
    """

    def __init__(
        self,
        cache: str | Path | FieldCache,
        plane: str = "xz",
        split: str = "train",
        split_ratio: tuple[int, int, int] = (12, 6, 6),
        seq_length: int = 3,
        preload: bool = True,
        skip_uniform_first: bool = True,
        normalisation: dict | None = None,
    ) -> None:
        self.cache = cache if isinstance(cache, FieldCache) else open_cache(cache)
        if plane not in PLANES:
            raise UserInputError(f"plane {plane!r}: expected one of {', '.join(PLANES)}.")
        if split not in SPLITS:
            raise UserInputError(f"split {split!r}: expected one of {', '.join(SPLITS)}.")
        if seq_length < 1:
            raise UserInputError(f"seq_length {seq_length}: expected at least 1.")
        self.plane, self.split, self.seq_length = plane, split, seq_length
        self.split_ratio = tuple(split_ratio)
        self.preload = preload
        n_steps = self.cache.shape[0]
        self.blocks = split_blocks(n_steps, self.split_ratio)
        first_uniform = bool(self.cache.t_max[0] - self.cache.t_min[0] < 1e-3)
        self.skipped_steps = [0] if skip_uniform_first and first_uniform else []
        self.windows = {name: self._windows(block) for name, block in self.blocks.items()}
        if not self.windows[split]:
            usable = len([t for t in self.blocks[split] if t not in self.skipped_steps])
            raise UserInputError(
                f"split {split!r} of {self.cache.path} has {usable} usable time steps; seq_length {seq_length} "
                f"needs at least {seq_length + 1}."
            )
        self.normalisation = normalisation or self._train_normalisation()
        fixed, self._perm = _LAYOUT[plane]
        self.n_slices = self.cache.shape[1 + fixed]
        self.image_size = tuple(self.cache.shape[1 + a] for a in self._perm[1:])
        self._h5 = None
        self._h5_pid = None
        self._check_masks()
        self._frames = self._load_frames() if preload else None

    def _check_masks(self) -> None:
        """Refuse a step of this split without any point (an all-False mask): it has nothing to learn or score."""
        with self.cache.open() as h5:
            for t in sorted({t for w in self.windows[self.split] for t in w}):
                if not h5["mask"][t].any():
                    raise UserInputError(
                        f"{self.cache.path}: dataset 'mask' is all False at step index {t} (file step "
                        f"{int(self.cache.steps[t])}): that step has no points; convert the CSVs again.")

    def _check_finite(self, name: str, values: np.ndarray, t: int, where: str = "") -> None:
        """Refuse a NaN or infinite value read from dataset ``name`` at step index ``t`` (one sentence)."""
        bad = ~np.isfinite(values)
        if bad.any():
            index = ", ".join(map(str, np.argwhere(bad)[0]))
            raise UserInputError(
                f"{self.cache.path}: dataset '{name}' has a non-finite value ({values[bad].flat[0]}) at step index {t} "
                f"(file step {int(self.cache.steps[t])}){where}, node index [{index}]{' within the slice' if where else ''}; the cache is corrupt: convert the "
                "CSVs again.")

    def _windows(self, block: range) -> list[list[int]]:
        usable = [t for t in block if t not in self.skipped_steps]
        span = self.seq_length + 1
        return [usable[i : i + span] for i in range(len(usable) - span + 1)]

    def _train_normalisation(self) -> dict:
        train = list(self.blocks["train"])
        ambient = float(np.min(self.cache.t_min[train]))
        hottest = float(np.max(self.cache.t_max[train]))
        if hottest - ambient <= 0:
            raise UserInputError(
                f"{self.cache.path}: the train steps have a uniform temperature; cannot normalise."
            )
        return {
            "formula": "(T - t_ambient_K) / (t_max_train_K - t_ambient_K)",
            "t_ambient_K": ambient,
            "t_max_train_K": hottest,
        }

    def normalise(self, temperature: np.ndarray) -> np.ndarray:
        """Kelvin -> normalised temperature (float32), with the stored constants."""
        lo, hi = self.normalisation["t_ambient_K"], self.normalisation["t_max_train_K"]
        return ((temperature - lo) / (hi - lo)).astype(np.float32)

    def describe(self) -> dict:
        """Everything a run should record about its data: split steps, sample counts, normalisation."""
        steps = self.cache.steps
        return {
            "cache": str(self.cache.path),
            "plane": self.plane,
            "split": self.split,
            "split_ratio": list(self.split_ratio),
            "seq_length": self.seq_length,
            "image_size": list(self.image_size),
            "n_slices": self.n_slices,
            "context_channels": 10,
            "target_channels": 9,
            "steps": {name: [int(steps[t]) for t in block] for name, block in self.blocks.items()},
            "skipped_steps": [int(steps[t]) for t in self.skipped_steps],
            "n_samples": {name: len(w) * self.n_slices for name, w in self.windows.items()},
            "normalisation": dict(self.normalisation),
        }

    def __len__(self) -> int:
        return len(self.windows[self.split]) * self.n_slices

    def __getitem__(self, index: int) -> dict:
        """Sample ``index`` = window ``index // n_slices`` at slice ``index % n_slices`` (shapes above)."""
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples.")
        window = self.windows[self.split][index // self.n_slices]
        s = index % self.n_slices
        if self._frames is not None:
            temp, ipf, mask = self._frames
            rows = [self._positions[t] for t in window]
            temp, ipf, mask = temp[rows, s], ipf[rows, s], mask[rows, s]
        else:
            temp, ipf, mask = self._read_planes(window, s)
        context = np.empty((self.seq_length, 10, *self.image_size), dtype=np.float32)
        context[:, 0] = temp[:-1]
        context[:, 1:] = ipf[:-1]
        steps = self.cache.steps
        return {
            "context": torch.from_numpy(context),
            "future_temp": torch.from_numpy(np.ascontiguousarray(temp[-1:])),
            "target": torch.from_numpy(ipf[-1].astype(np.float32)),
            "mask": torch.from_numpy(mask.all(axis=0)),
            "slice_index": s,
            "context_steps": torch.as_tensor(steps[window[:-1]], dtype=torch.int64),
            "target_step": int(steps[window[-1]]),
        }

    def _load_frames(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every step used by this split, as ``temp [n, S, H, W]`` float32 (normalised),
        ``ipf [n, S, 9, H, W]`` float16 and ``mask [n, S, H, W]`` bool."""
        needed = sorted({t for w in self.windows[self.split] for t in w})
        self._positions = {t: i for i, t in enumerate(needed)}
        n, shape = len(needed), (self.n_slices, *self.image_size)
        temp = np.empty((n, *shape), np.float32)
        ipf = np.empty((n, shape[0], 9, *shape[1:]), np.float16)
        mask = np.empty((n, *shape), bool)
        p = self._perm
        with self.cache.open() as h5:
            for i, t in enumerate(needed):
                mask[i] = h5["mask"][t].transpose(p)
                kelvin, colours = h5["temperature"][t], h5["ipf"][t]  # [X, Y, Z], [X, Y, Z, 9]
                self._check_finite("temperature", kelvin, t)
                self._check_finite("ipf", colours, t)
                temp[i] = np.where(mask[i], self.normalise(kelvin.transpose(p)), 0)
                ipf[i] = colours.transpose(p[0], 3, p[1], p[2])
        return temp, ipf, mask

    def _read_planes(self, window: list[int], s: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The window's planes at slice ``s`` from HDF5: ``temp [n, H, W]``, ``ipf [n, 9, H, W]``, ``mask``."""
        h5 = self._file()
        fixed = _LAYOUT[self.plane][0]
        index = tuple(s if a == fixed else slice(None) for a in range(3))
        plane_axes = [a for a in range(3) if a != fixed]  # [X, Y, Z] order of the remaining axes
        hw = tuple(plane_axes.index(a) for a in self._perm[1:])  # their order in [H, W]
        temp, ipf, mask = [], [], []
        where = f", {self.plane} slice {s}"
        for t in window:
            m = h5["mask"][(t, *index)].transpose(hw)
            kelvin, colours = h5["temperature"][(t, *index)], h5["ipf"][(t, *index)]
            self._check_finite("temperature", kelvin, t, where)
            self._check_finite("ipf", colours, t, where)
            mask.append(m)
            temp.append(np.where(m, self.normalise(kelvin.transpose(hw)), 0))
            ipf.append(colours.transpose(2, *hw))
        return np.stack(temp).astype(np.float32), np.stack(ipf), np.stack(mask)

    def _file(self):
        """This process's read-only HDF5 handle (reopened after a DataLoader worker fork)."""
        if self._h5 is None or self._h5_pid != os.getpid():
            self._h5, self._h5_pid = self.cache.open(), os.getpid()
        return self._h5

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_h5"] = state["_h5_pid"] = None
        return state
