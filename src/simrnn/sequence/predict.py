"""Load a trained (or imported) sequence run and predict whole sequences.

Time alignment (differs from GrainLearning on purpose): the sequences are padded at the start
with ``pad_length`` copies of their first step, then EVERY window of ``window_size`` steps is
evaluated, so ``predict`` returns ``S - window_size + 1 + pad_length`` steps and element ``k``
estimates original step ``k + window_size - 1 - pad_length`` (the window's last step). With
``pad_length = window_size - 1`` every step 0..S-1 is predicted. GrainLearning stops one window
early (it never predicts step S-1) and its tutorial compares with labels shifted by one step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from simrnn.checkpoints import model_from_checkpoint, read_checkpoint
from simrnn.errors import UserInputError
from simrnn.runs import CONFIG_FILE, checkpoint_path, read_artifact, require_run_dir


@dataclass
class SequenceRun:
    """A loaded sequence surrogate: the model in eval mode plus what is needed to use it.

    ``meta`` keys: window_size, pad_length, input_features [F], param_names [P],
    output_labels [L], output_mean [L], output_std [L], standardize_outputs.
    """

    path: Path | None
    model: torch.nn.Module
    meta: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def window_size(self) -> int:
        return int(self.meta["window_size"])

    @property
    def pad_length(self) -> int:
        return int(self.meta.get("pad_length", 0))

    @property
    def output_labels(self) -> list[str]:
        return list(self.meta["output_labels"])

    def first_predicted_step(self) -> int:
        """Original time step estimated by element 0 of :func:`predict`'s output."""
        return self.window_size - 1 - self.pad_length


def load_run(path: str | Path, which: str = "best") -> SequenceRun:
    """Load a sequence run directory (trained or imported) from its ``best`` or ``last`` checkpoint."""
    run_dir = require_run_dir(path)
    ckpt = read_checkpoint(checkpoint_path(run_dir, which))
    hp = ckpt["hyper_parameters"]
    if "data_meta" not in hp:
        raise UserInputError(f"{run_dir}: checkpoint has no data_meta; not a sequence run.")
    return SequenceRun(
        path=run_dir,
        model=model_from_checkpoint(ckpt),
        meta=dict(hp["data_meta"]),
        config=read_artifact(run_dir, CONFIG_FILE),
    )


def _as_float_tensor(array, name: str, ndim: int) -> torch.Tensor:
    tensor = torch.as_tensor(np.asarray(array, dtype=np.float32))
    if tensor.ndim != ndim:
        raise UserInputError(f"{name} must have {ndim} dimensions, got shape {list(tensor.shape)}.")
    return tensor


def sliding_windows(inputs: torch.Tensor, window_size: int, pad_length: int) -> torch.Tensor:
    """All windows of every sequence, padded at the start with copies of the first step.

    Args:
        inputs: ``[N, S, F]``.

    Returns:
        ``[N, K, W, F]`` with ``K = S + pad_length - W + 1``; window ``k`` ends at padded step
        ``k + W - 1``. A view (no copy) when ``pad_length`` is 0.
    """
    if pad_length > 0:
        inputs = torch.cat([inputs[:, :1].expand(-1, pad_length, -1), inputs], dim=1)
    if inputs.shape[1] < window_size:
        raise UserInputError(
            f"sequences have {inputs.shape[1]} steps (after padding), fewer than window_size {window_size}."
        )
    return inputs.unfold(1, window_size, 1).permute(0, 1, 3, 2)


@torch.inference_mode()
def predict(run: SequenceRun, inputs, params) -> np.ndarray:
    """Predict whole sequences, un-standardised, in one batched forward pass.

    Args:
        run: from :func:`load_run` or :func:`simrnn.sequence.import_keras`.
        inputs: load paths ``[N, S, F]`` (same features and units as in training).
        params: parameters ``[N, P]`` in the run's ``param_names`` order.

    Returns:
        ``[N, S - window_size + 1 + pad_length, L]``; element ``k`` estimates original step
        ``k + window_size - 1 - pad_length``.
    """
    x = _as_float_tensor(inputs, "inputs [N, S, F]", 3)
    p = _as_float_tensor(params, "params [N, P]", 2)
    model = run.model
    if x.shape[2] != model.n_input_features:
        raise UserInputError(
            f"inputs have {x.shape[2]} features per step; the model expects {model.n_input_features} "
            f"({', '.join(run.meta.get('input_features', []))})."
        )
    if p.shape != (x.shape[0], model.n_params):
        raise UserInputError(
            f"params must be [N={x.shape[0]}, {model.n_params}] "
            f"({', '.join(run.meta.get('param_names', []))}), got {list(p.shape)}."
        )
    windows = sliding_windows(x, run.window_size, run.pad_length)
    n, k = windows.shape[:2]
    flat = windows.reshape(n * k, run.window_size, x.shape[2])
    device = next(model.parameters()).device
    out = model(flat.to(device), p.repeat_interleave(k, dim=0).to(device)).cpu().numpy()
    out = out.reshape(n, k, -1)
    if run.meta.get("standardize_outputs", True):
        out = out * np.asarray(run.meta["output_std"], np.float32) + np.asarray(run.meta["output_mean"], np.float32)
    return out
