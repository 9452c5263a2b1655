"""Setups of the hostile-input rows (tests/test_hostile_inputs.py): valid inputs and the hostile files
written from them. ``setup(tmp, w)`` writes into the case's folder ``tmp`` from the valid inputs ``w``."""

from __future__ import annotations

import json
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
from hostile_cases import hold_flock

DATA = Path(__file__).resolve().parent / "data" / "grainlearning"
CSV_SHAPE = (4, 3, 2)
CSV_COLUMNS = ["Points:0", "Points:1", "Points:2", "T", *(f"ipf_{a}:{c}" for a in "xyz" for c in range(3)), "ori_inds"]


# ----------------------------------------------------------------------------- valid inputs


def csv_rows(step: int = 1) -> list[list[str]]:
    """The rows of one tiny valid LASERNet CSV (x fastest), as strings."""
    rows = []
    nx, ny, nz = CSV_SHAPE
    for k in range(nz):
        for j in range(ny):
            for i in range(nx):
                values = [i * 1e-6, j * 1e-6, k * 1e-6, 300.0 + 100 * step + i, *([0.25] * 9), i + 7 * j]
                rows.append([repr(float(v)) for v in values])
    return rows


def write_csv(path: Path, rows: list[list[str]] | None = None, header: list[str] | None = None,
              bom: bool = False, tail: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [",".join(header or CSV_COLUMNS)] + [",".join(r) for r in (csv_rows() if rows is None else rows)]
    text = "\n".join(lines) + "\n" + tail
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8", "surrogateescape"))
    return path


def csv_dir(folder: Path, n: int = 3) -> Path:
    for k in range(n):
        write_csv(folder / f"Alldata_withpoints_{k}.csv", csv_rows(k))
    return folder


def _fields_run(path: Path, cache: Path) -> None:
    """A fields run made without training: a tiny CNN-LSTM checkpoint and its run record."""
    from simrnn.checkpoints import write_checkpoint
    from simrnn.files import write_json_atomic
    from simrnn.registry import build_model
    from simrnn.runs import run_record

    args = {"in_channels": 10, "out_channels": 9, "hidden_channels": 4, "n_layers": 1, "encoder_channels": [4, 4, 4]}
    meta = {"plane": "xy", "split_ratio": [0.34, 0.33, 0.33], "seq_length": 1, "image_size": [4, 3], "n_slices": 2,
            "solidification_band_K": [1000.0, 1200.0], "normalisation": {"t_ambient_K": 300.0, "t_max_train_K": 700.0}}
    (path / "checkpoints").mkdir(parents=True)
    write_checkpoint(path / "checkpoints" / "best.ckpt", build_model("cnn-lstm", **args),
                     {"model_name": "cnn-lstm", "model_args": args, "data_meta": meta})
    write_json_atomic(path / "config.json", run_record("fields", settings={}, data={"file": str(cache)},
                                                       model_name="cnn-lstm", model_args=args, data_meta=meta))


def copy_of(name: str, then: Callable[[Path, Path], None] | None = None):
    """Setup: ``tmp/<name>``, a copy of ``w/<name>`` (then ``then(tmp, w)``)."""

    def setup(tmp: Path, w: Path) -> None:
        shutil.copytree(w / name, tmp / name)
        if then is not None:
            then(tmp, w)

    return setup


def _claim_other_checksum(tmp: Path, w: Path) -> None:
    config = json.loads((tmp / "frun" / "config.json").read_text())
    config["data"]["sha256"] = "0" * 64  # the run trained on another version of w/cache.h5
    (tmp / "frun" / "config.json").write_text(json.dumps(config))


def cache_with_nan(tmp: Path, w: Path) -> None:
    """Setup: ``tmp/c.h5``, a valid cache of 8 steps whose recorded maximum temperature of step 1 is NaN."""
    from simrnn.fields.cache import convert

    convert(csv_dir(tmp / "csv", 8), tmp / "c.h5")
    shutil.rmtree(tmp / "csv")
    with h5py.File(tmp / "c.h5", "a") as f:
        f["t_max"][1] = np.nan


# ----------------------------------------------------------------------------- hostile inputs


def edit_csv(name: str, edit: Callable[[list[list[str]]], None], **kwargs):
    """Setup: ``tmp/csv`` of three valid steps, then ``edit`` the rows of step 1."""

    def setup(tmp: Path, w: Path) -> None:
        csv_dir(tmp / "csv")
        rows = csv_rows(1)
        edit(rows)
        write_csv(tmp / "csv" / "Alldata_withpoints_1.csv", rows, **kwargs)

    setup.__name__ = name
    return setup


def set_value(column: str, value: str, row: int = 2):
    def edit(rows):
        rows[row][CSV_COLUMNS.index(column)] = value

    return edit


def h5_with(build: Callable[[h5py.File], None], *, base: bool = True):
    """Setup: ``tmp/bad.h5`` (a valid file if ``base``), then ``build(f)`` changes it."""

    def setup(tmp: Path, w: Path) -> None:
        path = tmp / "bad.h5"
        if base:
            shutil.copyfile(w / "data.h5", path)
        with h5py.File(path, "a") as f:
            build(f)

    return setup


def replace_dataset(name: str, **create):
    def build(f: h5py.File) -> None:
        del f[f"0.2e6/drained/{name}"]
        f["0.2e6/drained"].create_dataset(name, **create)

    return build


def scale_dataset(name: str, factor: float, dtype=None):
    def build(f: h5py.File) -> None:
        data = f[f"0.2e6/drained/{name}"][()].astype(dtype or np.float64)
        del f[f"0.2e6/drained/{name}"]
        f["0.2e6/drained"].create_dataset(name, data=data * factor if factor else data)

    return build


def _object_address(path: Path, name: str) -> int:
    with h5py.File(path, "r") as f:
        obj = f[name]
        return obj.id.get_offset() if isinstance(obj, h5py.Dataset) else h5py.h5o.get_info(obj.id).addr


def corrupt_metadata(tmp: Path, w: Path) -> None:
    """Overwrite the object header of the group holding the datasets."""
    shutil.copyfile(w / "data.h5", tmp / "bad.h5")
    address = _object_address(tmp / "bad.h5", "0.2e6/drained/outputs")
    raw = bytearray((tmp / "bad.h5").read_bytes())
    with h5py.File(tmp / "bad.h5", "r") as f:
        header = h5py.h5o.get_info(f["0.2e6/drained"].id).addr
    raw[header:header + 64] = b"\xa5" * 64
    assert address > 0
    (tmp / "bad.h5").write_bytes(bytes(raw))


def corrupt_data(tmp: Path, w: Path) -> None:
    """Overwrite 16 bytes inside the raw data of ``outputs`` (they read as NaN)."""
    shutil.copyfile(w / "data.h5", tmp / "bad.h5")
    address = _object_address(tmp / "bad.h5", "0.2e6/drained/outputs")
    raw = bytearray((tmp / "bad.h5").read_bytes())
    raw[address + 64:address + 80] = b"\xff" * 16
    (tmp / "bad.h5").write_bytes(bytes(raw))


def truncated_copy(tmp: Path, w: Path) -> None:
    raw = (w / "data.h5").read_bytes()
    (tmp / "bad.h5").write_bytes(raw[: len(raw) // 2])


class Call:
    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def yade_file(payload, name: str = "sim.npy"):
    def setup(tmp: Path, w: Path) -> None:
        (tmp / "yade").mkdir()
        if isinstance(payload, bytes):
            (tmp / "yade" / name).write_bytes(payload)
        elif isinstance(payload, np.ndarray):
            np.save(tmp / "yade" / name, payload, allow_pickle=True)
        else:
            (tmp / "yade" / name).write_bytes(pickle.dumps(payload, protocol=2))

    return setup


def yade_simulation(q: float = 3e5, conf: float = 5.3) -> tuple[dict, dict]:
    params = {"E": 8.0, "v": 0.3, "kr": 0.5, "eta": 0.2, "mu": 30.0, "conf": conf, "mode": "drained", "num": 1000}
    keys = ["e_x", "e_y", "e_z", "e", "p", "q", "f0", "a_c", "a_n", "a_t", "dt", "numIter", "K", "A"]
    features = {key: [0.1 * i for i in range(12)] for key in keys}
    features["q"] = [q * i for i in range(12)]
    return params, features


def model_copy(edit: Callable[[Path], None]):
    """Setup: ``tmp/model``, a copy of the valid Keras model folder, changed by ``edit``."""

    def setup(tmp: Path, w: Path) -> None:
        shutil.copytree(w / "model", tmp / "model")
        edit(tmp / "model")

    return setup


def stats_with(**changes):
    def edit(folder: Path) -> None:
        from simrnn.safe_pickle import load_pickled_object

        stats = load_pickled_object(folder / "train_stats.npy")
        stats.update(changes)
        np.save(folder / "train_stats.npy", stats, allow_pickle=True)

    return edit


def weights_with(build: Callable[[h5py.File], None]):
    def edit(folder: Path) -> None:
        with h5py.File(folder / "model-best.h5", "a") as f:
            build(f)

    return edit


def first_weight(f: h5py.File) -> tuple[h5py.Group, str]:
    """The group and leaf name of the first weight of the first layer that has weights."""
    root = f.get("model_weights", f)

    def text(v):
        return v.decode() if isinstance(v, bytes) else str(v)

    name = next(text(n) for n in root.attrs["layer_names"] if len(root[text(n)].attrs["weight_names"]))
    weight = text(root[name].attrs["weight_names"][0])
    group_name, _, leaf = f"{name}/{weight}".rpartition("/")
    return root[group_name], leaf


def replace_weight(**create):
    def build(f: h5py.File) -> None:
        group, leaf = first_weight(f)
        del group[leaf]
        group.create_dataset(leaf, **create)

    return build


def external_weight(f: h5py.File) -> None:
    group, leaf = first_weight(f)
    del group[leaf]
    group[leaf] = h5py.ExternalLink("elsewhere.h5", "/kernel")


def run_copy(edit: Callable[[Path], None]):
    def setup(tmp: Path, w: Path) -> None:
        shutil.copytree(w / "run", tmp / "run")
        edit(tmp / "run")

    return setup


def hold_lock(tmp: Path, w: Path) -> None:
    """Setup: another writer holds the lock of ``tmp/out.h5`` (released at the end of the case)."""
    csv_dir(tmp / "csv")
    hold_flock("out.h5.lock")(tmp, w)


def _forged_cache(tmp: Path, w: Path) -> None:
    """A file claiming to be a cache whose x axis declares 10**9 values never written."""
    shutil.copyfile(w / "cache.h5", tmp / "bad.h5")
    with h5py.File(tmp / "bad.h5", "a") as f:
        del f["x"]
        f.create_dataset("x", shape=(10**9,), dtype="f8", chunks=(10**6,))
