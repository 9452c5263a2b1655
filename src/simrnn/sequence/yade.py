"""YADE triaxial simulations (pickled ``.npy`` files) -> GrainLearning's HDF5 layout.

Each simulation file holds a pickled 2-tuple ``(params, features)``:

- ``params``: E (log10 Pa), v, kr, eta, mu (degrees), conf (log10 confining pressure in Pa),
  mode (``'drained'``/``'undrained'``), num (number of particles);
- ``features``: per-step lists e_x, e_y, e_z, e, p, q, f0, a_c, a_n, a_t (p, q in Pa), dt,
  numIter, K, A.

Files live either in ``DIR/<pressure>/<experiment_type>/*.npy`` (the folder names become the
group) or directly in ``DIR`` (grouped by ``10**conf`` and ``mode``). Inputs are ``[e_z]``
(drained) or ``[e_x, e_y, e_z]`` (undrained); outputs ``[e, p, q, f0, a_c, a_n, a_t]`` with p and
q divided by 1e6 (MPa). Sequences shorter than ``sequence_length`` are dropped and reported;
longer ones are cut to their first ``sequence_length`` steps.

The pickles are untrusted: they are read with :func:`simrnn.safe_pickle.load_pickled_object`,
which admits only plain data and NumPy array reconstruction, never ``allow_pickle``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from simrnn.errors import UserInputError
from simrnn.safe_pickle import load_pickled_object
from simrnn.sequence.hdf5 import (
    MAX_ABS_VALUE,
    check_new_file,
    check_pressure_name,
    pressure_group_name,
    write_triaxial_hdf5,
)

CONTACT_KEYS = ["E", "v", "kr", "eta", "mu"]
INPUT_KEYS = {"drained": ["e_z"], "undrained": ["e_x", "e_y", "e_z"]}
OUTPUT_KEYS = ["e", "p", "q", "f0", "a_c", "a_n", "a_t"]
UNUSED_KEYS_SEQUENCE = ["dt", "numIter", "K", "A"]
UNUSED_KEYS_CONSTANT = ["conf", "mode", "num"]
_SCALE = {"p": 1e6, "q": 1e6}

def load_simulation(path: str | os.PathLike) -> tuple[dict, dict]:
    """Read one YADE ``.npy`` (or bare pickle) file safely; returns ``(params, features)``.

    Raises:
        UserInputError: the file is unreadable, references anything but builtins and NumPy
            arrays (see :mod:`simrnn.safe_pickle`), or does not hold a ``(params dict, features
            dict)`` pair.
    """
    path = Path(path)
    obj = load_pickled_object(path)
    if isinstance(obj, np.ndarray) and obj.dtype == object:
        obj = tuple(obj.ravel())
    if not (isinstance(obj, (tuple, list)) and len(obj) == 2 and all(isinstance(x, dict) for x in obj)):
        raise UserInputError(f"{path}: expected a pickled (params dict, features dict) pair, got {type(obj).__name__}.")
    return obj[0], obj[1]


def convert_yade(src_dir: str | os.PathLike, out_h5: str | os.PathLike, sequence_length: int = 200,
                 *, overwrite: bool = False) -> dict:
    """Convert a folder of YADE simulations into one HDF5 file (see the module docstring).

    Args:
        src_dir: folder with ``<pressure>/<experiment_type>/*.npy`` subfolders or flat ``*.npy`` files.
        out_h5: destination HDF5 file, written atomically.
        sequence_length: steps kept per sequence (S); shorter simulations are dropped.
        overwrite: replace an existing ``out_h5``.

    Returns:
        ``{"output": str, "sequence_length": S, "groups": {"0.2e6/drained": {"converted": n,
        "dropped": m}}, "dropped_files": [{"file", "group", "length"}]}`` (files relative to
        ``src_dir``, sorted).
    """
    src = Path(src_dir)
    if not src.is_dir():
        raise UserInputError(f"{src}: not a folder of YADE .npy simulations.")
    if sequence_length < 1:
        raise UserInputError(f"sequence_length={sequence_length} must be at least 1.")
    check_new_file(out_h5, overwrite)  # before reading every simulation
    files = sorted(src.glob("*.npy")) + sorted(src.glob("*/*/*.npy"))
    if not files:
        raise UserInputError(f"{src}: no .npy files, neither directly inside nor in <pressure>/<experiment_type>/ subfolders.")
    rows: dict[tuple[str, str], dict[str, list]] = {}
    dropped = []
    for file in files:
        params, features = load_simulation(file)
        group = _group_of(file, src, params)
        bucket = rows.setdefault(group, {"contact_params": [], "inputs": [], "outputs": [], "dropped": 0})
        length = _sequence_length(file, features, group[1])
        if length < sequence_length:
            bucket["dropped"] += 1
            dropped.append({"file": file.relative_to(src).as_posix(), "group": "/".join(group), "length": length})
            continue
        bucket["contact_params"].append([_number(file, params, key) for key in CONTACT_KEYS])
        bucket["inputs"].append(feature_columns(file, features, INPUT_KEYS[group[1]], sequence_length))
        bucket["outputs"].append(feature_columns(file, features, OUTPUT_KEYS, sequence_length))
    kept = {group: {name: np.asarray(v[name], dtype=np.float32) for name in ("contact_params", "inputs", "outputs")}
            for group, v in rows.items() if v["outputs"]}
    if not kept:
        raise UserInputError(
            f"{src}: none of the {len(files)} simulations has {sequence_length} steps (longest: "
            f"{max(d['length'] for d in dropped)}); lower the sequence length."
        )
    write_triaxial_hdf5(
        out_h5, kept,
        input_names={kind: INPUT_KEYS[kind] for _, kind in kept},
        contact_param_names=CONTACT_KEYS, output_names=OUTPUT_KEYS,
        attrs={"unused_keys_sequence": UNUSED_KEYS_SEQUENCE, "unused_keys_constant": UNUSED_KEYS_CONSTANT},
        overwrite=overwrite,
    )
    return {
        "output": str(out_h5),
        "sequence_length": sequence_length,
        "groups": {"/".join(g): {"converted": len(v["outputs"]), "dropped": v["dropped"]} for g, v in sorted(rows.items())},
        "dropped_files": dropped,
    }


def _group_of(file: Path, src: Path, params: dict) -> tuple[str, str]:
    """``(pressure_name, experiment_type)`` from the subfolders, or from ``conf``/``mode`` if flat."""
    parts = file.relative_to(src).parts
    if len(parts) == 3:
        pressure, kind = parts[0], parts[1]
        try:
            check_pressure_name(file.parent.parent, pressure)
        except UserInputError:
            raise UserInputError(
                f"{file}: folder '{pressure}' is not a plausible pressure in Pa (e.g. '0.2e6')."
            ) from None
    else:
        conf = _number(file, params, "conf")
        if not -3 <= conf <= math.log10(MAX_ABS_VALUE):
            raise UserInputError(f"{file}: params['conf'] = {conf:g} is not log10 of a plausible pressure in Pa.")
        pressure = pressure_group_name(10**conf)
        kind = params.get("mode")
    if not isinstance(kind, str) or kind not in INPUT_KEYS:
        raise UserInputError(f"{file}: experiment type '{kind}' is unknown; expected 'drained' or 'undrained'.")
    return pressure, kind


def _number(file: Path, params: dict, key: str) -> float:
    if key not in params:
        raise UserInputError(f"{file}: the params dict has no key '{key}'.")
    try:
        value = float(params[key])
    except (TypeError, ValueError, OverflowError):
        raise UserInputError(f"{file}: params['{key}'] = {_show(params[key])} is not a number.") from None
    if not abs(value) <= MAX_ABS_VALUE:
        raise UserInputError(f"{file}: params['{key}'] = {value:g} is not a finite number of plausible size.")
    return value


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _sequence_length(file: Path, features: dict, kind: str) -> int:
    """Shortest length among the features needed for ``kind`` (missing feature: an error)."""
    lengths = []
    for key in INPUT_KEYS[kind] + OUTPUT_KEYS:
        if key not in features:
            raise UserInputError(f"{file}: the features dict has no key '{key}'.")
        try:
            lengths.append(len(features[key]))
        except TypeError:
            raise UserInputError(f"{file}: features['{key}'] is not a sequence of per-step values.") from None
    return min(lengths)


def feature_columns(file: Path, features: dict, keys: list[str], length: int) -> np.ndarray:
    """``[length, len(keys)]`` float64 array of the first ``length`` steps, p and q in MPa.

    Every key must be in ``features`` and hold at least ``length`` numbers; anything else (not numbers,
    non-finite or implausibly large values) raises a :class:`UserInputError` naming ``file`` and the key.
    """
    columns = []
    for key in keys:
        try:
            values = np.asarray(features[key][:length], dtype=np.float64) / _SCALE.get(key, 1.0)
        except (TypeError, ValueError, OverflowError):
            raise UserInputError(f"{file}: features['{key}'] is not a list of numbers.") from None
        if values.shape != (length,):
            raise UserInputError(f"{file}: features['{key}'] has shape {values.shape}, expected one number per step.")
        bad = ~(np.abs(values) <= MAX_ABS_VALUE)
        if bad.any():
            step = int(np.flatnonzero(bad)[0])
            raise UserInputError(
                f"{file}: features['{key}'] at step {step} is {values[step]:g}, not a finite number of plausible size."
            )
        columns.append(values)
    return np.stack(columns, axis=-1)
