"""Export of sequence surrogates: the whole-sequence prediction of :func:`simrnn.sequence.predict`.

The exported module pads each load path at the start with ``pad_length`` copies of its first step,
cuts EVERY window of ``window_size`` steps, runs the registered model on all windows at once and
undoes the output standardisation, so it returns what ``simrnn.sequence.predict`` returns::

    inputs [N, S, F], params [N, P]  ->  outputs [N, S + pad_length - window_size + 1, L]

``outputs[:, k]`` estimates original step ``k + window_size - 1 - pad_length``; with the default
``pad_length = window_size - 1`` that is step ``k``, so outputs line up with the inputs step by step.
Batch ``N`` and length ``S`` are dynamic (``S + pad_length >= window_size``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from simrnn.export.adapters import register_adapter
from simrnn.export.plan import ExportPlan, TensorSpec

#: units of the parameter columns and output labels simrnn's sequence data use (see
#: :mod:`simrnn.sequence.hdf5` and :func:`simrnn.sequence.preprocess.build_params`).
PARAM_UNITS = {"E": "log10 Pa", "v": "-", "kr": "-", "eta": "-", "mu": "degrees", "pressure": "MPa",
               "drained": "1 drained, 0 undrained", "e0": "-"}
OUTPUT_UNITS = {"e": "-", "p": "MPa", "q": "MPa", "f0": "N", "a_c": "-", "a_n": "-", "a_t": "-"}
INPUT_UNIT = "strain (fraction, compression positive)"
UNKNOWN_UNIT = "as in the training data"


class WholeSequenceSurrogate(nn.Module):
    """A window model turned into a whole-sequence predictor in physical units.

    Args:
        model: any sequence model ``model(windows [B, W, F], params [B, P]) -> [B, L]`` (standardised).
        window_size: W.
        pad_length: copies of step 0 put in front of each sequence.
        output_mean, output_std: ``[L]`` the training split's output standardisation.
    """

    def __init__(self, model: nn.Module, window_size: int, pad_length: int,
                 output_mean: list[float], output_std: list[float]) -> None:
        super().__init__()
        self.model = model
        self.window_size = window_size
        self.pad_length = pad_length
        self.register_buffer("output_mean", torch.tensor(output_mean, dtype=torch.float32))
        self.register_buffer("output_std", torch.tensor(output_std, dtype=torch.float32))

    def forward(self, inputs: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """``inputs [N, S, F]``, ``params [N, P]`` -> ``outputs [N, S + pad - W + 1, L]`` in physical units."""
        x = inputs
        if self.pad_length > 0:
            x = torch.cat([x[:, :1].expand(-1, self.pad_length, -1), x], dim=1)
        n, steps, features = x.shape
        k = steps - self.window_size + 1
        # window k = padded steps k .. k + W - 1 (an index gather: ONNX has no dynamic unfold)
        steps_of = torch.arange(k, device=x.device)[:, None] + torch.arange(self.window_size, device=x.device)
        windows = x[:, steps_of].reshape(n * k, self.window_size, features)  # [N * K, W, F]
        p = params.unsqueeze(1).expand(-1, k, -1).reshape(n * k, params.shape[1])
        out = self.model(windows, p)
        return out.reshape(n, k, out.shape[-1]) * self.output_std + self.output_mean


def time_alignment(window_size: int, pad_length: int) -> dict[str, Any]:
    """The manifest's account of which original step each output step estimates."""
    first = window_size - 1 - pad_length
    return {
        "window_size": window_size,
        "pad_length": pad_length,
        "output_steps": "S + pad_length - window_size + 1",
        "first_predicted_step": first,
        "rule": f"outputs[:, k] estimates input step k + {first} (the last step of window k; the "
                f"sequence is padded at the start with {pad_length} copies of step 0)",
        "min_input_steps": max(1, window_size - pad_length),
    }


@register_adapter(task="sequence")
def sequence_plan(model: nn.Module, meta: dict[str, Any]) -> ExportPlan:
    """Plan for any registered sequence model from its ``data_meta`` (see :mod:`simrnn.sequence.preprocess`)."""
    window, pad = int(meta["window_size"]), int(meta.get("pad_length", 0))
    labels = [str(x) for x in meta["output_labels"]]
    standardised = meta.get("standardize_outputs", True)
    mean = [float(x) for x in meta["output_mean"]] if standardised else [0.0] * len(labels)
    std = [float(x) for x in meta["output_std"]] if standardised else [1.0] * len(labels)
    features = [str(x) for x in meta["input_features"]]
    params = [str(x) for x in meta["param_names"]]
    module = WholeSequenceSurrogate(model, window, pad, mean, std).eval()
    steps = max(1, window - pad) + 3
    generator = torch.Generator().manual_seed(0)
    example = (torch.rand(2, steps, len(features), generator=generator) * 0.1,
               torch.rand(2, len(params), generator=generator))
    return ExportPlan(
        module=module,
        example=example,
        inputs=[
            TensorSpec("inputs", ["batch", "steps", len(features)], "load paths, one row per time step",
                       labels=features, units=[INPUT_UNIT] * len(features)),
            TensorSpec("params", ["batch", len(params)], "constant parameters of each sequence",
                       labels=params, units=[PARAM_UNITS.get(p, UNKNOWN_UNIT) for p in params]),
        ],
        outputs=[
            TensorSpec("outputs", ["batch", "output_steps", len(labels)],
                       "predicted response (un-standardised), see time_alignment", labels=labels,
                       units=[OUTPUT_UNITS.get(label, UNKNOWN_UNIT) for label in labels]),
        ],
        family="sequence",
        details={"time_alignment": time_alignment(window, pad)},
    )
