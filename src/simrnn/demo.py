"""The main job on built-in synthetic data, end to end (``simrnn demo`` / ``make demo``).

1. synthesise a triaxial data set (drained and undrained, 0.2/0.5/1.0 MPa);
2. train a drained sequence surrogate for a few epochs;
3. predict the test sequences and draw predicted vs true curves;
4. calibrate a held-out synthetic curve with known parameters, with the surrogate and with the
   synthetic simulator itself (posterior mean, std, 90 % interval, identifiability);
5. synthesise a small melt-pool point-cloud series, convert it to the gridded cache and build the
   plane-sequence datasets.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from simrnn.runs import create_timestamped_dir

#: synthetic sequences per pressure and drainage in the demo's data set.
DEMO_SAMPLES_PER_GROUP = 96
#: the demo's training settings: about 1 minute on 2 idle CPU cores.
DEMO_TRAINING = {
    "experiment_type": "drained",
    "window_size": 5,
    "pad_length": 4,
    "lstm_units": 64,
    "dense_units": 64,
    "batch_size": 256,
    "epochs": 30,
    "patience": 6,
    "learning_rate": 5e-3,
    "train_frac": 0.7,
    "val_frac": 0.15,
    "seed": 0,
}


def run_demo(workdir: str | Path = "demo_output", *, samples_per_group: int = DEMO_SAMPLES_PER_GROUP,
             epochs: int | None = None, calibration: dict[str, Any] | None = None,
             progress_bar: bool = True, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run every step in a fresh ``workdir/<timestamp>/`` and return a summary of each step.

    ``calibration`` overrides :data:`simrnn.sequence.calibration.demo.DEMO_SETTINGS` (e.g. fewer samples).
    """
    from simrnn.sequence.calibration.demo import check_demo_settings, demo_calibration
    from simrnn.sequence.predict import load_run
    from simrnn.sequence.predict_files import predict_file
    from simrnn.sequence.train import train
    from simrnn.sequence.triaxial import write_synthetic_triaxial

    check_demo_settings(**(calibration or {}))
    out = create_timestamped_dir(workdir)
    summary: dict[str, Any] = {"workdir": out}
    started = time.perf_counter()

    log(f"[1/5] synthetic triaxial data ({samples_per_group} sequences per pressure and drainage)")
    data_file = write_synthetic_triaxial(out / "triaxial.h5", n_samples_per_group=samples_per_group, seed=0)
    summary["data_file"] = data_file

    log("[2/5] training the parameter-conditioned LSTM")
    settings = dict(DEMO_TRAINING, raw_data=str(data_file), runs_root=str(out / "runs"), progress_bar=progress_bar)
    if epochs is not None:
        settings["epochs"] = epochs
    run_dir = train(settings)
    summary["run_dir"] = run_dir

    log("[3/5] predicting the test sequences")
    prediction = predict_file(load_run(run_dir), data_file, split="test")
    summary["prediction"] = prediction

    log("[4/5] calibrating a held-out synthetic curve with the surrogate and with the simulator")
    summary["calibration"] = demo_calibration(run_dir, out / "calibration", seed=0, **(calibration or {}))

    log("[5/5] melt-pool point clouds -> gridded cache -> plane sequences")
    from simrnn.fields.demo import demo_summary

    summary["fields"] = demo_summary(out / "fields")
    summary["seconds"] = time.perf_counter() - started
    return summary
