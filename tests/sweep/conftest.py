"""Fixtures of the sweep tests: tiny sequence data, sweep files, a throw-away PostgreSQL server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
#: settings that make one trial take about a second on a CPU: 1-2 epochs, lstm_units 8.
TINY = {"epochs": 2, "patience": 5, "lstm_units": 8, "dense_units": 8, "window_size": 3, "batch_size": 64,
        "accelerator": "cpu", "devices": "1"}


@pytest.fixture(scope="session")
def tiny_sequences(tmp_path_factory, learnable_h5_writer) -> Path:
    """8 + 8 drained sequences of 12 steps (GrainLearning layout)."""
    return learnable_h5_writer(tmp_path_factory.mktemp("data") / "tiny.h5", n_per_group=8, steps=12)


@pytest.fixture
def write_sweep(tmp_path, tiny_sequences):
    """``write_sweep(parameters, method=..., simrnn=..., **top)`` -> path of a W&B sweep file whose trials
    read the tiny data set and write runs under ``tmp_path/runs``."""

    def write(parameters: dict, *, method: str = "random", settings: dict | None = None, name: str = "sweep",
              **top) -> Path:
        extras = dict(top.pop("simrnn", {}))
        extras["settings"] = {**TINY, "raw_data": str(tiny_sequences), "runs_root": str(tmp_path / "runs"),
                              **(settings or {})}
        raw = {"method": method, "metric": {"name": "val_loss", "goal": "minimize"}, "parameters": parameters,
               "simrnn": extras, **top}
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(raw), encoding="utf-8")
        return path

    return write


@pytest.fixture(scope="session")
def worker_command():
    """``worker_command(*args)`` -> the command line of ``simrnn <args>`` in a fresh Python process."""

    def command(*args: str) -> list[str]:
        return [sys.executable, "-c", "from simrnn.cli import main; main()", *args]

    return command


@pytest.fixture(scope="session")
def postgres_url():
    """A PostgreSQL server on a free loopback port, started by scripts/postgres.sh (which installs
    PostgreSQL with apt-get when missing and allowed); stopped after the session."""
    script = REPO / "scripts" / "postgres.sh"
    started = subprocess.run(["bash", str(script), "start"], capture_output=True, text=True, timeout=600)
    if started.returncode == 3:
        pytest.skip(f"PostgreSQL cannot be installed here: {started.stderr.strip()}")
    assert started.returncode == 0, started.stderr
    info = dict(line.split("=", 1) for line in started.stdout.splitlines() if "=" in line)
    try:
        yield info["url"]
    finally:
        subprocess.run(["bash", str(script), "stop", info["dir"]], capture_output=True, timeout=120)
