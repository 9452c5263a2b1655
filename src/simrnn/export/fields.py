"""Export of field surrogates: microstructure (CNN-LSTM, PredRNN: every
:class:`~simrnn.fields.models.FieldModel`) and temperature models (task ``fields-temperature``).

The exported module takes temperatures in kelvin and applies the run's normalisation itself
(``T_norm = (T - t_ambient_K) / (t_max_train_K - t_ambient_K)``, :mod:`simrnn.fields.dataset`)::

    context [B, L, 10, H, W]  channel 0 temperature (K), channels 1-9 IPF colours in [0, 1]
    future_temperature [B, 1, H, W]  temperature (K) of the predicted step
      ->  ipf [B, 9, H, W]  predicted IPF colours of the next step, in [0, 1]

A temperature model maps ``temperature [B, L, 1, H, W]`` (K) to ``next_temperature [B, 1, H, W]`` (K).

Batch and grid size (H, W) are dynamic; the context length L is the run's ``seq_length``. Points
missing from the simulation enter training as ``T_norm = 0`` and IPF 0: give them
``T = t_ambient_K`` and IPF 0.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from simrnn.export.adapters import register_adapter
from simrnn.export.plan import ExportPlan, TensorSpec
from simrnn.fields.models import FieldModel

#: IPF channel names in the cache's order (``ipf_x:0..2, ipf_y:0..2, ipf_z:0..2``, RGB).
IPF_LABELS = [f"ipf_{axis}_{colour}" for axis in "xyz" for colour in "rgb"]


class _KelvinScaled(nn.Module):
    """A wrapped model and the run's temperature normalisation ``(T - t_ambient_K) / t_span_K``."""

    def __init__(self, model: nn.Module, t_ambient_K: float, t_max_train_K: float) -> None:
        super().__init__()
        self.model = model
        self.t_ambient_K = float(t_ambient_K)
        self.t_span_K = float(t_max_train_K) - float(t_ambient_K)


class KelvinFieldSurrogate(_KelvinScaled):
    """A field model with the run's temperature normalisation in front of it.

    Args:
        model: ``model(context [B, L, C, H, W], future_temp [B, 1, H, W]) -> [B, C_out, H, W]`` on
            normalised temperature (channel 0 of the context).
        t_ambient_K, t_max_train_K: the run's normalisation constants.
    """

    def forward(self, context: torch.Tensor, future_temperature: torch.Tensor) -> torch.Tensor:
        """``context [B, L, C, H, W]`` (channel 0 in K), ``future_temperature [B, 1, H, W]`` (K) -> ``[B, C_out, H, W]``."""
        temperature = (context[:, :, :1] - self.t_ambient_K) / self.t_span_K
        normalised = torch.cat([temperature, context[:, :, 1:]], dim=2)
        return self.model(normalised, (future_temperature - self.t_ambient_K) / self.t_span_K)


def channel_labels(n_channels: int, with_temperature: bool) -> list[str]:
    """``temperature`` + the IPF names for the standard 10/9 channels, else ``channel_<i>``."""
    standard = (["temperature"] if with_temperature else []) + IPF_LABELS
    return standard if n_channels == len(standard) else [f"channel_{i}" for i in range(n_channels)]


@register_adapter(FieldModel)
def field_plan(model: FieldModel, meta: dict[str, Any]) -> ExportPlan:
    """Plan for a field model from its run's ``data_meta`` (normalisation, seq_length, image_size)."""
    norm = meta["normalisation"]
    length, (height, width) = int(meta["seq_length"]), (int(x) for x in meta["image_size"])
    model.layout = torch.contiguous_format  # a fixed layout: the export does not time the CPU's
    module = KelvinFieldSurrogate(model, norm["t_ambient_K"], norm["t_max_train_K"]).eval()
    c_in, c_out = model.in_channels, model.out_channels
    generator = torch.Generator().manual_seed(0)
    context = torch.rand(2, length, c_in, height, width, generator=generator)
    context[:, :, 0] = norm["t_ambient_K"] + context[:, :, 0] * (norm["t_max_train_K"] - norm["t_ambient_K"])
    future = norm["t_ambient_K"] + torch.rand(2, 1, height, width, generator=generator) * (
        norm["t_max_train_K"] - norm["t_ambient_K"])
    in_labels, out_labels = channel_labels(c_in, True), channel_labels(c_out, False)
    return ExportPlan(
        module=module,
        example=(context, future),
        inputs=[
            TensorSpec("context", ["batch", length, c_in, "height", "width"],
                       f"the {length} context frames of a {meta.get('plane', '')} plane, oldest first",
                       labels=in_labels, label_axis=2, units=["K"] + ["-"] * (c_in - 1)),
            TensorSpec("future_temperature", ["batch", 1, "height", "width"],
                       "temperature of the step to predict", units=["K"]),
        ],
        outputs=[
            TensorSpec("ipf", ["batch", c_out, "height", "width"],
                       "predicted IPF colours of the next step, in [0, 1]", labels=out_labels, label_axis=1,
                       units=["-"] * c_out),
        ],
        family="fields",
        details={"normalisation": {"t_ambient_K": float(norm["t_ambient_K"]),
                                   "t_max_train_K": float(norm["t_max_train_K"]),
                                   "missing_points": "T = t_ambient_K and IPF 0, as in training"},
                 "plane": meta.get("plane"), "trained_image_size": [height, width]},
    )


class KelvinTemperatureSurrogate(_KelvinScaled):
    """A temperature model (next T from the L previous ones) in kelvin in and out.

    Args:
        model: ``model(context [B, L, 1, H, W]) -> [B, 1, H, W]``, both normalised temperatures.
        t_ambient_K, t_max_train_K: the run's normalisation constants.
    """

    def forward(self, temperature: torch.Tensor) -> torch.Tensor:
        """``temperature [B, L, 1, H, W]`` (K) -> next temperature ``[B, 1, H, W]`` (K)."""
        return self.model((temperature - self.t_ambient_K) / self.t_span_K) * self.t_span_K + self.t_ambient_K


@register_adapter(task="fields-temperature")
def temperature_plan(model: nn.Module, meta: dict[str, Any]) -> ExportPlan:
    """Plan for a temperature surrogate (``--target temperature`` runs) from its ``data_meta``."""
    norm = meta["normalisation"]
    length, (height, width) = int(meta["seq_length"]), (int(x) for x in meta["image_size"])
    model.layout = torch.contiguous_format  # a fixed layout: the export does not time the CPU's
    module = KelvinTemperatureSurrogate(model, norm["t_ambient_K"], norm["t_max_train_K"]).eval()
    generator = torch.Generator().manual_seed(0)
    span = norm["t_max_train_K"] - norm["t_ambient_K"]
    context = norm["t_ambient_K"] + span * torch.rand(2, length, 1, height, width, generator=generator)
    return ExportPlan(
        module=module,
        example=(context,),
        inputs=[TensorSpec("temperature", ["batch", length, 1, "height", "width"],
                           f"temperatures of the {length} previous steps of a {meta.get('plane', '')} plane, "
                           f"oldest first", units=["K"])],
        outputs=[TensorSpec("next_temperature", ["batch", 1, "height", "width"],
                            "predicted temperature of the next step", units=["K"])],
        family="fields-temperature",
        details={"normalisation": {"t_ambient_K": float(norm["t_ambient_K"]),
                                   "t_max_train_K": float(norm["t_max_train_K"]),
                                   "missing_points": "T = t_ambient_K, as in training"},
                 "plane": meta.get("plane"), "trained_image_size": [height, width]},
    )
