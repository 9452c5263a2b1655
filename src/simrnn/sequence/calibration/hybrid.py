"""Calibration with the simulator in the loop: MCMC on a corrected surrogate, simulations in its posterior.

Round 0 simulates an initial design (``initial`` Latin-hypercube points of the prior box) and
trains the surrogate on it. Every later round ``r``:

(a) samples the posterior with MCMC (emcee, :func:`~.mcmc.run_mcmc`, short chains) with the model
    ``surrogate + residual correction`` (:class:`~.hybrid_correction.ResidualCorrection`: kriging of
    the surrogate's residuals at every simulation so far, so the model is exact at the simulations
    and, among the simulations placed in the posterior, a local interpolant of the simulator) and
    the *surrogate's error* added to the likelihood's model error (below);
(b) simulates ``batch`` points chosen among ``candidates`` random posterior draws by the rule
    *largest disagreement with the nearest simulation*: a draw's score is the RMS, in units of the
    likelihood's noise std per curve, of the model's curves at the draw minus the simulated curves
    of the nearest simulated point (parameters scaled to the prior box). It is large where the
    posterior lies far from every simulation *and* the response changes there; points are taken
    greedily, each chosen draw counting as simulated for the next choice (so a batch spreads over
    the posterior). This needs one surrogate and no ensemble training; the simulations go through
    the cached simulator (:mod:`.simulator`), so a failed sample is skipped with a
    :class:`~.simulator.SimulationFailed` warning and none is run twice;
(c) fine-tunes the surrogate (:mod:`.hybrid_surrogates`) on every simulation so far: it starts
    from the previous round's weights and trains at most ``fine_tune_epochs`` epochs, early-stopped
    on a held-out fraction.

Model error, and why. A posterior computed on a surrogate is the simulator's posterior only where
the surrogate's error is small against the observation noise; a single triaxial curve constrains
mu to ~0.5 % of its range, finer than an MLP over the whole prior box resolves, and on the raw MLP
the posterior mean jumped by several posterior stds between rounds (its std well below the
reference's). So the round's likelihood adds, in quadrature to the error model's own model error, the surrogate's
*measured* error per observable: the RMS over steps of the previous batch's simulations minus
what the model predicted for them *before* they were simulated (an honest held-out error, at
posterior points; round 1: the correction's leave-one-out error on the initial design). While the
model is poor this widens the posterior (it then explores rather than fixing on a wrong point);
because every batch lands in the posterior, where the correction makes the model converge to the
simulator, the error falls below the noise within a few rounds and the posterior becomes the
simulator's own: with an error ``m`` against a noise std ``s`` the std is inflated by about
``sqrt(1 + (m/s)^2)``, under 5 % for ``m <= error_tol s`` with the default 0.3.

Stopping rule: after round ``r >= 2``, when (1) the surrogate error the round's likelihood used and
the error measured on its fresh batch are both at most ``error_tol`` noise stds for every
observable (the posterior is the simulator's within ~5 % in std), (2) every posterior mean moved by
less than ``mean_tol`` posterior stds and (3) every std ratio lies within ``1 +- std_tol`` of the
previous round's (defaults 0.2 and 0.15: with the default chains, the MCMC error of a mean is about
0.05 std, so 0.1 std would stop by chance or never); or after ``max_rounds`` rounds.

Everything is on disk: ``round_k/`` (written to a temporary folder, then renamed) holds
``round.json`` (posterior mean, std, 90 % interval, the points simulated, the surrogate error used
and measured, the stopping test), ``samples.npy`` (posterior draws ``[M, P]``) and the surrogate's
state (:meth:`~.hybrid_surrogates.Surrogate.save`: ``surrogate.pt`` for the MLP, a pointer to the
fine-tuned run for a sequence run); the simulations are in the cache file ``simulations.npz`` (the
correction is rebuilt from them); ``rounds.png`` shows the posterior per round and the simulations
placed. A loop that was killed resumes after its last complete round and repeats no simulation.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from simrnn.errors import UserInputError
from simrnn.sequence.calibration.hybrid_correction import ResidualCorrection
from simrnn.sequence.calibration.hybrid_surrogates import MlpSurrogate, Surrogate
from simrnn.sequence.calibration.likelihood import ErrorModel, build_experiment
from simrnn.sequence.calibration.mcmc import McmcSettings, run_mcmc
from simrnn.sequence.calibration.protocol import FunctionModel
from simrnn.sequence.calibration.simulator import CachedSimulator

ROUND_FILE = "round.json"
SAMPLES_FILE = "samples.npy"
CACHE_FILE = "simulations.npz"


@dataclass(frozen=True)
class HybridSettings:
    """The loop's knobs; see the module docstring for what each round does with them."""

    initial: int = 12
    batch: int = 4
    candidates: int = 256
    max_rounds: int = 10
    mean_tol: float = 0.2
    std_tol: float = 0.15
    error_tol: float = 0.3
    initial_epochs: int | None = None  # None: the surrogate's own (MLP 2000 full-batch steps, sequence run 40)
    fine_tune_epochs: int | None = None  # None: the surrogate's own (MLP 500, sequence run 20)
    patience: int | None = None  # None: the surrogate's own (MLP 100, sequence run 5)
    holdout: float = 0.2
    walkers: int = 32
    steps: int = 600
    seed: int = 0

    def validate(self, num_params: int) -> None:
        """One sentence naming the first impossible setting (its name in ``.key``)."""
        for key, low in (("initial", 4), ("batch", 1), ("max_rounds", 1), ("candidates", 1), ("initial_epochs", 1),
                         ("fine_tune_epochs", 1), ("patience", 0)):
            value = getattr(self, key)
            if value is not None and value < low:
                raise UserInputError(f"the hybrid loop's {key} must be at least {low}, got {value}.", key=key)
        if not 0 < self.holdout < 0.5:
            raise UserInputError(f"the hybrid loop's holdout (held-out fraction) must lie in (0, 0.5), got {self.holdout}.",
                                 key="holdout")
        McmcSettings(walkers=self.walkers, max_steps=self.steps).validate(num_params)


@dataclass
class HybridResult:
    """The loop's outcome: per round the posterior summary (``rounds``), the last posterior draws
    ``samples [M, P]``, the simulator's samples simulated in this call and in all (cache)."""

    out_dir: Path
    param_names: list[str]
    rounds: list[dict]
    samples: np.ndarray
    converged: bool
    simulations_this_call: int
    simulations_total: int
    notes: list[str] = field(default_factory=list)

    @property
    def mean(self) -> dict[str, float]:
        return dict(zip(self.param_names, self.samples.mean(0).tolist(), strict=True))

    @property
    def std(self) -> dict[str, float]:
        return dict(zip(self.param_names, self.samples.std(0).tolist(), strict=True))


def latin_hypercube(bounds: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` Latin-hypercube points ``[n, P]`` in the box ``bounds [P, 2]`` (seeded)."""
    rng = np.random.default_rng(seed)
    unit = (np.stack([rng.permutation(n) for _ in bounds], axis=1) + rng.random((n, len(bounds)))) / n
    return bounds[:, 0] + unit * (bounds[:, 1] - bounds[:, 0])


def choose_points(candidates: np.ndarray, surrogate: Callable[[np.ndarray], np.ndarray], sim_params: np.ndarray,
                  sim_curves: np.ndarray, bounds: np.ndarray, scale: np.ndarray, batch: int) -> np.ndarray:
    """The ``batch`` rows of ``candidates [C, P]`` of largest disagreement with the nearest simulation
    (module docstring, rule (b)); ``sim_params [S, P]``, ``sim_curves [S, T, O]``, ``scale [O]`` the
    likelihood's noise std per observable (inf: not in the likelihood, not scored). Returns ``[min(batch, C), P]``."""
    width = bounds[:, 1] - bounds[:, 0]
    predicted = surrogate(candidates)  # [C, T, O]
    ref_x, ref_y = sim_params / width, sim_curves
    chosen: list[int] = []
    for _ in range(min(batch, len(candidates))):
        dist = np.linalg.norm(candidates[:, None] / width - ref_x[None], axis=2)  # [C, S]
        nearest = ref_y[np.argmin(dist, axis=1)]
        score = np.sqrt(np.mean(((predicted - nearest) / scale) ** 2, axis=(1, 2)))
        score[chosen] = -np.inf
        best = int(np.argmax(score))
        chosen.append(best)
        ref_x = np.vstack([ref_x, candidates[best] / width])
        ref_y = np.concatenate([ref_y, predicted[best:best + 1]])
    return candidates[chosen]


def seeded_mlp(bounds: np.ndarray, shape: tuple[int, int], seed: int) -> MlpSurrogate:
    """A new :class:`~.hybrid_surrogates.MlpSurrogate` whose initial weights depend on ``seed`` only
    (torch's global generator is forked, so neither earlier torch calls nor later ones see a change)."""
    import torch

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return MlpSurrogate(bounds, shape)


def _done_rounds(out: Path) -> list[int]:
    return sorted(int(p.name.split("_")[1]) for p in out.glob("round_*") if (p / ROUND_FILE).is_file()
                  and p.name.split("_")[1].isdigit())


def _write_round(out: Path, k: int, record: dict, samples: np.ndarray | None, surrogate: Surrogate) -> None:
    """``round_k/`` written in a temporary folder and renamed, so a kill leaves no half round."""
    final, tmp = out / f"round_{k}", out / f".round_{k}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    if samples is not None:
        np.save(tmp / SAMPLES_FILE, samples)
    surrogate.save(tmp)
    (tmp / ROUND_FILE).write_text(json.dumps(record, indent=2))
    tmp.rename(final)


def _figure(out: Path, records: list[dict], simulator: CachedSimulator, names: list[str]) -> None:
    """``rounds.png``: each simulated point's round is the first round whose count includes it."""
    from simrnn.sequence.calibration.hybrid_figures import ROUNDS_FIGURE, plot_rounds

    rounds = [r for r in records if r["round"] > 0]
    if rounds:
        counts = np.array([r["simulations"] for r in records])
        sim_round = np.searchsorted(counts, np.arange(len(simulator.cache.params)), side="right")
        plot_rounds(rounds, simulator.cache.params, sim_round, names, out / ROUNDS_FIGURE)


def moved(previous: dict, current: dict, settings: HybridSettings, noise: np.ndarray) -> dict:
    """The stopping test between two rounds' posteriors ``{"mean": [P], "std": [P]}``; ``current`` also
    holds the surrogate error its likelihood used (``model_error [O]``) and the fresh batch's
    (``batch_error [O]``), compared with the likelihood's noise std per observable ``noise [O]``
    (inf for an observable the likelihood does not use)."""
    mean_shift = np.abs(np.subtract(current["mean"], previous["mean"])) / np.asarray(previous["std"])
    std_ratio = np.asarray(current["std"]) / np.asarray(previous["std"])
    error = np.maximum(current["model_error"], current["batch_error"]) / noise
    stable = bool(np.all(mean_shift < settings.mean_tol) and np.all(np.abs(std_ratio - 1) <= settings.std_tol)
                  and np.all(error <= settings.error_tol))
    return {"mean_shift_in_std": mean_shift.tolist(), "std_ratio": std_ratio.tolist(),
            "error_in_noise_std": np.where(np.isfinite(error), error, 0.0).tolist(), "stable": stable}


def _or(value: int | None, default: int) -> int:
    """A setting, or the surrogate's own default where it is None."""
    return default if value is None else value


def _array(values) -> np.ndarray | None:
    return None if values is None else np.asarray(values, dtype=np.float64)


def _rmse(residual: np.ndarray) -> np.ndarray:
    """RMS ``[O]`` of ``residual [N, T, O]`` over samples and steps."""
    return np.sqrt(np.mean(residual**2, axis=(0, 1)))


def _with_model_error(error_model: ErrorModel, obs_names, surrogate_error: np.ndarray) -> ErrorModel:
    """``error_model`` with the surrogate's error ``[O]`` added in quadrature to its model error."""
    combined = {n: float(np.hypot(error_model.model_error.get(n, 0.0), e))
                for n, e in zip(obs_names, surrogate_error, strict=True)}
    return ErrorModel(error_model.noise_fraction, combined)


def hybrid_calibrate(simulator: CachedSimulator, observed: np.ndarray, param_ranges: Mapping[str, tuple[float, float]],
                     out_dir: str | Path, settings: HybridSettings | None = None,
                     error_model: ErrorModel | None = None, surrogate: Surrogate | str | Path | None = None,
                     progress: Callable[[dict], None] | None = None, figures: bool = True) -> HybridResult:
    """Calibrate ``param_ranges``' parameters against ``observed [O, T]`` with the simulator in the loop.

    Args:
        simulator: a :func:`~.simulator.cached_simulator` whose cache file should be
            ``out_dir/simulations.npz`` (:func:`hybrid_simulator` builds it) so a resumed loop reuses it.
        surrogate: the surrogate to train and fine-tune (:class:`~.hybrid_surrogates.Surrogate`, e.g. a
            :class:`~.hybrid_run_surrogate.RunSurrogate`); a ``surrogate.pt`` of an earlier loop: an MLP
            warm-started from it; None: a new :class:`~.hybrid_surrogates.MlpSurrogate`. Round 0 still
            simulates the initial design and trains on it.
        error_model: the likelihood's noise and model error (default :class:`~.likelihood.ErrorModel`).
        progress: called with each finished round's record.
        figures: draw ``rounds.png`` (:func:`~.hybrid_figures.plot_rounds`).
    Rounds already on disk in ``out_dir`` are not repeated (see the module docstring).
    """
    settings = settings or HybridSettings()
    names = list(param_ranges)
    if names != list(simulator.param_names):
        raise UserInputError(f"the calibrated parameters ({', '.join(names)}) must be the simulator's, in its order "
                             f"({', '.join(simulator.param_names)}).")
    settings.validate(len(names))
    bounds = np.array([param_ranges[n] for n in names], dtype=np.float64)
    observed = np.asarray(observed, dtype=np.float64)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    shape = (len(simulator.control), len(simulator.obs_names))
    error_model = error_model or ErrorModel()
    start_sims = simulator.simulations
    done = _done_rounds(out)
    net = surrogate if isinstance(surrogate, Surrogate) else seeded_mlp(bounds, shape, settings.seed)
    records = [json.loads((out / f"round_{k}" / ROUND_FILE).read_text()) for k in done]

    def simulated() -> tuple[np.ndarray, np.ndarray]:
        return simulator.cache.params, simulator.cache.curves

    if not done:
        if isinstance(surrogate, str | Path):
            net.load(Path(surrogate))
        simulator(latin_hypercube(bounds, settings.initial, settings.seed))
        simulator.flush()
        params, curves = simulated()
        losses = net.fit(params, curves, _or(settings.initial_epochs, net.initial_epochs),
                         _or(settings.patience, net.patience), settings.holdout, settings.seed)
        record = {"round": 0, "simulations": len(params), "fit": losses, "settings": asdict(settings)}
        _write_round(out, 0, record, None, net)
        records.append(record)
        done = [0]
        if progress:
            progress(record)
    else:
        net.load(out / f"round_{done[-1]}")
    base_experiment = build_experiment("hybrid", FunctionModel(net, names, list(simulator.obs_names), simulator.control),
                                       observed, error_model)
    noise = np.full(shape[1], np.inf)
    noise[base_experiment.used] = base_experiment.std  # the likelihood's std per observable without surrogate error
    steps = slice(base_experiment.model.first_step, None)
    samples = np.load(out / f"round_{done[-1]}" / SAMPLES_FILE) if done[-1] > 0 else None
    converged = bool(records[-1].get("stop", {}).get("stable", False))
    for k in range(done[-1] + 1, settings.max_rounds + 1):
        if converged:
            break
        # the simulations of the rounds written so far: after a kill in the middle of this round, the
        # cache also holds this round's batch, which must not change the model or the choice (it is
        # then found in the cache)
        known = records[-1]["simulations"]
        params, curves = (a[:known] for a in simulated())
        previous = records[-1] if k >= 2 else {}
        model = ResidualCorrection(net, params, curves, np.where(np.isfinite(noise), noise, 1.0), steps,
                                   bounds[:, 1] - bounds[:, 0], _array(previous.get("mean")), _array(previous.get("std")))
        surrogate_error = np.asarray(previous.get("batch_error", model.loo_rmse))  # [O]; round 1: leave-one-out
        experiment = build_experiment("hybrid", FunctionModel(model, names, list(simulator.obs_names), simulator.control),
                                      observed, _with_model_error(error_model, simulator.obs_names, surrogate_error))
        mcmc = McmcSettings(walkers=settings.walkers, max_steps=settings.steps, check_every=settings.steps,
                            seed=settings.seed + k)
        run = run_mcmc(lambda theta, experiment=experiment: experiment.log_likelihood(theta)[0], bounds, mcmc)
        samples = run.samples
        rng = np.random.default_rng(settings.seed + k)
        candidates = samples[rng.choice(len(samples), min(settings.candidates, len(samples)), replace=False)]
        chosen = choose_points(candidates, model, params, curves, bounds, noise, settings.batch)
        predicted = model(chosen)
        simulated_now = simulator(chosen)
        simulator.flush()
        ok = np.isfinite(simulated_now).all(axis=(1, 2))  # failed simulations measure nothing
        batch_error = (_rmse(predicted[ok, steps] - simulated_now[ok, steps]) if ok.any()
                       else surrogate_error)  # held out: not yet in the model
        params, curves = simulated()
        losses = net.fit(params, curves, _or(settings.fine_tune_epochs, net.fine_tune_epochs),
                         _or(settings.patience, net.patience), settings.holdout,
                         settings.seed + k)  # warm start: from this round's weights
        interval = np.percentile(samples, [5, 95], axis=0)
        record = {"round": k, "mean": samples.mean(0).tolist(), "std": samples.std(0).tolist(),
                  "ci90": interval.T.tolist(), "param_names": names, "chosen": chosen.tolist(),
                  "simulations": len(params), "fit": losses, "mcmc_steps": run.diagnostics["steps"],
                  "model_error": surrogate_error.tolist(), "batch_error": batch_error.tolist(),
                  "noise_std": np.where(np.isfinite(noise), noise, np.nan).tolist(),
                  "kernel_length": model.length.tolist()}
        if k >= 2:
            record["stop"] = moved(records[-1], record, settings, noise)
            converged = record["stop"]["stable"]
        _write_round(out, k, record, samples, net)
        records.append(record)
        if progress:
            progress(record)
    if figures:
        _figure(out, records, simulator, names)
    notes = [] if converged else [f"not settled after {settings.max_rounds} rounds (surrogate error <= {settings.error_tol} "
                                  f"noise std, mean shift < {settings.mean_tol} std and std ratio within "
                                  f"{settings.std_tol} not all met)."]
    return HybridResult(out, names, [r for r in records if r["round"] > 0], samples, converged,
                        simulator.simulations - start_sims, len(simulator.cache.params), notes)


def hybrid_simulator(run: Callable[[np.ndarray], np.ndarray], param_names, obs_names, control: np.ndarray,
                     out_dir: str | Path, control_name: str = "step") -> CachedSimulator:
    """``run(params [N, P]) -> [N, T, O]`` cached in ``out_dir/simulations.npz`` (the loop's cache file)."""
    from simrnn.sequence.calibration.simulator import cached_simulator

    Path(out_dir).mkdir(parents=True, exist_ok=True)
    return cached_simulator(run, param_names, obs_names, control, cache=Path(out_dir) / CACHE_FILE,
                            control_name=control_name)
