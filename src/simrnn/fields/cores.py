"""Recurrent cores of the field models: stacked ConvLSTM and PredRNN's zig-zag ST-LSTM stack.

Each core reads the encoded context frames as a sequence of L tensors ``steps[t] [B, C_in, h, w]``
(a list rather than one ``[B, L, ...]`` tensor keeps every step dense in ``channels_last``) and
returns the top layer's last hidden state ``[B, C_hid, h, w]`` plus a dict of auxiliary losses
(empty for ConvLSTM).

PredRNN's memory M flows bottom -> top within a time step and from the top layer at t-1 to the
bottom layer at t (Wang et al., 2017, Fig. 3). PredRNN-V2's decoupling loss (Wang et al., TPAMI
2022, Eq. 6) keeps the increments of C and M apart through a shared 1x1 adapter W_d::

    L_decouple = mean over t, layers, batch, channels of
                 | cos( flat(W_d * delta_c), flat(W_d * delta_m) ) |    (cosine over h x w)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from simrnn.fields.cells import ConvLSTMCell, STLSTMCell


class ConvLSTMStack(nn.Module):
    """``n_layers`` ConvLSTM layers; layer k > 0 reads the hidden state of layer k - 1."""

    def __init__(self, in_channels: int, hidden_channels: int, n_layers: int) -> None:
        super().__init__()
        self.cells = nn.ModuleList(
            ConvLSTMCell(in_channels if k == 0 else hidden_channels, hidden_channels) for k in range(n_layers)
        )

    def forward(self, steps: Sequence[torch.Tensor], with_aux: bool = False
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``steps[t] [B, C_in, h, w]`` -> (top hidden state at the last step ``[B, C_hid, h, w]``, ``{}``)."""
        states = [cell.zero_state(steps[0]) for cell in self.cells]
        for inp in steps:
            for k, cell in enumerate(self.cells):
                states[k] = cell(inp, states[k])
                inp = states[k][0]
        return inp, {}


class PredRNNStack(nn.Module):
    """``n_layers`` ST-LSTM layers with the zig-zag memory M and PredRNN-V2's decoupling adapter."""

    def __init__(self, in_channels: int, hidden_channels: int, n_layers: int) -> None:
        super().__init__()
        self.cells = nn.ModuleList(
            STLSTMCell(in_channels if k == 0 else hidden_channels, hidden_channels) for k in range(n_layers)
        )
        self.adapter = nn.Conv2d(hidden_channels, hidden_channels, 1, bias=False)

    def forward(self, steps: Sequence[torch.Tensor], with_aux: bool = False
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``steps[t] [B, C_in, h, w]`` -> (top hidden state at the last step ``[B, C_hid, h, w]``, aux).

        ``aux = {"decouple": scalar}`` when ``with_aux``, else ``{}`` (the adapter is then skipped).
        """
        first = self.cells[0].zero_state(steps[0])
        h = [first] * len(self.cells)
        c = [first] * len(self.cells)
        m = first
        cosines = []
        for inp in steps:
            for k, cell in enumerate(self.cells):
                h[k], c[k], m, delta_c, delta_m = cell(inp, h[k], c[k], m)
                inp = h[k]
                if with_aux:
                    cosines.append(self._abs_cosine(delta_c, delta_m))
        aux = {"decouple": torch.stack(cosines).mean()} if with_aux else {}
        return inp, aux

    def _abs_cosine(self, delta_c: torch.Tensor, delta_m: torch.Tensor) -> torch.Tensor:
        """Mean over batch and channels of |cos| between adapted increments, flattened over h x w."""
        a = self.adapter(delta_c).flatten(2)
        b = self.adapter(delta_m).flatten(2)
        return F.cosine_similarity(a, b, dim=2).abs().mean()
