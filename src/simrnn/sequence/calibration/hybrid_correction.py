"""A local correction of the hybrid loop's surrogate: its residuals at the simulations, interpolated.

The loop's surrogate (an MLP or a sequence run over the whole prior box) is accurate to a few
percent of a curve's range; a single drained curve constrains E and mu to well under 1 % of their
ranges, finer than that. :class:`ResidualCorrection` makes the model exact at every simulation and
accurate near them: the residuals ``r_i = sim(x_i) - surrogate(x_i)`` (curves ``[T, O]``) are
interpolated by a Gaussian process (kriging) with a squared-exponential kernel and zero mean::

    model(x) = surrogate(x) + k(x, X) (K + nugget I)^-1 R

so a few kernel lengths away from every simulation the model is the surrogate, and among
simulations placed in the posterior it is a local interpolant of the simulator (exact at the
simulations up to the nugget). The kernel is anisotropic with length scale
``m * base_j`` per parameter (``base`` the previous posterior's std, or the prior width / 100
before there is one); the multiplier ``m`` is chosen on a grid of powers of two by the
leave-one-out error (closed form: ``e_i = [K^-1 R]_i / [K^-1]_ii``) of the simulations inside the
posterior region (within :data:`REGION_STDS` posterior stds of its mean in every parameter; all of
them while there are fewer than :data:`MIN_REGION_POINTS`), measured in units of the likelihood's
std per observable. The LOO error of the chosen kernel is also the model error of round 1.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: multipliers of the base length scale tried (powers of two).
LENGTH_MULTIPLIERS = 2.0 ** np.arange(-1, 13)
#: relative nugget on the kernel's diagonal (the simulator is deterministic; numerical conditioning only).
NUGGET = 1e-8
#: simulations within this many posterior stds of its mean (every parameter) choose the length scale.
REGION_STDS = 4.0
MIN_REGION_POINTS = 4


def _kernel(a: np.ndarray, b: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Squared-exponential kernel ``[len(a), len(b)]`` of ``a [N, P]``, ``b [M, P]`` with ``length [P]``."""
    d = (a[:, None, :] - b[None, :, :]) / length
    return np.exp(-0.5 * np.sum(d**2, axis=2))


def _loo(params: np.ndarray, residual: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Leave-one-out residuals ``[S, D]`` of the kriging interpolant of ``residual [S, D]``."""
    inverse = np.linalg.pinv(_kernel(params, params, length) + NUGGET * np.eye(len(params)), hermitian=True)
    return (inverse @ residual) / np.diag(inverse)[:, None]


class ResidualCorrection:
    """``surrogate(x) + kriging of its residuals`` as a model ``params [N, P] -> curves [N, T, O]``.

    Args:
        surrogate: the loop's surrogate ``[N, P] -> [N, T, O]``.
        params: the simulated points ``[S, P]``; ``curves`` their simulations ``[S, T, O]``.
        scale: the likelihood's std per observable ``[O]`` (residuals in these units choose the kernel).
        steps: the time steps the likelihood uses (a slice), for the LOO error.
        centre, base: the previous posterior's mean and std ``[P]`` (None: no posterior yet, the prior
            width / 100 as base, every simulation in the region).
        width: the prior box's width ``[P]``.
    """

    def __init__(self, surrogate: Callable[[np.ndarray], np.ndarray], params: np.ndarray, curves: np.ndarray,
                 scale: np.ndarray, steps: slice, width: np.ndarray, centre: np.ndarray | None = None,
                 base: np.ndarray | None = None):
        self.surrogate = surrogate
        self.params = np.asarray(params, dtype=np.float64)
        self.shape = curves.shape[1:]
        self.residual = (curves - surrogate(self.params)).reshape(len(params), -1)  # [S, T*O]
        base = width / 100 if base is None else np.maximum(base, 1e-6 * width)
        region = np.ones(len(params), dtype=bool)
        if centre is not None:
            region = np.all(np.abs(self.params - centre) <= REGION_STDS * base, axis=1)
            if region.sum() < MIN_REGION_POINTS:
                region[:] = True
        standard = (self.residual.reshape(len(params), *self.shape) / scale)[:, steps].reshape(len(params), -1)
        best = None
        for m in LENGTH_MULTIPLIERS:
            length = np.minimum(m * base, 2 * width)
            loo = _loo(self.params, standard, length)[region]
            score = float(np.mean(loo**2))
            if best is None or score < best[0]:
                best = (score, length, loo)
        _, self.length, loo = best
        per_obs = loo.reshape(len(loo), -1, len(scale))  # [S_region, T', O] in likelihood stds
        #: the leave-one-out RMSE per observable in the curves' units ``[O]``.
        self.loo_rmse = np.sqrt(np.mean(per_obs**2, axis=(0, 1))) * scale
        self.weights = np.linalg.pinv(_kernel(self.params, self.params, self.length) + NUGGET * np.eye(len(params)),
                                      hermitian=True) @ self.residual  # [S, T*O]

    def __call__(self, params: np.ndarray) -> np.ndarray:
        """``params [N, P]`` -> curves ``[N, T, O]``: the surrogate plus the interpolated residual."""
        params = np.asarray(params, dtype=np.float64)
        correction = _kernel(params, self.params, self.length) @ self.weights
        return self.surrogate(params) + correction.reshape(len(params), *self.shape)
