"""The main job on built-in synthetic data, end to end (``simrnn demo`` / ``make demo``).

1. synthesise a triaxial data set (drained and undrained, 0.2/0.5/1.0 MPa);
2. train a drained sequence surrogate for a few epochs;
3. predict the test sequences and draw predicted vs true curves;
4. calibrate a held-out synthetic curve with known parameters, with the surrogate and with the
   synthetic simulator itself (posterior mean, std, 90 % interval, identifiability);
5. synthesise a small melt-pool point-cloud series, convert it to the gridded cache and build the
   plane-sequence datasets;
6. train the CNN-LSTM and the PredRNN field models briefly and score them against persistence.

A demo that fails leaves nothing behind (its fresh ``workdir/<timestamp>/`` is removed again).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from simrnn.demo_settings import DemoSettings
from simrnn.errors import UserInputError
from simrnn.files import new_timestamped_directory

#: synthetic sequences per pressure and drainage in the demo's data set.
DEMO_SAMPLES_PER_GROUP = DemoSettings.samples_per_group
#: the demo's training settings: about 1 minute at load 1-2 on 2 CPU cores (192 sequences per group).
DEMO_TRAINING = {
    "experiment_type": "drained",
    "window_size": 5,
    "pad_length": 4,
    "lstm_units": 64,
    "dense_units": 64,
    "batch_size": 256,
    "epochs": 30,
    "patience": 6,
    "learning_rate": 2e-3,
    "train_frac": 0.7,
    "val_frac": 0.15,
    "seed": 0,
    # One PyTorch thread, always: the same numbers on every run of a machine (the engine's "auto"
    # choice depends on the load, and 1 vs 2 threads round differently); at this size 1 thread is
    # as fast as 2 on idle cores and many times faster on busy ones.
    "threads": "1",
}


def run_demo(workdir: str | Path = DemoSettings.workdir, *, samples_per_group: int = DEMO_SAMPLES_PER_GROUP,
             epochs: int | None = None, field_epochs: int | None = None, calibration: dict[str, Any] | None = None,
             progress_bar: bool = True, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run every step in a fresh ``workdir/<timestamp>/`` and return a summary of each step.

    ``calibration`` overrides :data:`simrnn.sequence.calibration.demo.DEMO_SETTINGS` (e.g. fewer samples);
    ``field_epochs`` overrides the field models' epochs.
    """
    from simrnn.sequence.calibration.demo import check_demo_settings

    if samples_per_group < 3:  # 3 pressures x 3 drained sequences: 6 train, 1 validation, 2 test
        raise UserInputError(f"samples_per_group is {samples_per_group}; the demo needs at least 3 sequences "
                             "per pressure and drainage (train, validation and test each need one).",
                             key="samples_per_group")
    for key, value in (("epochs", epochs), ("field_epochs", field_epochs)):  # before a minute of work
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise UserInputError(f"{key} {value!r}: expected 1 or more epochs.", key=key)
    check_demo_settings(**(calibration or {}))
    with new_timestamped_directory(workdir) as out:
        return _run_steps(out, samples_per_group, epochs, field_epochs, calibration, progress_bar, log)


def _run_steps(out: Path, samples_per_group: int, epochs: int | None, field_epochs: int | None,
               calibration: dict[str, Any] | None, progress_bar: bool, log: Callable[[str], None]) -> dict[str, Any]:
    from simrnn.fields.demo import demo_summary
    from simrnn.fields.demo_models import train_field_models
    from simrnn.sequence.calibration.demo import demo_calibration
    from simrnn.sequence.predict import load_run
    from simrnn.sequence.predict_files import predict_file
    from simrnn.sequence.training import train
    from simrnn.sequence.triaxial import write_synthetic_triaxial

    summary: dict[str, Any] = {"workdir": out, "step_seconds": {}}
    started = time.perf_counter()

    with _step(summary, log, 1, "data", f"synthetic triaxial data ({samples_per_group} sequences per pressure and drainage)"):
        data_file = write_synthetic_triaxial(out / "triaxial.h5", n_samples_per_group=samples_per_group, seed=0)
        summary["data_file"] = data_file

    with _step(summary, log, 2, "training", "training the parameter-conditioned LSTM"):
        settings = dict(DEMO_TRAINING, raw_data=str(data_file), runs_root=str(out / "runs"), progress_bar=progress_bar)
        if epochs is not None:
            settings["epochs"] = epochs
        run_dir = train(settings, source="demo settings")
        summary["run_dir"] = run_dir

    with _step(summary, log, 3, "prediction", "predicting the test sequences"):
        summary["prediction"] = predict_file(load_run(run_dir), data_file, split="test")

    with _step(summary, log, 4, "calibration",
               "calibrating a held-out synthetic curve with the surrogate and with the simulator"):
        summary["calibration"] = demo_calibration(run_dir, out / "calibration", seed=0, **(calibration or {}))

    with _step(summary, log, 5, "field data", "melt-pool point clouds -> gridded cache -> plane sequences"):
        summary["fields"] = demo_summary(out / "fields")

    with _step(summary, log, 6, "field models",
               "training the CNN-LSTM and PredRNN field models briefly (test split vs persistence)"):
        # the metrics table is printed once, in the demo's summary
        summary["field_models"] = train_field_models(summary["fields"]["cache"], out / "fields" / "runs",
                                                     epochs=field_epochs, progress_bar=False, log=lambda _table: None)
    summary["seconds"] = time.perf_counter() - started
    return summary


@contextlib.contextmanager
def _step(summary: dict[str, Any], log: Callable[[str], None], number: int, name: str, title: str) -> Iterator[None]:
    """Log ``[number/6] title``, run the block, log and record (``summary["step_seconds"][name]``) its seconds."""
    log(f"[{number}/6] {title}")
    started = time.perf_counter()
    yield
    summary["step_seconds"][name] = seconds = time.perf_counter() - started
    log(f"      {name}: {seconds:.1f} s")
