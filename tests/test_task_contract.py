"""The task contract, proved by a third task that no project file names.

A toy task package (config dataclass, tiny data, LightningModule, evaluate: the ~40 lines of
``TOY_TASK`` below) is written into ``tmp_path`` and made known through ``$SIMRNN_TASKS`` (the
package is on ``sys.path``); the CLI built afterwards trains, resumes, lists, compares and sweeps
it, and the engine-level hostile inputs apply to it as to every task.
"""

from __future__ import annotations

import json
import re
import sys
import textwrap

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

TOY_INIT = '''
import torch
from simrnn.registry import register_model

@register_model("toy-linear", task="toytask")
class ToyLinear(torch.nn.Module):
    """``x [B, n_in] -> y [B, n_out]``."""
    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.linear = torch.nn.Linear(n_in, n_out)

    def forward(self, x):
        return self.linear(x)
'''

TOY_CONFIG = '''
from dataclasses import dataclass
from simrnn.config import setting
from simrnn.engine.settings import TrainSettings

@dataclass
class ToyConfig(TrainSettings):
    model: str = setting("toy-linear", "Registered toy model.")
    data: str = setting("", "A .npy file [N, 3]: two inputs, then the target.")
    lr: float = setting(0.1, "Learning rate.")
'''

TOY_TASK = '''
from pathlib import Path
import lightning as L, numpy as np, torch
from torch.utils.data import DataLoader, TensorDataset
from simrnn.engine import Evaluation, Task, TaskData
from simrnn.files import sha256_file
from simrnn.registry import build_model, register_task
from toytask.config import ToyConfig

class ToyModule(L.LightningModule):
    def __init__(self, model_name, model_args, data_meta, lr):
        super().__init__()
        self.save_hyperparameters()
        self.model = build_model(model_name, **model_args)

    def _loss(self, batch):
        return torch.nn.functional.mse_loss(self.model(batch[0]), batch[1])

    def training_step(self, batch, i):
        loss = self._loss(batch)
        self.log("train_loss", loss, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch, i):
        self.log("val_loss", self._loss(batch), on_epoch=True)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

class ToyData(L.LightningDataModule):
    def __init__(self, sets):
        super().__init__()
        self.sets = sets

    def train_dataloader(self):
        return DataLoader(self.sets[0], batch_size=8, shuffle=True)

    def val_dataloader(self):
        return DataLoader(self.sets[1], batch_size=8)

class ToyTask(Task):
    name, config_class, meta_keys = "toytask", ToyConfig, ("n",)

    def load_data(self, cfg):
        a = torch.from_numpy(np.load(cfg.data)).float()
        sets = [TensorDataset(a[i::3, :2], a[i::3, 2:]) for i in range(3)]
        record = {"file": str(Path(cfg.data).resolve()), "sha256": sha256_file(cfg.data)}
        return TaskData(ToyData(sets), {"n": len(a)}, {"n_in": 2, "n_out": 1}, record, payload=sets[2])

    def build_module(self, cfg, data):
        return ToyModule(cfg.model, data.model_args, data.data_meta, cfg.lr)

    def evaluate(self, model, data, cfg):
        x, y = data.payload.tensors
        with torch.no_grad():
            mse = float(((model(x) - y) ** 2).mean())
        return Evaluation({"mse": mse}, {"zero": {"mse": float((y ** 2).mean())}})

register_task(ToyTask())
'''


@pytest.fixture
def toy_cli(tmp_path, monkeypatch):
    """A CLI built with the toy task package of ``tmp_path/plugins/toytask`` known through $SIMRNN_TASKS."""
    from simrnn import registry
    from simrnn.cli import build_app
    from simrnn.environment import use_environment

    package = tmp_path / "plugins" / "toytask"
    package.mkdir(parents=True)
    for name, text in (("__init__", TOY_INIT), ("config", TOY_CONFIG), ("task", TOY_TASK)):
        (package / f"{name}.py").write_text(textwrap.dedent(text))
    monkeypatch.syspath_prepend(str(tmp_path / "plugins"))
    monkeypatch.setenv("SIMRNN_TASKS", "toytask")
    use_environment(None)
    registry.rediscover()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, 2))
    np.save(tmp_path / "toy.npy", np.column_stack([x, 2 * x[:, 0] - x[:, 1] + 0.5]))
    yield build_app()
    monkeypatch.delenv("SIMRNN_TASKS")
    use_environment(None)
    registry.rediscover()
    for name in [m for m in sys.modules if m == "toytask" or m.startswith("toytask.")]:
        del sys.modules[name]
    registry._TASKS.pop("toytask", None)
    registry._MODELS.pop("toy-linear", None)


def invoke(app, *args, code: int = 0):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == code, result.output + repr(result.exception)
    return result


def test_a_third_task_trains_resumes_lists_compares_and_sweeps(toy_cli, tmp_path):
    runs = tmp_path / "runs"
    common = ["--data", tmp_path / "toy.npy", "--runs-root", runs, "--accelerator", "cpu", "--devices", "1",
              "--no-progress-bar", "--threads", "1"]
    invoke(toy_cli, "toytask", "train", "--epochs", 2, *common)
    invoke(toy_cli, "toytask", "train", "--epochs", 1, "--lr", 0.01, *common)
    first, second = sorted((runs / "toytask").iterdir())
    config = json.loads((first / "config.json").read_text())
    assert config["task"] == "toytask" and config["model"] == {"name": "toy-linear", "args": {"n_in": 2, "n_out": 1}}
    assert len(json.loads((first / "history.json").read_text())) == 2

    invoke(toy_cli, "toytask", "train", "--resume", first, "--epochs", 4)
    history = json.loads((first / "history.json").read_text())
    assert [h["epoch"] for h in history] == [0, 1, 2, 3]
    results = json.loads((first / "test_results.json").read_text())
    assert results["task"] == "toytask" and results["epochs_trained"] == 4
    assert results["metrics"]["mse"] < results["baselines"]["zero"]["mse"]  # it learned something

    config_before = (first / "config.json").read_bytes()
    refused = invoke(toy_cli, "toytask", "train", "--resume", first, "--epochs", 3, code=2)
    assert "the run has trained 4 epochs already; resume with epochs above 4 (got 3)" in refused.stderr
    from simrnn.runs import Run

    with Run(first).locked():  # another process is training it
        refused = invoke(toy_cli, "toytask", "train", "--resume", first, "--epochs", 6, code=2)
    assert "another process is training this run right now" in refused.stderr
    assert (first / "config.json").read_bytes() == config_before

    listed = invoke(toy_cli, "runs", "list", "--root", runs).output
    assert first.name in listed and second.name in listed and len(listed.splitlines()) == 1 + 2
    compared = invoke(toy_cli, "runs", "compare", first, second).output
    assert "zero/mse" in compared and "%" in compared

    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(yaml.safe_dump({
        "method": "grid", "metric": {"name": "val_loss", "goal": "minimize"},
        "parameters": {"lr": {"values": [0.05, 0.1]}},
        "simrnn": {"settings": {"data": str(tmp_path / "toy.npy"), "runs_root": str(tmp_path / "sweep_runs"),
                                "epochs": 1, "accelerator": "cpu", "devices": "1", "threads": "1"}}}))
    invoke(toy_cli, "sweep", "run", sweep, "--task", "toytask", "--trials", 2)
    trained = sorted((tmp_path / "sweep_runs" / "toytask").iterdir())
    assert len(trained) == 2
    assert sorted(json.loads((r / "config.json").read_text())["settings"]["lr"] for r in trained) == [0.05, 0.1]


def test_the_engine_refusals_apply_to_the_third_task(toy_cli, tmp_path):
    """Generated for every task (tests/test_hostile_inputs.py::task_cases), the toy task included."""
    from hostile_cases import task_cases

    cases = task_cases("toytask")
    assert len(cases) >= 4
    for case in cases:
        tmp = tmp_path / case.id.replace("/", "_")
        tmp.mkdir()
        if case.setup is not None:
            case.setup(tmp, tmp_path)
        before = {p for p in tmp.rglob("*")}
        args = [a.replace("{tmp}", str(tmp)).replace("{w}", str(tmp_path)) for a in case.args]
        result = invoke(toy_cli, *args, code=2)
        assert re.search(case.expect, result.stderr), result.stderr
        assert {p for p in tmp.rglob("*")} == before, case.id
