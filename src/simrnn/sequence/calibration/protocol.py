"""The one protocol every calibrated model follows: parameters ``[N, P]`` -> curves ``[N, T, O]``.

A calibration needs nothing from a model but this: given ``N`` sets of the ``P`` calibrated
parameters, return the ``O`` observable curves over the ``T`` steps of one experiment (its load
path and fixed conditions are part of the model object), plus names, units and, optionally, prior
bounds. Any object with these attributes is a :class:`CurveModel`; :class:`FunctionModel` is the
ready implementation, and three adapters build one:

- :func:`run_model`: a trained or imported simrnn sequence run (one batched ``predict`` pass);
- :func:`simulator_model`: the synthetic triaxial simulator (:mod:`simrnn.sequence.triaxial`);
- :func:`function_model`: a user's Python callable (a YADE driver, an analytical law, ...).

Example, a user's own model (a hyperbola ``q = a e / (1 + a e / b)``)::

    import numpy as np
    from simrnn.sequence.calibration import function_model

    strain = np.linspace(0, 0.1, 50)

    def hyperbola(params):                       # params [N, 2] -> curves [N, 50, 1]
        a, b = params[:, :1], params[:, 1:]
        return (a * strain / (1 + a * strain / b))[:, :, None]

    model = function_model(hyperbola, param_names=["a", "b"], obs_names=["q"], control=strain,
                           param_units={"a": "MPa", "b": "MPa"}, obs_units={"q": "MPa"},
                           bounds={"a": (10, 100), "b": (0.1, 2)})
    model(np.array([[50.0, 1.0]])).shape         # (1, 50, 1)

Steps before ``first_step`` are not predicted by the model (a windowed surrogate starts late); the
likelihood ignores them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from simrnn.errors import UserInputError

#: Units of the triaxial test's named quantities (GrainLearning's and the synthetic data's names).
UNITS = {
    "e": "-", "p": "MPa", "q": "MPa", "f0": "N", "a_c": "-", "a_n": "-", "a_t": "-",
    "E": "log10 Pa", "v": "-", "kr": "-", "eta": "-", "mu": "deg", "pressure": "MPa", "e0": "-", "drained": "-",
    "epsilon_axial": "axial strain", "e_z": "axial strain", "e_x": "lateral strain", "e_y": "lateral strain",
}


def unit_of(name: str) -> str:
    """The unit of a triaxial quantity by its name, ``""`` when unknown."""
    return UNITS.get(name, "")


@runtime_checkable
class CurveModel(Protocol):
    """What a calibration calls. ``__call__(params [N, P]) -> curves [N, T, O]`` (float64, finite
    where the model is defined), columns of ``params`` named by ``param_names``, observables by
    ``obs_names``; ``control [T]`` is the load path (for figures), ``first_step`` the first step the
    model predicts; ``bounds`` the default prior box or None."""

    param_names: list[str]
    obs_names: list[str]
    param_units: dict[str, str]
    obs_units: dict[str, str]
    control: np.ndarray
    control_name: str
    bounds: dict[str, tuple[float, float]] | None
    first_step: int

    def __call__(self, params: np.ndarray) -> np.ndarray: ...


@dataclass
class FunctionModel:
    """A :class:`CurveModel` around ``fn(params [N, P]) -> curves [N, T, O]``; counts its cost."""

    fn: Callable[[np.ndarray], np.ndarray]
    param_names: list[str]
    obs_names: list[str]
    control: np.ndarray
    control_name: str = "step"
    param_units: dict[str, str] = field(default_factory=dict)
    obs_units: dict[str, str] = field(default_factory=dict)
    bounds: dict[str, tuple[float, float]] | None = None
    first_step: int = 0
    seconds: float = 0.0
    evaluations: int = 0

    def __call__(self, params: np.ndarray) -> np.ndarray:
        """``params [N, P]`` -> ``curves [N, T, O]``; a wrong shape is a one-line error naming it."""
        import time

        params = np.asarray(params, dtype=np.float64)
        if params.ndim != 2 or params.shape[1] != len(self.param_names):
            raise UserInputError(f"the model takes params [N, {len(self.param_names)}] "
                                 f"({', '.join(self.param_names)}), got shape {list(params.shape)}.")
        start = time.perf_counter()
        curves = np.asarray(self.fn(params), dtype=np.float64)
        self.seconds += time.perf_counter() - start
        self.evaluations += params.shape[0]
        expected = (params.shape[0], len(self.control), len(self.obs_names))
        if curves.shape != expected:
            raise UserInputError(f"the model returned curves of shape {list(curves.shape)}; expected [N, T, O] = "
                                 f"{list(expected)} (T from the control curve, O = {', '.join(self.obs_names)}).")
        return curves


def function_model(fn: Callable[[np.ndarray], np.ndarray], param_names: Sequence[str], obs_names: Sequence[str],
                   control: np.ndarray, control_name: str = "step", param_units: Mapping[str, str] | None = None,
                   obs_units: Mapping[str, str] | None = None,
                   bounds: Mapping[str, tuple[float, float]] | None = None, first_step: int = 0) -> FunctionModel:
    """A user's callable ``fn(params [N, P]) -> curves [N, T, O]`` as a :class:`CurveModel`."""
    return FunctionModel(fn, list(param_names), list(obs_names), np.asarray(control, dtype=np.float64),
                         control_name, dict(param_units or {}), dict(obs_units or {}),
                         dict(bounds) if bounds else None, first_step)


def from_callback(callback, param_names: Sequence[str], control: np.ndarray, observed: np.ndarray) -> FunctionModel:
    """A :class:`~.callbacks.ModelCallback` (run or simulator) at one load path as a :class:`FunctionModel`.

    Args:
        control: control curves ``[F, T]`` in the model's input order; observed: ``[O, T]`` (only
            used to fill the steps before ``first_step``, which the likelihood ignores).
    """
    from simrnn.sequence.triaxial import PARAM_RANGES

    names = list(param_names)
    callback.check_param_names(names)
    control = np.asarray(control, dtype=np.float64).reshape(len(callback.control), -1)
    ctrl = control[0] if control.shape[0] == 1 else control

    def curves(params: np.ndarray) -> np.ndarray:
        return callback.simulate(params, names, ctrl, observed).transpose(0, 2, 1)  # [N, T, O]

    obs = list(callback.obs_names)
    return FunctionModel(curves, names, obs, control[-1], callback.control[-1],
                         {n: unit_of(n) for n in names}, {n: unit_of(n) for n in obs},
                         {n: PARAM_RANGES[n] for n in names if n in PARAM_RANGES} or None,
                         callback.init_inference_step)


def run_model(run, obs_names: Sequence[str], control_names: str | Sequence[str], control: np.ndarray,
              observed: np.ndarray, param_names: Sequence[str], fixed_params: Mapping[str, float] | None = None,
              precision: str = "fp32") -> FunctionModel:
    """A simrnn sequence run (directory or loaded) at one load path ``control [F, T]`` and fixed conditions.

    ``observed [O, T]`` fills the steps the windowed surrogate cannot predict (before ``first_step``).
    """
    from simrnn.sequence.calibration.callbacks import surrogate_callback

    callback = surrogate_callback(run, obs_names, control_names, fixed_params, precision)
    return from_callback(callback, param_names, control, observed)


def simulator_model(obs_names: Sequence[str], control: np.ndarray, param_names: Sequence[str],
                    fixed_params: Mapping[str, float], experiment_type: str = "drained",
                    control_names: str | Sequence[str] = "e_z") -> FunctionModel:
    """The synthetic triaxial simulator at the load path ``control [F, T]`` (``pressure`` fixed, MPa)."""
    from simrnn.sequence.calibration.callbacks import simulator_callback

    callback = simulator_callback(obs_names, control_names, fixed_params, experiment_type)
    observed = np.zeros((len(callback.obs_names), np.asarray(control).shape[-1]))
    return from_callback(callback, param_names, control, observed)
