"""The shared Lightning engine: trainer settings, run directories, atomic files."""

import datetime as dt
import os

import pytest

from simrnn.engine import EngineSettings, build_trainer
from simrnn.errors import UserInputError
from simrnn.files import atomic_path
from simrnn.runs import create_run_dir, new_output_dir


def test_trainer_carries_the_requested_settings(tmp_path):
    trainer = build_trainer(tmp_path, EngineSettings(max_epochs=3, patience=2, gradient_clip_val=0.5,
                                                     accelerator="cpu", devices="1", progress_bar=False))
    assert trainer.max_epochs == 3 and trainer.gradient_clip_val == 0.5
    assert trainer.early_stopping_callback.patience == 2
    assert trainer.checkpoint_callback.dirpath == str(tmp_path / "checkpoints")
    assert build_trainer(tmp_path, EngineSettings(progress_bar=False)).gradient_clip_val is None


def test_unknown_logger_is_a_clear_error(tmp_path):
    with pytest.raises(UserInputError, match="unknown logger 'mlflow'; expected one of csv, tensorboard, wandb"):
        build_trainer(tmp_path, EngineSettings(logger="mlflow", progress_bar=False))


def test_run_directories_with_the_same_second_get_suffixes(tmp_path):
    now = dt.datetime(2026, 1, 2, 3, 4, 5)
    dirs = [create_run_dir(tmp_path, "sequence", now=now) for _ in range(3)]
    assert [d.name for d in dirs] == ["2026-01-02_03-04-05", "2026-01-02_03-04-05_1", "2026-01-02_03-04-05_2"]
    assert all((d / "checkpoints").is_dir() for d in dirs)


def test_an_existing_output_directory_is_refused(tmp_path):
    with pytest.raises(UserInputError, match="output directory exists already"):
        new_output_dir(tmp_path, tmp_path / "default")


def test_a_failed_write_leaves_the_old_file_untouched(tmp_path):
    target = tmp_path / "results.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["results.json"]
