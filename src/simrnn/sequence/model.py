"""The parameter-conditioned LSTM of GrainLearning's RNN module, as a plain ``nn.Module``.

The material parameters set the LSTM's initial state, the load path drives it::

    h0 = tanh(W_h p + b_h),   c0 = tanh(W_c p + b_c)                      (p: params [B, P])
    h_t, c_t = LSTM(x_t, h_{t-1}, c_{t-1}),  t = 1..W                     (x: window [B, W, F])
    y = W_2 relu(W_1 h_W + b_1) + b_2                                      (y: [B, L])

The output estimates the (standardised) response at the window's LAST step. Gate order and a
single bias per gate match Keras (i, f, c, o), so GrainLearning's pretrained weights map 1:1
(``bias_hh`` is zero after import). Reference: Cheng, Wang et al., "GrainLearning" (2023);
Hochreiter & Schmidhuber (1997).

Example::

    >>> model = ParamConditionedLSTM(n_input_features=1, n_params=6, n_outputs=7, hidden_size=8, dense_size=8)
    >>> model(torch.zeros(5, 4, 1), torch.zeros(5, 6)).shape
    torch.Size([5, 7])
"""

from __future__ import annotations

import torch
from torch import nn

from simrnn.registry import register_model


@register_model("lstm", task="sequence")
class ParamConditionedLSTM(nn.Module):
    """LSTM whose initial hidden and cell states are computed from constant parameters.

    Args:
        n_input_features: F, load-path features per time step (drained: 1, undrained: 3).
        n_params: P, constant parameters per sequence (E, v, kr, eta, mu [, pressure, ...]).
        n_outputs: L, response labels predicted per step (e, p, q, f0, a_c, a_n, a_t).
        hidden_size: U, LSTM units (GrainLearning's ``lstm_units``; its default lives in
            :class:`~simrnn.sequence.config.SequenceConfig`).
        dense_size: D, units of the ReLU layer after the LSTM (GrainLearning's ``dense_units``).
    """

    def __init__(
        self,
        n_input_features: int,
        n_params: int,
        n_outputs: int,
        hidden_size: int,
        dense_size: int,
    ) -> None:
        super().__init__()
        self.n_input_features = n_input_features
        self.n_params = n_params
        self.n_outputs = n_outputs
        self.state_h = nn.Linear(n_params, hidden_size)
        self.state_c = nn.Linear(n_params, hidden_size)
        self.lstm = nn.LSTM(n_input_features, hidden_size, batch_first=True)
        self.dense = nn.Linear(hidden_size, dense_size)
        self.head = nn.Linear(dense_size, n_outputs)

    def forward(self, windows: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """Predict the response at each window's last step.

        Args:
            windows: load-path windows ``[B, W, F]`` (batch, window steps, input features).
            params: constant parameters ``[B, P]``.

        Returns:
            ``[B, L]`` standardised outputs at step W of each window.
        """
        if windows.ndim != 3 or windows.shape[-1] != self.n_input_features:
            raise ValueError(
                f"windows must be [batch, window, {self.n_input_features}], got {list(windows.shape)}"
            )
        if params.ndim != 2 or params.shape != (windows.shape[0], self.n_params):
            raise ValueError(
                f"params must be [batch={windows.shape[0]}, {self.n_params}], got {list(params.shape)}"
            )
        h0 = torch.tanh(self.state_h(params)).unsqueeze(0)
        c0 = torch.tanh(self.state_c(params)).unsqueeze(0)
        _, (h_last, _) = self.lstm(windows, (h0, c0))
        return self.head(torch.relu(self.dense(h_last[0])))
