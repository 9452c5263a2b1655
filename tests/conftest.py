"""Shared fixtures: tiny deterministic data sets written under tmp_path."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")

OUTPUT_NAMES = ["e", "p", "q", "f0", "a_c", "a_n", "a_t"]
CONTACT_NAMES = ["E", "v", "kr", "eta", "mu"]


def learnable_sequences(n: int, steps: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A smooth, parameter-dependent toy response (not physics): ``inputs [n,S,1]``, ``params [n,5]``, ``outputs [n,S,7]``."""
    rng = np.random.default_rng(seed)
    params = rng.uniform(0.0, 1.0, (n, 5)).astype(np.float32)
    strain = np.linspace(0.0, 0.2, steps, dtype=np.float32)
    inputs = np.broadcast_to(strain[None, :, None], (n, steps, 1)).copy()
    scale = 5.0 + 20.0 * params[:, :1]
    shape = np.tanh(scale * strain[None, :])
    outputs = np.stack([(1 + params[:, j % 5, None]) * shape * (j + 1) for j in range(7)], axis=-1)
    return inputs, params, outputs.astype(np.float32)


def write_learnable_h5(path, n_per_group: int = 24, steps: int = 30, groups=("0.2e6", "0.5e6")):
    """Write drained toy sequences in GrainLearning's layout, one group per pressure name."""
    from simrnn.sequence.hdf5 import write_triaxial_hdf5

    arrays = {}
    for k, group in enumerate(groups):
        inputs, params, outputs = learnable_sequences(n_per_group, steps, seed=k)
        arrays[(group, "drained")] = {"inputs": inputs, "contact_params": params, "outputs": outputs}
    write_triaxial_hdf5(path, arrays, input_names=["e_z"], contact_param_names=CONTACT_NAMES,
                        output_names=OUTPUT_NAMES)
    return path


@pytest.fixture(scope="session")
def learnable_h5_writer():
    """The function :func:`write_learnable_h5`, for module-scoped fixtures."""
    return write_learnable_h5


@pytest.fixture
def tiny_h5(tmp_path):
    """A drained data set at two pressures in GrainLearning's layout (24 + 24 sequences of 30 steps)."""
    return write_learnable_h5(tmp_path / "tiny.h5")
