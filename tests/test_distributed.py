"""DDP on the CPU: two processes started by Lightning's launcher share one run directory."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from simrnn.engine import RUN_DIR_ENV, claim_run_dir
from simrnn.errors import UserInputError


def test_two_process_ddp_training_writes_one_complete_run(tiny_h5, tmp_path):
    simrnn = Path(sys.executable).parent / "simrnn"
    env = {k: v for k, v in os.environ.items() if k != RUN_DIR_ENV}
    result = subprocess.run(
        [str(simrnn), "sequence", "train", "--raw-data", str(tiny_h5), "--epochs", "2", "--window-size", "3",
         "--lstm-units", "8", "--dense-units", "8", "--runs-root", str(tmp_path / "runs"), "--accelerator", "cpu",
         "--devices", "2", "--strategy", "ddp", "--no-progress-bar"],
        capture_output=True, text=True, env=env, timeout=240, stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (run_dir,) = (tmp_path / "runs" / "sequence").iterdir()
    assert "Starting with 2 processes" in result.stderr + result.stdout
    assert len(json.loads((run_dir / "history.json").read_text())) == 2
    assert json.loads((run_dir / "test_results.json").read_text())["epochs_trained"] == 2
    assert (run_dir / "checkpoints" / "best.ckpt").is_file()


def test_a_worker_rank_without_the_shared_directory_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("RANK", "1")
    monkeypatch.delenv(RUN_DIR_ENV, raising=False)
    with pytest.raises(UserInputError, match="distributed rank 1 started without"):
        claim_run_dir(tmp_path, "sequence")
    monkeypatch.setenv(RUN_DIR_ENV, str(tmp_path / "shared"))
    assert claim_run_dir(tmp_path, "sequence") == (tmp_path / "shared", False)
