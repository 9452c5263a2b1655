"""GrainLearning callbacks: simulate every parameter sample of an iteration in one batched call.

Two models play GrainLearning's "DEM": a trained or imported surrogate (:class:`SurrogateCallback`,
one batched :func:`~simrnn.sequence.predict.predict` pass) and, for synthetic data, the synthetic
triaxial model itself (:class:`SimulatorCallback`, :func:`~simrnn.sequence.triaxial.triaxial_response`),
which separates the surrogate's error from what the data can identify at all.

Time alignment. Observations ``obs_data [num_obs, T]`` and the control ``ctrl_data [T]`` (or
``[F, T]``) share the time axis ``t = 0..T-1``; the control curves are the model's load path
``inputs [N, T, F]`` (identical for every sample). A model returns element ``k`` as the estimate of
step ``k + first`` (``first = window_size - 1 - pad_length`` for a surrogate, 0 for the simulator),
so ``sim_data[:, :, t] = predicted[:, t - first]`` for ``t >= first``. Steps ``t < first`` cannot
be predicted; they are set to the observation itself (the same likelihood for every sample: no
information), and the calibration starts GrainLearning's likelihood at ``init_inference_step``.

Example, inside one's own GrainLearning script::

    callback = surrogate_callback(load_run("runs/imported/drained"), ["e", "p", "q"],
                                  "epsilon_axial", fixed_params={"pressure": 0.2})
    calib = BayesianCalibration.from_dict({"callback": callback, ...,
        "inference": {"Bayes_filter": {"init_inference_step": callback.init_inference_step}, ...}})
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from simrnn.errors import UserInputError

if TYPE_CHECKING:  # imported where used: reading calibrate's options (--help) loads no PyTorch
    from simrnn.sequence.predict import SequenceRun

#: Largest magnitude of a fixed parameter (surrogates compute in float32, max 3.4e38).
MAX_ABS_FIXED = 1e30


def names_list(value: str | Sequence[str]) -> list[str]:
    """``"e"`` -> ``["e"]``; a sequence of names -> a list."""
    return [value] if isinstance(value, str) else list(value)


@dataclass
class ModelCallback:
    """What both callbacks share: parameter columns by name, output selection, alignment, cost.

    Called as ``callback(calib)`` (GrainLearning 2.0.5's contract): reads ``calib.system.param_data
    [N, num_params]`` (columns named by ``calib.system.param_names``), ``ctrl_data [T]`` or
    ``[F, T]`` and ``obs_data [num_obs, T]``, and sets ``calib.system.sim_data [N, num_obs, T]``.

    Attributes ``seconds``, ``calls`` and ``samples`` accumulate the model's cost.
    """

    obs_names: list[str]
    control: list[str]
    fixed_params: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    calls: int = 0
    samples: int = 0

    # -- what a model supplies ------------------------------------------------------------------
    @property
    def param_names(self) -> list[str]:
        """The model's parameter columns, in the order it expects them."""
        raise NotImplementedError

    @property
    def output_labels(self) -> list[str]:
        raise NotImplementedError

    @property
    def control_names(self) -> list[str]:
        """Names of the model's input features (its control curves), in order."""
        raise NotImplementedError

    @property
    def first_predicted_step(self) -> int:
        raise NotImplementedError

    def curves(self, inputs: np.ndarray, params: np.ndarray) -> np.ndarray:
        """``inputs [N, T, F]``, ``params [N, P]`` -> ``[N, K, L]``, element k estimating step k + first."""
        raise NotImplementedError

    # -- shared -------------------------------------------------------------------------------
    def __post_init__(self) -> None:
        labels = self.output_labels
        unknown = [n for n in self.obs_names if n not in labels]
        if unknown or not self.obs_names:
            raise UserInputError(
                f"observation names {', '.join(map(repr, unknown)) or '(none)'} are not outputs of the model; "
                f"valid names are {', '.join(labels)}."
            )
        repeated = sorted({n for n in self.obs_names if self.obs_names.count(n) > 1})
        if repeated:
            raise UserInputError(f"observation name(s) {', '.join(repeated)} are given twice; name each once.")
        features = self.control_names
        if len(self.control) != len(features):
            raise UserInputError(
                f"the model takes {len(features)} control curve(s) ({', '.join(features)}), got "
                f"{len(self.control)} ({', '.join(self.control) or 'none'})."
            )
        self.check_param_names([], allow_missing=True)
        self._label_index = np.asarray([labels.index(n) for n in self.obs_names])

    @property
    def init_inference_step(self) -> int:
        """First observation step the model predicts; earlier steps carry no information."""
        return max(0, self.first_predicted_step)

    def check_param_names(self, calibrated: Sequence[str], allow_missing: bool = False) -> None:
        """One-line errors for unknown, doubly given or (unless ``allow_missing``) missing parameters."""
        valid = self.param_names
        unknown = [n for n in [*calibrated, *self.fixed_params] if n not in valid]
        if unknown:
            raise UserInputError(
                f"unknown parameter name(s) {', '.join(map(repr, unknown))}; the model's parameters are "
                f"{', '.join(valid)}."
            )
        both = sorted(set(calibrated) & set(self.fixed_params))
        if both:
            raise UserInputError(f"parameter(s) {', '.join(both)} are both calibrated and fixed; give each once.")
        missing = [n for n in valid if n not in calibrated and n not in self.fixed_params]
        if missing and not allow_missing:
            raise UserInputError(
                f"parameter(s) {', '.join(missing)} of the model are neither calibrated nor fixed; "
                f"give a range or a fixed value, e.g. {missing[0]}=VALUE."
            )

    def assemble_params(self, param_data: np.ndarray, param_names: Sequence[str]) -> np.ndarray:
        """Calibrated columns ``[N, num_params]`` plus fixed values -> the model's params ``[N, P]``."""
        self.check_param_names(list(param_names))
        param_data = np.asarray(param_data, dtype=np.float64).reshape(-1, len(param_names))
        params = np.empty((param_data.shape[0], len(self.param_names)), dtype=np.float64)
        for j, name in enumerate(self.param_names):
            if name in self.fixed_params:
                params[:, j] = self.fixed_params[name]
            else:
                params[:, j] = param_data[:, list(param_names).index(name)]
        return params

    def simulate(self, param_data: np.ndarray, param_names: Sequence[str], ctrl_data: np.ndarray,
                 obs_data: np.ndarray) -> np.ndarray:
        """Simulate every sample in one batched call.

        Args:
            param_data: calibrated parameters ``[N, num_params]``, columns named by ``param_names``.
            ctrl_data: control curves ``[T]`` (one) or ``[F, T]``.
            obs_data: observations ``[num_obs, T]``; fill the steps the model cannot predict.

        Returns:
            ``sim_data [N, num_obs, T]`` aligned with ``obs_data`` step by step.
        """
        start = time.perf_counter()
        obs_data = np.asarray(obs_data, dtype=np.float64).reshape(len(self.obs_names), -1)
        num_steps = obs_data.shape[1]
        ctrl = np.asarray(ctrl_data, dtype=np.float64).reshape(len(self.control), -1)
        if ctrl.shape[1] != num_steps:
            raise UserInputError(
                f"the control curve(s) {', '.join(self.control)} have {ctrl.shape[1]} steps but the observations "
                f"have {num_steps}; both must have the same length."
            )
        params = self.assemble_params(param_data, param_names)
        inputs = np.repeat(ctrl.T[None], params.shape[0], axis=0)  # [N, T, F], the same load path
        predicted = self.curves(inputs, params)  # [N, K, L], element k -> step k + first
        first = self.first_predicted_step
        step0 = self.init_inference_step
        sim = np.empty((params.shape[0], len(self.obs_names), num_steps))
        sim[:, :, :step0] = obs_data[None, :, :step0]
        sim[:, :, step0:] = predicted[:, step0 - first:, self._label_index].transpose(0, 2, 1)
        self.seconds += time.perf_counter() - start
        self.calls += 1
        self.samples += params.shape[0]
        return sim

    def __call__(self, calib: Any) -> None:
        """GrainLearning's callback contract: read the system's samples, set its ``sim_data``."""
        system = calib.system
        if system.param_names is None:
            raise UserInputError("the GrainLearning system has no param_names; name its parameter columns.")
        system.set_sim_data(self.simulate(system.param_data, system.param_names, system.ctrl_data,
                                          system.obs_data))


@dataclass
class SurrogateCallback(ModelCallback):
    """Simulates with a trained or imported surrogate ``run`` in one batched :func:`predict` pass
    (``precision`` as :func:`predict`'s: ``"fp32"`` exact, ``"bf16"`` where the CPU has it)."""

    run: SequenceRun | None = None
    precision: str = "fp32"

    @property
    def param_names(self) -> list[str]:
        return list(self.run.meta["param_names"])

    @property
    def output_labels(self) -> list[str]:
        return self.run.output_labels

    @property
    def control_names(self) -> list[str]:
        features = list(self.run.meta.get("input_features", []))
        n = self.run.model.n_input_features
        return features if len(features) == n else [f"input {i}" for i in range(n)]

    @property
    def first_predicted_step(self) -> int:
        return self.run.first_predicted_step()

    def curves(self, inputs: np.ndarray, params: np.ndarray) -> np.ndarray:
        from simrnn.sequence.predict import predict

        return predict(self.run, inputs.astype(np.float32), params.astype(np.float32), precision=self.precision)


@dataclass
class SimulatorCallback(ModelCallback):
    """Simulates with the synthetic triaxial model (:mod:`simrnn.sequence.triaxial`) itself.

    Parameters: the five contact parameters plus ``pressure`` (MPa, must be fixed: one confining
    pressure per test); the control is the axial strain ``e_z`` (the last control curve).
    """

    experiment_type: str = "drained"

    @property
    def param_names(self) -> list[str]:
        from simrnn.sequence.triaxial import CONTACT_PARAM_NAMES

        return [*CONTACT_PARAM_NAMES, "pressure"]

    @property
    def output_labels(self) -> list[str]:
        from simrnn.sequence.triaxial import OUTPUT_NAMES

        return list(OUTPUT_NAMES)

    @property
    def control_names(self) -> list[str]:
        from simrnn.sequence.triaxial import INPUT_NAMES

        if self.experiment_type not in INPUT_NAMES:
            raise UserInputError(f"experiment type {self.experiment_type!r} is unknown; expected one of "
                                 f"{', '.join(INPUT_NAMES)}.")
        return list(INPUT_NAMES[self.experiment_type])

    @property
    def first_predicted_step(self) -> int:
        return 0

    def curves(self, inputs: np.ndarray, params: np.ndarray) -> np.ndarray:
        from simrnn.sequence.triaxial import triaxial_response

        pressure = np.unique(params[:, -1])
        if pressure.size != 1:
            raise UserInputError("the synthetic simulator needs one fixed pressure per calibration, e.g. pressure=0.2.")
        _, outputs = triaxial_response(params[:, :-1], float(pressure[0]), self.experiment_type, inputs[0, :, -1])
        return outputs


def _fixed(fixed_params: Mapping[str, float] | None) -> dict[str, float]:
    fixed = {str(k): float(v) for k, v in (fixed_params or {}).items()}
    bad = [k for k, v in fixed.items() if not np.isfinite(v)]
    if bad:
        raise UserInputError(f"fixed parameter(s) {', '.join(bad)} must be finite numbers.")
    huge = [k for k, v in fixed.items() if abs(v) > MAX_ABS_FIXED]
    if huge:
        raise UserInputError(f"fixed parameter(s) {', '.join(huge)} must lie within +-{MAX_ABS_FIXED:g} "
                             "(models compute in float32).")
    return fixed


def surrogate_callback(run: SequenceRun | str | Path, obs_names: str | Sequence[str],
                       control: str | Sequence[str], fixed_params: Mapping[str, float] | None = None,
                       precision: str = "fp32") -> SurrogateCallback:
    """A GrainLearning callback simulating with ``run`` (a loaded run or its directory).

    ``obs_names`` select and order the surrogate's outputs like the observation rows; ``control``
    names the control curve(s) feeding the model's input features; ``fixed_params`` fill the run's
    parameter columns that are not calibrated; ``precision`` is :func:`predict`'s. Set GrainLearning's ``init_inference_step`` to the
    callback's ``init_inference_step`` (see the module docstring for the time alignment).
    """
    from simrnn.sequence.predict import SequenceRun, load_run

    if not isinstance(run, SequenceRun):
        run = load_run(run)
    return SurrogateCallback(names_list(obs_names), names_list(control), _fixed(fixed_params), run=run,
                             precision=precision)


def simulator_callback(obs_names: str | Sequence[str], control: str | Sequence[str],
                       fixed_params: Mapping[str, float], experiment_type: str = "drained") -> SimulatorCallback:
    """A GrainLearning callback simulating with the synthetic triaxial model (``pressure`` fixed, MPa)."""
    return SimulatorCallback(names_list(obs_names), names_list(control), _fixed(fixed_params),
                             experiment_type=experiment_type)
