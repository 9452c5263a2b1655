"""What training prints: epoch lines in batch logs, a bar that fits 80 columns, no Lightning chatter."""

from __future__ import annotations

import io
import logging
import re

import lightning as L
import torch
from typer.testing import CliRunner

from simrnn.cli import app
from simrnn.engine.progress import (
    CompactProgressBar,
    EpochLines,
    QuietLightningInfo,
    progress_callbacks,
    quiet_lightning_info,
)
from simrnn.engine.trainer import lightning_warnings_filtered

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class _Toy(L.LightningModule):
    """y = 2x fitted by one weight; logs train_loss and val_loss every epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def _loss(self, batch):
        x, y = batch
        return ((self.w * x - y) ** 2).mean()

    def training_step(self, batch, batch_idx):
        loss = self._loss(batch)
        self.log("train_loss", loss, on_step=True, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_idx):
        self.log("val_loss", self._loss(batch), on_epoch=True)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _fit(callbacks, epochs=3, enable_progress_bar=False):
    x = torch.linspace(0, 1, 32)[:, None]
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, 2 * x), batch_size=8)
    trainer = L.Trainer(max_epochs=epochs, callbacks=callbacks, logger=False, enable_checkpointing=False,
                        enable_model_summary=False, enable_progress_bar=enable_progress_bar, accelerator="cpu",
                        devices=1, num_sanity_val_steps=0)
    quiet_lightning_info()
    with lightning_warnings_filtered():
        trainer.fit(_Toy(), loader, loader)


def test_epoch_lines_give_epoch_losses_best_and_seconds():
    stream = io.StringIO()
    _fit([EpochLines(stream)])
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3
    pattern = re.compile(r"^epoch (\d)/3  train_loss (\S+)  val_loss (\S+)  best (\S+) \(epoch (\d)\)  \d+\.\d s$")
    parsed = [pattern.match(line) for line in lines]
    assert all(parsed), lines
    val = [float(m.group(3)) for m in parsed]
    assert [int(m.group(1)) for m in parsed] == [1, 2, 3]
    for k, m in enumerate(parsed):  # "best" is the lowest val_loss so far and the epoch that had it
        assert float(m.group(4)) == min(val[:k + 1]) and int(m.group(5)) == val.index(min(val[:k + 1])) + 1


def test_progress_bar_fits_80_columns_and_counts_epochs_from_one():
    out = io.StringIO()
    bar = CompactProgressBar(console_kwargs={"file": out, "force_terminal": True, "width": 80})
    _fit([bar], epochs=2, enable_progress_bar=True)
    screen = [segment for line in ANSI.sub("", out.getvalue()).split("\n") for segment in line.split("\r")]
    shown = [s for s in screen if s.strip()]
    assert any(s.startswith("Epoch 2/2 ") and "val: " in s and "loss: " in s for s in shown), shown
    assert all(len(s) <= 80 for s in shown) and not any("v_num" in s or "Epoch 0" in s for s in shown)


def test_batch_logs_get_epoch_lines_and_terminals_a_bar():
    assert [type(c) for c in progress_callbacks(True, interactive=False)] == [EpochLines]
    assert [type(c) for c in progress_callbacks(True, interactive=True)] == [CompactProgressBar]
    assert progress_callbacks(False) == []


def test_lightning_hardware_lines_are_dropped_and_others_kept():
    def record(message):
        return logging.LogRecord("lightning.pytorch.utilities.rank_zero", logging.INFO, "x", 1, message, None, None)

    quiet = QuietLightningInfo()
    assert not quiet.filter(record("GPU available: False, used: False"))
    assert not quiet.filter(record("TPU available: False, using: 0 TPU cores"))
    assert quiet.filter(record("Restoring states from the checkpoint path at last.ckpt"))


def test_train_command_in_a_batch_log_prints_one_line_per_epoch(tiny_h5, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    result = CliRunner().invoke(app, ["sequence", "train", "--raw-data", str(tiny_h5), "--epochs", "2",
                                      "--lstm-units", "8", "--dense-units", "8", "--window-size", "3",
                                      "--runs-root", str(tmp_path / "runs")], terminal_width=100)
    assert result.exit_code == 0, result.output
    epoch_lines = [line for line in result.output.splitlines() if line.startswith("epoch ")]
    assert [line.split("  ")[0] for line in epoch_lines] == ["epoch 1/2", "epoch 2/2"]
    run_dir = next((tmp_path / "runs" / "sequence").iterdir())
    assert f"logs: csv {run_dir / 'logs' / 'train'}" in result.output  # where the logs went
    shown = result.output + caplog.text
    assert "GPU available" not in shown and "TPU available" not in shown


def test_training_curves_mark_the_best_epoch_and_name_the_model(monkeypatch, tmp_path):
    import simrnn.plots as plots

    shown = {}
    monkeypatch.setattr(plots, "save_figure", lambda fig, path: shown.setdefault("fig", fig) and path)
    history = [{"epoch": 0, "train_loss": 1.0, "val_loss": 0.9}, {"epoch": 1, "train_loss": 0.5, "val_loss": 0.4},
               {"epoch": 2, "train_loss": 0.3, "val_loss": 0.6}]
    plots.plot_training_losses(history, tmp_path / "x.png", title="lstm, run 2026-01-01_00-00-00")
    ax = shown["fig"].axes[0]
    assert ax.get_title() == "lstm, run 2026-01-01_00-00-00"
    assert "best: epoch 2, val_loss 0.4" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_run_summary_keeps_per_channel_metrics_in_the_file(tmp_path, capsys):
    import json

    from simrnn.cli.training import print_run_summary

    (tmp_path / "test_results.json").write_text(json.dumps({
        "checkpoint": "checkpoints/best.ckpt", "best_epoch": 1, "epochs_trained": 3,
        "metrics": {"mse": 0.5, "mse/ipf_x:0": 0.25}, "baselines": {"persistence": {"mse": 0.6, "mse/ipf_x:0": 0.3}}}))
    (tmp_path / "config.json").write_text(json.dumps({"loggers": {"csv": str(tmp_path / "logs" / "train")}}))
    print_run_summary(tmp_path)
    out = capsys.readouterr().out
    assert "mse 0.5" in out and "baseline persistence: mse 0.6" in out and "ipf_x" not in out
    assert "best epoch 2 of 3" in out  # printed from 1, as the epoch lines and the figure count
    assert f"per-channel metrics: {tmp_path / 'test_results.json'}" in out.replace("\n", "")
    assert f"logs: csv {tmp_path / 'logs' / 'train'}" in out.replace("\n", "")
