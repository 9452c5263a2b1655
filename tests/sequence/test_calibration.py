"""Calibration: callbacks, error model, posterior statistics, GrainLearning driver, CLI.

Only the tests that run GrainLearning itself skip without it (``pytest.importorskip`` inside them).
"""

from __future__ import annotations

import csv
import importlib
import json
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from simrnn.checkpoints import write_checkpoint
from simrnn.cli import app
from simrnn.errors import UserInputError
from simrnn.files import write_json_atomic
from simrnn.sequence.calibration import calibrate, simulator_callback, surrogate_callback
from simrnn.sequence.calibration.demo import heldout_truth, write_heldout_curve
from simrnn.sequence.calibration.likelihood import ErrorModel, model_error_from_metrics
from simrnn.sequence.calibration.observations import read_observation_table
from simrnn.sequence.calibration.posterior import IterationStats, posterior_summary, weighted_quantile
from simrnn.sequence.model import ParamConditionedLSTM
from simrnn.sequence.predict import load_run, predict
from simrnn.sequence.triaxial import OUTPUT_NAMES, triaxial_response

PARAMS = ["E", "v", "kr", "eta", "mu", "pressure"]
LABELS = ["e", "p", "q", "f0", "a_c", "a_n", "a_t"]
RANGES = {"E": (7.0, 10.0), "v": (0.0, 0.5), "kr": (0.0, 1.0), "eta": (0.0, 1.0), "mu": (0.0, 60.0)}
TRUTH = {"E": 8.2, "v": 0.3, "kr": 0.6, "eta": 0.4, "mu": 35.0}
STEPS = 40


def make_run(path, window_size: int = 3, pad_length: int = 0, features: tuple[str, ...] = ("e_z",)):
    """A small untrained surrogate (params as an imported GrainLearning model) at ``path``."""
    torch.manual_seed(0)
    model = ParamConditionedLSTM(n_input_features=len(features), n_params=6, n_outputs=7, hidden_size=8,
                                 dense_size=8)
    with torch.no_grad():
        model.state_h.weight.mul_(torch.tensor([1.0, 4.0, 2.0, 2.0, 0.05, 1.0]))  # make every param matter
    meta = {"window_size": window_size, "pad_length": pad_length, "input_features": list(features),
            "param_names": PARAMS, "output_labels": LABELS, "output_mean": [0.6, 0.3, 0.4, 1, 0, 0, 0],
            "output_std": [0.05, 0.1, 0.2, 1, 1, 1, 1], "standardize_outputs": True}
    write_checkpoint(path / "checkpoints" / "best.ckpt", model,
                     {"model_name": "lstm", "model_args": {"n_input_features": len(features), "n_params": 6,
                                                           "n_outputs": 7, "hidden_size": 8, "dense_size": 8},
                      "data_meta": meta})
    write_json_atomic(path / "config.json", {"task": "sequence"})
    return path


def strain() -> np.ndarray:
    return np.arange(STEPS) * 0.005


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("run"))


@pytest.fixture(scope="module")
def obs_file(run_dir, tmp_path_factory):
    """The tiny surrogate's own e, p, q at TRUTH and 0.2 MPa, written like GrainLearning's tutorial file."""
    run = load_run(run_dir)
    params = np.array([[*TRUTH.values(), 0.2]], dtype=np.float32)
    curves = predict(run, strain()[None, :, None], params)[0]  # [T - 2, 7], element k -> step k + 2
    curves = np.concatenate([np.repeat(curves[:1], 2, axis=0), curves])
    path = tmp_path_factory.mktemp("obs") / "observed.dat"
    rows = [f"{s:.6e}\t{c[0]:.8e}\t{c[1]:.8e}\t{c[2]:.8e}" for s, c in zip(strain(), curves, strict=True)]
    path.write_text("# epsilon_axial \t e \t p \t q\n" + "\n".join(rows) + "\n")
    return path


def fake_calibration(obs_names, param_names, n=7, seed=0):
    """An object with GrainLearning's ``calib.system`` interface holding ``n`` random samples."""
    rng = np.random.default_rng(seed)
    system = SimpleNamespace(
        obs_data=rng.uniform(0.1, 1.0, (len(obs_names), STEPS)), ctrl_data=strain(), param_names=list(param_names),
        param_data=np.array([[rng.uniform(*RANGES[p]) for p in param_names] for _ in range(n)]), sim_data=None,
    )
    system.set_sim_data = lambda data: setattr(system, "sim_data", data)
    return SimpleNamespace(system=system)


# -- callbacks (no GrainLearning needed) -------------------------------------------------------

@pytest.mark.parametrize("pad_length", [0, 2])
def test_callback_selects_orders_and_aligns_like_predict(tmp_path, pad_length):
    run = load_run(make_run(tmp_path, window_size=3, pad_length=pad_length))
    order = ["mu", "E", "eta", "v", "kr"]  # calibrated columns in a different order than the run's
    calib = fake_calibration(["q", "e"], order)
    callback = surrogate_callback(run, ["q", "e"], "epsilon_axial", fixed_params={"pressure": 0.2})
    callback(calib)
    sim = calib.system.sim_data
    assert sim.shape == (7, 2, STEPS)
    params = np.column_stack([calib.system.param_data[:, order.index(p)] for p in PARAMS[:5]] + [np.full(7, 0.2)])
    expected = predict(run, np.repeat(strain()[None, :, None], 7, axis=0), params)
    first = run.first_predicted_step()  # element k of predict estimates step k + first
    assert first == 2 - pad_length and callback.init_inference_step == first
    for t in range(first, STEPS):
        np.testing.assert_allclose(sim[:, 0, t], expected[:, t - first, LABELS.index("q")], rtol=1e-6)
        np.testing.assert_allclose(sim[:, 1, t], expected[:, t - first, LABELS.index("e")], rtol=1e-6)
    # steps the surrogate cannot predict equal the observation: the same likelihood for every sample
    np.testing.assert_array_equal(sim[:, :, :first], np.repeat(calib.system.obs_data[None, :, :first], 7, 0))
    assert callback.calls == 1 and callback.samples == 7 and callback.seconds > 0


def test_callback_feeds_several_control_curves_in_model_order(tmp_path):
    run = load_run(make_run(tmp_path, features=("e_x", "e_y", "e_z")))
    calib = fake_calibration(["p"], list(RANGES), n=4)
    calib.system.ctrl_data = np.stack([-strain() / 2, -strain() / 2, strain()])  # [F, T]
    surrogate_callback(run, "p", ["ex", "ey", "ez"], {"pressure": 0.5})(calib)
    params = np.column_stack([calib.system.param_data, np.full(4, 0.5)])
    expected = predict(run, np.repeat(calib.system.ctrl_data.T[None], 4, axis=0), params)[:, :, 1]
    np.testing.assert_allclose(calib.system.sim_data[:, 0, 2:], expected, rtol=1e-6)


def test_callback_is_one_batched_pass(run_dir, monkeypatch):
    calls = []
    predict_module = importlib.import_module("simrnn.sequence.predict")  # callbacks import predict when called
    real = predict_module.predict

    def counting(run, inputs, params, **kwargs):
        calls.append((np.shape(inputs), np.shape(params), kwargs))
        return real(run, inputs, params, **kwargs)

    monkeypatch.setattr(predict_module, "predict", counting)
    surrogate_callback(run_dir, ["e", "p", "q"], "epsilon_axial", {"pressure": 0.5})(
        fake_calibration(["e", "p", "q"], list(RANGES), n=11))
    assert calls == [((11, STEPS, 1), (11, 6), {"precision": "fp32"})]


def test_simulator_callback_is_the_synthetic_model():
    calib = fake_calibration(["q", "e"], ["mu", "E", "eta", "v", "kr"], n=5)
    callback = simulator_callback(["q", "e"], "e_z", {"pressure": 0.5})
    callback(calib)
    contact = calib.system.param_data[:, [1, 3, 4, 2, 0]]  # back to E, v, kr, eta, mu
    _, outputs = triaxial_response(contact, 0.5, "drained", strain())
    np.testing.assert_allclose(calib.system.sim_data[:, 0], outputs[:, :, OUTPUT_NAMES.index("q")], rtol=1e-6)
    np.testing.assert_allclose(calib.system.sim_data[:, 1], outputs[:, :, OUTPUT_NAMES.index("e")], rtol=1e-6)
    assert callback.init_inference_step == 0


def test_fixed_params_change_the_simulation(run_dir):
    low, high = (fake_calibration(["q"], list(RANGES)) for _ in range(2))
    surrogate_callback(run_dir, ["q"], "epsilon_axial", {"pressure": 0.2})(low)
    surrogate_callback(run_dir, ["q"], "epsilon_axial", {"pressure": 1.0})(high)
    assert not np.allclose(low.system.sim_data[:, :, 2:], high.system.sim_data[:, :, 2:])


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"obs_names": ["e", "x"]}, "valid names are e, p, q, f0"),
    ({"obs_names": ["e", "e"]}, "observation name(s) e are given twice"),
    ({"control": ["e_x", "e_z"]}, "takes 1 control curve"),
    ({"fixed_params": {"pressure": 0.2, "zeta": 1.0}}, "unknown parameter name(s) 'zeta'"),
    ({"fixed_params": {}}, "pressure of the model are neither calibrated nor fixed"),
    ({"fixed_params": {"pressure": 0.2, "E": 8.0}}, "both calibrated and fixed"),
    ({"fixed_params": {"pressure": float("nan")}}, "must be finite"),
])
def test_callback_errors(run_dir, kwargs, message):
    args = {"obs_names": ["e"], "control": "epsilon_axial", "fixed_params": {"pressure": 0.2}} | kwargs
    with pytest.raises(UserInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        surrogate_callback(run_dir, **args).check_param_names(list(RANGES))


def test_callback_rejects_control_of_another_length(run_dir):
    calib = fake_calibration(["e"], list(RANGES))
    calib.system.ctrl_data = strain()[:-1]
    with pytest.raises(UserInputError, match="have 39 steps but the observations have 40"):
        surrogate_callback(run_dir, ["e"], "epsilon_axial", {"pressure": 0.2})(calib)


# -- observation table --------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "message"), [
    ("0.0 1.0\n", "expected a first line like '# epsilon_axial e p q'"),
    ("# a b\n0 1\n0.1\n", "line 3 has 1 values but the header names 2 columns"),
    ("# a b\n0 x\n", "line 2 holds a value that is not a number"),
    ("# a b\n0 nan\n", "NaN or inf"),
    ("# a b\n0 1e400\n", "NaN or inf"),
    ("# a b\n0 1\n0 1e300\n", r"data row 2 holds a value beyond \+-1e\+100"),
    ("# a b\n", "no data rows"),
    ("# a a\n0 1\n", "name each column once"),
])
def test_observation_table_errors(tmp_path, text, message):
    path = tmp_path / "obs.dat"
    path.write_text(text)
    with pytest.raises(UserInputError, match=message):
        read_observation_table(path)


def test_observation_table_reads_the_tutorial_format(obs_file):
    table = read_observation_table(obs_file)
    assert table.names == ["epsilon_axial", "e", "p", "q"] and table.num_steps == STEPS
    assert table.stack(["q", "e"]).shape == (2, STEPS)
    with pytest.raises(UserInputError, match="its columns are epsilon_axial, e, p, q"):
        table.stack(["z"])
    with pytest.raises(UserInputError, match="'e' are named twice"):
        table.stack(["e", "e"])


# -- error model and posterior statistics -------------------------------------------------------

def test_error_model_adds_noise_and_model_error_in_quadrature():
    observed = np.array([[0.0, 1.0, 3.0, 5.0], [2.0, 2.0, 2.0, 2.0]])  # ranges from step 1: 4 and 0
    model = ErrorModel(noise_fraction=0.1, model_error={"b": 0.3})
    np.testing.assert_allclose(model.std_per_curve(observed, ["a", "b"], start=1), [0.4, 0.3])
    np.testing.assert_allclose(model.step_variances(observed, ["a", "b"], start=1), [3 * 0.16, 3 * 0.09])
    with pytest.raises(UserInputError, match="observation.s. b are constant"):
        ErrorModel(0.1).std_per_curve(observed, ["a", "b"], start=1)
    with pytest.raises(UserInputError, match="model_error names c"):
        ErrorModel(0.1, {"c": 1.0}).std_per_curve(observed, ["a", "b"], start=1)
    for bad in (ErrorModel(-0.1), ErrorModel(float("inf")), ErrorModel(0.1, {"a": 1e300})):
        with pytest.raises(UserInputError):
            bad.validate()
    assert model_error_from_metrics({"rmse_per_label": {"e": 0.1, "f0": 2}}, ["e", "q"]) == {"e": 0.1}
    assert model_error_from_metrics({"metrics": {"rmse_per_label": {"q": 0.2}}}, ["e", "q"]) == {"q": 0.2}
    assert model_error_from_metrics({"metrics": {"mse": 1}, "details": {"rmse_per_label": {"p": 3}}}, ["p"]) == {"p": 3}
    assert model_error_from_metrics({"metrics": {"mse": 1}}, ["p"]) == {}


def test_weighted_quantile_and_credible_interval():
    values = np.array([3.0, 1.0, 2.0, 4.0])
    np.testing.assert_allclose([weighted_quantile(values, np.ones(4), q) for q in (0.25, 0.5, 0.8)],
                               np.quantile(values, [0.25, 0.5, 0.8], method="hazen"))
    # weights 0.1, 0.2, 0.3, 0.4 on 1..4: midpoints of the mass at 0.05, 0.2, 0.45, 0.8
    x, w = np.array([1.0, 2.0, 3.0, 4.0]), np.array([0.1, 0.2, 0.3, 0.4])
    assert weighted_quantile(x, w, 0.45) == pytest.approx(3.0)
    assert weighted_quantile(x, w, 0.6) == pytest.approx(3.0 + 0.15 / 0.35)
    stats = IterationStats(0, 1.0, 0.5, np.column_stack([x, 10 * x]), w)
    np.testing.assert_allclose(stats.mean, [3.0, 30.0])
    np.testing.assert_allclose(stats.std, [1.0, 10.0])
    np.testing.assert_allclose(stats.credible_interval(), [[1.0, 4.0], [10.0, 40.0]])  # clipped at the ends
    summary = posterior_summary(stats, ["a", "b"], {"a": (0.0, 10.0), "b": (0.0, 100.0)}, {"a": 0.5, "b": 35.0})
    assert summary["a"]["truth_inside_ci90"] is False and summary["b"]["truth_inside_ci90"] is True
    assert summary["a"]["error_fraction_of_range"] == pytest.approx(0.25)
    assert summary["b"]["std_fraction_of_range"] == pytest.approx(0.1) and summary["b"]["most_probable"] == 40.0


# -- calibrate(): validation before GrainLearning runs ----------------------------------------

@pytest.mark.parametrize(("kwargs", "message"), [
    ({"param_ranges": {**RANGES, "E": (10.0, 7.0)}}, "range of 'E' must be finite with LOW < HIGH"),
    ({"param_ranges": {**RANGES, "E": (0.0, 1e300)}}, r"range of 'E' \(0.0:1e\+300\) must lie within"),
    ({"param_ranges": {**RANGES, "E": (-1e308, 1e308)}}, "must lie within"),
    ({"param_ranges": {}, "fixed_params": {**TRUTH, "pressure": 0.2}}, "at least one parameter range"),
    ({"param_ranges": {**RANGES, "phi": (0, 1)}}, "unknown parameter name"),
    ({"obs_names": ["e", "s"]}, "no column 's'"),
    ({"obs_names": ["e", "e"]}, "named twice"),
    ({"control": "strain"}, "no column 'strain'"),
    ({"samples": 1}, "^samples must be >= 2"),
    ({"samples": 100_000_000}, r"^samples must be >= 2 and iterations >= 1 \(at most 100000 and 10000\)"),
    ({"seed": -1}, "^seed must be from 0 to 4294967295, got -1."),
    ({"ess_target": 1.5}, "^ess_target must lie in"),
    ({"gmm_n_init": 0}, r"^gmm_n_init \(0\) and max_components"),
    ({"prior_weight": -1.0}, "^prior_weight must be a positive number"),
    ({"noise": -1.0}, "^noise must lie in"),
    ({"noise": 1e300}, "^noise must lie in"),
    ({"fixed_params": {"pressure": 1e300}}, r"pressure must lie within \+-1e\+30"),
    ({"param_ranges": {**RANGES, "E": (0.0, 1e50)}}, "must lie within"),
    ({"noise": 0.0}, "constant and no model_error"),
    ({"model_error": {"f0": 1.0}}, "^model_error names f0"),
])
def test_calibrate_errors(run_dir, obs_file, tmp_path, kwargs, message):
    args = {"param_ranges": RANGES, "fixed_params": {"pressure": 0.2}, "runs_root": tmp_path,
            "sampler": "grainlearning"} | kwargs
    with pytest.raises(UserInputError, match=message):
        calibrate(run_dir, obs_file, **args)
    assert not (tmp_path / "calibration").exists()


# -- GrainLearning runs ---------------------------------------------------------------------------

SMALL = {"samples": 30, "iterations": 2, "gmm_n_init": 1, "max_components": 2, "seed": 3, "figures": False,
         "sampler": "grainlearning"}


def test_error_model_smc_matches_grainlearning_where_grainlearning_is_finite():
    pytest.importorskip("grainlearning")
    from grainlearning import SMC

    from simrnn.sequence.calibration.bayes_filter import ErrorModelSMC

    rng = np.random.default_rng(0)
    variances = np.array([0.5, 2.0])
    system = SimpleNamespace(num_steps=6, num_samples=5, obs_data=rng.normal(size=(2, 6)),
                             sim_data=rng.normal(size=(5, 2, 6)), normalization_factor=np.ones(6),
                             get_inv_normalized_sigma=lambda: np.diag([0.5, 2.0]))
    ours = ErrorModelSMC(variances, ess_target=0.3, init_inference_step=1)
    theirs = SMC(ess_target=0.3, init_inference_step=1)
    cov = ours.get_covariance_matrices(1.5, system)
    np.testing.assert_allclose(cov[3], np.diag(1.5 * variances))
    np.testing.assert_allclose(ours.get_likelihoods(system, cov), theirs.get_likelihoods(system, cov), rtol=1e-10)
    np.testing.assert_allclose(ours.get_posteriors(system, None), theirs.get_posteriors(system, theirs.likelihoods
                               if theirs.likelihoods is not None else theirs.get_likelihoods(system, cov)), rtol=1e-10)
    # GrainLearning's pdf underflows to 0/0 = NaN far from the observation; the log-space one does not
    system.sim_data = system.sim_data + 1e3 * (1 + np.arange(5))[:, None, None]
    with np.errstate(invalid="ignore"):
        assert np.isnan(theirs.get_likelihoods(system, cov)).any()
    posterior = ours.get_posteriors(system, ours.get_likelihoods(system, cov))
    assert np.isfinite(posterior).all() and posterior[-1, 0] == pytest.approx(1.0)


def test_calibrate_end_to_end_writes_every_artefact(run_dir, obs_file, tmp_path):
    pytest.importorskip("grainlearning")
    seen = []
    result = calibrate(run_dir, obs_file, param_ranges=RANGES, fixed_params={"pressure": 0.2}, reference=TRUTH,
                       out_dir=tmp_path / "cal", progress=seen.append, **SMALL | {"figures": True})
    out = result.out_dir
    assert [s.iteration for s in seen] == list(range(len(result.iterations))) and 1 <= len(seen) <= 2
    summary = json.loads((out / "calibration.json").read_text())
    assert summary["settings"]["obs_names"] == ["e", "p", "q"] and summary["settings"]["init_inference_step"] == 2
    assert set(summary["posterior"]) == set(RANGES)
    mu = summary["posterior"]["mu"]
    assert mu["truth"] == 35.0 and mu["ci90"][0] <= mu["mean"] <= mu["ci90"][1]
    assert mu["truth_inside_ci90"] == (mu["ci90"][0] <= 35.0 <= mu["ci90"][1])
    assert summary["stop_reason"] in {"converged", "max_iterations"} and len(summary["per_iteration"]) == len(seen)
    t = summary["timings"]
    assert t["evaluations"] == len(result.iterations) and 0 < t["surrogate_seconds"] < t["wall_seconds"]
    with open(out / "posterior.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(result.iterations) and float(rows[-1]["E_mean"]) == pytest.approx(result.mean["E"])
    with open(out / "ensemble.csv") as handle:
        assert len(list(csv.DictReader(handle))) == 30 * len(result.iterations)
    final = np.load(out / "final_ensemble.npz")
    assert final["simulated"].shape == (30, 3, STEPS) and final["weights"].sum() == pytest.approx(1.0)
    sensitivity = json.loads((out / "sensitivity.json").read_text())
    assert set(sensitivity) == {"mean", "reference"}
    assert sensitivity["reference"]["fit_rms_residual_in_std"]["q"] < 1e-3  # the curve IS the surrogate's
    for figure in ("curves.png", "posteriors.png"):
        assert (out / figure).read_bytes()[:4] == b"\x89PNG"


def test_calibrate_is_seeded_defaults_to_grainlearning_ranges_and_never_overwrites(run_dir, obs_file, tmp_path):
    pytest.importorskip("grainlearning")
    runs = [calibrate(run_dir, obs_file, fixed_params={"pressure": 0.2}, runs_root=tmp_path, **SMALL)
            for _ in range(2)]
    assert runs[0].out_dir != runs[1].out_dir and runs[0].out_dir.parent == tmp_path / "calibration"
    settings = json.loads((runs[0].out_dir / "calibration.json").read_text())["settings"]
    assert settings["param_ranges"] == {k: list(v) for k, v in RANGES.items()}
    assert (runs[0].out_dir / "ensemble.csv").read_text() == (runs[1].out_dir / "ensemble.csv").read_text()
    with pytest.raises(UserInputError, match="already exists"):
        calibrate(run_dir, obs_file, param_ranges=RANGES, fixed_params={"pressure": 0.2},
                  out_dir=runs[0].out_dir, **SMALL)


def test_calibration_recovers_the_surrogates_own_truth(run_dir, obs_file, tmp_path):
    """Observation = the surrogate at TRUTH: eta and mu (the others fixed at the truth) come back
    within 2 % of their ranges, inside their 90 % intervals, and the posterior is narrow."""
    pytest.importorskip("grainlearning")
    fixed = {"pressure": 0.2, "E": TRUTH["E"], "v": TRUTH["v"], "kr": TRUTH["kr"]}
    result = calibrate(run_dir, obs_file, param_ranges={k: RANGES[k] for k in ("eta", "mu")}, fixed_params=fixed,
                       reference=TRUTH, noise=0.002, samples=40, iterations=15, gmm_n_init=1, max_components=2,
                       runs_root=tmp_path, figures=False, sampler="grainlearning")
    assert result.stop_reason == "converged"
    for name, p in result.posterior.items():
        assert abs(p["error_fraction_of_range"]) < 0.02, (name, p)
        assert p["truth_inside_ci90"] and p["std_fraction_of_range"] < 0.02, (name, p)


def test_simulator_calibration_recovers_a_synthetic_truth(tmp_path):
    """The synthetic model as GrainLearning's "DEM" on its own curve: E and mu within 5 % of range."""
    pytest.importorskip("grainlearning")
    truth = heldout_truth(2)
    obs = tmp_path / "heldout.dat"
    write_heldout_curve(obs, np.array(list(truth.values())))
    fixed = {"pressure": 0.2, "v": truth["v"], "kr": truth["kr"], "eta": truth["eta"]}
    result = calibrate(simulator_callback(["e", "p", "q"], "e_z", fixed), obs, reference=truth,
                       param_ranges={k: RANGES[k] for k in ("E", "mu")}, noise=0.01, samples=40,
                       iterations=15, gmm_n_init=1, max_components=2, runs_root=tmp_path, figures=False,
                       sampler="grainlearning")
    for name, p in result.posterior.items():
        assert abs(p["error_fraction_of_range"]) < 0.05 and p["truth_inside_ci90"], (name, p)
    settings = json.loads((result.out_dir / "calibration.json").read_text())["settings"]
    assert settings["model"] == "SimulatorCallback" and settings["model_error"] == {}


def test_degenerate_weights_are_reported_not_a_crash(run_dir, tmp_path):
    """A curve the tiny surrogate cannot fit at all (the synthetic model's), with almost no noise:
    GrainLearning's own pdf underflows here; the calibration ends with a reason and a note."""
    pytest.importorskip("grainlearning")
    obs = tmp_path / "foreign.dat"
    write_heldout_curve(obs, np.array(list(heldout_truth(0).values())), sequence_length=STEPS)
    result = calibrate(run_dir, obs, param_ranges=RANGES, fixed_params={"pressure": 0.2}, noise=1e-6,
                       runs_root=tmp_path, **SMALL | {"iterations": 6})
    assert result.stop_reason in {"degenerate_weights", "max_iterations", "converged"}
    assert np.isfinite(result.final.weights).all() and result.final.weights.sum() == pytest.approx(1.0)
    summary = json.loads((result.out_dir / "calibration.json").read_text())
    assert summary["stop_reason"] == result.stop_reason and summary["notes"] == result.notes
    assert (result.stop_reason == "converged") == (not result.notes)


def test_cli_calibrate(run_dir, obs_file, tmp_path):
    pytest.importorskip("grainlearning")
    ranges = [f"--param={k}={lo}:{hi}" for k, (lo, hi) in RANGES.items()]
    args = ["calibrate", str(run_dir), "--obs", str(obs_file), *ranges, "--fixed", "pressure=0.2",
            "--sampler", "grainlearning", "--obs-names", "e,q", "--samples", "10", "--iterations", "1", "--gmm-n-init", "1",
            "--reference", "E=8.2", "--model-error", "q=0.01", "--no-figures", "--out", str(tmp_path / "cal")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert len(result.output.split("iteration 0: sigma")) == 2
    progress = next(li for li in result.output.splitlines() if li.startswith("iteration 0: sigma"))
    assert all(f"{name} " in progress for name in RANGES)  # progress lines name the parameters
    assert "posterior mean +- std [90 % credible interval]" in result.output
    assert "note: GrainLearning's sigma is still" in result.output  # one iteration cannot reach sigma = 1
    line = next(li for li in result.output.splitlines() if li.strip().startswith("E:"))
    assert "; truth 8.2 " in line and ("inside" in line or "OUTSIDE" in line)
    assert f"written to {tmp_path / 'cal'}" in result.output.replace("\n", "")
    settings = json.loads((tmp_path / "cal" / "calibration.json").read_text())["settings"]
    assert settings["obs_names"] == ["e", "q"] and settings["model_error"] == {"q": 0.01}


@pytest.mark.parametrize(("extra", "message"), [
    (["--param", "E=7-10"], "expected NAME=LOW:HIGH"),
    (["--param", "E=7:10", "--fixed", "pressure"], "expected NAME=VALUE"),
    (["--param", "E=7:10", "--obs-names", "e,zz"], "no column 'zz'"),
    (["--param", "E=7:10", "--obs-names", "e,e"], "named twice"),
    (["--param", "E=0:1e300", "--fixed", "pressure=0.2"], "must lie within"),
    (["--param", "E=7:10", "--fixed", "pressure=0.2", "--model-error", "q"], "expected NAME=VALUE"),
    (["--param", "E=7:10"], "neither calibrated nor fixed"),
    ([], "pressure of the model are neither calibrated nor fixed"),
])
def test_cli_calibrate_bad_input_exits_2(run_dir, obs_file, extra, message):
    result = CliRunner().invoke(app, ["calibrate", str(run_dir), "--obs", str(obs_file), *extra])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_cli_calibrate_overflowing_observations_exit_2(run_dir, tmp_path):
    path = tmp_path / "huge.dat"
    path.write_text("# epsilon_axial e p q\n" + "".join(f"{0.005 * i} 1e300 1e300 1e300\n" for i in range(STEPS)))
    result = CliRunner().invoke(app, ["calibrate", str(run_dir), "--obs", str(path), "--fixed", "pressure=0.2"])
    assert result.exit_code == 2 and "beyond +-1e+100" in result.output and "Traceback" not in result.output


def test_demo_calibration_reports_both_posteriors(run_dir, tmp_path, monkeypatch):
    from simrnn.sequence.calibration import demo

    monkeypatch.setattr(demo, "write_heldout_curve", lambda path, params: write_heldout_curve(
        path, params, sequence_length=STEPS, max_axial_strain=0.2))
    summary = demo.demo_calibration(run_dir, tmp_path, seed=1, walkers=12, steps=4, figures=False)
    assert summary["truth"] == heldout_truth(1)
    assert set(summary["surrogate"]) == set(summary["simulator"]) == set(RANGES) == set(summary["identifiable"])
    for name, sim in summary["simulator"].items():
        assert summary["identifiable"][name] == (sim["std_fraction_of_range"] < demo.IDENTIFIABLE_STD_FRACTION)
        assert sim["truth"] == summary["truth"][name] and isinstance(sim["truth_inside_ci90"], bool)
    assert summary["figures"] == [] and os.path.isfile(summary["obs_file"])
    settings = json.loads((Path(summary["out_dir"]["surrogate"]) / "calibration.json").read_text())["settings"]
    assert settings["model"] == [str(run_dir)] and summary["converged"] == {"surrogate": False, "simulator": False}
    experiment = json.loads((Path(summary["out_dir"]["surrogate"]) / "calibration.json").read_text())["experiments"][0]
    assert experiment["fixed"] == {"pressure": 0.2} and experiment["dropped"].keys() == {"p"}
