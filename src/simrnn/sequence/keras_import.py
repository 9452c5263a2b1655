"""GrainLearning's pretrained Keras surrogates -> simrnn sequence runs, without TensorFlow.

A GrainLearning model folder holds::

    config.yml | config.yaml   Weights & Biases format (every key is {desc, value}) or plain YAML
    config.npy                 (alternative) a pickled dict, as ``train_without_wandb`` writes it
    train_stats.npy            a pickled dict: mean [L], std [L], sequence_length, num_labels and
                               num_input_features/num_params (old names: num_load_features,
                               num_contact_params)
    model-best.h5              Keras 2 weights-only HDF5: one root group per layer, datasets
                               <layer>/<layer>/kernel:0, bias:0 (LSTM: lstm_cell/{kernel,
                               recurrent_kernel,bias}:0), order in the attributes layer_names and
                               weight_names
    model.weights.h5           (alternative) Keras >= 2.13 / 3 layout: <...>/<layer>/vars/0,1,.. and
                               for the LSTM <...>/<layer>/cell/vars/0,1,2

The network (see :class:`~simrnn.sequence.model.ParamConditionedLSTM`) is rebuilt from the
weights' shapes. Layer names differ between files, so layers are mapped by ROLE AND SHAPE:
the LSTM is the one layer with three arrays ``kernel [F, 4U], recurrent_kernel [U, 4U],
bias [4U]``; the two Dense layers with ``kernel [P, U]`` make the initial state (``state_h``
before ``state_c``: by name where the names say so, else in file order); the remaining two
Dense layers chain ``[U, D] -> [D, L]``. Keras and PyTorch share the LSTM gate order
(i, f, c/g, o); Keras has one bias per gate, so ``bias_hh`` is zero. Kernels are transposed
(Keras computes ``x @ K``, PyTorch ``x @ W.T``).

Pickled files are read with a restricted unpickler admitting only plain builtins and NumPy
arrays/scalars; the run directory is created only after every file has been read and checked.

Example::

    run_dir = import_keras("rnn_triaxial_drained")
    run = load_run(run_dir)
    y = predict(run, inputs, params)            # inputs [N, S, 1], params [N, 6]
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import permutations
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from simrnn.checkpoints import write_checkpoint
from simrnn.engine.settings import TrainSettings
from simrnn.errors import UserInputError
from simrnn.files import check_output_location, output_directory, sha256_file, to_jsonable, write_json_atomic
from simrnn.hdf5_read import hdf5_errors, open_hdf5, read_dataset, read_names, resolve
from simrnn.mappings import read_mapping
from simrnn.registry import build_model
from simrnn.runs import BEST_CHECKPOINT, CHECKPOINT_DIR, CONFIG_FILE, run_record
from simrnn.safe_pickle import load_pickled_object
from simrnn.sequence.preprocess import CONTACT_PARAM_NAMES, param_names

CONFIG_FILES = ("config.yml", "config.yaml", "config.npy")
WEIGHT_FILES = ("model-best.h5", "model.weights.h5")
STATS_FILE = "train_stats.npy"
#: GrainLearning's output labels (p, q in MPa) and load-path features by number of features.
OUTPUT_LABELS = ["e", "p", "q", "f0", "a_c", "a_n", "a_t"]
INPUT_FEATURES = {1: ["e_z"], 3: ["e_x", "e_y", "e_z"]}
#: GrainLearning 2.0.5's preprocessing defaults, used for keys a config does not set.
GRAINLEARNING_DEFAULTS = {
    "pressure": "All", "experiment_type": "All", "add_e0": False, "add_pressure": True,
    "add_experiment_type": True, "window_step": 1, "pad_length": 0, "standardize_outputs": True,
}
_STATS_KEYS = {"num_input_features": "num_load_features", "num_params": "num_contact_params"}
#: largest weight magnitude accepted (trained networks hold values of order 1).
MAX_ABS_WEIGHT = 1e6


# --------------------------------------------------------------------------- safe pickles

def load_pickled_dict(path: Path) -> dict[str, Any]:
    """Read a ``.npy`` file holding a pickled dict (``np.save(path, {...})``) with the restricted reader."""
    obj = load_pickled_object(path)
    if not isinstance(obj, dict):
        raise UserInputError(f"{path}: expected a pickled dict, found {type(obj).__name__}.")
    return obj


# --------------------------------------------------------------------------- config and stats

def read_grainlearning_config(model_dir: Path) -> tuple[dict[str, Any], Path]:
    """The training config as plain values (W&B ``{desc, value}`` unwrapped, ``_wandb`` dropped)."""
    path = next((model_dir / n for n in CONFIG_FILES if (model_dir / n).is_file()), None)
    if path is None:
        raise UserInputError(f"{model_dir}: no GrainLearning config found; expected one of {', '.join(CONFIG_FILES)}.")
    raw = load_pickled_dict(path) if path.suffix == ".npy" else read_mapping(path, "GrainLearning config")
    config = {}
    for key, value in raw.items():
        if str(key).startswith("_wandb") or key == "wandb_version":
            continue
        config[str(key)] = to_jsonable(value["value"] if isinstance(value, dict) and "value" in value else value)
    if not isinstance(config.get("window_size"), int) or config["window_size"] < 1:
        raise UserInputError(f"{path}: 'window_size' must be a positive integer, got {config.get('window_size')!r}.")
    return config, path


def read_train_stats(path: Path) -> dict[str, Any]:
    """``train_stats.npy`` with the new key names ``num_input_features``/``num_params``."""
    if not path.is_file():
        raise UserInputError(f"{path}: file not found; a GrainLearning model folder needs {STATS_FILE}.")
    stats = load_pickled_dict(path)
    for new, old in _STATS_KEYS.items():
        if new not in stats and old in stats:
            stats[new] = stats.pop(old)
    required = ("mean", "std", "num_labels", *_STATS_KEYS)
    missing = [k for k in required if k not in stats]
    if missing:
        raise UserInputError(f"{path}: missing key(s) {', '.join(missing)} (expected {', '.join(required)}).")
    stats = {str(k): to_jsonable(v) for k, v in stats.items()}
    for key in ("num_labels", *_STATS_KEYS, *(("sequence_length",) if "sequence_length" in stats else ())):
        value = stats[key]
        if isinstance(value, float) and value.is_integer():
            value = stats[key] = int(value)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= 100_000:
            raise UserInputError(f"{path}: '{key}' is {_show(value)}; expected a positive integer.")
    n_labels = stats["num_labels"]
    for key in ("mean", "std"):
        try:
            values = np.asarray(stats[key], dtype=np.float64)
        except (TypeError, ValueError, OverflowError):
            raise UserInputError(f"{path}: '{key}' is {_show(stats[key])}; expected {n_labels} numbers.") from None
        if values.shape != (n_labels,):
            raise UserInputError(f"{path}: '{key}' has shape {values.shape}; expected num_labels={n_labels} entries.")
        bad = ~(np.abs(values) <= MAX_ABS_WEIGHT) if key == "mean" else ~((values > 0) & (values <= MAX_ABS_WEIGHT))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            expected = "a finite number" if key == "mean" else "a finite positive number (outputs are divided by it)"
            raise UserInputError(f"{path}: '{key}'[{i}] is {values[i]:g}; expected {expected}.")
        stats[key] = values.tolist()
    return stats


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --------------------------------------------------------------------------- weights

@dataclass
class KerasLayer:
    """One weight-carrying Keras layer: its path in the file and its arrays in Keras order."""

    name: str
    arrays: list[np.ndarray]

    def shapes(self) -> list[tuple[int, ...]]:
        return [a.shape for a in self.arrays]


def read_keras_layers(path: Path) -> list[KerasLayer]:
    """All weight-carrying layers of a Keras 2 ``.h5`` or Keras 3 ``.weights.h5`` file, in file order."""
    with open_hdf5(path) as f, hdf5_errors(path):
        group = resolve(f, "model_weights", path)
        root = group if isinstance(group, h5py.Group) else f
        names = read_names(root, "layer_names", path)
        if names is not None:
            layers = []
            for name in names:
                layer = root.get(name)
                if not isinstance(layer, h5py.Group):
                    raise UserInputError(f"{path}: layer '{name}' named in 'layer_names' is not a group of weights.")
                weights = read_names(layer, "weight_names", path) or []
                layers.append(KerasLayer(name, [read_dataset(layer, w, path, max_abs=MAX_ABS_WEIGHT) for w in weights]))
        else:
            layers = _read_vars_layout(root, path)
    layers = [layer for layer in layers if layer.arrays]
    if not layers:
        raise UserInputError(
            f"{path}: no Keras weights found (neither Keras 2 'layer_names' nor Keras 3 '<layer>/vars' groups)."
        )
    return layers


def _read_vars_layout(root: h5py.Group, path: Path) -> list[KerasLayer]:
    """Keras >= 2.13 layout: every group called ``vars`` holds datasets ``0, 1, ...`` of its parent layer."""
    groups: list[tuple[str, h5py.Group]] = []

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Group) and name.split("/")[-1] == "vars" and not name.startswith("optimizer"):
            groups.append((name, obj))

    root.visititems(visit)
    found = []
    for name, obj in groups:
        keys = sorted((k for k in obj if k.isdigit()), key=int)
        found.append(KerasLayer(name.rsplit("/", 1)[0] if "/" in name else "",
                                [read_dataset(obj, k, path, max_abs=MAX_ABS_WEIGHT) for k in keys]))
    return found


def map_layers(layers: list[KerasLayer], n_params: int, n_labels: int, source: Path) -> tuple[dict[str, torch.Tensor], dict[str, int]]:
    """Assign roles by shape and convert to a :class:`ParamConditionedLSTM` state dict.

    Returns:
        ``(state_dict, model_args)``.
    """
    found = "; ".join(f"{layer.name}: {layer.shapes()}" for layer in layers)
    lstms = [layer for layer in layers if len(layer.arrays) == 3]
    denses = [layer for layer in layers if len(layer.arrays) == 2]
    if len(lstms) != 1 or len(denses) != 4 or len(layers) != 5:
        raise UserInputError(
            f"{source}: expected one LSTM layer (kernel, recurrent_kernel, bias) and four Dense layers "
            f"(kernel, bias), found {found}."
        )
    kernel, recurrent, bias = lstms[0].arrays
    units = recurrent.shape[0] if recurrent.ndim == 2 else -1
    if kernel.ndim != 2 or recurrent.shape != (units, 4 * units) or kernel.shape[1] != 4 * units or bias.shape != (4 * units,):
        raise UserInputError(
            f"{source}: LSTM layer {lstms[0].name} has shapes {lstms[0].shapes()}; expected [F, 4U], [U, 4U], [4U]."
        )
    for layer in denses:
        k, b = layer.arrays
        if k.ndim != 2 or b.shape != (k.shape[1],):
            raise UserInputError(f"{source}: Dense layer {layer.name} has shapes {layer.shapes()}; expected [in, out], [out].")
    states = [d for d in denses if d.arrays[0].shape == (n_params, units)]
    if len(states) != 2:
        raise UserInputError(
            f"{source}: expected two Dense layers with kernel [{n_params}, {units}] (params -> initial LSTM state), "
            f"found {found}."
        )
    if "state_c" in states[0].name and "state_h" in states[1].name:
        states.reverse()
    rest = [d for d in denses if d not in states]
    chains = [(a, b) for a, b in permutations(rest)
              if a.arrays[0].shape[0] == units and b.arrays[0].shape == (a.arrays[0].shape[1], n_labels)]
    if not chains:
        raise UserInputError(
            f"{source}: expected Dense layers [{units}, D] -> [D, {n_labels}] after the LSTM, found {found}."
        )
    dense, head = chains[0]

    def t(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))

    state = {
        "state_h.weight": t(states[0].arrays[0].T), "state_h.bias": t(states[0].arrays[1]),
        "state_c.weight": t(states[1].arrays[0].T), "state_c.bias": t(states[1].arrays[1]),
        "lstm.weight_ih_l0": t(kernel.T), "lstm.weight_hh_l0": t(recurrent.T),
        "lstm.bias_ih_l0": t(bias), "lstm.bias_hh_l0": torch.zeros(4 * units),
        "dense.weight": t(dense.arrays[0].T), "dense.bias": t(dense.arrays[1]),
        "head.weight": t(head.arrays[0].T), "head.bias": t(head.arrays[1]),
    }
    model_args = {"n_input_features": kernel.shape[0], "n_params": n_params, "n_outputs": n_labels,
                  "hidden_size": units, "dense_size": dense.arrays[0].shape[1]}
    return state, model_args


# --------------------------------------------------------------------------- the importer

def _data_meta(config: dict[str, Any], stats: dict[str, Any], model_args: dict[str, int], source: Path) -> dict[str, Any]:
    """The checkpoint's ``data_meta``, checked against the network's sizes."""
    settings = {**GRAINLEARNING_DEFAULTS, **config}
    names = param_names(CONTACT_PARAM_NAMES, bool(settings["add_pressure"]), bool(settings["add_experiment_type"]),
                        bool(settings["add_e0"]))
    if len(names) != model_args["n_params"]:
        raise UserInputError(
            f"{source}: the config (add_pressure={settings['add_pressure']}, add_experiment_type="
            f"{settings['add_experiment_type']}, add_e0={settings['add_e0']}) gives {len(names)} parameters "
            f"({', '.join(names)}), but the network takes {model_args['n_params']}."
        )
    n_features, n_labels = model_args["n_input_features"], model_args["n_outputs"]
    return {
        "window_size": int(settings["window_size"]),
        "window_step": int(settings["window_step"]),
        "pad_length": int(settings["pad_length"]),
        "input_features": INPUT_FEATURES.get(n_features, [f"x{i}" for i in range(n_features)]),
        "param_names": names,
        "output_labels": OUTPUT_LABELS if n_labels == len(OUTPUT_LABELS) else [f"y{i}" for i in range(n_labels)],
        "output_mean": [float(v) for v in stats["mean"]],
        "output_std": [float(v) for v in stats["std"]],
        "standardize_outputs": bool(settings["standardize_outputs"]),
        "add_pressure": bool(settings["add_pressure"]),
        "add_experiment_type": bool(settings["add_experiment_type"]),
        "add_e0": bool(settings["add_e0"]),
        "pressure": settings["pressure"],
        "experiment_type": settings["experiment_type"],
        "sequence_length": int(stats["sequence_length"]) if "sequence_length" in stats else None,
    }


def import_keras(model_dir: str | Path, out: str | Path | None = None,
                 runs_root: str | Path = TrainSettings.runs_root) -> Path:
    """Turn a GrainLearning pretrained model folder into a simrnn sequence run directory.

    Args:
        model_dir: folder with a config, ``train_stats.npy`` and Keras weights (module docstring).
        out: run directory to create; it must not exist yet (nothing is overwritten).
        runs_root: where a fresh ``<runs_root>/sequence/<timestamp>/`` is made when ``out`` is None.

    Returns:
        The run directory, loadable with :func:`simrnn.sequence.predict.load_run`.
    """
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise UserInputError(f"{model_dir}: not a directory; expected a GrainLearning model folder.")
    if out is not None and (Path(out).exists() or Path(out).is_symlink()):
        raise UserInputError(f"{out}: already exists; choose a new run directory (nothing is overwritten).")
    check_output_location(out if out is not None else Path(runs_root) / "sequence" / "run")
    config, config_path = read_grainlearning_config(model_dir)
    stats_path = model_dir / STATS_FILE
    stats = read_train_stats(stats_path)
    weights_path = next((model_dir / n for n in WEIGHT_FILES if (model_dir / n).is_file()), None)
    if weights_path is None:
        raise UserInputError(f"{model_dir}: no Keras weights found; expected {' or '.join(WEIGHT_FILES)}.")
    state, model_args = map_layers(read_keras_layers(weights_path), int(stats["num_params"]),
                                   int(stats["num_labels"]), weights_path)
    if model_args["n_input_features"] != int(stats["num_input_features"]):
        raise UserInputError(
            f"{stats_path}: num_input_features is {stats['num_input_features']} but the LSTM kernel in "
            f"{weights_path.name} takes {model_args['n_input_features']} features."
        )
    meta = _data_meta(config, stats, model_args, config_path)
    model = build_model("lstm", **model_args)
    model.load_state_dict(state)

    record = run_record(
        "sequence", settings=config,
        data={"file": str(model_dir.resolve()),
              "files": {p.name: sha256_file(p) for p in (config_path, stats_path, weights_path)}},
        model_name="lstm", model_args=model_args, data_meta=meta, imported_from="grainlearning-keras",
        defaults_applied={k: v for k, v in GRAINLEARNING_DEFAULTS.items() if k not in config}, train_stats=stats)
    with output_directory(out, Path(runs_root) / "sequence") as made:  # the run appears whole, or not at all
        (made / CHECKPOINT_DIR).mkdir()
        write_checkpoint(made / CHECKPOINT_DIR / BEST_CHECKPOINT, model,
                         {"model_name": "lstm", "model_args": model_args, "data_meta": meta})
        write_json_atomic(made / CONFIG_FILE, record)
    return made.path
