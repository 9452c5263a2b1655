"""The microstructure networks: CNN-LSTM (ConvLSTM core) and PredRNN (ST-LSTM core).

Both predict the next frame's nine IPF channels from ``L`` context frames and the next
temperature field, with LASERNet's outer structure (S = 3 stages by default)::

    context  [B, L, 10, H, W] --pad to 2^S--> encoder 10->16->32->64 (per frame, shared)
                              --> [B, L, 64, H/8, W/8] --> recurrent core --> h [B, C_hid, H/8, W/8]
    future_temp [B, 1, H, W]  --pad--> encoder 1->16->32->64 --> f [B, 64, H/8, W/8]
    [h, f] (128) --> decoder 128->64->32->16 (2x bilinear up per stage) --> 1x1 head
             --> crop to H x W --> [B, 9, H, W] in [0, 1], in one of three output forms:

    output="gated" (default):  pred = last + g * (sigmoid(z) - last),  g = sigmoid(z_g)   [head: 9 + 1 channels]
    output="logit":            pred = sigmoid(logit(clamp(last, eps, 1 - eps)) + z)        [head: 9 channels]
    output="direct":           pred = sigmoid(z)                   (LASERNet's form)      [head: 9 channels]

``last [B, 9, H, W]`` is the IPF of the last context frame (its last ``out_channels`` channels).
Most of the plane does not change between two steps, so the two residual forms start from
persistence and only learn the change; their 1x1 head starts with small weights
(``RESIDUAL_HEAD_SCALE`` times the default init), so an untrained model predicts almost exactly
persistence while every parameter still receives a gradient. The *gated* form blends the last
frame with a freshly predicted colour through a per-pixel gate ``g`` (bias ``GATE_BIAS``, so
g = 0.05 at the start): one gate per pixel learns *where* cells change and ``sigmoid(z)`` *what*
colour they take, the same for a molten pixel (last = 0) as for any other, where the *logit* form
starts a molten pixel at p = eps and damps its gradient by ``p (1 - p)`` (about 25x against a
mid-range pixel). The direct form must rebuild every pixel
through the 1/8-resolution bottleneck and starts far behind persistence.

The grid is padded (replicate) up to a multiple of ``2 ** S`` and the output cropped back, so
every output pixel is the input pixel at the same place for any H, W (LASERNet floors 47 rows to
40 and stretches back with a resize). With ``skip=True`` decoder stage k also receives the
same-size features of the last context frame and of the future temperature (U-Net skips).

Convolutions run in ``model.layout``, chosen ONCE when the model is built: the layout
:func:`simrnn.fields.hardware.conv_layout` times fastest on the CPU (a training on another
device sets the one timed there; config.json records it). ``forward`` never probes or reads the
environment. Set ``model.layout`` to force one; results differ only by fp32 rounding.

Example::

    >>> model = build_model("predrnn", hidden_channels=8, n_layers=2)
    >>> pred, aux = model.forward_with_aux(torch.rand(2, 3, 10, 47, 65), torch.rand(2, 1, 47, 65))
    >>> pred.shape, sorted(aux)
    (torch.Size([2, 9, 47, 65]), ['decouple'])

References: Shi et al., "Convolutional LSTM Network", NeurIPS 2015; Wang et al., "PredRNN",
NeurIPS 2017 and TPAMI 2022; LASERNet (github.com/MadSoeDK/LASERNet).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from simrnn.fields.blocks import Decoder, Encoder
from simrnn.fields.cores import ConvLSTMStack, PredRNNStack
from simrnn.fields.hardware import conv_layout
from simrnn.registry import register_model

#: clamp of the last frame's IPF before the logit: values of exactly 0 (molten) or 1 stay finite
#: (logit(1e-2) = -4.6); the clamp moves persistence by at most 1e-2 per value.
RESIDUAL_EPS = 1e-2
#: the residual head's initial weights are the default init times this (small, non-zero).
RESIDUAL_HEAD_SCALE = 1e-2
#: initial bias of the gated form's gate logit: g = sigmoid(-3) = 0.047 before training.
GATE_BIAS = -3.0
#: the output forms (see the module docstring).
OUTPUTS = ("gated", "logit", "direct")


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


class FieldModel(nn.Module):
    """Encoder -> recurrent core -> fusion with the future temperature -> decoder.

    Subclasses set ``core_class``, a module ``core(steps, with_aux) -> (h, aux)`` reading the L
    encoded frames ``steps[t] [B, C, h, w]`` (see :mod:`~simrnn.fields.cores`).

    Args:
        in_channels: channels per context frame (normalised T + 9 IPF = 10).
        out_channels: predicted channels (9 IPF).
        hidden_channels: width of the recurrent core (h, c and, for PredRNN, m).
        n_layers: stacked recurrent layers.
        skip: U-Net skips from the last context frame and the future-temperature encoder.
        encoder_channels: widths of the encoder stages (each halves the grid); the decoder mirrors
            them, ending at ``encoder_channels[0]`` before the 1x1 head.
        output: ``"gated"``, ``"logit"`` (both relative to the last context frame; need
            ``out_channels <= in_channels``: the last ``out_channels`` context channels are the IPF)
            or ``"direct"`` (LASERNet's ``sigmoid(decoder)``); see the module docstring.
    """

    core_class: type[nn.Module]

    def __init__(
        self,
        in_channels: int = 10,
        out_channels: int = 9,
        hidden_channels: int = 64,
        n_layers: int = 4,
        skip: bool = False,
        encoder_channels: Sequence[int] = (16, 32, 64),
        output: str = "gated",
    ) -> None:
        super().__init__()
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {', '.join(OUTPUTS)}, got {output!r}")
        if output != "direct" and out_channels > in_channels:
            raise ValueError(f"output={output!r} predicts the change of the last {out_channels} context channels, "
                             f"but the context has only in_channels={in_channels}")
        widths = [int(c) for c in encoder_channels]
        #: the constructor arguments, JSON-ready (for self-describing checkpoints).
        self.model_args = {"in_channels": in_channels, "out_channels": out_channels,
                           "hidden_channels": hidden_channels, "n_layers": n_layers, "skip": skip,
                           "encoder_channels": widths, "output": output}
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.skip = skip
        self.output = output
        self.multiple = 2 ** len(widths)
        #: memory format of the convolutions, chosen here once (see the module docstring).
        self.layout: torch.memory_format = conv_layout("cpu")
        self.context_encoder = Encoder(in_channels, widths)
        self.future_encoder = Encoder(1, widths)
        self.core = self.core_class(widths[-1], hidden_channels, n_layers)
        skip_channels = [2 * c if skip else 0 for c in reversed(widths)]
        head_channels = out_channels + (output == "gated")
        self.decoder = Decoder(hidden_channels + widths[-1], widths[::-1], head_channels, skip_channels)
        if output != "direct":
            with torch.no_grad():
                self.decoder.head.weight.mul_(RESIDUAL_HEAD_SCALE)
                self.decoder.head.bias.zero_()
                if output == "gated":
                    self.decoder.head.bias[-1] = GATE_BIAS

    def count_parameters(self) -> int:
        """Number of trainable parameters."""
        return count_parameters(self)

    def forward(self, context: torch.Tensor, future_temp: torch.Tensor) -> torch.Tensor:
        """Predict the next frame.

        Args:
            context: ``[B, L, in_channels, H, W]`` normalised T + IPF of L context frames.
            future_temp: ``[B, 1, H, W]`` normalised temperature of the predicted frame.

        Returns:
            ``[B, out_channels, H, W]`` IPF prediction in [0, 1].
        """
        return self._predict(context, future_temp, with_aux=False)[0]

    def forward_with_aux(self, context: torch.Tensor, future_temp: torch.Tensor
                         ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """As :meth:`forward`, plus the core's auxiliary losses (scalars; ``{}`` if it has none)."""
        return self._predict(context, future_temp, with_aux=True)

    def _predict(self, context: torch.Tensor, future_temp: torch.Tensor, with_aux: bool
                 ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        self._check_shapes(context, future_temp)
        batch, length, _, height, width = context.shape
        pad = (0, -width % self.multiple, 0, -height % self.multiple)
        layout = self.layout
        # time-major frames [L * B, C, H, W]: step t is the dense block [t * B, (t + 1) * B)
        frames = F.pad(context.transpose(0, 1).flatten(0, 1), pad, mode="replicate")
        context_features, encoded = self.context_encoder(frames.contiguous(memory_format=layout), layout)
        hidden, aux = self.core(encoded.chunk(length), with_aux)
        future = F.pad(future_temp, pad, mode="replicate").contiguous(memory_format=layout)
        future_features, future_encoded = self.future_encoder(future, layout)
        if self.skip:
            last = [f[-batch:] for f in context_features]
            skips = [torch.cat(pair, dim=1) for pair in zip(last, future_features, strict=True)][::-1]
        else:
            skips = [None] * len(future_features)
        z = self.decoder(torch.cat([hidden, future_encoded], dim=1), skips)[..., :height, :width]
        if self.output == "direct":
            return torch.sigmoid(z), aux
        last = context[:, -1, -self.out_channels:]
        if self.output == "logit":
            return torch.sigmoid(z + torch.logit(last.clamp(RESIDUAL_EPS, 1 - RESIDUAL_EPS))), aux
        new, gate = torch.sigmoid(z[:, :-1]), torch.sigmoid(z[:, -1:])
        return last + gate * (new - last), aux

    def _check_shapes(self, context: torch.Tensor, future_temp: torch.Tensor) -> None:
        if context.dim() != 5 or context.shape[2] != self.in_channels or 0 in context.shape:
            raise ValueError(
                f"context must be [batch, length, {self.in_channels} channels (normalised T + IPF), "
                f"height, width], got {list(context.shape)}"
            )
        batch, _, _, height, width = context.shape
        if tuple(future_temp.shape) != (batch, 1, height, width):
            raise ValueError(
                f"future_temp must be [batch={batch}, 1, height={height}, width={width}] (the next "
                f"normalised temperature on the context's grid), got {list(future_temp.shape)}"
            )


@register_model("cnn-lstm", task="fields")
class CNNLSTM(FieldModel):
    """LASERNet's microstructure CNN-LSTM: :class:`FieldModel` with a stacked ConvLSTM core.

    ``hidden = ConvLSTM_{n_layers}(encoded context)[top layer, last step]`` (see
    :mod:`~simrnn.fields.cells`). Parameters at LASERNet's settings (hidden 64, no skips):
    1 layer 440,425 and 4 layers 1,325,929, as LASERNet's.
    """

    core_class = ConvLSTMStack


@register_model("predrnn", task="fields")
class PredRNN(FieldModel):
    """PredRNN microstructure network: :class:`FieldModel` with Wang et al.'s ST-LSTM stack.

    The spatiotemporal memory M zig-zags through the layers and reaches every hidden state;
    :meth:`forward_with_aux` also returns PredRNN-V2's decoupling loss ``{"decouple": scalar}``
    (train with ``loss + beta * aux["decouple"]``).
    """

    core_class = PredRNNStack
