"""Convolutional recurrent cells: ConvLSTM and the spatiotemporal ST-LSTM of PredRNN.

ConvLSTM (Shi et al., NeurIPS 2015), one 3x3 convolution over ``[x, h]`` giving all four gates::

    i, f, g, o = split(W * [x, h] + b)
    c' = sigmoid(f) c + sigmoid(i) tanh(g),   h' = sigmoid(o) tanh(c')

ST-LSTM (Wang et al., "PredRNN", NeurIPS 2017; TPAMI 2022). Besides the temporal cell C it carries
a spatiotemporal memory M that zig-zags through the layer stack (see :mod:`~simrnn.fields.cores`)::

    i,  f,  g  = W_x * x + W_h * h                      (gates of C, from x and h)
    i', f', g' = W'_x * x + W_m * M                     (gates of M, from x and M)
    C' = sigmoid(f) C + sigmoid(i) tanh(g)
    M' = sigmoid(f') M + sigmoid(i') tanh(g')
    o  = sigmoid(W_ox * x + W_oh * h + W_o * [C', M'])
    H' = o tanh(W_1x1 * [C', M'])

so M reaches H' through both the output gate and the 1x1 fusion. The forget gates' biases start
at +1 (Jozefowicz et al., 2015). The cells have no normalisation, so they fit any image size.
PredRNN-V2's decoupling loss needs the increments ``sigmoid(i) tanh(g)`` and
``sigmoid(i') tanh(g')``, which :class:`STLSTMCell` returns.

Example::

    >>> cell = ConvLSTMCell(in_channels=8, hidden_channels=4)
    >>> h, c = cell(torch.zeros(2, 8, 5, 7), cell.zero_state(torch.zeros(2, 8, 5, 7)))
    >>> h.shape
    torch.Size([2, 4, 5, 7])
"""

from __future__ import annotations

import torch
from torch import nn


def _forget_bias(conv: nn.Conv2d, hidden_channels: int, forget_slots: tuple[int, ...]) -> None:
    """Zero ``conv``'s bias, then set the gate slots in ``forget_slots`` (units of hidden_channels) to +1."""
    with torch.no_grad():
        conv.bias.zero_()
        for slot in forget_slots:
            conv.bias[slot * hidden_channels:(slot + 1) * hidden_channels] = 1.0


class ConvLSTMCell(nn.Module):
    """One ConvLSTM layer step: ``x [B, C_in, h, w]``, ``(h, c)`` each ``[B, C_hid, h, w]``.

    Args:
        in_channels: channels of the input ``x``.
        hidden_channels: channels of ``h`` and ``c``.
        kernel_size: odd kernel size of the gate convolution.
    """

    def __init__(self, in_channels: int, hidden_channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.hidden_channels = hidden_channels
        self.gates = nn.Conv2d(in_channels + hidden_channels, 4 * hidden_channels, kernel_size,
                               padding=kernel_size // 2)
        _forget_bias(self.gates, hidden_channels, forget_slots=(1,))

    def zero_state(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Zero ``(h, c)`` matching ``x [B, C_in, h, w]`` in batch, size, dtype, device and layout."""
        zeros = x.new_zeros(x.shape[0], self.hidden_channels, *x.shape[2:]).contiguous(
            memory_format=_layout_of(x))
        return zeros, zeros

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """One step: returns the new ``(h, c)``, each ``[B, C_hid, h, w]``."""
        h, c = state
        i, f, g, o = self.gates(torch.cat([x, h], dim=1)).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


class STLSTMCell(nn.Module):
    """One ST-LSTM layer step (Wang et al.): ``x [B, C_in, h, w]``; ``h, c, m`` each ``[B, C_hid, h, w]``.

    Args:
        in_channels: channels of the input ``x``.
        hidden_channels: channels of ``h``, ``c`` and ``m``.
        kernel_size: odd kernel size of the gate convolutions (the 1x1 fusion excepted).
    """

    def __init__(self, in_channels: int, hidden_channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.hidden_channels = hidden_channels
        pad = kernel_size // 2
        # x -> i, f, g (for C), i', f', g' (for M), o; the only bias of the gates lives here.
        self.conv_x = nn.Conv2d(in_channels, 7 * hidden_channels, kernel_size, padding=pad)
        self.conv_h = nn.Conv2d(hidden_channels, 4 * hidden_channels, kernel_size, padding=pad, bias=False)
        self.conv_m = nn.Conv2d(hidden_channels, 3 * hidden_channels, kernel_size, padding=pad, bias=False)
        self.conv_o = nn.Conv2d(2 * hidden_channels, hidden_channels, kernel_size, padding=pad, bias=False)
        self.conv_last = nn.Conv2d(2 * hidden_channels, hidden_channels, 1)
        _forget_bias(self.conv_x, hidden_channels, forget_slots=(1, 4))

    def zero_state(self, x: torch.Tensor) -> torch.Tensor:
        """A zero ``[B, C_hid, h, w]`` state (h, c or m) matching ``x`` in everything but channels."""
        return x.new_zeros(x.shape[0], self.hidden_channels, *x.shape[2:]).contiguous(
            memory_format=_layout_of(x))

    def forward(self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor, m: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """One step: returns ``(h', c', m', delta_c, delta_m)``, each ``[B, C_hid, h, w]``.

        ``delta_c = sigmoid(i) tanh(g)`` and ``delta_m = sigmoid(i') tanh(g')`` are the increments
        of C and M, used by PredRNN-V2's decoupling loss.
        """
        i_x, f_x, g_x, i_xm, f_xm, g_xm, o_x = self.conv_x(x).chunk(7, dim=1)
        i_h, f_h, g_h, o_h = self.conv_h(h).chunk(4, dim=1)
        i_m, f_m, g_m = self.conv_m(m).chunk(3, dim=1)
        delta_c = torch.sigmoid(i_x + i_h) * torch.tanh(g_x + g_h)
        c = torch.sigmoid(f_x + f_h) * c + delta_c
        delta_m = torch.sigmoid(i_xm + i_m) * torch.tanh(g_xm + g_m)
        m = torch.sigmoid(f_xm + f_m) * m + delta_m
        memory = torch.cat([c, m], dim=1)
        o = torch.sigmoid(o_x + o_h + self.conv_o(memory))
        h = o * torch.tanh(self.conv_last(memory))
        return h, c, m, delta_c, delta_m


def _layout_of(x: torch.Tensor) -> torch.memory_format:
    """``torch.channels_last`` if the 4-D ``x`` is stored that way, else the default layout."""
    if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        return torch.channels_last
    return torch.contiguous_format
