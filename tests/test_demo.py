"""``simrnn demo`` end to end with tiny settings, through the real command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from simrnn.cli import app

TINY = ["--samples-per-group", "8", "--epochs", "1", "--calibration-walkers", "16", "--calibration-steps", "5",
        "--field-epochs", "1"]


def test_demo_with_a_briefly_trained_surrogate_runs_every_step(tmp_path):
    """Issue 11: ``demo --samples-per-group 8 --epochs 1`` crashed in GrainLearning's second iteration."""
    result = CliRunner().invoke(app, ["demo", "--workdir", str(tmp_path), *TINY])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    calibration = [li for li in lines if li.startswith(("  E ", "  v ", "  kr ", "  eta ", "  mu "))]
    assert len(calibration) == 5 and all("surrogate" in li and "| simulator" in li for li in calibration)
    assert all(li.count("inside") + li.count("OUTSIDE") == 2 for li in calibration)
    assert "MCMC converged: surrogate no, simulator no" in result.output  # 5 steps cannot converge
    (out,) = tmp_path.iterdir()
    summaries = sorted((out / "calibration" / "calibration").glob("*/calibration.json"))
    assert len(summaries) == 2  # the surrogate's and the simulator's
    for path in summaries:
        summary = json.loads(path.read_text())
        assert set(summary["posterior"]) == {"E", "v", "kr", "eta", "mu"}
        assert all(p["ci90"][0] <= p["mean"] <= p["ci90"][1] for p in summary["posterior"].values())
    surrogate = json.loads(summaries[0].read_text())["settings"]
    assert set(surrogate["model_error"]) == {"e", "p", "q"} and all(v > 0 for v in surrogate["model_error"].values())
    assert (out / "fields" / "fields_cache.h5").is_file() and "fields:" in result.output
    assert len(list((out / "fields" / "runs" / "fields").glob("*/test_results.json"))) == 3  # + the temperature run
    table = lines[lines.index("field models (test split; skill = 1 - MSE / MSE of persistence):") + 1:][:4]
    assert [row.split()[0] for row in table] == ["test", "persistence", "cnn-lstm", "predrnn"]
    assert sum(li.strip().startswith("persistence ") for li in lines) == 1  # the field table is printed once
    (times,) = [li for li in lines if li.startswith("step times:")]
    assert [part.split()[0] for part in times.removeprefix("step times:").split(",")] == [
        "data", "training", "prediction", "calibration", "field", "field"]
    figures = lines[lines.index("figures:") + 1:]
    assert figures[0].strip().endswith("training_losses.png") and figures[1].strip().endswith("prediction_curves.png")


@pytest.mark.parametrize(("extra", "message"), [
    (["--samples-per-group", "0"], "--samples-per-group is 0; the demo needs at least 3"),
    (["--samples-per-group", "2", "--epochs", "1"], "--samples-per-group is 2; the demo needs at least 3"),
    (["--epochs", "0"], "--epochs 0: expected 1 or more epochs."),
    (["--field-epochs", "0"], "--field-epochs 0: expected 1 or more epochs."),  # refused before any work
    (["--calibration-walkers", "1"], "--calibration-walkers must be even and at least twice"),
    (["--calibration-walkers", "200000", "--calibration-steps", "2000"],  # library keys walkers, max_steps
     "--calibration-walkers x --calibration-steps is 200000 x 2000"),
])
def test_demo_with_too_small_settings_is_one_sentence_and_exit_2(tmp_path, extra, message):
    result = CliRunner().invoke(app, ["demo", "--workdir", str(tmp_path), *extra])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not any(Path(tmp_path).iterdir())  # a failed demo leaves nothing behind
