"""GrainLearning's HDF5 layout for triaxial sequences: read, write, validate.

Layout (as written by GrainLearning's ``parse_data_YADE.py``)::

    /                                   root attributes naming the fields (arrays of strings):
                                          contact_params        e.g. [E, v, kr, eta, mu]
                                          inputs_drained        e.g. [e_z]          (or one `inputs`)
                                          inputs_undrained      e.g. [e_x, e_y, e_z]
                                          outputs               e.g. [e, p, q, f0, a_c, a_n, a_t]
                                          unused_keys_sequence, unused_keys_constant  (informative)
    /<pressure>/<experiment_type>/      one group per confining pressure (name = a number in Pa,
                                        e.g. ``0.2e6``) and experiment type (``drained``...)
        contact_params   [N, P]         constant parameters per sequence
        inputs           [N, S, F]      load path (strains, compression positive)
        outputs          [N, S, L]      response (p and q in MPa)

The attribute naming a group's inputs is ``inputs_<experiment_type>`` if present, else ``inputs``.

Selections (``pressure`` / ``experiment_type`` = a group name or ``'All'``) follow GrainLearning's
``PreprocessorTriaxialCompression``: the selected groups are concatenated along N, in file order.
GrainLearning crashes inside ``np.concatenate`` when a selection mixes groups with different
numbers of input features (drained F=1 with undrained F=3); here that is a
:class:`~simrnn.errors.UserInputError` naming the groups and their feature counts, because padding
would silently invent strain components the simulation never prescribed.

Example::

    data = read_triaxial_hdf5("triaxial.h5", pressure="0.2e6", experiment_type="drained")
    data.inputs.shape   # (N, S, 1)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from simrnn.errors import UserInputError
from simrnn.files import atomic_path, check_output_location
from simrnn.hdf5_read import hdf5_errors, open_hdf5, read_dataset, read_names, resolve

DATASETS = ("contact_params", "inputs", "outputs")
"""The three datasets every ``<pressure>/<experiment_type>`` group holds."""
MAX_ABS_VALUE = 1e15
"""Largest magnitude accepted in any dataset or pressure name: beyond it squared errors overflow
float32 and training "diverges" for a reason that is the data's, not the learning rate's."""


@dataclass
class TriaxialData:
    """A selection of triaxial sequences, concatenated over groups.

    Attributes:
        inputs: ``[N, S, F]`` float32 load path (strains as fractions, compression positive).
        contact_params: ``[N, 5]`` float32: E (log10 Pa), v, kr, eta, mu (degrees).
        outputs: ``[N, S, L]`` float32: e, p (MPa), q (MPa), f0, a_c, a_n, a_t; None for a file of
            new conditions without outputs (read with ``require_outputs=False``, for prediction only).
        pressure: ``[N]`` float64 confining pressure in Pa (the group name as a number).
        experiment_type: ``[N]`` str, e.g. ``'drained'`` / ``'undrained'``.
        input_names, contact_param_names, output_names: names of the last axes.
        source: path of the file read.
    """

    inputs: np.ndarray
    contact_params: np.ndarray
    outputs: np.ndarray | None
    pressure: np.ndarray
    experiment_type: np.ndarray
    input_names: list[str]
    contact_param_names: list[str]
    output_names: list[str]
    source: str


def pressure_group_name(pressure_pa: float) -> str:
    """Group name of a confining pressure in Pa, GrainLearning style: ``200000.0 -> '0.2e6'``."""
    mpa = float(f"{pressure_pa / 1e6:.6g}")
    return f"{mpa!r}e6"


def read_triaxial_hdf5(path: str | os.PathLike, pressure: str = "All", experiment_type: str = "All", *,
                       require_outputs: bool = True) -> TriaxialData:
    """Read (and validate) the groups selected by ``pressure`` and ``experiment_type``.

    Args:
        path: HDF5 file in the layout above.
        pressure: a pressure group name such as ``'0.2e6'``, or ``'All'``.
        experiment_type: an experiment-type group name such as ``'drained'``, or ``'All'``.
        require_outputs: False accepts selected groups that all lack the ``outputs`` dataset (new
            conditions: inputs and contact parameters only, for prediction); ``outputs`` is then None.

    Returns:
        :class:`TriaxialData` with the selected groups concatenated along N.

    Raises:
        UserInputError: missing file/group/dataset/attribute, a damaged file, links out of the
            file, non-real dtypes, declared sizes the file does not hold, inconsistent or empty
            shapes, NaN/inf or values beyond :data:`MAX_ABS_VALUE`, an empty selection, or a
            selection mixing different input feature counts.
    """
    path = None if path is None else Path(path)
    with _open(path) as f:
        names = _root_names(f, path, require_outputs)
        selected = _select(f, path, pressure, experiment_type)
        groups = [(key, _read_group(f, path, key, names, require_outputs)) for key in selected]
    _check_same_shapes(path, groups, axis_names={1: "sequence length S", 2: "input features F"}, dataset="inputs")
    without = [key for key, g in groups if "outputs" not in g]
    if without and len(without) < len(groups):
        raise UserInputError(f"{path}: groups {', '.join(without)} have no dataset 'outputs' but the other selected "
                             "groups have; select groups that all have outputs or all lack them.")
    if not without:
        _check_same_shapes(path, groups, axis_names={1: "sequence length S"}, dataset="outputs")
    first_type = selected[0].split("/")[1]
    return TriaxialData(
        inputs=np.concatenate([g["inputs"] for _, g in groups]),
        contact_params=np.concatenate([g["contact_params"] for _, g in groups]),
        outputs=None if without else np.concatenate([g["outputs"] for _, g in groups]),
        pressure=np.concatenate([np.full(len(g["inputs"]), float(k.split("/")[0])) for k, g in groups]),
        experiment_type=np.concatenate([np.full(len(g["inputs"]), k.split("/")[1]) for k, g in groups]),
        input_names=names["inputs"].get(first_type, names["inputs"].get("")),
        contact_param_names=names["contact_params"],
        output_names=names["outputs"],
        source=str(path),
    )


def validate_triaxial_hdf5(path: str | os.PathLike) -> None:
    """Check the whole file: root attributes, every group's datasets, shapes and finiteness.

    All groups must share the sequence length S and the number of outputs L; the number of input
    features F may differ between experiment types.

    Raises:
        UserInputError: one sentence naming the file, group/dataset/attribute and the problem.
    """
    path = Path(path)
    with _open(path) as f:
        names = _root_names(f, path)
        keys = _group_keys(f, path)
        if not keys:
            raise UserInputError(f"{path}: holds no <pressure>/<experiment_type> groups (e.g. '0.2e6/drained').")
        groups = [(key, _read_group(f, path, key, names)) for key in keys]
    _check_same_shapes(path, groups, axis_names={1: "sequence length S"}, dataset="inputs")
    _check_same_shapes(path, groups, axis_names={1: "sequence length S"}, dataset="outputs")


def check_new_file(path: str | os.PathLike, overwrite: bool) -> None:
    """Refuse, before any work, a ``path`` that is a folder, exists (unless ``overwrite``) or cannot be made."""
    path = Path(path)
    if path.is_dir():
        raise UserInputError(f"{path}: is a directory; expected the name of the HDF5 file to write.")
    if (path.exists() or path.is_symlink()) and not overwrite:
        raise UserInputError(f"{path}: already exists; pass overwrite to replace it.", key="overwrite")
    check_output_location(path)


def write_triaxial_hdf5(
    path: str | os.PathLike,
    groups: dict[tuple[str, str], dict[str, np.ndarray]],
    *,
    input_names: list[str] | dict[str, list[str]],
    contact_param_names: list[str],
    output_names: list[str],
    attrs: dict | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``groups`` in the layout above, atomically (temporary file, then rename).

    Args:
        path: destination ``.h5`` file.
        groups: ``{(pressure_name, experiment_type): {"contact_params" [N,P], "inputs" [N,S,F],
            "outputs" [N,S,L]}}``, e.g. ``{("0.2e6", "drained"): {...}}``.
        input_names: one list for every group (root attribute ``inputs``), or a dict
            ``{experiment_type: names}`` written as ``inputs_<experiment_type>``.
        contact_param_names, output_names: names of the last axes (root attributes).
        attrs: extra root attributes, e.g. ``unused_keys_constant`` (both ``unused_keys_*`` default
            to empty lists).
        overwrite: replace an existing file; otherwise an existing ``path`` is an error.

    Returns:
        ``path``. The written file is validated before it is renamed into place.
    """
    path = Path(path)
    if not groups:
        raise UserInputError(f"{path}: nothing to write; at least one (pressure, experiment_type) group is needed.")
    root = {"unused_keys_sequence": [], "unused_keys_constant": [], **(attrs or {})}
    root["contact_params"] = list(contact_param_names)
    root["outputs"] = list(output_names)
    if isinstance(input_names, dict):
        root.update({f"inputs_{kind}": list(names) for kind, names in input_names.items()})
    else:
        root["inputs"] = list(input_names)
    with atomic_path(path, replace=overwrite, lock=True) as tmp:
        with h5py.File(tmp, "w") as f:
            for key, value in root.items():
                f.attrs[key] = _attr_value(value)
            for (pressure, kind), arrays in groups.items():
                group = f.require_group(f"{pressure}/{kind}")
                for name in DATASETS:
                    if name not in arrays:
                        raise UserInputError(f"{path}: group '{pressure}/{kind}' to write has no array '{name}'.")
                    group.create_dataset(name, data=np.asarray(arrays[name], dtype=np.float32))
        try:
            validate_triaxial_hdf5(tmp)
        except UserInputError as exc:  # name the destination, not the temporary file
            raise UserInputError(str(exc).replace(str(tmp), str(path))) from None
    return path


def _attr_value(value):
    """Lists of strings become HDF5 variable-length string arrays (empty lists stay empty)."""
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return np.array(value, dtype=h5py.string_dtype())
    return value


def _open(path: Path | None) -> h5py.File:
    if path is None:
        raise UserInputError("no data file given: the key raw_data is missing or null; give the HDF5 file.")
    return open_hdf5(path)


def _names(f: h5py.File, path: Path, key: str) -> list[str]:
    names = read_names(f, key, path)
    if names is None:
        raise UserInputError(f"{path}: missing root attribute '{key}' (the list of {key} field names).")
    return names


def _root_names(f: h5py.File, path: Path, require_outputs: bool = True) -> dict:
    """``{"contact_params": [...], "outputs": [...], "inputs": {experiment_type or "": [...]}}``.

    Without ``require_outputs`` a missing ``outputs`` attribute is an empty list (checked only where a
    group has outputs)."""
    with hdf5_errors(path):
        keys = list(f.attrs)
    inputs = {key.removeprefix("inputs_"): _names(f, path, key) for key in keys if key.startswith("inputs_")}
    if "inputs" in keys:
        inputs[""] = _names(f, path, "inputs")
    if not inputs:
        raise UserInputError(
            f"{path}: missing root attribute 'inputs' (or 'inputs_<experiment_type>') naming the input features."
        )
    outputs = _names(f, path, "outputs") if require_outputs else read_names(f, "outputs", path) or []
    return {"contact_params": _names(f, path, "contact_params"), "outputs": outputs,
            "inputs": inputs}


def _group_keys(f: h5py.File, path: Path) -> list[str]:
    """All ``'<pressure>/<experiment_type>'`` keys, in file order."""
    keys = []
    with hdf5_errors(path):
        top = list(f.keys())
    for pressure in top:
        check_pressure_name(path, pressure)
        node = resolve(f, pressure, path)
        if not isinstance(node, h5py.Group):
            raise UserInputError(f"{path}: '{pressure}' is a dataset, expected a group of experiment types.")
        with hdf5_errors(path):
            keys += [f"{pressure}/{kind}" for kind in node]
    return keys


def check_pressure_name(path: str | os.PathLike, name: str) -> None:
    """A pressure group is named by a finite, non-negative number of plausible size (Pa)."""
    try:
        value = float(name)
    except ValueError:
        raise UserInputError(
            f"{path}: top-level entry '{name}' is not a pressure group (expected a number in Pa such as '0.2e6')."
        ) from None
    if not 0 <= value <= MAX_ABS_VALUE:
        raise UserInputError(
            f"{path}: top-level group '{name}' is not a plausible confining pressure in Pa "
            f"(expected a finite number between 0 and {MAX_ABS_VALUE:g}, such as '0.2e6')."
        )


def _select(f: h5py.File, path: Path, pressure: str, experiment_type: str) -> list[str]:
    keys = _group_keys(f, path)
    chosen = [k for k in keys if pressure in ("All", k.split("/")[0]) and experiment_type in ("All", k.split("/")[1])]
    chosen = [k for k in chosen if not _is_empty_group(f, path, k)]
    if not chosen:
        available = ", ".join(keys) if keys else "none"
        raise UserInputError(
            f"{path}: the selection pressure='{pressure}', experiment_type='{experiment_type}' holds no sequences; "
            f"available groups: {available}."
        )
    return chosen


def _is_empty_group(f: h5py.File, path: Path, key: str) -> bool:
    """A group whose ``outputs`` dataset (``inputs`` where it has no outputs) exists and holds zero sequences."""
    node = resolve(f, key, path)
    if not isinstance(node, h5py.Group):
        return False
    outputs = resolve(node, "outputs", path)
    if outputs is None:
        outputs = resolve(node, "inputs", path)
    return isinstance(outputs, h5py.Dataset) and outputs.shape[:1] == (0,)


def _read_group(f: h5py.File, path: Path, key: str, names: dict, require_outputs: bool = True) -> dict[str, np.ndarray]:
    """Read one group's three datasets (two when ``outputs`` is absent and not required) as float32 and
    check their shapes, names and values."""
    group = resolve(f, key, path)
    if not isinstance(group, h5py.Group):
        raise UserInputError(f"{path}: '{key}' is a dataset, expected a group holding {', '.join(DATASETS)}.")
    arrays = {}
    for name, ndim in zip(DATASETS, (2, 3, 3), strict=True):
        node = resolve(group, name, path)
        if node is None and name == "outputs" and not require_outputs:
            continue
        if node is None:
            hint = " (a file without outputs can only be predicted, not trained on)" if name == "outputs" else ""
            raise UserInputError(f"{path}: group '{key}' has no dataset '{name}'{hint}.")
        if isinstance(node, h5py.Dataset) and node.ndim != ndim:
            raise UserInputError(
                f"{path}: dataset '{key}/{name}' has shape {node.shape}, expected {ndim} dimensions "
                f"({'[N, P]' if ndim == 2 else '[N, S, C]'})."
            )
        if isinstance(node, h5py.Dataset) and 0 in node.shape[1:]:
            raise UserInputError(
                f"{path}: dataset '{key}/{name}' has shape {node.shape}; every axis but the first (N) must be "
                "at least 1 (no zero-length sequences or zero features)."
            )
        arrays[name] = read_dataset(group, name, path, ndim=ndim, max_abs=MAX_ABS_VALUE)
    kind = key.split("/")[1]
    input_names = names["inputs"].get(kind, names["inputs"].get(""))
    if input_names is None:
        raise UserInputError(f"{path}: missing root attribute 'inputs_{kind}' (or 'inputs') naming the inputs of '{key}'.")
    n = {name: arrays[name].shape[0] for name in arrays}
    if len(set(n.values())) > 1:
        raise UserInputError(f"{path}: group '{key}' has different numbers of sequences per dataset: {n}.")
    if "outputs" in arrays and arrays["inputs"].shape[1] != arrays["outputs"].shape[1]:
        raise UserInputError(
            f"{path}: group '{key}' has inputs of length {arrays['inputs'].shape[1]} but outputs of length "
            f"{arrays['outputs'].shape[1]}; both must have the same sequence length S."
        )
    for name, expected, attr in (("contact_params", names["contact_params"], "contact_params"),
                                 ("inputs", input_names, f"inputs_{kind}' or 'inputs"),
                                 ("outputs", names["outputs"], "outputs")):
        if name in arrays and arrays[name].shape[-1] != len(expected):
            raise UserInputError(
                f"{path}: dataset '{key}/{name}' has {arrays[name].shape[-1]} columns but root attribute "
                f"'{attr}' names {len(expected)}: {expected}."
            )
    return arrays


def _check_same_shapes(path: Path, groups: list, axis_names: dict[int, str], dataset: str) -> None:
    """Groups read together must agree on the given axes of ``dataset``."""
    for axis, label in axis_names.items():
        sizes = {key: arrays[dataset].shape[axis] for key, arrays in groups}
        if len(set(sizes.values())) > 1:
            listing = ", ".join(f"{key}: {size}" for key, size in sizes.items())
            raise UserInputError(
                f"{path}: the groups differ in {label} of '{dataset}' ({listing}); select groups that agree "
                f"(e.g. one experiment_type)."
            )
