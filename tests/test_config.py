import pytest

from simrnn.config import UnknownConfigKeyWarning, build_config, load_config_file
from simrnn.errors import UserInputError
from simrnn.sequence.config import SequenceConfig
from simrnn.sequence.training import load_sequence_config


def test_wandb_file_is_unwrapped(tmp_path):
    path = tmp_path / "config.yml"
    path.write_text("wandb_version: 1\n_wandb:\n  desc: null\n  value: {x: 1}\n"
                    "lstm_units:\n  desc: null\n  value: 200\nwindow_size:\n  desc: null\n  value: 4\n")
    assert load_config_file(path) == {"lstm_units": 200, "window_size": 4}


def test_unknown_keys_warn_once_naming_them():
    with pytest.warns(UnknownConfigKeyWarning, match="ignoring unknown config keys bogus, other"):
        cfg = load_sequence_config({"bogus": 1, "other": 2, "lstm_units": 8, "save_weights_only": True,
                                    "raw_data": "x.h5"})
    assert cfg.lstm_units == 8


def test_command_line_text_is_coerced_to_the_field_types():
    values = {"window_size": "7", "learning_rate": "0.01", "add_pressure": "false", "raw_data": "x.h5"}
    cfg = build_config(SequenceConfig, values)
    assert (cfg.window_size, cfg.learning_rate, cfg.add_pressure) == (7, 0.01, False)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"window_size": "abc"}, "'window_size' should be an integer, got 'abc'"),
        ({"train_frac": 0.9, "val_frac": 0.2}, "sum to less than 1"),
        ({"logger": "mlflow"}, "'logger' is 'mlflow'; expected one of 'csv', 'tensorboard', 'wandb'"),
        ({"window_size": 0}, "'window_size' must be at least 1"),
    ],
)
def test_bad_values_give_one_sentence(values, message):
    with pytest.raises(UserInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_config(SequenceConfig, dict(values, raw_data="x.h5"))


@pytest.mark.parametrize(("values", "message"), [
    ({"raw_data": None}, "'raw_data' has no value (null)"),
    ({"learning_rate": "nan"}, "'learning_rate' should be a finite number"),
    ({"learning_rate": 1e400}, "'learning_rate' should be a finite number"),
    ({"beta_1": "1e999"}, "'beta_1' should be a finite number"),
])
def test_null_and_non_finite_values_are_refused(values, message):
    with pytest.raises(UserInputError, match="^cfg.yml: " + message.replace("(", r"\(").replace(")", r"\)")):
        build_config(SequenceConfig, {"raw_data": "x.h5", **values}, source="cfg.yml")


def test_a_config_file_that_is_not_utf8_is_one_sentence(tmp_path):
    path = tmp_path / "config.yml"
    path.write_bytes(b"lstm_units: 8\nname: \xff\xfe\n")
    with pytest.raises(UserInputError, match="config.yml: not a UTF-8 text file"):
        load_config_file(path)


def test_missing_config_file(tmp_path):
    with pytest.raises(UserInputError, match="config not found"):
        load_config_file(tmp_path / "nope.yaml")
