"""One consistent command: --version, -h everywhere, the same option names for the same things."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from simrnn import __version__
from simrnn.cli import app

runner = CliRunner()


def _commands(command, path=()):
    """Every leaf command as ``(path, click command)``."""
    subs = getattr(command, "commands", None)
    if not subs:
        yield path, command
        return
    for name, sub in subs.items():
        yield from _commands(sub, (*path, name))


def _options() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path, command in _commands(get_command(app)):
        for param in command.params:
            for name in [*getattr(param, "opts", []), *getattr(param, "secondary_opts", [])]:
                if name.startswith("--"):
                    found.setdefault(name, []).append(" ".join(path))
    return found


def test_version():
    for flag in ("--version", "-V"):
        result = runner.invoke(app, [flag])
        assert result.exit_code == 0 and result.output.strip() == f"simrnn {__version__}"


@pytest.mark.parametrize("path", [[], ["sequence"], ["sequence", "train"], ["runs", "list"], ["sweep", "run"]])
def test_short_help_everywhere(path):
    short, long = runner.invoke(app, [*path, "-h"]), runner.invoke(app, [*path, "--help"])
    assert short.exit_code == 0 and short.output == long.output and "Usage:" in short.output


def test_every_command_takes_h():
    for path, _ in _commands(get_command(app)):
        result = runner.invoke(app, [*path, "-h"])
        assert result.exit_code == 0 and "Usage:" in result.output, f"simrnn {' '.join(path)} -h: {result.output}"


def test_same_option_names_for_the_same_things():
    options = _options()
    assert "--runs-root" in options and "runs list" in options["--runs-root"]
    for other in ("--overwrite", "--runs-dir", "--run-root", "--dtype", "--yes"):
        assert other not in options, f"{other} used by {options[other]}: use --force / --runs-root / --precision"


def test_prediction_accepts_the_training_precision_names():
    from simrnn.sequence.backend import canonical_precision

    assert canonical_precision("32-true") == "fp32" and canonical_precision("bf16-mixed") == "bf16"
    assert canonical_precision("fp32") == "fp32"


def test_grainlearning_config_is_read_unchanged_with_one_note(tmp_path):
    config = Path(__file__).resolve().parents[1] / "examples" / "grainlearning" / "config.yml"
    result = runner.invoke(app, ["sequence", "train", "--config", str(config), "--raw-data", str(tmp_path / "no.h5"),
                                 "--runs-root", str(tmp_path / "runs")], terminal_width=300)
    assert result.output.count("note: ignoring save_weights_only") == 1
    assert result.exit_code == 2 and "no.h5" in result.output  # the data file is the only complaint


@pytest.mark.parametrize(("task", "own"), [("sequence", "--lstm-units"), ("fields", "--rnn-layers")])
def test_train_help_groups_the_tasks_settings_apart_from_the_engines(task, own):
    """``train --help``: the task's own settings under '<Task> settings', the engine's under 'Engine settings'."""
    text = runner.invoke(app, [task, "train", "--help"], terminal_width=120).output
    panel_of, panel = {}, None
    for line in text.splitlines():
        if line.startswith("╭─"):
            panel = line.strip("╭─╮ ").rstrip("─ ")
        elif line.startswith("│ --"):
            panel_of[line[2:].split()[0]] = panel
    assert panel_of["--epochs"] == panel_of["--precision"] == "Engine settings (every task)"
    assert panel_of[own] == f"{task.capitalize()} settings"
