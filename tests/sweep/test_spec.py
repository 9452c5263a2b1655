"""W&B sweep files -> search spaces: distributions, types, validation errors, no training."""

from __future__ import annotations

import math

import optuna
import pytest

from simrnn.errors import UserInputError
from simrnn.sequence.config import SequenceConfig
from simrnn.sweep.spec import load_sweep, parse_sweep

#: the shape of GrainLearning's tutorials/data_driven/LSTM/example_sweep.yaml (written here, not copied).
GRAINLEARNING_SWEEP = """\
program: train_rnn.py
project: grainlearning-rnn
entity: my-team
method: bayes
metric:
  goal: minimize
  name: mae
parameters:
  raw_data:
    value: 'triaxial_compression_variable_input.hdf5'
  pressure:
    value: '0.2e6'
  experiment_type:
    value: 'drained'
  window_size:
    distribution: q_uniform
    min: 4
    max: 30
    q: 2
  learning_rate:
    distribution: log_uniform_values
    min: 1e-4
    max: 1e-2
  batch_size:
    values: [64, 128, 256]
  epochs:
    value: 100
"""


def sample_many(spec, n: int = 60, seed: int = 0) -> list[dict]:
    """Draw ``n`` settings with Optuna's random sampler (no training)."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    draws = []

    def objective(trial):
        draws.append(spec.sample(trial))
        return 0.0

    study.optimize(objective, n_trials=n)
    return draws


def test_grainlearning_example_sweep_parses(tmp_path):
    path = tmp_path / "example_sweep.yaml"
    path.write_text(GRAINLEARNING_SWEEP)
    spec = load_sweep(path)
    assert spec.method == "bayes" and spec.metric.name == "mae" and spec.metric.goal == "minimize"
    assert [p.name for p in spec.parameters] == ["window_size", "learning_rate", "batch_size"]
    assert spec.fixed == {"raw_data": "triaxial_compression_variable_input.hdf5", "pressure": "0.2e6",
                          "experiment_type": "drained", "epochs": 100}
    assert spec.notes == ("ignoring the W&B key(s) program, project, entity: simrnn runs every trial itself, offline.",)
    assert spec.pruner.type == "median"
    spec.check_settings(SequenceConfig, "sequence")
    lr = spec.parameters[1]
    assert (lr.low, lr.high) == (1e-4, 1e-2)  # 1e-4 is a float (YAML 1.2), not the string '1e-4'
    for draw in sample_many(spec):
        assert type(draw["window_size"]) is int and draw["window_size"] in range(4, 31, 2)
        assert 1e-4 <= draw["learning_rate"] <= 1e-2
        assert type(draw["batch_size"]) is int and draw["batch_size"] in (64, 128, 256)
        assert draw["pressure"] == "0.2e6" and draw["epochs"] == 100


def test_values_keep_their_types():
    spec = parse_sweep({"method": "random", "metric": {"name": "val_loss"}, "parameters": {
        "units": {"values": [8, 16]},
        "rates": {"values": [0.5, 1]},
        "layers": {"values": [[64, 64], [32]]},
        "flag": {"values": [True, False]},
        "name": {"values": ["a", "b"]},
    }})
    draws = sample_many(spec, n=40)
    seen_layers = {tuple(d["layers"]) for d in draws}
    assert seen_layers == {(64, 64), (32,)}
    for d in draws:
        assert type(d["units"]) is int
        assert type(d["rates"]) in (float, int) and d["rates"] in (0.5, 1)
        assert (d["rates"] == 1) == (type(d["rates"]) is int)
        assert isinstance(d["layers"], list) and all(type(v) is int for v in d["layers"])
        assert type(d["flag"]) is bool and type(d["name"]) is str


@pytest.mark.parametrize(("entry", "check"), [
    ({"distribution": "uniform", "min": 0.1, "max": 0.3}, lambda v: type(v) is float and 0.1 <= v <= 0.3),
    ({"min": 2, "max": 5}, lambda v: type(v) is int and 2 <= v <= 5),  # W&B infers int_uniform
    ({"min": 2.0, "max": 5.0}, lambda v: type(v) is float),  # ... and uniform for floats
    ({"distribution": "int_uniform", "min": 1, "max": 3}, lambda v: v in (1, 2, 3)),
    ({"distribution": "q_uniform", "min": 0.0, "max": 1.0, "q": 0.25}, lambda v: v in (0, 0.25, 0.5, 0.75, 1.0)),
    ({"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-1}, lambda v: 1e-5 <= v <= 1e-1),
    # natural-log bounds: values between e^-9 and e^-2
    ({"distribution": "log_uniform", "min": -9, "max": -2}, lambda v: math.exp(-9) <= v <= math.exp(-2)),
    ({"distribution": "q_log_uniform_values", "min": 32, "max": 256, "q": 1},
     lambda v: type(v) is int and 32 <= v <= 256),
    ({"distribution": "q_log_uniform_values", "min": 1e-4, "max": 1e-2, "q": 1e-4},
     lambda v: abs(v / 1e-4 - round(v / 1e-4)) < 1e-6),
    ({"distribution": "normal", "mu": 5.0, "sigma": 0.01}, lambda v: 4.9 < v < 5.1),
    ({"distribution": "q_normal", "mu": 10, "sigma": 2, "q": 2}, lambda v: v % 2 == 0),
    ({"distribution": "log_normal", "mu": 0.0, "sigma": 0.1}, lambda v: 0.5 < v < 2.0),
])
def test_distributions(entry, check):
    spec = parse_sweep({"method": "random", "metric": {"name": "val_loss"}, "parameters": {"x": entry}})
    values = [d["x"] for d in sample_many(spec, n=30)]
    assert all(check(v) for v in values), values
    assert len(set(values)) > 1


def test_log_uniform_values_cover_the_decades():
    spec = parse_sweep({"method": "random", "metric": {"name": "val_loss"},
                        "parameters": {"lr": {"distribution": "log_uniform_values", "min": 1e-6, "max": 1e-2}}})
    decades = {math.floor(math.log10(d["lr"])) for d in sample_many(spec, n=200)}
    assert decades == {-6, -5, -4, -3}


def test_grid_space_and_size():
    spec = parse_sweep({"method": "grid", "metric": {"name": "val_loss"}, "parameters": {
        "a": {"values": [1, 2]}, "b": {"distribution": "int_uniform", "min": 3, "max": 5},
        "c": {"values": [[1, 2], [3]]}, "d": {"value": 7}}})
    assert spec.grid_size() == 2 * 3 * 2
    assert spec.grid_space() == {"a": [1, 2], "b": [3, 4, 5], "c": ["[1, 2]", "[3]"]}
    assert spec.fixed == {"d": 7}


def test_hyperband_mapping():
    spec = parse_sweep({"method": "bayes", "metric": {"name": "val_loss"}, "parameters": {"a": {"values": [1, 2]}},
                        "early_terminate": {"type": "hyperband", "min_iter": 3, "eta": 2}})
    assert (spec.pruner.type, dict(spec.pruner.options)) == ("hyperband", {"reduction_factor": 2, "min_resource": 3})
    spec = parse_sweep({"method": "random", "metric": {"name": "mae"}, "parameters": {"a": {"values": [1, 2]}},
                        "early_terminate": {"type": "hyperband", "s": 2, "eta": 3, "max_iter": 27}})
    assert dict(spec.pruner.options) == {"reduction_factor": 3, "min_resource": 3, "max_resource": 27}
    spec = parse_sweep({"method": "random", "metric": {"name": "mae"}, "parameters": {"a": {"values": [1, 2]}},
                        "early_terminate": {"type": "hyperband", "min_iter": 3}, "simrnn": {"pruner": "none"}})
    assert spec.pruner.type == "none"


@pytest.mark.parametrize(("raw", "message"), [
    ({"method": "bayes", "metric": {"name": "l"}, "parameters": {"a": {"values": [1]}}, "sweep_cap": 3},
     "unknown sweep key 'sweep_cap'"),
    ({"method": "hyperopt", "metric": {"name": "l"}, "parameters": {"a": {"values": [1]}}}, "'method' is 'hyperopt'"),
    ({"method": "bayes", "metric": {"goal": "minimize"}, "parameters": {"a": {"values": [1]}}}, "'metric' needs a name"),
    ({"method": "bayes", "metric": {"name": "l", "goal": "lower"}, "parameters": {"a": {"values": [1]}}},
     "goal is 'lower'"),
    ({"method": "bayes", "metric": {"name": "l"}, "parameters": {"a": {"values": [1], "probabilities": [1]}}},
     "unknown key 'probabilities'"),
    ({"method": "bayes", "metric": {"name": "l"}, "parameters": {"a": {"distribution": "beta", "min": 0, "max": 1}}},
     "distribution 'beta'"),
    ({"method": "bayes", "metric": {"name": "l"}, "parameters": {"a": {"min": 1.0, "max": 0.5}}}, "should be below"),
    ({"method": "grid", "metric": {"name": "l"}, "parameters": {"a": {"min": 0.1, "max": 0.5}}},
     "grid sweeps need discrete parameters"),
    ({"method": "bayes", "metric": {"name": "l"}, "parameters": {"a": {"values": [1]}}, "simrnn": {"workers": 2}},
     "unknown key 'workers' in the simrnn block"),
    ({"method": "bayes", "metric": {"name": "l"}, "parameters": {"a": {"values": [1]}},
      "early_terminate": {"type": "hyperband", "eta": 2.5, "min_iter": 1}}, "eta should be an integer"),
    ({"method": "bayes", "metric": {"name": "l"}, "parameters": {"a": {"values": [1, 1]}}}, "lists a value twice"),
])
def test_errors_are_one_sentence(raw, message):
    with pytest.raises(UserInputError, match=message) as info:
        parse_sweep(raw, "s.yaml")
    assert str(info.value).startswith("s.yaml: ") and "\n" not in str(info.value)


def test_unknown_setting_names_the_task():
    spec = parse_sweep({"method": "random", "metric": {"name": "val_loss"},
                        "parameters": {"windw_size": {"values": [3, 5]}}})
    with pytest.raises(UserInputError, match="'windw_size' is not a setting of task 'sequence'"):
        spec.check_settings(SequenceConfig, "sequence")


def test_missing_and_unparsable_files(tmp_path):
    with pytest.raises(UserInputError, match="sweep file not found"):
        load_sweep(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("method: [unclosed\n")
    with pytest.raises(UserInputError, match="cannot parse sweep file"):
        load_sweep(bad)
