import pytest

from simrnn.config import UnknownConfigKeyWarning, build_config, load_config_file, parse_overrides
from simrnn.errors import UserInputError
from simrnn.sequence.config import SequenceConfig
from simrnn.sequence.train import load_sequence_config


def test_wandb_file_is_unwrapped(tmp_path):
    path = tmp_path / "config.yml"
    path.write_text("wandb_version: 1\n_wandb:\n  desc: null\n  value: {x: 1}\n"
                    "lstm_units:\n  desc: null\n  value: 200\nwindow_size:\n  desc: null\n  value: 4\n")
    assert load_config_file(path) == {"lstm_units": 200, "window_size": 4}


def test_unknown_keys_warn_once_naming_them():
    with pytest.warns(UnknownConfigKeyWarning, match="ignoring unknown config keys bogus, other"):
        cfg = load_sequence_config({"bogus": 1, "other": 2, "lstm_units": 8, "save_weights_only": True})
    assert cfg.lstm_units == 8


def test_overrides_are_parsed_and_coerced():
    values = parse_overrides(["--window-size", "7", "--learning_rate=0.01", "--add-pressure", "false"])
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
        build_config(SequenceConfig, values)


def test_override_without_value_is_an_error():
    with pytest.raises(UserInputError, match="override --epochs needs a value"):
        parse_overrides(["--epochs"])


def test_missing_config_file(tmp_path):
    with pytest.raises(UserInputError, match="config file not found"):
        load_config_file(tmp_path / "nope.yaml")
