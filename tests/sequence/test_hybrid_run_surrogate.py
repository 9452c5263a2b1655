"""A trained sequence run as the hybrid loop's surrogate: predictions, fine-tuning through the engine, rounds."""

import numpy as np
import pytest
from single_thread import one_thread  # noqa: F401  (autouse fixture)

from simrnn.files import read_json
from simrnn.sequence import train
from simrnn.sequence.calibration.hybrid import HybridSettings, hybrid_calibrate, hybrid_simulator
from simrnn.sequence.calibration.hybrid_run_surrogate import RunSurrogate
from simrnn.sequence.calibration.likelihood import ErrorModel
from simrnn.sequence.calibration.simulator import triaxial_run
from simrnn.sequence.triaxial import write_synthetic_triaxial

STEPS = 40
STRAIN = np.arange(STEPS) * (0.2 / STEPS)
FIXED = {"v": 0.25, "kr": 0.5, "eta": 0.5, "pressure": 0.2, "drained": 1.0}
RANGES = {"E": (7.2, 7.8), "mu": (20.0, 40.0)}
SIMULATE = triaxial_run(["e", "q"], STRAIN, {k: v for k, v in FIXED.items() if k != "drained"}, ["E", "mu"])


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A briefly trained run (40 epochs, a few seconds) on synthetic drained tests at 0.2 MPa (contact parameters over their whole ranges)."""
    tmp = tmp_path_factory.mktemp("runsur")
    data = write_synthetic_triaxial(tmp / "tri.h5", 48, sequence_length=STEPS, pressures=(0.2e6,),
                                    experiment_types=("drained",))
    return train({"raw_data": str(data), "runs_root": str(tmp / "runs"), "window_size": 5, "pad_length": 4,
                  "lstm_units": 24, "dense_units": 24, "batch_size": 128, "epochs": 40, "learning_rate": 5e-3,
                  "progress_bar": False, "threads": "1", "seed": 0})


def surrogate(run, tmp_path, observed):
    return RunSurrogate(run, ["E", "mu"], ["e", "q"], ["e_z"], STRAIN[None], observed, FIXED, tmp_path)


def test_fine_tuning_on_simulations_lowers_the_error_there_and_keeps_unsimulated_labels(run, tmp_path):
    rng = np.random.default_rng(0)
    params = np.column_stack([rng.uniform(7.4, 7.6, 14), rng.uniform(28, 32, 14)])
    curves = SIMULATE(params)
    sur = surrogate(run, tmp_path, curves[0].T)
    assert sur(params).shape == (14, STEPS, 2)
    p_before = sur._all_labels(params)[:, :, sur.labels.index("p")]
    before = np.sqrt(np.mean((sur(params) - curves) ** 2, axis=(0, 1)))
    result = sur.fit(params, curves, epochs=40, patience=10, holdout=0.2, seed=0)
    after = np.sqrt(np.mean((sur(params) - curves) ** 2, axis=(0, 1)))
    assert np.all(after < 0.7 * before), (before, after)
    assert result["holdout"] == 3 and result["train"] == 10 and result["epochs"] <= 40
    config = read_json(tmp_path / "runs" / "sequence" / sur.run_dir.name / "config.json")
    assert config["data"]["init_from"]["run"] == str(run.resolve())
    # p was not simulated: its targets were the run's own prediction, so it moves far less than e and q
    p_after = sur._all_labels(params)[:, :, sur.labels.index("p")]
    assert np.sqrt(np.mean((p_after - p_before) ** 2)) < 0.5 * np.max(before)
    # the round folder's pointer restores the fine-tuned run
    sur.save(tmp_path)
    again = surrogate(run, tmp_path, curves[0].T).load(tmp_path)
    assert again.run_dir == sur.run_dir.resolve()
    np.testing.assert_allclose(again(params), sur(params))


def test_the_hybrid_loop_fine_tunes_a_run_round_after_round(run, tmp_path):
    truth = np.array([[7.5, 30.0]])
    observed = SIMULATE(truth)[0].T
    sim = hybrid_simulator(SIMULATE, ["E", "mu"], ["e", "q"], STRAIN, tmp_path, "e_z")
    settings = HybridSettings(initial=8, batch=4, max_rounds=2, initial_epochs=20, fine_tune_epochs=10, patience=5,
                              walkers=16, steps=150)
    # a noisy experiment (10 % of each curve's range): this small run's error is a few % of the range
    result = hybrid_calibrate(sim, observed, RANGES, tmp_path, settings, ErrorModel(noise_fraction=0.1),
                              surrogate=surrogate(run, tmp_path / "surrogate", observed), figures=False)
    assert len(result.rounds) == 2 and result.simulations_total == 8 + 2 * 4
    runs = sorted((tmp_path / "surrogate" / "runs" / "sequence").iterdir())
    assert len(runs) == 3  # round 0 trains, rounds 1 and 2 fine-tune
    pointers = [read_json(tmp_path / f"round_{k}" / "surrogate_run.json")["run"] for k in range(3)]
    assert pointers == [str(r.resolve()) for r in runs]
    # at 10 % noise mu is learned (posterior std under half the prior's) and the truth lies in the 90 % interval
    low, high = np.percentile(result.samples, [5, 95], axis=0)
    assert np.all((low <= truth[0]) & (truth[0] <= high)), (low, high)
    prior_std = np.ptp(np.array(list(RANGES.values())), axis=1) / np.sqrt(12)
    assert result.samples.std(0)[1] < 0.5 * prior_std[1], result.samples.std(0)


def test_cli_fine_tunes_a_run_in_the_loop(run, tmp_path):
    from typer.testing import CliRunner

    from simrnn.cli import app

    obs = tmp_path / "obs.dat"
    np.savetxt(obs, np.column_stack([STRAIN, SIMULATE(np.array([[7.5, 30.0]]))[0]]), header="e_z e q")
    args = ["calibrate", "--simulator", "triaxial", "--surrogate", str(run), "--obs", str(obs), "--param", "E=7.2:7.8",
            "--param", "mu=20:40", *[a for k, v in FIXED.items() if k != "drained" for a in ("--fixed", f"{k}={v}")],
            "--rounds", "1", "--batch", "2", "--out", str(tmp_path / "cal")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "round 1: E " in result.output and "simulations so far" in result.output
    pointer = read_json(tmp_path / "cal" / "round_1" / "surrogate_run.json")["run"]
    assert read_json(f"{pointer}/config.json")["data"]["init_from"]["run"].startswith(str(tmp_path / "cal"))


def test_cli_refuses_a_run_that_cannot_be_the_surrogate_before_writing_anything(run, tmp_path):
    from typer.testing import CliRunner

    from simrnn.cli import app

    obs = tmp_path / "obs.dat"
    np.savetxt(obs, np.column_stack([STRAIN, SIMULATE(np.array([[7.5, 30.0]]))[0]]), header="e_z e q")
    base = ["calibrate", "--simulator", "triaxial", "--obs", str(obs), "--param", "E=7.2:7.8", "--param", "mu=20:40",
            "--fixed", "pressure=0.2", "--fixed", "kr=0.5", "--fixed", "eta=0.5", "--runs-root", str(tmp_path / "rr")]
    result = CliRunner().invoke(app, [*base, "--surrogate", str(run)])  # v neither calibrated nor fixed
    assert result.exit_code == 2 and "v of the model are neither calibrated nor fixed" in result.output, result.output
    fields_run = tmp_path / "fields_run"
    fields_run.mkdir()
    (fields_run / "config.json").write_text('{"task": "fields"}')
    result = CliRunner().invoke(app, [*base, "--fixed", "v=0.25", "--surrogate", str(fields_run)])
    assert result.exit_code == 2 and "is a fields run, expected a sequence run" in result.output, result.output
    assert not (tmp_path / "rr").exists()


def test_the_loop_uses_each_surrogates_own_training_defaults(run, tmp_path, monkeypatch):
    from simrnn.sequence.calibration.hybrid_surrogates import MlpSurrogate

    calls = []
    monkeypatch.setattr(RunSurrogate, "fit", lambda self, p, c, epochs, patience, *a: calls.append((epochs, patience))
                        or {})
    monkeypatch.setattr(MlpSurrogate, "fit", lambda self, p, c, epochs, patience, *a: calls.append((epochs, patience))
                        or {})
    observed = SIMULATE(np.array([[7.5, 30.0]]))[0].T
    one_round = HybridSettings(initial=4, batch=2, max_rounds=1, walkers=8, steps=20)
    sim = hybrid_simulator(SIMULATE, ["E", "mu"], ["e", "q"], STRAIN, tmp_path / "a", "e_z")
    hybrid_calibrate(sim, observed, RANGES, tmp_path / "a", one_round, figures=False)
    sim = hybrid_simulator(SIMULATE, ["E", "mu"], ["e", "q"], STRAIN, tmp_path / "b", "e_z")
    hybrid_calibrate(sim, observed, RANGES, tmp_path / "b", one_round, figures=False,
                     surrogate=surrogate(run, tmp_path / "s", observed))
    sim = hybrid_simulator(SIMULATE, ["E", "mu"], ["e", "q"], STRAIN, tmp_path / "c", "e_z")
    hybrid_calibrate(sim, observed, RANGES, tmp_path / "c", HybridSettings(**{**one_round.__dict__, "patience": 7}),
                     figures=False, surrogate=surrogate(run, tmp_path / "s2", observed))
    assert calls == [(2000, 100), (500, 100), (40, 5), (20, 5), (40, 7), (20, 7)]


def test_a_run_taking_e0_gets_the_given_e0_when_e_is_not_simulated(tmp_path):
    from simrnn.sequence.hdf5 import read_triaxial_hdf5

    data = write_synthetic_triaxial(tmp_path / "tri.h5", 12, sequence_length=STEPS, pressures=(0.2e6,),
                                    experiment_types=("drained",))
    run = train({"raw_data": str(data), "runs_root": str(tmp_path / "runs"), "window_size": 5, "add_e0": True,
                 "lstm_units": 8, "dense_units": 8, "epochs": 1, "progress_bar": False, "threads": "1"})
    simulate_q = triaxial_run(["q"], STRAIN, {k: v for k, v in FIXED.items() if k != "drained"}, ["E", "mu"])
    sur = RunSurrogate(run, ["E", "mu"], ["q"], ["e_z"], STRAIN[None], np.zeros((1, STEPS)),
                       {**FIXED, "e0": 0.7}, tmp_path / "work")
    params = np.array([[7.4, 25.0], [7.5, 30.0], [7.6, 35.0], [7.7, 28.0]])
    sur.fit(params, simulate_q(params), epochs=1, patience=1, holdout=0.25, seed=0)
    written = read_triaxial_hdf5(tmp_path / "work" / "data" / "fit_1.h5")
    np.testing.assert_allclose(written.outputs[:, 0, written.output_names.index("e")], 0.7, rtol=1e-6)
