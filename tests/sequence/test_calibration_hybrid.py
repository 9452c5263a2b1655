"""The hybrid loop (simulator in the loop) on GrainLearning's hyperbola ``y = x / (100 a + b x)``."""

from __future__ import annotations

import json
import re
import sys

import numpy as np
import pytest
from single_thread import one_thread  # noqa: F401  (autouse fixture)

from simrnn.sequence.calibration.hybrid import HybridSettings, hybrid_calibrate, hybrid_simulator
from simrnn.sequence.calibration.likelihood import ErrorModel, build_experiment
from simrnn.sequence.calibration.mcmc import McmcSettings, run_mcmc
from simrnn.sequence.calibration.protocol import FunctionModel
from simrnn.sequence.calibration.simulator import SimulationFailed

X = np.linspace(0.1, 10, 30)
RANGES = {"a": (0.1, 0.5), "b": (2.0, 8.0)}
TRUTH = np.array([[0.2, 5.0]])
#: test-sized loop: about 5 s on 2 loaded cores.
FAST = HybridSettings(initial_epochs=400, fine_tune_epochs=150, patience=50, steps=300, max_rounds=6)


def hyperbola(params: np.ndarray) -> np.ndarray:
    """``params [N, 2]`` -> ``[N, 30, 1]``."""
    return (X / (100 * params[:, :1] + params[:, 1:] * X))[:, :, None]


def counted(rows: list):
    def run(params):
        rows.extend(map(tuple, params))
        return hyperbola(params)
    return run


def test_hybrid_loop_recovers_the_hyperbola_with_few_simulations(tmp_path):
    rows: list = []
    observed = hyperbola(TRUTH)[0].T
    sim = hybrid_simulator(counted(rows), ["a", "b"], ["y"], X, tmp_path)
    result = hybrid_calibrate(sim, observed, RANGES, tmp_path, FAST)
    # the reference: MCMC on the simulator itself (tens of thousands of calls)
    exp = build_experiment("ref", FunctionModel(hyperbola, ["a", "b"], ["y"], X), observed, ErrorModel())
    ref = run_mcmc(lambda t: exp.log_likelihood(t)[0], np.array(list(RANGES.values())),
                   McmcSettings(walkers=32, max_steps=1000, check_every=1000)).samples
    width = np.ptp(np.array(list(RANGES.values())), axis=1)
    assert result.converged
    assert len(rows) == result.simulations_total <= FAST.initial + FAST.batch * FAST.max_rounds
    assert np.all(np.abs(result.samples.mean(0) - TRUTH[0]) < 0.02 * width)  # within 2 % of the range
    assert np.all(np.abs(result.samples.mean(0) - ref.mean(0)) < 0.5 * ref.std(0))
    ratio = result.samples.std(0) / ref.std(0)
    assert np.all((ratio > 0.6) & (ratio < 1.5)), ratio
    last = json.loads((tmp_path / f"round_{len(result.rounds)}" / "round.json").read_text())
    assert last["stop"]["stable"] and len(last["chosen"]) == FAST.batch
    assert (tmp_path / "rounds.png").stat().st_size > 1000


def test_a_killed_loop_resumes_without_repeating_simulations(tmp_path):
    rows: list = []
    observed = hyperbola(TRUTH)[0].T
    sim = hybrid_simulator(counted(rows), ["a", "b"], ["y"], X, tmp_path)
    first = hybrid_calibrate(sim, observed, RANGES, tmp_path, HybridSettings(**{**FAST.__dict__, "max_rounds": 1}),
                             figures=False)
    assert len(rows) == FAST.initial + FAST.batch and len(first.rounds) == 1
    round1 = (tmp_path / "round_1" / "round.json").read_text()
    # a new process: a new simulator object on the same cache file
    again: list = []
    sim = hybrid_simulator(counted(again), ["a", "b"], ["y"], X, tmp_path)
    second = hybrid_calibrate(sim, observed, RANGES, tmp_path, HybridSettings(**{**FAST.__dict__, "max_rounds": 3}),
                              figures=False)
    assert (tmp_path / "round_1" / "round.json").read_text() == round1  # round 1 not redone
    assert not set(rows) & set(again)  # nothing simulated twice
    assert len(again) == second.simulations_this_call == FAST.batch * (len(second.rounds) - 1)
    assert second.simulations_total == len(rows) + len(again)


def test_a_failing_simulation_is_skipped_with_a_warning(tmp_path):
    def crashes_for_large_a(params):
        if np.any(params[:, 0] > 0.45):
            raise RuntimeError("DEM crashed")
        return hyperbola(params)

    sim = hybrid_simulator(crashes_for_large_a, ["a", "b"], ["y"], X, tmp_path)
    with pytest.warns(SimulationFailed, match="DEM crashed"):
        result = hybrid_calibrate(sim, hyperbola(TRUTH)[0].T, RANGES, tmp_path,
                                  HybridSettings(**{**FAST.__dict__, "max_rounds": 1}))
    assert len(sim.cache.failed) >= 1 and np.all(sim.cache.failed[:, 0] > 0.45)
    assert np.all(sim.cache.params[:, 0] <= 0.45)
    assert len(result.rounds) == 1 and np.all(np.isfinite(result.samples))


def test_cli_hybrid_with_a_python_simulator(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from simrnn.cli import app

    (tmp_path / "hyper_sim.py").write_text(
        "import numpy as np\nX = np.linspace(0.1, 10, 30)\n"
        "def run(params):\n    return (X / (100 * params[:, :1] + params[:, 1:] * X))[:, :, None]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    obs = tmp_path / "obs.dat"
    np.savetxt(obs, np.column_stack([X, hyperbola(TRUTH)[0, :, 0]]), header="x y")
    args = ["calibrate", "--simulator", "hyper_sim:run", "--obs", str(obs), "--param", "a=0.1:0.5",
            "--param", "b=2:8", "--rounds", "1", "--batch", "2", "--out", str(tmp_path / "cal")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    found = re.search(r"round 1: a ([0-9.]+)\+-([0-9.]+)", result.output)  # the truth is a = 0.2
    # round 1's posterior carries the initial surrogate's error: the truth within 3 of its stds
    assert found and abs(float(found.group(1)) - 0.2) < 3 * float(found.group(2)) < 0.1, result.output
    assert (tmp_path / "cal" / "round_1" / "surrogate.pt").is_file()
    bad = CliRunner().invoke(app, [*args[:2], "nomodule", *args[3:]])
    assert bad.exit_code == 2 and "MODULE:FUNCTION" in bad.output
    zero = CliRunner().invoke(app, [*args[:-6], "--rounds", "0", "--out", str(tmp_path / "zero")])
    assert zero.exit_code == 2 and "--rounds must be at least 1, got 0" in zero.output, zero.output
    assert not (tmp_path / "zero").exists()
    sys.modules.pop("hyper_sim", None)


# -- the synthetic triaxial simulator: a posterior far narrower than the MLP resolves ---------------

TRIAX_NAMES = ["E", "mu"]
TRIAX_RANGES = {"E": (7.0, 10.0), "mu": (0.0, 60.0)}
TRIAX_TRUTH = np.array([[8.5, 35.0]])


def test_hybrid_loop_reaches_the_simulators_posterior_on_the_triaxial_test_and_stops_by_its_rule(tmp_path):
    from simrnn.sequence.calibration.simulator import triaxial_run

    strain = np.arange(100) * 0.001
    run = triaxial_run(["e", "q"], strain, {"pressure": 0.2, "v": 0.25, "kr": 0.5, "eta": 0.5}, TRIAX_NAMES)
    observed = run(TRIAX_TRUTH)[0].T  # noise-free: the posterior is centred on the truth
    settings = HybridSettings(batch=4, max_rounds=8, initial_epochs=1000, fine_tune_epochs=200, steps=400)
    sim = hybrid_simulator(run, TRIAX_NAMES, ["e", "q"], strain, tmp_path)
    result = hybrid_calibrate(sim, observed, TRIAX_RANGES, tmp_path, settings, figures=False)
    exp = build_experiment("ref", FunctionModel(run, TRIAX_NAMES, ["e", "q"], strain), observed, ErrorModel())
    reference = run_mcmc(lambda t: exp.log_likelihood(t)[0], np.array(list(TRIAX_RANGES.values())),
                         McmcSettings(walkers=32, max_steps=1000, check_every=200))
    assert reference.diagnostics["converged"]
    ref = reference.samples
    width = np.ptp(np.array(list(TRIAX_RANGES.values())), axis=1)
    # stopped by its criterion, not by max_rounds: the surrogate's error below 0.3 noise std, posterior still
    assert result.converged and len(result.rounds) < settings.max_rounds
    stop = result.rounds[-1]["stop"]
    assert stop["stable"] and max(stop["error_in_noise_std"]) <= settings.error_tol
    assert result.simulations_total == settings.initial + settings.batch * len(result.rounds) < len(ref) / 100
    # the simulator's posterior (std 0.4 % of E's range, 0.5 % of mu's): same std within 20 %, same mean
    ratio = result.samples.std(0) / ref.std(0)
    assert np.all((ratio > 0.8) & (ratio < 1.2)), ratio
    assert np.all(np.abs(result.samples.mean(0) - ref.mean(0)) < 0.3 * ref.std(0))
    assert np.all(np.abs(result.samples.mean(0) - TRIAX_TRUTH[0]) < 0.005 * width)


def test_the_stopping_rule_waits_for_the_surrogate_error_to_fall_below_the_noise():
    from simrnn.sequence.calibration.hybrid import moved

    previous = {"mean": [1.0, 2.0], "std": [0.1, 0.2]}
    current = {"mean": [1.01, 2.0], "std": [0.1, 0.21], "model_error": [0.01, 0.0], "batch_error": [0.002, 0.0]}
    noise = np.array([0.02, np.inf])  # the second observable is not in the likelihood
    assert not moved(previous, current, FAST, noise)["stable"]  # the error used: 0.5 noise std
    calm = dict(current, model_error=[0.004, 5.0])
    test = moved(previous, calm, FAST, noise)
    assert test["stable"] and test["error_in_noise_std"] == [pytest.approx(0.2), 0.0]
    assert not moved(previous, dict(calm, mean=[1.03, 2.0]), FAST, noise)["stable"]  # moved 0.3 std


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # GrainLearning's mixture on 10 samples
def test_grainlearnings_mixed_scheme_simulates_half_and_retrains_a_new_surrogate_every_iteration(monkeypatch, capsys):
    from simrnn.sequence.calibration import hybrid
    from simrnn.sequence.calibration.mixed_baseline import MixedSettings, mixed_calibrate

    created = []

    class Counted(hybrid.MlpSurrogate):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            created.append(self)

    monkeypatch.setattr(hybrid, "MlpSurrogate", Counted)  # what seeded_mlp builds
    rows: list = []
    settings = MixedSettings(samples=10, num_iter=3, error_tol=None, epochs=100, patience=20, n_init=1)
    result = mixed_calibrate(counted(rows), hyperbola(TRUTH)[0].T, X, RANGES, ["y"], settings)
    capsys.readouterr()  # GrainLearning prints every iteration
    assert result.iterations == 3 and result.simulations == len(rows) == 10 + 5 + 5  # all, then half, then half
    assert len(created) == 2 and created[0] is not created[1]  # a new surrogate in iterations 1 and 2
    assert result.samples.shape == (10, 2) and result.weights.sum() == pytest.approx(1.0)
    bounds = np.array(list(RANGES.values()))
    assert np.all((result.samples >= bounds[:, 0]) & (result.samples <= bounds[:, 1]))
    weighted = result.weights @ result.samples
    assert np.allclose(result.mean, weighted) and np.all(result.std > 0)
    low, high = result.credible_interval().T
    assert np.all((low <= result.mean) & (result.mean <= high))


def test_the_residual_correction_is_exact_at_simulations_and_the_surrogate_far_from_them():
    from simrnn.sequence.calibration.hybrid_correction import ResidualCorrection

    def biased(params):  # a surrogate off by a smooth error of 5 % of the curve
        return hyperbola(params) * (1.05 + 0.1 * params[:, :1, None])

    bounds = np.array(list(RANGES.values()))
    rng = np.random.default_rng(0)
    centre, std = np.array([0.2, 5.0]), np.array([0.01, 0.1])
    near = centre + std * rng.uniform(-3, 3, size=(12, 2))  # simulations placed in a posterior
    scale = np.array([1e-3])
    model = ResidualCorrection(biased, near, hyperbola(near), scale, slice(None), np.ptp(bounds, axis=1), centre, std)
    assert np.allclose(model(near), hyperbola(near), rtol=0, atol=1e-3 * scale[0])  # exact where simulated (nugget)
    fresh = centre + std * rng.uniform(-2, 2, size=(50, 2))  # held out, inside the posterior
    error = np.sqrt(np.mean((model(fresh) - hyperbola(fresh)) ** 2))
    raw = np.sqrt(np.mean((biased(fresh) - hyperbola(fresh)) ** 2))
    assert error < 0.01 * raw and error < 0.1 * scale[0]  # the 5 % bias interpolated away
    assert model.loo_rmse[0] < 0.1 * scale[0]  # and its leave-one-out error says so
    assert np.all(model.length > 3 * std)  # a smooth bias: a long kernel, chosen by leave-one-out
    far = centre + 10 * model.length[None]  # ten kernel lengths away: the surrogate itself
    assert np.allclose(model(far), biased(far), rtol=1e-9)


def test_the_help_states_the_loops_own_defaults():
    from typer.testing import CliRunner

    from simrnn.cli import app

    output = CliRunner().invoke(app, ["calibrate", "--help"]).output
    text = " ".join(re.sub(r"[│╭╮╰╯─]", " ", output).split())  # the panels' wrapped lines, joined
    assert f"maximum rounds (default {HybridSettings.max_rounds})" in text
    assert f"simulations per round (default {HybridSettings.batch})" in text
