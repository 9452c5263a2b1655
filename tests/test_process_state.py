"""Process-wide state is left alone on import: matplotlib's backend, pyplot, torch threads."""

from __future__ import annotations

import json
import subprocess
import sys

import torch

from simrnn.cpu import torch_threads


def _run(code: str, tmp_path) -> dict:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_training_import_and_figures_leave_the_matplotlib_backend_alone(tmp_path):
    """A notebook's backend survives ``from simrnn.sequence import train`` and a simrnn figure."""
    seen = _run(
        "import json, sys, matplotlib\n"
        "matplotlib.use('svg')\n"
        "from simrnn.sequence import train\n"
        "from simrnn.plots import plot_training_losses\n"
        "path = plot_training_losses([{'epoch': 0, 'train_loss': 1.0, 'val_loss': 2.0},"
        " {'epoch': 1, 'train_loss': 0.5, 'val_loss': 1.0}], 'losses.png')\n"
        "print(json.dumps({'backend': matplotlib.get_backend(), 'pyplot': 'matplotlib.pyplot' in sys.modules,"
        " 'png': open(path, 'rb').read(8).hex()}))\n", tmp_path)
    assert seen == {"backend": "svg", "pyplot": False, "png": "89504e470d0a1a0a"}


def test_torch_threads_sets_and_restores_even_after_an_error():
    before = torch.get_num_threads()
    try:
        with torch_threads(1) as n:
            assert n == 1 and torch.get_num_threads() == 1
            raise RuntimeError("inside")
    except RuntimeError:
        pass
    assert torch.get_num_threads() == before


def test_the_cli_and_every_help_load_neither_torch_nor_lightning(tmp_path):
    """``import simrnn.cli``, ``simrnn --help`` and the ``--help`` of every command stay light."""
    seen = _run(
        "import json, sys\n"
        "import simrnn.cli\n"
        "after_import = sorted(m for m in ('torch', 'lightning', 'optuna') if m in sys.modules)\n"
        "from typer.main import get_command\n"
        "from typer.testing import CliRunner\n"
        "from simrnn.cli import app\n"
        "def leaves(command, path=()):\n"
        "    subs = getattr(command, 'commands', None)\n"
        "    if not subs:\n"
        "        return [path]\n"
        "    return [path] + [p for name, sub in subs.items() for p in leaves(sub, (*path, name))]\n"
        "codes = {' '.join(p): CliRunner().invoke(app, [*p, '--help']).exit_code for p in leaves(get_command(app))}\n"
        "print(json.dumps({'import': after_import, 'codes': codes,\n"
        "                  'heavy': sorted(m for m in ('torch', 'lightning') if m in sys.modules)}))\n", tmp_path)
    assert seen["import"] == [] and seen["heavy"] == []
    assert {"", "sequence train", "fields train", "calibrate", "demo", "sweep run", "hpc script"} <= set(seen["codes"])
    assert set(seen["codes"].values()) == {0}


def test_importing_sweeps_leaves_optuna_logging_alone(tmp_path):
    seen = _run("import json, optuna\nbefore = optuna.logging.get_verbosity()\nimport simrnn.sweep\n"
                "print(json.dumps([before, optuna.logging.get_verbosity()]))\n", tmp_path)
    assert seen[0] == seen[1]
