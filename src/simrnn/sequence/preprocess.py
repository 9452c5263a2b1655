"""From a selection of triaxial sequences to model-ready, split, standardised windows.

Steps (GrainLearning's order, without its off-by-one):

1. parameter columns: ``contact_params [N,5]`` (+ pressure in MPa) (+ drained flag) (+ e0);
2. padding: ``pad_length`` copies of the first step prepended to inputs AND outputs;
3. split BY SEQUENCE with a seeded permutation: ``int(train_frac N)`` train, ``int(val_frac N)``
   val, the rest test (no window of a test sequence is ever seen in training);
4. output standardisation with the train split's mean/std per label (over sequences and steps);
5. windows: for every end index ``t = W-1, W-1+step, ...`` of the padded sequence, the window
   ``inputs[t-W+1 : t+1]`` and the target ``outputs[t]`` (the window's LAST step).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from simrnn.errors import UserInputError
from simrnn.sequence.config import SequenceConfig
from simrnn.sequence.hdf5 import TriaxialData

CONTACT_PARAM_NAMES = ["E", "v", "kr", "eta", "mu"]


def param_names(contact_param_names: list[str], add_pressure: bool, add_experiment_type: bool,
                add_e0: bool) -> list[str]:
    """Names of the parameter columns in the order :func:`build_params` stacks them."""
    names = list(contact_param_names)
    names += ["pressure"] if add_pressure else []
    names += ["drained"] if add_experiment_type else []
    names += ["e0"] if add_e0 else []
    return names


def build_params(data: TriaxialData, add_pressure: bool, add_experiment_type: bool, add_e0: bool) -> np.ndarray:
    """Parameter matrix ``[N, P]`` float32: contact params, then pressure (MPa), drained flag, e0."""
    columns = [data.contact_params.astype(np.float32)]
    if add_pressure:
        columns.append((data.pressure / 1e6).astype(np.float32)[:, None])
    if add_experiment_type:
        columns.append((data.experiment_type == "drained").astype(np.float32)[:, None])
    if add_e0:
        if data.outputs is None:
            raise UserInputError(f"{data.source}: the run takes e0 (the initial void ratio) as a parameter, read from "
                                 "the outputs' first 'e'; this file has no outputs, so give e0 another way "
                                 "(predict's inputs, a CSV file, or params with e0=...).", key=("inputs", "params"))
        if "e" not in data.output_names:
            raise UserInputError(f"{data.source}: add_e0 needs an output named 'e' (void ratio).")
        columns.append(data.outputs[:, 0, data.output_names.index("e")].astype(np.float32)[:, None])
    return np.concatenate(columns, axis=1)


def pad_start(array: np.ndarray, pad_length: int) -> np.ndarray:
    """Prepend ``pad_length`` copies of step 0 along axis 1: ``[N, S, C] -> [N, S + pad_length, C]``."""
    if pad_length == 0:
        return array
    return np.concatenate([np.repeat(array[:, :1], pad_length, axis=1), array], axis=1)


def split_indices(n_sequences: int, train_frac: float, val_frac: float, seed: int) -> dict[str, np.ndarray]:
    """Seeded split by sequence: ``{'train','val','test'} -> sorted sequence indices``."""
    n_train, n_val = int(train_frac * n_sequences), int(val_frac * n_sequences)
    n_test = n_sequences - n_train - n_val
    if min(n_train, n_val, n_test) < 1:
        raise UserInputError(
            f"{n_sequences} sequences split with train_frac={train_frac}, val_frac={val_frac} give "
            f"{n_train}/{n_val}/{n_test} train/val/test sequences; each split needs at least one."
        )
    order = np.random.default_rng(seed).permutation(n_sequences)
    return {
        "train": np.sort(order[:n_train]),
        "val": np.sort(order[n_train:n_train + n_val]),
        "test": np.sort(order[n_train + n_val:]),
    }


def make_windows(inputs: np.ndarray, params: np.ndarray, outputs: np.ndarray, window_size: int,
                 window_step: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Cut sequences into windows whose target is the output at the window's last step.

    Args:
        inputs: ``[N, S, F]``; params: ``[N, P]``; outputs: ``[N, S, L]`` (already padded).

    Returns:
        ``windows [M, W, F]``, ``params [M, P]``, ``targets [M, L]`` with
        ``M = N * ((S - W) // window_step + 1)``, sequence-major order.
    """
    n, s, f = inputs.shape
    if s < window_size:
        raise UserInputError(f"sequences have {s} steps (after padding), fewer than window_size {window_size}.")
    x = torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32))
    ends = torch.arange(window_size - 1, s, window_step)
    windows = x.unfold(1, window_size, 1)[:, ends - window_size + 1].permute(0, 1, 3, 2)
    k = len(ends)
    targets = torch.from_numpy(np.ascontiguousarray(outputs, dtype=np.float32))[:, ends]
    p = torch.from_numpy(np.ascontiguousarray(params, dtype=np.float32)).repeat_interleave(k, dim=0)
    return windows.reshape(n * k, window_size, f).contiguous(), p, targets.reshape(n * k, -1)


@dataclass
class PreparedSequences:
    """Split, padded, standardised sequences ready for windowing.

    ``arrays[split]`` holds ``inputs [n,S+pad,F]``, ``params [n,P]``, ``outputs [n,S+pad,L]``
    (standardised when requested); ``indices[split]`` are positions in the selected data;
    ``meta`` is the run's ``data_meta`` (what a checkpoint needs to be used on its own).
    """

    arrays: dict[str, dict[str, np.ndarray]]
    indices: dict[str, np.ndarray]
    meta: dict[str, Any] = field(default_factory=dict)

    def windows(self, split: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        a = self.arrays[split]
        return make_windows(a["inputs"], a["params"], a["outputs"], self.meta["window_size"], self.meta["window_step"])


def prepare_sequences(config: SequenceConfig, data: TriaxialData,
                      standardisation: tuple[list[float], list[float]] | None = None) -> PreparedSequences:
    """Apply parameter columns, padding, split, standardisation (see module docstring).

    ``standardisation``: the output ``(mean [L], std [L])`` of an earlier run to use instead of this
    train split's (fine-tuning that run keeps the scale its weights were trained for).
    """
    if config.window_size > data.inputs.shape[1] + config.pad_length:
        raise UserInputError(
            f"window_size {config.window_size} is longer than the sequences ({data.inputs.shape[1]} steps "
            f"+ pad_length {config.pad_length}) in {data.source}."
        )
    params = build_params(data, config.add_pressure, config.add_experiment_type, config.add_e0)
    inputs = pad_start(data.inputs.astype(np.float32), config.pad_length)
    outputs = pad_start(data.outputs.astype(np.float32), config.pad_length)
    indices = split_indices(len(inputs), config.train_frac, config.val_frac, config.seed)
    n_labels = outputs.shape[2]
    mean, std = np.zeros(n_labels, np.float32), np.ones(n_labels, np.float32)
    if standardisation is not None:
        mean, std = (np.asarray(v, dtype=np.float32) for v in standardisation)
    elif config.standardize_outputs:
        train = outputs[indices["train"]]
        mean = train.mean(axis=(0, 1)).astype(np.float32)
        std = train.std(axis=(0, 1)).astype(np.float32)
        std = np.where(std > 0, std, np.float32(1.0))
    arrays = {
        split: {"inputs": inputs[idx], "params": params[idx], "outputs": (outputs[idx] - mean) / std}
        for split, idx in indices.items()
    }
    meta = {
        "window_size": config.window_size,
        "window_step": config.window_step,
        "pad_length": config.pad_length,
        "input_features": list(data.input_names),
        "param_names": param_names(
            data.contact_param_names, config.add_pressure, config.add_experiment_type, config.add_e0
        ),
        "output_labels": list(data.output_names),
        "output_mean": mean.tolist(),
        "output_std": std.tolist(),
        "standardize_outputs": config.standardize_outputs,
        "add_pressure": config.add_pressure,
        "add_experiment_type": config.add_experiment_type,
        "add_e0": config.add_e0,
        "pressure": config.pressure,
        "experiment_type": config.experiment_type,
        "sequence_length": int(data.inputs.shape[1]),
    }
    return PreparedSequences(arrays=arrays, indices=indices, meta=meta)
