"""Calibration through GrainLearning with a tiny surrogate built under tmp_path."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

pytest.importorskip("grainlearning")

from grainlearning import DynamicSystem
from typer.testing import CliRunner

from simrnn.checkpoints import write_checkpoint
from simrnn.cli import app
from simrnn.errors import UserInputError
from simrnn.files import write_json_atomic
from simrnn.sequence import calibration as calibration_module
from simrnn.sequence.calibration import calibrate, likelihood_start, surrogate_callback
from simrnn.sequence.calibration_io import read_observation_table
from simrnn.sequence.model import ParamConditionedLSTM
from simrnn.sequence.predict import load_run, predict

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
    """An object with GrainLearning's ``calib.system`` holding ``n`` random samples."""
    rng = np.random.default_rng(seed)
    ranges = [RANGES[p] for p in param_names]
    system = DynamicSystem(obs_data=rng.uniform(0.1, 1.0, (len(obs_names), STEPS)), ctrl_data=strain(),
                           num_samples=n, param_min=[r[0] for r in ranges], param_max=[r[1] for r in ranges],
                           param_names=list(param_names), obs_names=list(obs_names))
    system.param_data = np.array([[rng.uniform(*r) for r in ranges] for _ in range(n)])
    return SimpleNamespace(system=system)


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
    real = calibration_module.predict

    def counting(run, inputs, params):
        calls.append((np.shape(inputs), np.shape(params)))
        return real(run, inputs, params)

    monkeypatch.setattr(calibration_module, "predict", counting)
    surrogate_callback(run_dir, ["e", "p", "q"], "epsilon_axial", {"pressure": 0.5})(
        fake_calibration(["e", "p", "q"], list(RANGES), n=11))
    assert calls == [((11, STEPS, 1), (11, 6))]


def test_fixed_params_change_the_simulation(run_dir):
    low, high = (fake_calibration(["q"], list(RANGES)) for _ in range(2))
    surrogate_callback(run_dir, ["q"], "epsilon_axial", {"pressure": 0.2})(low)
    surrogate_callback(run_dir, ["q"], "epsilon_axial", {"pressure": 1.0})(high)
    assert not np.allclose(low.system.sim_data[:, :, 2:], high.system.sim_data[:, :, 2:])


@pytest.mark.parametrize(("kwargs", "calibrated", "message"), [
    ({"obs_names": ["e", "x"]}, list(RANGES), "valid names are e, p, q, f0"),
    ({"control": ["e_x", "e_z"]}, list(RANGES), "takes 1 control curve"),
    ({"fixed_params": {"pressure": 0.2, "zeta": 1.0}}, list(RANGES), "unknown parameter name(s) 'zeta'"),
    ({"fixed_params": {}}, list(RANGES), "pressure of the surrogate are neither calibrated nor fixed"),
    ({"fixed_params": {"pressure": 0.2, "E": 8.0}}, list(RANGES), "both calibrated and fixed"),
    ({"fixed_params": {"pressure": float("nan")}}, list(RANGES), "must be finite"),
])
def test_callback_errors(run_dir, kwargs, calibrated, message):
    args = {"obs_names": ["e"], "control": "epsilon_axial", "fixed_params": {"pressure": 0.2}} | kwargs
    with pytest.raises(UserInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        surrogate_callback(run_dir, **args).check_param_names(calibrated)


def test_callback_rejects_control_of_another_length(run_dir):
    calib = fake_calibration(["e"], list(RANGES))
    calib.system.ctrl_data = strain()[:-1]
    with pytest.raises(UserInputError, match="have 39 steps but the observations have 40"):
        surrogate_callback(run_dir, ["e"], "epsilon_axial", {"pressure": 0.2})(calib)


@pytest.mark.parametrize(("text", "message"), [
    ("0.0 1.0\n", "expected a first line like '# epsilon_axial e p q'"),
    ("# a b\n0 1\n0.1\n", "line 3 has 1 values but the header names 2 columns"),
    ("# a b\n0 x\n", "line 2 holds a value that is not a number"),
    ("# a b\n0 nan\n", "NaN or inf"),
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


SMALL = {"samples": 12, "iterations": 2, "gmm_n_init": 1, "max_components": 2, "seed": 3}


def test_calibrate_end_to_end_writes_every_artefact(run_dir, obs_file, tmp_path):
    seen = []
    result = calibrate(run_dir, obs_file, param_ranges=RANGES, fixed_params={"pressure": 0.2}, reference=TRUTH,
                       out_dir=tmp_path / "cal", progress=seen.append, **SMALL)
    out = result.out_dir
    assert [s.iteration for s in seen] == list(range(len(result.iterations))) and 1 <= len(seen) <= 2
    summary = json.loads((out / "calibration.json").read_text())
    assert summary["settings"]["obs_names"] == ["e", "p", "q"] and summary["settings"]["init_inference_step"] == 2
    assert set(summary["most_probable"]) == set(RANGES) == set(summary["posterior_std"])
    assert len(summary["per_iteration"]) == len(result.iterations)
    assert summary["reference"]["mu"]["truth"] == 35.0
    t = summary["timings"]
    assert t["evaluations"] == len(result.iterations) and 0 < t["surrogate_seconds"] < t["wall_seconds"]
    for name, value in result.most_probable.items():
        assert RANGES[name][0] <= value <= RANGES[name][1]
    with open(out / "posterior.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(result.iterations) and float(rows[-1]["E_mean"]) == pytest.approx(result.mean["E"])
    with open(out / "ensemble.csv") as handle:
        ensemble = list(csv.DictReader(handle))
    assert len(ensemble) == 12 * len(result.iterations)
    final = np.load(out / "final_ensemble.npz")
    assert final["simulated"].shape == (12, 3, STEPS) and final["weights"].sum() == pytest.approx(1.0)
    sensitivity = json.loads((out / "sensitivity.json").read_text())
    assert set(sensitivity) == {"most_probable", "reference"}
    assert sensitivity["reference"]["fit_rms_relative_residual"]["q"] < 1e-4  # the curve IS the surrogate's
    assert set(sensitivity["reference"]["rms_relative_change_per_10pct_range"]["E"]) == {"e", "p", "q"}
    for figure in ("curves.png", "posteriors.png"):
        assert (out / figure).read_bytes()[:4] == b"\x89PNG"
    assert "sigma" in (out / "grainlearning.log").read_text()


def test_calibrate_is_seeded_defaults_to_grainlearning_ranges_and_never_overwrites(run_dir, obs_file, tmp_path):
    runs = [calibrate(run_dir, obs_file, fixed_params={"pressure": 0.2}, runs_root=tmp_path, **SMALL)
            for _ in range(2)]
    assert runs[0].out_dir != runs[1].out_dir and runs[0].out_dir.parent == tmp_path / "calibration"
    settings = json.loads((runs[0].out_dir / "calibration.json").read_text())["settings"]
    assert settings["param_ranges"] == {k: list(v) for k, v in RANGES.items()}
    assert (runs[0].out_dir / "ensemble.csv").read_text() == (runs[1].out_dir / "ensemble.csv").read_text()
    with pytest.raises(UserInputError, match="already exists"):
        calibrate(run_dir, obs_file, param_ranges=RANGES, fixed_params={"pressure": 0.2},
                  out_dir=runs[0].out_dir, **SMALL)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"param_ranges": {**RANGES, "E": (10.0, 7.0)}}, "range of 'E' must be finite with LOW < HIGH"),
    ({"param_ranges": {}, "fixed_params": {**TRUTH, "pressure": 0.2}}, "at least one parameter range"),
    ({"param_ranges": {**RANGES, "phi": (0, 1)}}, "unknown parameter name"),
    ({"obs_names": ["e", "s"]}, "no column 's'"),
    ({"control": "strain"}, "no column 'strain'"),
    ({"samples": 1}, "--samples must be >= 2"),
    ({"ess_target": 1.5}, "--ess must lie in"),
    ({"gmm_n_init": 0}, "--gmm-n-init"),
    ({"prior_weight": -1.0}, "--prior-weight must be a positive number"),
])
def test_calibrate_errors(run_dir, obs_file, tmp_path, kwargs, message):
    args = {"param_ranges": RANGES, "fixed_params": {"pressure": 0.2}, "runs_root": tmp_path} | kwargs
    with pytest.raises(UserInputError, match=message):
        calibrate(run_dir, obs_file, **args)
    assert not (tmp_path / "calibration").exists()


def test_cli_calibrate(run_dir, obs_file, tmp_path):
    ranges = [f"--param={k}={lo}:{hi}" for k, (lo, hi) in RANGES.items()]
    args = ["calibrate", str(run_dir), "--obs", str(obs_file), *ranges, "--fixed", "pressure=0.2",
            "--obs-names", "e,q", "--samples", "10", "--iterations", "1", "--gmm-n-init", "1",
            "--out", str(tmp_path / "cal")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert len(result.output.split("iteration 0: sigma")) == 2
    assert "most probable" in result.output and f"written to {tmp_path / 'cal'}" in result.output.replace("\n", "")
    assert json.loads((tmp_path / "cal" / "calibration.json").read_text())["settings"]["obs_names"] == ["e", "q"]


@pytest.mark.parametrize(("extra", "message"), [
    (["--param", "E=7-10"], "expected NAME=LOW:HIGH"),
    (["--param", "E=7:10", "--fixed", "pressure"], "expected NAME=VALUE"),
    (["--param", "E=7:10", "--obs-names", "e,zz"], "no column 'zz'"),
    (["--param", "E=7:10"], "neither calibrated nor fixed"),
    ([], "pressure of the surrogate are neither calibrated nor fixed"),
])
def test_cli_calibrate_bad_input_exits_2(run_dir, obs_file, extra, message):
    result = CliRunner().invoke(app, ["calibrate", str(run_dir), "--obs", str(obs_file), *extra])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


def test_demo_calibration(run_dir, tmp_path):
    pytest.importorskip("simrnn.sequence.triaxial")
    from simrnn.sequence.calibration_demo import demo_calibration

    summary = demo_calibration(run_dir, tmp_path, seed=1, samples=10, iterations=2)
    assert set(summary["truth"]) == set(summary["most_probable"]) == set(RANGES)
    assert all(abs(v) <= 1 for v in summary["error_fraction_of_range"].values())
    assert set(summary["errors"]) == set(RANGES) and all(Path(f).is_file() for f in summary["figures"])
    assert (tmp_path / "heldout_drained_0.2MPa.dat").is_file()
    settings = json.loads((Path(summary["out_dir"]) / "calibration.json").read_text())["settings"]
    assert settings["control"] == ["e_z"] and settings["fixed_params"] == {"pressure": 0.2}


def test_likelihood_starts_after_unpredicted_steps_and_zero_observations():
    observed = np.array([[0.0, 0.1, 0.2, 0.3, 0.4], [0.5, 0.5, 0.6, 0.7, 0.8]])
    assert likelihood_start(observed, ["q", "e"], 0, False, "obs.dat") == 1  # q = 0 at step 0
    assert likelihood_start(observed, ["q", "e"], 3, False, "obs.dat") == 3
    assert likelihood_start(observed, ["q", "e"], 0, True, "obs.dat") == 0  # covariance from max(obs)
    observed[0, 3] = 0.0
    with pytest.raises(UserInputError, match="observation 'q' is 0 at step 3"):
        likelihood_start(observed, ["q", "e"], 0, False, "obs.dat")
    with pytest.raises(UserInputError, match="maximum of q, e must be positive"):
        likelihood_start(-np.abs(observed), ["q", "e"], 0, True, "obs.dat")
