"""MCMC calibration: the sampler against a known Gaussian posterior, the model protocol, the error
model (dependent observables, correlated residuals, missing model error), several curves, resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from simrnn.cli import app
from simrnn.errors import UserInputError
from simrnn.sequence.calibration import calibrate, function_model
from simrnn.sequence.calibration.demo import heldout_truth, write_heldout_curve
from simrnn.sequence.calibration.likelihood import ar1_coefficient, ar1_quadratic_form, dependent_observables
from simrnn.sequence.calibration.mcmc import McmcSettings, burn_in, initial_ensemble, split_rhat
from simrnn.sequence.calibration.mcmc_driver import PREDICTIVE_DRAWS, calibrate_mcmc
from simrnn.sequence.triaxial import OUTPUT_NAMES, triaxial_response

DATA = Path(__file__).resolve().parents[1] / "data" / "grainlearning"


def linear_problem(num_steps: int = 30, seed: int = 1):
    """``y = A theta + noise`` with ``A [T, 3]``: its exact posterior under a flat prior."""
    rng = np.random.default_rng(seed)
    design = np.column_stack([np.ones(num_steps), np.linspace(0, 1, num_steps), np.linspace(0, 1, num_steps) ** 2])
    sigma = 0.2
    y = design @ np.array([0.5, -1.0, 2.0]) + sigma * rng.normal(size=num_steps)
    return design, y, sigma, np.linalg.solve(design.T @ design, design.T @ y), np.linalg.inv(design.T @ design) * sigma**2


def test_mcmc_recovers_a_gaussian_posterior_through_the_protocol(tmp_path):
    """A plain Python function as the model; tolerances: mean within 0.2 posterior std, std within
    15 %, correlations within 0.1 (ESS >= 500 gives ~0.05 std of Monte Carlo error)."""
    design, y, sigma, mean, cov = linear_problem()
    model = function_model(lambda theta: (theta @ design.T)[:, :, None], ["a", "b", "c"], ["y"],
                           control=np.arange(len(y)), bounds={"a": (-10, 10), "b": (-10, 10), "c": (-10, 10)})
    obs = tmp_path / "y.dat"
    obs.write_text("# step y\n" + "".join(f"{t} {v!r}\n" for t, v in enumerate(y)))
    result = calibrate_mcmc(model, obs, param_ranges=model.bounds, noise=0.0, model_error={"y": sigma},
                            points_per_curve=len(y), settings=McmcSettings(walkers=32, max_steps=1000, target_ess=500),
                            reference={"a": 0.5}, out_dir=tmp_path / "cal", figures=False)
    assert result.converged, result.diagnostics
    est_mean, est_cov = result.samples.mean(axis=0), np.cov(result.samples.T)
    std = np.sqrt(np.diag(cov))
    np.testing.assert_array_less(np.abs(est_mean - mean) / std, 0.2)
    np.testing.assert_allclose(np.sqrt(np.diag(est_cov)) / std, 1.0, atol=0.15)
    np.testing.assert_allclose(est_cov / np.outer(np.sqrt(np.diag(est_cov)), np.sqrt(np.diag(est_cov))),
                               cov / np.outer(std, std), atol=0.1)
    # the sampler's evaluations + the finiteness check at the centre + the posterior-predictive draws
    assert model.evaluations == result.timings["evaluations"] + 1 + PREDICTIVE_DRAWS
    summary = json.loads((tmp_path / "cal" / "calibration.json").read_text())
    assert summary["converged"] is True and summary["experiments"][0]["effective_points_per_curve"] == len(y)
    assert summary["posterior"]["a"]["truth"] == 0.5 and not summary["notes"]


def test_split_rhat_flags_groups_in_different_places():
    rng = np.random.default_rng(0)
    mixed = rng.normal(size=(200, 16, 2))
    stuck = mixed.copy()
    stuck[:, :4, 0] += 5.0  # one walker group elsewhere
    assert split_rhat(mixed, 4).max() < 1.02
    assert split_rhat(stuck, 4)[0] > 1.5 and split_rhat(stuck, 4)[1] < 1.02


def test_not_converged_is_a_note_and_in_calibration_json(tmp_path):
    design, y, sigma, _, _ = linear_problem()
    model = function_model(lambda theta: (theta @ design.T)[:, :, None], ["a", "b", "c"], ["y"],
                           control=np.arange(len(y)), bounds={"a": (-10, 10), "b": (-10, 10), "c": (-10, 10)})
    obs = tmp_path / "y.dat"
    obs.write_text("# step y\n" + "".join(f"{t} {v!r}\n" for t, v in enumerate(y)))
    result = calibrate(model, obs, noise=0.0, model_error={"y": sigma}, walkers=16, steps=20,
                       reference={"a": 0.5}, out_dir=tmp_path / "short", figures=False)
    assert not result.converged and "has NOT converged" in result.notes[0]
    summary = json.loads((tmp_path / "short" / "calibration.json").read_text())
    assert summary["converged"] is False and summary["stop_reason"] == "not_converged"
    assert summary["diagnostics"]["failed"] and summary["diagnostics"]["steps"] == 20
    # the chain is extended, not restarted
    longer = calibrate(model, obs, noise=0.0, model_error={"y": sigma}, walkers=16, steps=60, resume=tmp_path / "short",
                       reference={"a": 0.5}, out_dir=tmp_path / "longer", figures=False)
    assert longer.diagnostics["steps"] == 60 and longer.timings["resumed_steps"] == 20
    assert 0 < longer.timings["evaluations"] <= 40 * 16  # proposals outside the box cost nothing
    with pytest.raises(UserInputError, match="no chain.npz"):
        calibrate(model, obs, noise=0.0, model_error={"y": sigma}, resume=tmp_path, out_dir=tmp_path / "x")


def test_protocol_rejects_wrong_curve_shapes(tmp_path):
    model = function_model(lambda theta: np.zeros((len(theta), 5, 2)), ["a"], ["y"], control=np.arange(5))
    with pytest.raises(UserInputError, match=r"expected \[N, T, O\] = \[1, 5, 1\]"):
        model(np.zeros((1, 1)))
    with pytest.raises(UserInputError, match=r"takes params \[N, 1\]"):
        model(np.zeros((1, 3)))


def test_ar1_quadratic_form_is_the_inverse_covariance():
    rho, steps = ar1_coefficient(20, 4.0), 20
    assert rho == pytest.approx(16 / 24) and ar1_coefficient(20, 40.0) == 0.0
    cov = rho ** np.abs(np.subtract.outer(np.arange(steps), np.arange(steps)))
    r = np.random.default_rng(0).normal(size=(3, steps, 2))
    expected = np.einsum("nto,ts,nso->n", r, np.linalg.inv(cov), r)
    np.testing.assert_allclose(ar1_quadratic_form(r, rho), expected, rtol=1e-10)


def test_dependent_observable_rule_drops_p_of_a_drained_curve():
    strain = np.arange(100) * 0.002
    params = np.array([list(heldout_truth(0).values())])
    curves = {}
    for kind in ("drained", "undrained"):
        _, out = triaxial_response(params, 0.2, kind, strain)
        curves[kind] = out[0][:, [OUTPUT_NAMES.index(n) for n in ("e", "p", "q")]].T
    dropped = dependent_observables(curves["drained"], ["e", "p", "q"])
    assert list(dropped) == ["p"] and "p = p0 + q/3" in dropped["p"]
    assert dependent_observables(curves["undrained"], ["e", "p", "q"]) == {}
    assert dependent_observables(curves["drained"], ["e", "q"]) == {}
    tutorial = np.loadtxt(DATA / "experimental_test_drained_s3=0.2.dat")[:, 1:].T
    assert "within 2.6 %" in dependent_observables(tutorial, ["e", "p", "q"])["p"]
    assert dependent_observables(tutorial, ["e", "p", "q"], tolerance=0.02) == {}


def _simulator_curve(path: Path, pressure: float, steps: int = 50) -> Path:
    write_heldout_curve(path, np.array(list(heldout_truth(3).values())), sequence_length=steps, pressure=pressure)
    return path


def test_two_curves_give_a_narrower_joint_posterior(tmp_path):
    """Two linear tests of the same two parameters, each with its own model: the joint posterior is
    the exact product posterior (std within 15 %) and narrower than either single one."""
    t = np.linspace(0, 1, 20)
    designs = [np.column_stack([np.ones_like(t), t]), np.column_stack([np.ones_like(t), t**2 - t])]
    sigma, theta = 0.1, np.array([0.4, 1.5])
    rng = np.random.default_rng(3)
    models, files = [], []
    for k, design in enumerate(designs):
        models.append(function_model(lambda p, d=design: (p @ d.T)[:, :, None], ["a", "b"], ["y"], control=t))
        files.append(tmp_path / f"test{k}.dat")
        y = design @ theta + sigma * rng.normal(size=len(t))
        files[-1].write_text("# t y\n" + "".join(f"{a} {b!r}\n" for a, b in zip(t, y, strict=True)))
    common = {"param_ranges": {"a": (-5.0, 5.0), "b": (-5.0, 5.0)}, "noise": 0.0, "model_error": {"y": sigma},
              "points_per_curve": len(t), "settings": McmcSettings(walkers=16, max_steps=600, target_ess=400),
              "figures": False}
    single = [calibrate_mcmc(m, f, out_dir=tmp_path / f"single{k}", **common)
              for k, (m, f) in enumerate(zip(models, files, strict=True))]
    joint = calibrate_mcmc(models, files, out_dir=tmp_path / "joint", **common)
    exact = np.sqrt(np.diag(np.linalg.inv(sum(d.T @ d for d in designs)))) * sigma
    np.testing.assert_allclose(joint.samples.std(axis=0) / exact, 1.0, atol=0.15)
    for name in ("a", "b"):
        assert joint.posterior[name]["std"] < 0.9 * min(s.posterior[name]["std"] for s in single), name
    summary = json.loads((tmp_path / "joint" / "calibration.json").read_text())
    assert [e["obs_file"] for e in summary["experiments"]] == [str(f) for f in files]


def test_missing_model_error_warns_for_a_real_observation(tmp_path):
    truth = heldout_truth(3)
    fixed = {"pressure": 0.2, **{k: truth[k] for k in ("v", "kr", "eta", "mu")}}
    obs = _simulator_curve(tmp_path / "obs.dat", 0.2, steps=30)
    common = {"param_ranges": {"E": (7.0, 10.0)}, "fixed_params": fixed, "control": ["e_z"],
              "settings": McmcSettings(walkers=8, max_steps=5), "figures": False}
    real = calibrate_mcmc("simulator", obs, out_dir=tmp_path / "real", **common)
    assert any("no model error for e, q" in n for n in real.notes)  # p is dropped: derived from q
    assert real.experiments[0]["dropped"].keys() == {"p"}
    synthetic = calibrate_mcmc("simulator", obs, reference={"E": truth["E"]}, out_dir=tmp_path / "syn", **common)
    given = calibrate_mcmc("simulator", obs, model_error={"e": 0.001, "q": 0.01}, out_dir=tmp_path / "given", **common)
    assert not any("no model error" in n for n in synthetic.notes + given.notes)


def test_cli_calibrates_two_curves_with_their_own_conditions(tmp_path):
    truth = heldout_truth(3)
    for p in (0.2, 0.5):
        _simulator_curve(tmp_path / f"p{p}.dat", p, steps=30)
    fixed = [f"--fixed={k}={truth[k]}" for k in ("v", "kr", "eta")]
    args = ["calibrate", "simulator", "--obs", f"{tmp_path / 'p0.2.dat'}@pressure=0.2", "--obs",
            f"{tmp_path / 'p0.5.dat'}@pressure=0.5", "--control", "e_z", "--param", "E=7:10", "--param", "mu=0:60",
            *fixed, "--walkers", "8", "--steps", "20", "--out", str(tmp_path / "cal"),
            "--reference", f"E={truth['E']}"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "step 20: E " in result.output and "converged: NO" in result.output
    assert "note: the MCMC chain has NOT converged" in result.output
    for name in ("calibration.json", "chain.npz", "posterior_samples.npz", "corner.png", "curves.png"):
        assert (tmp_path / "cal" / name).is_file(), name
    samples = np.load(tmp_path / "cal" / "posterior_samples.npz")
    assert samples["samples"].shape[1] == 2 and samples["predictive_1"].shape[1:] == (30, 2)
    bad = CliRunner().invoke(app, ["calibrate", "simulator", "--obs", f"{tmp_path / 'p0.2.dat'}@pressure",
                                   "--param", "E=7:10"])
    assert bad.exit_code == 2 and "expected NAME=VALUE" in bad.output and "Traceback" not in bad.output
    for extra, message in ((["--move", "gibbs"], "--move must be 'stretch' or 'de'"),
                           (["--walkers", "3"], "--walkers must be even"),
                           (["--points-per-curve", "0"], "--points-per-curve must be a positive number"),
                           (["--steps", "0"], "--steps (0) and the check interval"),  # library key max_steps
                           (["--walkers", "200000"], "--walkers x --steps is 200000 x 2000"),
                           (["--resume", str(tmp_path)], f"--resume {tmp_path}: no chain.npz there")):
        bad = CliRunner().invoke(app, ["calibrate", "simulator", "--obs", f"{tmp_path / 'p0.2.dat'}@pressure=0.2",
                                       "--param", "E=7:10", *fixed, "--param", "mu=0:60", "--control", "e_z",
                                       "--out", str(tmp_path / "bad"), *extra])
        assert bad.exit_code == 2 and message in bad.output and "Traceback" not in bad.output, bad.output
        assert not (tmp_path / "bad").exists()
    both = CliRunner().invoke(app, ["calibrate", "simulator", "--sampler", "grainlearning", "--obs",
                                    f"{tmp_path / 'p0.2.dat'}@pressure=0.2", "--param", "E=7:10"])
    assert both.exit_code == 2 and "several curves need --sampler emcee" in both.output


def test_burn_in_ends_when_the_log_probability_stops_rising():
    rng = np.random.default_rng(0)
    chain = rng.normal(size=(400, 16, 2))
    log_prob = -0.5 * (chain**2).sum(axis=2)
    rising = log_prob.copy()
    rising[:120] -= np.linspace(50, 0, 120)[:, None]  # contracting for 120 steps, then in the typical set
    burn, typical = burn_in(chain, rising)
    assert typical and 100 <= burn <= 125
    burn, typical = burn_in(chain, log_prob - np.linspace(100, 0, 400)[:, None])  # rising all along
    assert not typical and burn == 200


def test_initial_ensemble_starts_near_a_narrow_posterior():
    """Posterior N(0.3, 0.01^2) per axis in the unit box (3 parameters): the start's mean is within
    a few posterior stds of it and its spread within a factor of 2 of the posterior's."""
    bounds = np.array([[0.0, 1.0]] * 3)

    def log_prob(theta):
        return -0.5 * (((theta - 0.3) / 0.01) ** 2).sum(axis=1)

    start, evaluated = initial_ensemble(log_prob, bounds, McmcSettings(walkers=32))
    assert start.shape == (32, 3) and evaluated >= 256
    np.testing.assert_array_less(np.abs(start.mean(axis=0) - 0.3), 0.01)
    assert np.all((start.std(axis=0) > 0.005) & (start.std(axis=0) < 0.02)), start.std(axis=0)
