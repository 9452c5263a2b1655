"""Temperature surrogates: the next temperature field from the ``L`` previous ones (LASERNet's TempNet).

LASERNet's later temperature network (encoder, ConvLSTM core, U-Net skips, decoder; best with
2 ConvLSTM layers and 2 context frames) predicts T(t) from T(t-L) ... T(t-1), so that a cascade can
run ahead of the thermal simulation (:mod:`simrnn.fields.cascade`). Built from the same blocks as
the microstructure networks (:mod:`~simrnn.fields.blocks`, :mod:`~simrnn.fields.cores`)::

    context [B, L, 1, H, W] --pad to 2^S--> encoder 1->16->32->64 (per frame, shared)
                            --> recurrent core --> h [B, C_hid, H/8, W/8]
    h --> decoder (2x bilinear up per stage, + skips of the last frame's encoder features)
      --> 1x1 head -> delta [B, 1, H, W] --> crop --> pred = last + delta

``last [B, 1, H, W]`` is the last context frame's normalised temperature: the network learns the
change (the melt pool moving on), and its head starts at ``RESIDUAL_HEAD_SCALE`` times the default
init, so an untrained model predicts nearly persistence. The output is not clamped (normalised
temperatures may exceed the training range).

Example::

    >>> model = build_model("temperature-cnn-lstm", hidden_channels=8, n_layers=2)
    >>> model(torch.rand(2, 2, 1, 24, 96)).shape
    torch.Size([2, 1, 24, 96])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from simrnn.fields.blocks import Decoder, Encoder
from simrnn.fields.cores import ConvLSTMStack, PredRNNStack
from simrnn.fields.hardware import conv_layout
from simrnn.fields.models import RESIDUAL_HEAD_SCALE
from simrnn.registry import register_model

#: registry name of a temperature model = this prefix + the microstructure model's name (same core).
TEMPERATURE_PREFIX = "temperature-"


class TemperatureModel(nn.Module):
    """Encoder -> recurrent core -> decoder with U-Net skips; predicts the next normalised temperature.

    Args:
        in_channels: channels per context frame (1: normalised T).
        out_channels: predicted channels (1).
        hidden_channels: width of the recurrent core.
        n_layers: stacked recurrent layers.
        skip: U-Net skips from the last context frame's encoder features (TempNet has them).
        encoder_channels: widths of the encoder stages (each halves the grid).
    """

    core_class: type[nn.Module]

    def __init__(self, in_channels: int = 1, out_channels: int = 1, hidden_channels: int = 64, n_layers: int = 2,
                 skip: bool = True, encoder_channels: Sequence[int] = (16, 32, 64)) -> None:
        super().__init__()
        if out_channels > in_channels:
            raise ValueError(f"the temperature model predicts the change of the last {out_channels} context "
                             f"channels, but the context has only in_channels={in_channels}")
        widths = [int(c) for c in encoder_channels]
        #: the constructor arguments, JSON-ready (for self-describing checkpoints).
        self.model_args = {"in_channels": in_channels, "out_channels": out_channels,
                           "hidden_channels": hidden_channels, "n_layers": n_layers, "skip": skip,
                           "encoder_channels": widths}
        self.in_channels, self.out_channels, self.skip = in_channels, out_channels, skip
        self.multiple = 2 ** len(widths)
        #: memory format of the convolutions, chosen once here (see :mod:`simrnn.fields.models`).
        self.layout: torch.memory_format = conv_layout("cpu")
        self.encoder = Encoder(in_channels, widths)
        self.core = self.core_class(widths[-1], hidden_channels, n_layers)
        skip_channels = [c if skip else 0 for c in reversed(widths)]
        self.decoder = Decoder(hidden_channels, widths[::-1], out_channels, skip_channels)
        with torch.no_grad():
            self.decoder.head.weight.mul_(RESIDUAL_HEAD_SCALE)
            self.decoder.head.bias.zero_()

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        """``context [B, L, in_channels, H, W]`` normalised temperatures -> next frame ``[B, out_channels, H, W]``."""
        return self.forward_with_aux(context)[0]

    def forward_with_aux(self, context: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """As :meth:`forward`, plus the core's auxiliary losses (PredRNN's ``"decouple"``; else ``{}``)."""
        if context.dim() != 5 or context.shape[2] != self.in_channels or 0 in context.shape:
            raise ValueError(f"context must be [batch, length, {self.in_channels} channel(s) (normalised T), height, "
                             f"width], got {list(context.shape)}")
        batch, length, _, height, width = context.shape
        pad = (0, -width % self.multiple, 0, -height % self.multiple)
        layout = self.layout
        frames = F.pad(context.transpose(0, 1).flatten(0, 1), pad, mode="replicate")
        features, encoded = self.encoder(frames.contiguous(memory_format=layout), layout)
        hidden, aux = self.core(encoded.chunk(length), self.training)
        skips = [f[-batch:] for f in features][::-1] if self.skip else [None] * len(features)
        delta = self.decoder(hidden, skips)[..., :height, :width]
        return context[:, -1, -self.out_channels:] + delta, aux


@register_model("temperature-cnn-lstm", task="fields-temperature")
class TemperatureCNNLSTM(TemperatureModel):
    """LASERNet's TempNet: :class:`TemperatureModel` with a stacked ConvLSTM core."""

    core_class = ConvLSTMStack


@register_model("temperature-predrnn", task="fields-temperature")
class TemperaturePredRNN(TemperatureModel):
    """:class:`TemperatureModel` with PredRNN's ST-LSTM core (and its decoupling loss while training)."""

    core_class = PredRNNStack
