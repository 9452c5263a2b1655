"""The shared engine: trainer settings, settings checks before any file, ranks, run directories, atomic files."""

import datetime as dt
import os
import socket

import pytest
import torch

from simrnn.engine import TrainSettings, build_trainer, check_trainer_settings, global_rank
from simrnn.engine.settings import available_cpu_cores
from simrnn.errors import UserInputError
from simrnn.files import atomic_path, output_directory
from simrnn.runs import create_run_dir


def test_trainer_carries_the_requested_settings(tmp_path):
    trainer = build_trainer(tmp_path, TrainSettings(epochs=3, patience=2, gradient_clip_val=0.5,
                                                    accelerator="cpu", devices="1", progress_bar=False))
    assert trainer.max_epochs == 3 and trainer.gradient_clip_val == 0.5
    assert trainer.early_stopping_callback.patience == 2
    assert trainer.checkpoint_callback.dirpath == str(tmp_path / "checkpoints")
    assert build_trainer(tmp_path, TrainSettings(progress_bar=False)).gradient_clip_val is None


def test_unknown_logger_is_a_clear_error(tmp_path):
    with pytest.raises(UserInputError, match="unknown logger 'mlflow'; expected one of csv, tensorboard, wandb"):
        build_trainer(tmp_path, TrainSettings(logger="mlflow", progress_bar=False))


@pytest.mark.parametrize(("settings", "message"), [
    ({"precision": "8-bit"}, "'precision' is '8-bit'; expected one of 32-true"),
    ({"seed": -1}, "'seed' must be between 0 and 4294967295, got -1"),
    ({"seed": 2**40}, "'seed' must be between 0 and 4294967295"),
    ({"gradient_clip_val": -1.0}, "'gradient_clip_val' must be a finite number >= 0"),
    ({"epochs": 0}, "'epochs' must be at least 1"),
])
def test_settings_out_of_range_give_one_sentence(settings, message):
    with pytest.raises(UserInputError, match=message.replace("(", r"\(")):
        TrainSettings(**settings).validate("cfg.yml")


@pytest.mark.parametrize(("settings", "message"), [
    ({"accelerator": "quantum"}, "Lightning cannot use accelerator='quantum'"),
    ({"strategy": "telepathy"}, "strategy='telepathy'"),
    pytest.param({"accelerator": "gpu"}, "accelerator='gpu'",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")),
    ({"accelerator": "cpu", "devices": "many"}, "devices='many'"),
])
def test_settings_lightning_cannot_run_are_refused_in_one_sentence(settings, message):
    with pytest.raises(UserInputError, match=message) as info:
        check_trainer_settings(TrainSettings(**settings), "cfg.yml")
    assert "\n" not in str(info.value) and str(info.value).startswith("cfg.yml: ")


def test_more_cpu_devices_than_cores_are_refused():
    cores = available_cpu_cores()
    with pytest.raises(UserInputError, match=f"'devices' is 99, .* has {cores} core"):
        check_trainer_settings(TrainSettings(accelerator="cpu", devices="99"))
    check_trainer_settings(TrainSettings(accelerator="cpu", devices=str(cores)))


@pytest.mark.parametrize(("env", "rank"), [
    ({}, 0),
    ({"LOCAL_RANK": "1"}, 1),
    ({"RANK": "3", "LOCAL_RANK": "1"}, 3),  # torchrun: RANK is global
    ({"SLURM_NTASKS": "4", "SLURM_PROCID": "2", "SLURM_LOCALID": "0", "SLURM_NODEID": "1",
      "SLURM_NTASKS_PER_NODE": "2", "SLURM_JOB_NAME": "train"}, 2),  # srun: Lightning's SLURM environment, whatever LOCAL_RANK says
    ({"LSB_JOBID": "7", "LSB_DJOB_RANKFILE": "rankfile", "JSM_NAMESPACE_RANK": "5", "JSM_NAMESPACE_LOCAL_RANK": "1",
      "JSM_NAMESPACE_SIZE": "8"}, 5),  # LSF jsrun
    ({"NODE_RANK": "1", "LOCAL_RANK": "0"}, 1),  # a second node launched by hand is never rank 0
])
def test_global_rank_is_lightnings(monkeypatch, tmp_path, env, rank):
    for name in list(os.environ):
        if name.startswith(("SLURM_", "LSB_", "JSM_", "OMPI_", "PMI_")) or name in (
                "RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK", "WORLD_SIZE", "TORCHELASTIC_RUN_ID"):
            monkeypatch.delenv(name)
    if "LSB_DJOB_RANKFILE" in env:
        (tmp_path / "rankfile").write_text(f"batch\n{socket.gethostname()}\n")
        env = dict(env, LSB_DJOB_RANKFILE=str(tmp_path / "rankfile"))
    for name in ("MASTER_ADDR", "MASTER_PORT"):  # Lightning's LSF environment sets them; restore after
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert global_rank() == rank


def test_run_directories_with_the_same_second_get_suffixes(tmp_path):
    now = dt.datetime(2026, 1, 2, 3, 4, 5)
    dirs = [create_run_dir(tmp_path, "sequence", now=now) for _ in range(3)]
    assert [d.name for d in dirs] == ["2026-01-02_03-04-05", "2026-01-02_03-04-05_1", "2026-01-02_03-04-05_2"]
    assert all((d / "checkpoints").is_dir() for d in dirs)


def test_an_existing_output_directory_is_refused(tmp_path):
    with pytest.raises(UserInputError, match="already exists; choose a new directory"), \
            output_directory(tmp_path, tmp_path / "default"):
        pass
    assert list(tmp_path.iterdir()) == []


def test_an_output_directory_appears_whole_or_not_at_all(tmp_path):
    parent = tmp_path / "run" / "predictions"
    with pytest.raises(KeyboardInterrupt), output_directory(None, parent) as out:
        (out / "a.json").write_text("{}")
        assert not list(parent.glob("2*"))  # nothing visible under its final name while it is written
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []  # neither the temporary folder nor the parents made for it
    with output_directory(None, parent) as out:
        (out / "a.json").write_text("{}")
    assert out.path.parent == parent and out.path.name.startswith("20") and out.final(out / "a.json").is_file()
    assert [p.name for p in parent.iterdir()] == [out.path.name]


def test_a_failed_write_leaves_the_old_file_untouched(tmp_path):
    target = tmp_path / "results.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["results.json"]


def test_a_non_finite_validation_loss_stops_with_one_sentence(tmp_path):
    from types import SimpleNamespace

    from simrnn.engine.trainer import DivergenceCallback
    from simrnn.errors import TrainingDivergedError

    trainer = SimpleNamespace(callback_metrics={"val_loss": torch.tensor(float("nan"))}, sanity_checking=False,
                              current_epoch=3)
    with pytest.raises(TrainingDivergedError, match="the validation loss became nan at epoch 3"):
        DivergenceCallback(tmp_path).on_validation_end(trainer, None)
    DivergenceCallback(tmp_path).on_validation_end(SimpleNamespace(
        callback_metrics={"val_loss": torch.tensor(0.5)}, sanity_checking=False, current_epoch=3), None)


def test_every_task_names_its_config_class_without_loading_lightning():
    import subprocess
    import sys

    from simrnn.registry import config_class, get_task, task_names

    assert set(task_names()) >= {"sequence", "fields"}
    for name in task_names():
        assert get_task(name).config_class is config_class(name)
    code = ("import sys; from simrnn.registry import config_class, task_names; "
            "[config_class(t) for t in task_names()]; print('lightning' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
