"""The field surrogate end to end through the command line, on a tiny synthetic melt pool:
fields synth -> convert -> train (cnn-lstm and predrnn, 2 epochs) -> predict -> rollout -> runs compare;
bf16 autocast on the CPU; a 2-process CPU DDP training whose checkpoint loads."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from field_training import GRID, STEPS, TINY
from single_thread import one_thread  # noqa: F401  (autouse fixture)
from typer.testing import CliRunner

from simrnn.cli import app
from simrnn.engine import RUN_DIR_ENV
from simrnn.fields.metrics import CATEGORIES, change_categories, score_batches
from simrnn.fields.predict import load_fields_run, run_dataset
from simrnn.fields.task import FieldsDataModule

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    from simrnn.cli.output import console

    monkeypatch.setattr(console, "width", 250)


def invoke(*args, code: int = 0):
    result = runner.invoke(app, [str(a) for a in args], terminal_width=250)
    assert result.exit_code == code, result.output
    return result


def options(settings: dict) -> list[str]:
    out = []
    for key, value in settings.items():
        flag = "--" + key.replace("_", "-")
        out += [flag if value is True else "--no-" + key.replace("_", "-")] if isinstance(value, bool) else [flag, value]
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fields_cli")
    invoke("fields", "synth", tmp / "csv", "--grid", "x".join(map(str, GRID)), "--steps", STEPS, "--seed", 0)
    invoke("fields", "convert", tmp / "csv", tmp / "cache.h5")
    runs, outputs = {}, {}
    for model in ("cnn-lstm", "predrnn"):
        before = set((tmp / "runs" / "fields").glob("*"))
        outputs[model] = invoke("fields", "train", tmp / "cache.h5", "--model", model,
                                "--runs-root", tmp / "runs", "--seed", 1, *options(TINY)).output
        (runs[model],) = set((tmp / "runs" / "fields").glob("*")) - before
    return tmp, runs, outputs


def read(path: Path):
    return json.loads(path.read_text())


def test_train_writes_every_artefact_with_persistence_baseline(trained):
    tmp, runs, outputs = trained
    for model, run in runs.items():
        config = read(run / "config.json")
        assert config["task"] == "fields" and config["model"]["name"] == model and config["settings"]["seed"] == 1
        assert config["data"]["n_samples"] == {"train": 40, "val": 16, "test": 16}
        assert config["data"]["steps"]["test"] == [12, 13, 14, 15] and len(config["data"]["sha256"]) == 64
        assert config["data"]["kernels"]["conv_layout"] in ("channels_last", "contiguous")
        history = read(run / "history.json")
        assert [h["epoch"] for h in history] == [0, 1] and all(math.isfinite(h["val_loss"]) for h in history)
        assert ("train_decouple" in history[0]) == (model == "predrnn")
        results = read(run / "test_results.json")
        metrics, baseline = results["metrics"], results["baselines"]["persistence"]
        assert {"mse", "mae", "ssim", "psnr", "band_mse", "skill", "mse/ipf_x:0", "mae/ipf_z:2", "melt/mse",
                "solidify/mse", "solidify/mae", "unchanged/mse", "melt/skill", "solidify/skill"} <= set(metrics)
        assert set(baseline) == {k for k in metrics if not k.endswith("skill")}
        assert metrics["solidify/skill"] == pytest.approx(1 - metrics["solidify/mse"] / baseline["solidify/mse"])
        cells = results["details"]["category_cells"]
        assert cells["solidify"] > 0 and sum(cells.values()) == results["details"]["scored_cells"]
        assert results["higher_is_better"] == ["ssim", "psnr", "skill"]
        assert metrics["skill"] == pytest.approx(1 - metrics["mse"] / baseline["mse"])
        assert metrics["psnr"] == pytest.approx(10 * math.log10(1 / metrics["mse"]), rel=1e-5)
        assert results["details"]["band_cells"] > 0 and results["details"]["n_test_samples"] == 16
        assert "baseline persistence: mse" in outputs[model] and "solidify/skill" in outputs[model]
        assert "solidify/mse" not in outputs[model]  # the per-category errors stay in test_results.json
        for name in ("training_losses.png", "checkpoints/best.ckpt", "checkpoints/last.ckpt"):
            assert (run / name).stat().st_size > 0


def test_test_results_are_those_of_the_best_checkpoint(trained):
    _, runs, _ = trained
    run_dir = runs["cnn-lstm"]
    results, history = read(run_dir / "test_results.json"), read(run_dir / "history.json")
    assert results["best_epoch"] == min(history, key=lambda h: h["val_loss"])["epoch"]
    run = load_fields_run(run_dir)
    loader = FieldsDataModule({"test": run_dataset(run, "test")}, batch_size=5).test_dataloader()
    again = score_batches(run.model, loader, run.meta["normalisation"], run.band_K)
    for key, value in results["metrics"].items():
        assert again["metrics"][key] == pytest.approx(value, rel=1e-5, abs=1e-9), key
    last = load_fields_run(run_dir, which="last")
    assert run.meta == last.meta and run.meta["normalisation"] == read(run_dir / "config.json")["data_meta"]["normalisation"]


def test_predict_writes_figure_arrays_and_metrics(trained):
    tmp, runs, _ = trained
    out = tmp / "prediction"
    result = invoke("fields", "predict", runs["predrnn"], "--timestep", 14, "--slice", 2, "--out", out)
    assert "predicted step 14 (test, xz slice 2) from steps 12, 13" in result.output
    with np.load(out / "prediction.npz") as npz:
        assert npz["prediction"].shape == npz["target"].shape == npz["persistence"].shape == (9, 8, 24)
        assert npz["context"].shape == (2, 10, 8, 24) and npz["mask"].shape == (8, 24)
        assert int(npz["target_step"]) == 14 and npz["prediction"].min() >= 0 and npz["prediction"].max() <= 1
        saved_error = float(np.mean((npz["prediction"] - npz["target"]) ** 2, axis=0)[npz["mask"]].mean())
        assert np.array_equal(npz["persistence"], npz["context"][-1, 1:])
        npz_persistence, npz_target, npz_prediction, npz_mask = (npz[k] for k in ("persistence", "target", "prediction",
                                                                                   "mask"))
    metrics = read(out / "metrics.json")
    assert metrics["metrics"]["mse"] == pytest.approx(saved_error, rel=1e-5)
    codes = change_categories(torch.from_numpy(npz_persistence)[None], torch.from_numpy(npz_target)[None])[0].numpy()
    for code, name in enumerate(CATEGORIES):
        cells = (codes == code) & npz_mask
        if cells.any():
            expected = float(np.mean((npz_prediction - npz_target) ** 2, axis=0)[cells].mean())
            assert metrics["metrics"][f"{name}/mse"] == pytest.approx(expected, rel=1e-5), name
    assert "skill (1 - MSE / MSE of persistence): overall" in result.output
    assert (out / "prediction.png").stat().st_size > 10_000
    bad = invoke("fields", "predict", runs["predrnn"], "--timestep", 3, code=2)
    assert "--timestep 3: not a target step of the test split; expected one of 14, 15." in bad.output


def test_rollout_horizon_one_is_the_plain_prediction(trained):
    tmp, runs, _ = trained
    result = invoke("fields", "rollout", runs["cnn-lstm"], "--steps", 2, "--out", tmp / "rollout")
    assert "rollout of" in result.output and "persistence MSE" in result.output
    summary = read(tmp / "rollout" / "rollout.json")
    assert [s["horizon"] for s in summary["steps"]] == [1, 2] and [s["target_step"] for s in summary["steps"]] == [14, 15]
    run = load_fields_run(runs["cnn-lstm"])
    dataset = run_dataset(run, "test")
    first_window = torch.utils.data.Subset(dataset, range(dataset.n_slices))
    direct = score_batches(run.model, torch.utils.data.DataLoader(first_window, batch_size=8),
                           run.meta["normalisation"], run.band_K)
    assert summary["steps"][0]["mse"] == pytest.approx(direct["metrics"]["mse"], rel=1e-6)
    assert summary["steps"][0]["persistence"]["mse"] == pytest.approx(direct["persistence"]["mse"], rel=1e-9)
    for key in ("solidify/mse", "solidify/skill", "melt/mse"):
        assert summary["steps"][0][key] == pytest.approx(direct["metrics"][key], rel=1e-6), key
    assert summary["steps"][1]["persistence"]["mse"] != summary["steps"][0]["persistence"]["mse"]
    assert (tmp / "rollout" / "rollout.png").is_file() and (tmp / "rollout" / "rollout_frames.png").stat().st_size > 20_000
    bad = invoke("fields", "rollout", runs["cnn-lstm"], "--steps", 3, code=2)
    assert "--steps 3: the test split allows 1..2 rollout steps from window 0." in bad.output


def test_runs_compare_puts_both_models_and_the_baseline_side_by_side(trained):
    _, runs, _ = trained
    result = invoke("runs", "compare", runs["cnn-lstm"], runs["predrnn"])
    rows = {line.split()[0]: line for line in result.output.splitlines() if line.strip()}
    assert {"mse", "ssim", "psnr", "skill", "band_mse", "persistence/mse", "persistence/ssim", "mse/ipf_z:2",
            "solidify/skill", "solidify/mse", "persistence/solidify/mse"} <= set(rows)
    results = [read(runs[m] / "test_results.json")["metrics"]["mse"] for m in ("cnn-lstm", "predrnn")]
    assert f"({100 * (results[1] - results[0]) / results[0]:+.1f} %)" in rows["mse"]
    assert "(+0.0 %)" in rows["persistence/mse"] and "fields runs" in result.output


def test_bf16_autocast_trains_on_the_cpu_from_lazy_hdf5_reads(trained):
    tmp, _, _ = trained
    invoke("fields", "train", "--cache", tmp / "cache.h5", "--runs-root", tmp / "bf16", "--precision", "bf16-mixed",
           "--seed", 1, "--no-preload", *options({**TINY, "epochs": 1}))
    (run,) = (tmp / "bf16" / "fields").iterdir()
    results = read(run / "test_results.json")
    settings = read(run / "config.json")["settings"]
    assert settings["precision"] == "bf16-mixed" and settings["preload"] is False
    assert all(math.isfinite(v) for v in results["metrics"].values())
    assert load_fields_run(run).model(torch.rand(1, 2, 10, 8, 24), torch.rand(1, 1, 8, 24)).dtype == torch.float32


def test_two_process_cpu_ddp_training_gives_a_loadable_checkpoint(trained):
    tmp, _, _ = trained
    simrnn = Path(sys.executable).parent / "simrnn"
    env = {k: v for k, v in os.environ.items() if k != RUN_DIR_ENV} | {"OMP_NUM_THREADS": "1"}
    settings = {**TINY, "epochs": 1}
    result = subprocess.run(
        [str(simrnn), "fields", "train", "--cache", str(tmp / "cache.h5"), "--runs-root", str(tmp / "ddp"),
         "--devices", "2", "--strategy", "ddp", *map(str, options(settings))],
        capture_output=True, text=True, env=env, timeout=300, stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Starting with 2 processes" in result.stderr + result.stdout
    (run_dir,) = (tmp / "ddp" / "fields").iterdir()
    assert len(read(run_dir / "history.json")) == 1 and read(run_dir / "test_results.json")["epochs_trained"] == 1
    run = load_fields_run(run_dir)
    assert run.model(torch.rand(2, 2, 10, 8, 24), torch.rand(2, 1, 8, 24)).shape == (2, 9, 8, 24)


def test_resume_continues_a_fields_run(trained):
    tmp, _, _ = trained
    invoke("fields", "train", "--cache", tmp / "cache.h5", "--runs-root", tmp / "resume", *options({**TINY, "epochs": 1}))
    (run,) = (tmp / "resume" / "fields").iterdir()
    first = read(run / "history.json")
    invoke("fields", "train", "--resume", run, "--epochs", 2)
    history = read(run / "history.json")
    assert history[:1] == first and [h["epoch"] for h in history] == [0, 1]
    assert read(run / "test_results.json")["epochs_trained"] == 2
    refused = invoke("fields", "train", "--resume", run, "--epochs", 3, "--lr", 0.5, code=2)
    assert "cannot change lr when resuming" in refused.output


def test_demo_trains_both_models_and_prints_them_next_to_persistence(trained):
    from simrnn.fields.demo_models import DEMO_FIELD_MODELS, train_field_models

    tmp, _, _ = trained
    lines = []
    out = train_field_models(tmp / "cache.h5", tmp / "demo_runs", epochs=1, log=lines.append)
    assert set(out["runs"]) == set(DEMO_FIELD_MODELS)
    table = lines[0].splitlines()
    assert table[0].split() == ["test", "split", "mse", "ssim", "band_mse", "melt/skill", "solidify/skill", "skill"]
    assert [row.split()[0] for row in table[1:]] == ["persistence", *DEMO_FIELD_MODELS]
    assert float(table[2].split()[1]) == pytest.approx(out["metrics"]["cnn-lstm"]["mse"], rel=1e-3)
    assert read(out["runs"]["predrnn"] / "test_results.json")["epochs_trained"] == 1
    cascade = lines[1].splitlines()
    assert cascade[0].startswith("cascade (test split") and [row.split()[0] for row in cascade[2:]] == ["1", "2"]  # the tiny test split's 2
    first = out["cascade"]["cascade"][0]
    assert float(cascade[2].split()[1]) == pytest.approx(first["temperature"]["mae_K"], abs=0.06)
    assert read(out["temperature_run"] / "config.json")["data_meta"]["target"] == "temperature"


@pytest.fixture(scope="module")
def temperature_run(trained):
    tmp, _, _ = trained
    invoke("fields", "train", tmp / "cache.h5", "--target", "temperature", "--runs-root", tmp / "temperature",
           "--seed", 1, *options({**TINY, "skip": True}))
    (run,) = (tmp / "temperature" / "fields").iterdir()
    return run


def test_temperature_target_trains_and_scores_in_kelvin_against_persistence(temperature_run):
    results = read(temperature_run / "test_results.json")
    metrics, baseline = results["metrics"], results["baselines"]["persistence"]
    assert {"mse_K2", "mae_K", "pool_mae_K", "band_mae_K", "skill"} <= set(metrics)
    assert set(baseline) == set(metrics) - {"skill"}
    assert metrics["skill"] == pytest.approx(1 - metrics["mse_K2"] / baseline["mse_K2"])
    config = read(temperature_run / "config.json")
    assert config["data_meta"]["target"] == "temperature" and config["data_meta"]["context_channels"] == ["T_norm"]
    assert "val_mae_K" in read(temperature_run / "history.json")[-1]
    run = load_fields_run(temperature_run)
    assert run.model(torch.rand(1, 2, 1, 8, 24)).shape == (1, 1, 8, 24)
    for command in ("predict", "rollout"):
        bad = invoke("fields", command, temperature_run, code=2)
        assert f"{temperature_run}: a temperature run (target 'temperature'); predict and rollout take" in bad.output
    refused = invoke("fields", "train", "--cache", "x.h5", "--target", "temperature", "--train-horizon", 2, code=2)
    assert "the curriculum (train_horizon, sampling) is for the microstructure target" in refused.output


class OracleTemperature(torch.nn.Module):
    """Returns the true next normalised temperature, looked up by the last context frame's values."""

    def __init__(self, dataset):
        super().__init__()
        self.truth = {}
        for i in range(len(dataset)):
            item = dataset[i]
            self.truth[item["context"][-1, 0].numpy().tobytes()] = item["future_temp"]

    def forward(self, context):
        return torch.stack([self.truth[frame.numpy().tobytes()] for frame in context[:, -1, 0]])


def test_cascade_with_a_temperature_model_that_returns_the_truth_equals_the_true_temperature_rollout(
        trained, temperature_run):
    from simrnn.fields.rollout import rollout

    _, runs, _ = trained
    micro, temperature = load_fields_run(runs["cnn-lstm"]), load_fields_run(temperature_run)
    dataset = run_dataset(micro, "test")
    temperature.model = OracleTemperature(dataset)
    true_T = rollout(micro, dataset, 2)
    cascade = rollout(micro, dataset, 2, temperature=temperature)
    for a, b in zip(true_T, cascade, strict=True):
        temperature_errors = b.pop("temperature")
        assert temperature_errors["mae_K"] == 0.0 and temperature_errors["persistence_mae_K"] > 0
        assert a == b  # every metric identical, exactly


def test_cascaded_rollout_prints_the_penalty_table_and_refuses_a_microstructure_run_as_temperature(
        trained, temperature_run):
    tmp, runs, _ = trained
    result = invoke("fields", "rollout", runs["cnn-lstm"], "--steps", 2, "--temperature", temperature_run,
                    "--out", tmp / "cascade")
    assert "cascade with the temperatures of" in result.output and "T MAE (K)" in result.output
    summary = read(tmp / "cascade" / "rollout.json")
    assert len(summary["cascade"]) == 2 and summary["temperature_run"] == str(temperature_run)
    for true_T, cascade, penalty in zip(summary["steps"], summary["cascade"], summary["cascade_penalty_percent"],
                                        strict=True):
        assert penalty == pytest.approx(100 * (cascade["mse"] - true_T["mse"]) / true_T["mse"])
        assert cascade["temperature"]["mae_K"] > 0 and "temperature" not in true_T
    assert (tmp / "cascade" / "rollout_frames.png").stat().st_size > 20_000
    bad = invoke("fields", "rollout", runs["cnn-lstm"], "--temperature", runs["predrnn"], code=2)
    assert f"--temperature {runs['predrnn']}: not a temperature run" in bad.output


def test_rollout_frames_are_the_rollouts_own_predictions_with_physical_extent(trained):
    from simrnn.fields.prediction_figures import ipf_key_image
    from simrnn.fields.rollout import roll, rollout_frames

    _, runs, _ = trained
    run = load_fields_run(runs["cnn-lstm"])
    dataset = run_dataset(run, "test")
    frames = rollout_frames(run, dataset, 2, slice_index=3)
    steps = list(roll(run, dataset, 2, 0, range(dataset.n_slices)))
    for k in range(2):
        assert np.allclose(frames["pred"][k], steps[k]["pred"][3].numpy(), atol=1e-6)
        assert np.array_equal(frames["target"][k], steps[k]["items"]["target"][3].numpy())
    grid = dataset.cache.grid
    assert frames["extent_m"] == [grid.x[0], grid.x[-1], grid.z[0], grid.z[-1]] and frames["axes"] == ["x", "z"]
    key = ipf_key_image(11)
    assert np.allclose(key[0, 0, :3], [1, 0, 0]) and np.allclose(key[0, -1, :3], [0, 1, 0])  # [001] red, [101] green
    assert np.allclose(key[-1, -1, :3], [0, 0, 1]) and key[-1, 0, 3] == 0  # [111] blue; outside is transparent


def test_a_cache_replaced_in_place_after_training_is_refused_in_one_sentence(trained):
    tmp, runs, _ = trained
    cache = tmp / "cache.h5"
    original = cache.read_bytes()
    # changed in a copy, then renamed over the cache: another test of this module may still hold the
    # cache open for reading (HDF5 refuses a second, writable opening of the same file in one process)
    changed, restored = tmp / "cache_changed.h5", tmp / "cache_restored.h5"
    changed.write_bytes(original)
    try:
        with h5py.File(changed, "r+") as h5:
            h5.attrs["tolerance"] = 0.049  # any change of content
        os.replace(changed, cache)
        bad = invoke("fields", "predict", runs["cnn-lstm"], "--out", tmp / "changed", code=2)
        assert f"{cache}: changed since {runs['cnn-lstm']} was trained on it (SHA-256 differs" in bad.output
        assert "Traceback" not in bad.output and not (tmp / "changed").exists()
    finally:
        restored.write_bytes(original)
        os.replace(restored, cache)
