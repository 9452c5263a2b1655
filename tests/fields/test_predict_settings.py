"""``fields predict`` / ``fields rollout`` options: one settings dataclass each, defaults written once."""

from __future__ import annotations

import inspect

import pytest
from typer.testing import CliRunner

from simrnn.cli import app
from simrnn.config import COMMAND_LINE, build_config
from simrnn.errors import UserInputError
from simrnn.fields.predict_settings import FieldPredictSettings, RolloutSettings


def test_library_functions_take_their_defaults_from_the_settings():
    from simrnn.fields.predict import predict_to_files
    from simrnn.fields.rollout import rollout_to_files

    predict = inspect.signature(predict_to_files).parameters
    rollout = inspect.signature(rollout_to_files).parameters
    assert {k: predict[k].default for k in ("split", "timestep", "slice_index")} == {
        "split": "test", "timestep": None, "slice_index": None}
    assert {k: rollout[k].default for k in ("horizon", "split", "start")} == {"horizon": 3, "split": "test", "start": 0}


@pytest.mark.parametrize(("cls", "values", "message", "key"), [
    (RolloutSettings, {"horizon": "0"}, "horizon 0: expected 1 or more.", "horizon"),
    (RolloutSettings, {"start": "-2"}, "start -2: expected 0 or more.", "start"),
    (FieldPredictSettings, {"slice_index": "-1"}, "slice_index -1: expected 0 or more.", "slice_index"),
    (FieldPredictSettings, {"timestep": "-3"}, "timestep -3: expected 0 or more.", "timestep"),
])
def test_settings_refuse_impossible_values_naming_the_key(cls, values, message, key):
    with pytest.raises(UserInputError) as info:
        build_config(cls, values, source=COMMAND_LINE)
    assert str(info.value) == message and info.value.key == key


@pytest.mark.parametrize(("args", "message"), [
    (["rollout", "RUN", "--steps", "0"], "error: --steps 0: expected 1 or more."),  # key horizon, flag --steps
    (["rollout", "RUN", "--start", "-1"], "error: --start -1: expected 0 or more."),
    (["predict", "RUN", "--slice", "-1"], "error: --slice -1: expected 0 or more."),  # key slice_index
    (["predict", "RUN", "--split", "all"], "error: command line: --split is 'all'; expected one of 'test', 'val', 'train'."),
])
def test_cli_names_the_flag_before_the_run_is_opened(tmp_path, args, message):
    args = [str(tmp_path / "no_run") if a == "RUN" else a for a in args]  # not a run: the settings are refused first
    result = CliRunner().invoke(app, ["fields", *args])
    assert result.exit_code == 2 and result.output.strip() == message, result.output


def test_help_shows_the_dataclass_defaults():
    result = CliRunner().invoke(app, ["fields", "rollout", "--help"], terminal_width=200)
    assert result.exit_code == 0
    assert "(default: 3)" in result.output and "--steps" in result.output and "--horizon" not in result.output
