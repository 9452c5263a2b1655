"""Train a sequence surrogate from a config (GrainLearning's keys) into a fresh run directory.

Example::

    from simrnn.sequence import train
    run_dir = train({"raw_data": "triaxial.h5", "window_size": 10, "epochs": 5})
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np

from simrnn.config import build_config, config_to_dict
from simrnn.engine import (
    EngineSettings,
    build_trainer,
    claim_run_dir,
    lightning_warnings_filtered,
    run_dir_exported,
)
from simrnn.errors import UserInputError
from simrnn.files import sha256_file
from simrnn.plots import plot_training_losses
from simrnn.runs import (
    CONFIG_FILE,
    HISTORY_FILE,
    LOSS_FIGURE,
    TEST_RESULTS_FILE,
    checkpoint_path,
    package_versions,
    read_artifact,
    require_run_dir,
    write_artifact,
)
from simrnn.sequence.config import GRAINLEARNING_COMPAT_KEYS, SequenceConfig
from simrnn.sequence.evaluate import evaluate_sequences
from simrnn.sequence.hdf5 import read_triaxial_hdf5
from simrnn.sequence.predict import load_run
from simrnn.sequence.preprocess import prepare_sequences
from simrnn.sequence.task import SequenceDataModule, SequenceTask


def load_sequence_config(config: dict[str, Any] | SequenceConfig, source: str = "config") -> SequenceConfig:
    """Accept a GrainLearning-style dict (unknown keys -> one warning) or a ready config."""
    if isinstance(config, SequenceConfig):
        config.validate(source)
        return config
    return build_config(SequenceConfig, dict(config), source=source, ignored=GRAINLEARNING_COMPAT_KEYS)


#: settings that may change when a run is resumed; data and model settings may not.
RESUMABLE_KEYS = frozenset({"epochs", "patience", "accelerator", "devices", "num_nodes", "strategy",
                            "logger", "progress_bar", "gradient_clip_val"})


def _resumed_config(run_dir: Path, overrides: dict[str, Any]) -> SequenceConfig:
    """The run's saved settings with ``overrides`` applied; config.json records the resume."""
    saved = read_artifact(run_dir, CONFIG_FILE)
    fixed = sorted(k for k, v in overrides.items() if k not in RESUMABLE_KEYS and saved["settings"].get(k) != v)
    if fixed:
        raise UserInputError(
            f"{run_dir}: cannot change {', '.join(fixed)} when resuming; only "
            f"{', '.join(sorted(RESUMABLE_KEYS))} may change (start a new run otherwise)."
        )
    cfg = load_sequence_config({**saved["settings"], **overrides}, source=str(run_dir / CONFIG_FILE))
    if Path(cfg.raw_data).is_file() and sha256_file(cfg.raw_data) != saved["data"]["sha256"]:
        raise UserInputError(
            f"{cfg.raw_data}: the data file changed since {run_dir} was created (SHA-256 differs); "
            "resume with the original file or start a new run."
        )
    saved["settings"] = config_to_dict(cfg)
    saved.setdefault("resumed", []).append(
        {"at": _dt.datetime.now().isoformat(timespec="seconds"), "overrides": overrides}
    )
    write_artifact(run_dir, CONFIG_FILE, saved)
    return cfg


def _engine_settings(cfg: SequenceConfig) -> EngineSettings:
    return EngineSettings(
        max_epochs=cfg.epochs, patience=cfg.patience, accelerator=cfg.accelerator, devices=cfg.devices,
        num_nodes=cfg.num_nodes, strategy=cfg.strategy, precision=cfg.precision,
        gradient_clip_val=cfg.gradient_clip_val, logger=cfg.logger, progress_bar=cfg.progress_bar,
    )


def train(config: dict[str, Any] | SequenceConfig | None = None, *, resume: str | Path | None = None) -> Path:
    """Train (or resume) a sequence surrogate; return the run directory.

    Args:
        config: GrainLearning-style settings (see :class:`SequenceConfig`). When resuming, only
            keys in :data:`RESUMABLE_KEYS` may be given (e.g. more ``epochs``).
        resume: a run directory whose ``checkpoints/last.ckpt`` is continued in place.
    """
    if resume is not None:
        run_dir = require_run_dir(resume)
        cfg = _resumed_config(run_dir, dict(config or {}))
        ckpt_path: str | None = str(checkpoint_path(run_dir, "last"))
    else:
        cfg = load_sequence_config(config or {})
        run_dir, ckpt_path = None, None

    data = read_triaxial_hdf5(cfg.raw_data, pressure=cfg.pressure, experiment_type=cfg.experiment_type)
    prepared = prepare_sequences(cfg, data)
    datamodule = SequenceDataModule(prepared, cfg.batch_size)
    model_args = {
        "n_input_features": data.inputs.shape[2],
        "n_params": prepared.arrays["train"]["params"].shape[1],
        "n_outputs": data.outputs.shape[2],
        "hidden_size": cfg.lstm_units,
        "dense_size": cfg.dense_units,
    }
    is_owner = True
    if run_dir is None:
        run_dir, is_owner = claim_run_dir(cfg.runs_root, "sequence")
    if is_owner and ckpt_path is None:
        write_artifact(run_dir, CONFIG_FILE, {
            "task": "sequence",
            "created": _dt.datetime.now().isoformat(timespec="seconds"),
            "settings": config_to_dict(cfg),
            "data": {
                "file": str(Path(cfg.raw_data).resolve()),
                "sha256": sha256_file(cfg.raw_data),
                "n_sequences": len(data.inputs),
                "split": {k: v.tolist() for k, v in prepared.indices.items()},
                "n_windows": {s: datamodule.n_windows(s) for s in ("train", "val", "test")},
            },
            "model": {"name": cfg.model, "args": model_args},
            "data_meta": prepared.meta,
            "versions": package_versions(),
        })

    L.seed_everything(cfg.seed, workers=True, verbose=False)
    task = SequenceTask(
        model_name=cfg.model, model_args=model_args, data_meta=prepared.meta,
        optim={"learning_rate": cfg.learning_rate, "beta_1": cfg.beta_1, "beta_2": cfg.beta_2, "epsilon": cfg.epsilon},
    )
    trainer = build_trainer(run_dir, _engine_settings(cfg), resuming=ckpt_path is not None)
    with lightning_warnings_filtered(), run_dir_exported(run_dir):
        trainer.fit(task, datamodule=datamodule, ckpt_path=ckpt_path)
    if not trainer.is_global_zero:
        return run_dir

    history = read_artifact(run_dir, HISTORY_FILE)
    plot_training_losses(history, run_dir / LOSS_FIGURE)
    best = load_run(run_dir, "best")
    test_idx = prepared.indices["test"]
    results = evaluate_sequences(best, data.inputs[test_idx], prepared.arrays["test"]["params"], data.outputs[test_idx])
    results.update(checkpoint="checkpoints/best.ckpt", best_epoch=_best_epoch(history),
                   epochs_trained=len(history), n_test_sequences=len(test_idx))
    write_artifact(run_dir, TEST_RESULTS_FILE, results)
    return run_dir


def _best_epoch(history: list[dict[str, float]]) -> int | None:
    scored = [h for h in history if np.isfinite(h.get("val_loss", np.nan))]
    return min(scored, key=lambda h: h["val_loss"])["epoch"] if scored else None
