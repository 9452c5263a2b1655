"""The simulator protocol: a cache file of every simulation, failed samples skipped, calibration on top."""

from __future__ import annotations

import numpy as np
import pytest

from simrnn.errors import UserInputError
from simrnn.sequence.calibration.mcmc import McmcSettings
from simrnn.sequence.calibration.mcmc_driver import calibrate_mcmc
from simrnn.sequence.calibration.simulator import SimulationFailed, cached_simulator, triaxial_run
from simrnn.sequence.triaxial import OUTPUT_NAMES, triaxial_response

X = np.linspace(0.01, 1.0, 30)


def hyperbola(params: np.ndarray) -> np.ndarray:
    """GrainLearning's hyperbola tutorial ``y = x / (100 a + b x)``: ``params [N, 2]`` -> ``[N, 30, 1]``."""
    return (X / (100 * params[:, :1] + params[:, 1:] * X))[:, :, None]


def test_cache_file_is_reused_and_nothing_is_simulated_twice(tmp_path):
    calls = []

    def run(params):
        calls.append(len(params))
        return hyperbola(params)

    params = np.array([[0.01, 2.0], [0.02, 3.0], [0.01, 2.0]])  # a repeated row is simulated once
    first = cached_simulator(run, ["a", "b"], ["y"], X, cache=tmp_path / "sims.npz")
    np.testing.assert_allclose(first(params), hyperbola(params))  # the first batch is saved at once
    assert calls == [2] and first.simulations == 2 and first.cache_hits == 0
    # a new process (after a kill) with the same cache file: no simulation repeated
    again = cached_simulator(run, ["a", "b"], ["y"], X, cache=tmp_path / "sims.npz")
    np.testing.assert_allclose(again(np.vstack([params, [[0.03, 1.0]]])), hyperbola(np.vstack([params, [[0.03, 1.0]]])))
    assert calls == [2, 1] and again.simulations == 1 and again.cache_hits == 3
    with pytest.raises(UserInputError, match="the cache holds params"):
        cached_simulator(run, ["a", "b", "c"], ["y"], X, cache=tmp_path / "sims.npz")


def test_failing_samples_are_skipped_with_a_warning_and_never_rerun(tmp_path):
    calls = []

    def run(params):
        calls.append(len(params))
        if (params[:, 0] > 0.5).any():
            raise RuntimeError("DEM crashed")
        return hyperbola(params)

    sim = cached_simulator(run, ["a", "b"], ["y"], X, cache=tmp_path / "sims.npz")
    with pytest.warns(SimulationFailed, match=r"simulation of \[0.9, 1.0\] failed: DEM crashed"):
        curves = sim(np.array([[0.01, 2.0], [0.9, 1.0]]))
    assert np.isfinite(curves[0]).all() and np.isnan(curves[1]).all() and sim.failures == 1
    assert calls == [2, 1, 1]  # the batch, then each sample alone
    later = cached_simulator(run, ["a", "b"], ["y"], X, cache=tmp_path / "sims.npz")
    assert np.isnan(later(np.array([[0.9, 1.0]]))).all() and calls == [2, 1, 1] and later.failures == 1

    def nan_run(params):
        out = hyperbola(params)
        out[params[:, 1] > 4] = np.nan
        return out

    with pytest.warns(SimulationFailed, match="returned NaN or inf"):
        assert np.isnan(cached_simulator(nan_run, ["a", "b"], ["y"], X)(np.array([[0.01, 5.0]]))).all()


def test_calibration_on_a_cached_hyperbola_simulator_recovers_its_parameters(tmp_path):
    """MCMC with the simulator in the loop: a, b of a noisy hyperbola within 3 posterior stds of the
    truth and inside the 90 % interval; a second calibration from the same cache simulates less."""
    truth = np.array([[0.02, 3.0]])
    y = hyperbola(truth)[0, :, 0] * (1 + 0.01 * np.random.default_rng(0).normal(size=len(X)))
    obs = tmp_path / "hyperbola.dat"
    obs.write_text("# x y\n" + "".join(f"{a!r} {b!r}\n" for a, b in zip(X, y, strict=True)))
    settings = McmcSettings(walkers=12, max_steps=200, target_ess=200, seed=1)
    sim = cached_simulator(hyperbola, ["a", "b"], ["y"], X, cache=tmp_path / "sims.npz", bounds={"a": (0.001, 0.1),
                                                                                               "b": (0.1, 10.0)})
    result = calibrate_mcmc(sim, obs, param_ranges=sim.bounds, noise=0.01, reference={"a": 0.02, "b": 3.0},
                            settings=settings, figures=False, out_dir=tmp_path / "cal")
    for name, p in result.posterior.items():
        assert p["truth_inside_ci90"] and abs(p["mean"] - p["truth"]) < 3 * p["std"], (name, p)
    assert sim.simulations > 0 and len(np.load(tmp_path / "sims.npz")["params"]) == sim.simulations  # flushed


def test_triaxial_run_is_the_synthetic_model():
    strain = np.arange(20) * 0.002
    run = triaxial_run(["e", "q"], strain, {"pressure": 0.2, "v": 0.3, "kr": 0.5, "eta": 0.3}, ["E", "mu"])
    _, expected = triaxial_response(np.array([[8.0, 0.3, 0.5, 0.3, 30.0]]), 0.2, "drained", strain)
    np.testing.assert_allclose(run(np.array([[8.0, 30.0]])), expected[:, :, [OUTPUT_NAMES.index("e"),
                                                                             OUTPUT_NAMES.index("q")]], rtol=1e-6)
