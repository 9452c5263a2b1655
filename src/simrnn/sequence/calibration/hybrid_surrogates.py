"""Surrogates of the hybrid loop (:mod:`.hybrid`): one small protocol, two implementations.

A :class:`Surrogate` maps ``params [N, P]`` to curves ``[N, T, O]`` at the calibrated experiment,
is trained on the simulations so far by :meth:`~Surrogate.fit` (each call starts from the current
weights: round 0 trains, later rounds fine-tune) and is saved into, and restored from, a round's
folder. Implementations:

- :class:`MlpSurrogate`: a small MLP from the parameters to the whole curve, trained full-batch
  (seconds per round); the default, and the only choice for a simulator with no trained run;
- :class:`~.hybrid_run_surrogate.RunSurrogate`: a trained simrnn sequence run (an LSTM whose
  initial state comes from the parameters), fine-tuned through the training engine (warm start
  from the previous round's best checkpoint, early stopping on a held-out part).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

#: the MLP's weights in a round folder.
MLP_FILE = "surrogate.pt"


@runtime_checkable
class Surrogate(Protocol):
    """What the hybrid loop needs of a surrogate: its own training defaults (the loop's settings
    override them), a prediction, a fit and its state in a round folder."""

    initial_epochs: int
    fine_tune_epochs: int
    patience: int

    def __call__(self, params: np.ndarray) -> np.ndarray:
        """``params [N, P]`` -> curves ``[N, T, O]`` (float64)."""

    def fit(self, params: np.ndarray, curves: np.ndarray, epochs: int, patience: int, holdout: float,
            seed: int) -> dict:
        """Train from the current weights on ``params [N, P]``, ``curves [N, T, O]``, at most ``epochs``
        epochs, early-stopped after ``patience`` epochs without a better loss on the ``holdout``
        fraction; return a JSON-able summary of the losses."""

    def save(self, directory: Path) -> None:
        """Write what :meth:`load` needs into the (existing) folder ``directory``."""

    def load(self, directory: Path) -> Surrogate:
        """Restore the state :meth:`save` wrote into ``directory``; return self."""


class MlpSurrogate:
    """A small MLP surrogate ``params [N, P] -> curves [N, T, O]`` (parameters scaled to the prior
    box, curves standardised per step and observable with the statistics of its first training set,
    kept in the ``state_dict`` so a warm start uses the same scaling)."""

    #: full-batch Adam steps: round 0, later rounds, and the patience of the early stop.
    initial_epochs = 2000
    fine_tune_epochs = 500
    patience = 100

    def __init__(self, bounds: np.ndarray, shape: tuple[int, int], hidden: int = 64):
        import torch

        self.bounds = np.asarray(bounds, dtype=np.float64)
        self.shape = tuple(shape)
        size = shape[0] * shape[1]
        self.net = torch.nn.Sequential(
            torch.nn.Linear(len(bounds), hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, hidden), torch.nn.Tanh(),
            torch.nn.Linear(hidden, size))
        self.net.register_buffer("curve_mean", torch.zeros(size))
        self.net.register_buffer("curve_std", torch.zeros(size))  # zeros: not fitted yet

    def _x(self, params: np.ndarray):
        import torch

        scaled = (params - self.bounds[:, 0]) / (self.bounds[:, 1] - self.bounds[:, 0]) * 2 - 1
        return torch.as_tensor(scaled, dtype=torch.float32)

    def __call__(self, params: np.ndarray) -> np.ndarray:
        """``params [N, P]`` -> curves ``[N, T, O]`` (float64)."""
        import torch

        with torch.no_grad():
            out = self.net(self._x(np.asarray(params, dtype=np.float64)))
            out = out * self.net.curve_std + self.net.curve_mean
        return out.double().numpy().reshape(len(params), *self.shape)

    def fit(self, params: np.ndarray, curves: np.ndarray, epochs: int, patience: int, holdout: float,
            seed: int) -> dict:
        """Full-batch Adam on ``params [N, P]``, ``curves [N, T, O]`` from the current weights (a warm
        start after the first call); the ``holdout`` fraction (at least one sample) is held out and
        the weights of its lowest loss are kept. Returns the losses."""
        import torch

        torch.manual_seed(seed)
        flat = torch.as_tensor(curves.reshape(len(curves), -1), dtype=torch.float32)
        if not self.net.curve_std.any():
            self.net.curve_mean.copy_(flat.mean(0))
            self.net.curve_std.copy_(flat.std(0).clamp_min(1e-8))
        target = (flat - self.net.curve_mean) / self.net.curve_std
        x = self._x(params)
        order = np.random.default_rng(seed).permutation(len(params))
        held = order[:max(1, int(round(holdout * len(params))))]
        train = order[len(held):]
        optimiser = torch.optim.Adam(self.net.parameters(), lr=3e-3)
        best, best_state, since = np.inf, None, 0
        for _ in range(epochs):
            optimiser.zero_grad()
            loss = torch.mean((self.net(x[train]) - target[train]) ** 2)
            loss.backward()
            optimiser.step()
            with torch.no_grad():
                val = float(torch.mean((self.net(x[held]) - target[held]) ** 2))
            if val < best:
                best, since = val, 0
                best_state = {k: v.clone() for k, v in self.net.state_dict().items()}
            elif (since := since + 1) >= patience:
                break
        self.net.load_state_dict(best_state)
        return {"train_loss": loss.item(), "holdout_loss": best, "train": len(train), "holdout": len(held)}

    def save(self, directory: Path) -> None:
        """Write ``directory/surrogate.pt`` (the ``state_dict``)."""
        import torch

        torch.save(self.net.state_dict(), Path(directory) / MLP_FILE)

    def load(self, directory: Path) -> MlpSurrogate:
        """Load the weights a :meth:`save` wrote into ``directory`` (or a ``surrogate.pt`` file itself)."""
        import torch

        path = Path(directory)
        path = path / MLP_FILE if path.is_dir() else path
        self.net.load_state_dict(torch.load(path, weights_only=True))
        return self
