"""Tiny run directories built directly (no training): a config.json and a self-describing best.ckpt."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from simrnn.checkpoints import write_checkpoint
from simrnn.files import write_json_atomic
from simrnn.registry import build_model

SEQUENCE_META = {
    "window_size": 4, "window_step": 1, "pad_length": 3, "input_features": ["e_z"],
    "param_names": ["E", "v", "kr", "eta", "mu", "pressure"], "output_labels": ["e", "p", "q"],
    "output_mean": [0.6, 0.3, 0.2], "output_std": [0.05, 0.1, 0.15], "standardize_outputs": True,
}
FIELD_META = {
    "plane": "xz", "seq_length": 3, "image_size": [11, 13], "split_ratio": [12, 6, 6],
    "normalisation": {"t_ambient_K": 300.0, "t_max_train_K": 2100.0}, "solidification_band_K": [1600.0, 1700.0],
}


def make_run(root: Path, task: str, model_name: str, model_args: dict, meta: dict, seed: int = 0) -> Path:
    """``root/<task>/run`` with config.json and checkpoints/best.ckpt of a randomly initialised model."""
    torch.manual_seed(seed)
    model = build_model(model_name, **model_args)
    with torch.no_grad():  # visible weights everywhere (the residual head starts near zero)
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    run = root / task / "run"
    (run / "checkpoints").mkdir(parents=True)
    write_json_atomic(run / "config.json", {"task": task, "model": {"name": model_name}})
    write_checkpoint(run / "checkpoints" / "best.ckpt", model,
                     {"model_name": model_name, "model_args": model_args, "data_meta": meta})
    return run


def sequence_run(root: Path) -> Path:
    return make_run(root, "sequence", "lstm", {"n_input_features": 1, "n_params": 6, "n_outputs": 3,
                                               "hidden_size": 8, "dense_size": 6}, SEQUENCE_META)


def field_run(root: Path, model_name: str) -> Path:
    predrnn = model_name == "predrnn"  # two layers: the memory's zig-zag; skips: the decoder's other path
    args = {"hidden_channels": 4, "n_layers": 2 if predrnn else 1, "encoder_channels": [4, 8], "skip": predrnn}
    return make_run(root, "fields", model_name, args, FIELD_META)


def random_sequences(n: int, steps: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Monotonic strain paths ``[n, steps, 1]`` and plausible parameters ``[n, 6]``."""
    rng = np.random.default_rng(seed)
    inputs = np.cumsum(rng.uniform(0, 0.01, (n, steps, 1)), axis=1).astype(np.float32)
    params = np.column_stack([rng.uniform(7, 10, n), rng.uniform(0, 0.5, n), rng.uniform(0, 1, n),
                              rng.uniform(0, 1, n), rng.uniform(1, 60, n), rng.uniform(0.1, 1, n)])
    return inputs, params.astype(np.float32)


def random_fields(n: int, length: int, height: int, width: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Context ``[n, L, 10, H, W]`` (channel 0 in K, IPF in [0, 1]) and future temperature ``[n, 1, H, W]`` (K)."""
    rng = np.random.default_rng(seed)
    context = rng.uniform(0, 1, (n, length, 10, height, width)).astype(np.float32)
    context[:, :, 0] = rng.uniform(300, 2500, (n, length, height, width))
    return context, rng.uniform(300, 2500, (n, 1, height, width)).astype(np.float32)
