"""Tiny synthetic field data and training settings shared by the fields task tests."""

from __future__ import annotations

from pathlib import Path

from simrnn.fields.cache import convert
from simrnn.fields.synthetic import synthesise

#: 24 x 8 x 8 nodes, 16 steps: xz images [8, 24], 8 slices; split 2,1,1 -> steps 0-7 / 8-11 / 12-15.
GRID, STEPS = (24, 8, 8), 16
#: settings of a tiny run: with seq_length 2, 5 train windows (40 samples), 2 val and 2 test windows (16 each).
TINY = {"split_ratio": "2,1,1", "seq_length": 2, "hidden_channels": 4, "rnn_layers": 1, "encoder_channels": "4,8,8",
        "batch_size": 8, "lr": 0.01, "epochs": 2, "accelerator": "cpu", "progress_bar": False,
        "t_solidus": 1600.0, "t_liquidus": 1800.0}


def tiny_cache(folder: Path, seed: int = 0) -> Path:
    """Synthesise and convert the tiny melt-pool series into ``folder/cache.h5``."""
    synthesise(folder / "csv", grid=GRID, steps=STEPS, seed=seed)
    return convert(folder / "csv", folder / "cache.h5")
