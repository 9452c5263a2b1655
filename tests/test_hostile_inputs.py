"""Every command against hostile and broken input: exit 2, one short message, no traceback, nothing left.

The table :data:`CASES` has one row per case: the command line (``{tmp}`` is the case's own
folder, ``{w}`` the shared folder of valid inputs), an optional ``setup(tmp, w)`` that writes the
hostile input into ``tmp``, and a regular expression the error message must match. Each case
asserts

* exit status 2 through the CLI's error boundary (``SystemExit``, no other exception: no traceback);
* at most three lines on stderr, matching the expected fragment;
* nothing new under ``tmp`` except what the setup made (no partial output, no empty folders).

Rows whose fix belongs to another module's owner are marked ``xfail(strict=False)`` with the owner.
Add a row for every new way of breaking a command.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from simrnn.cli import app

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


@pytest.fixture(scope="module")
def world(tmp_path_factory, learnable_h5_writer) -> Path:
    """Valid inputs shared by the cases: data.h5, csv/, model/ (Keras), run/ (imported), obs.dat, cache.h5."""
    from simrnn.fields.cache import convert
    from simrnn.sequence.keras_import import import_keras

    w = tmp_path_factory.mktemp("world")
    learnable_h5_writer(w / "data.h5", n_per_group=8, steps=12, groups=("0.2e6",))
    csv_dir(w / "csv")
    convert(w / "csv", w / "cache.h5")
    shutil.copytree(DATA / "rnn_triaxial_drained", w / "model",
                    ignore=shutil.ignore_patterns("reference_predictions.npz"))
    import_keras(w / "model", out=w / "run")
    shutil.copyfile(DATA / "experimental_test_drained_s3=0.2.dat", w / "obs.dat")
    (w / "file").write_text("a regular file\n")
    return w


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


def write_file(name: str, content: bytes | str):
    def setup(tmp: Path, w: Path) -> None:
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)

    return setup


class _Call:
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
    import fcntl

    csv_dir(tmp / "csv")
    fd = os.open(tmp / "out.h5.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    _HELD.append(fd)


_HELD: list[int] = []


@dataclass(frozen=True)
class Case:
    """One hostile invocation: ``args`` with ``{tmp}``/``{w}`` placeholders, a setup, the expected message."""

    id: str
    args: list[str]
    expect: str
    setup: Callable[[Path, Path], None] | None = None
    owner: str | None = None  # set when the fix belongs to another module (the row is xfail until fixed)
    keep: tuple[str, ...] = ()  # paths (relative to tmp) a failure may legitimately keep


def case(id, args, expect, setup=None, owner=None, keep=()):
    return Case(id, args.split() if isinstance(args, str) else args, expect, setup, owner, tuple(keep))


CONVERT = "fields convert {tmp}/csv {tmp}/out.h5"
TRAIN = "sequence train --raw-data {tmp}/bad.h5 --epochs 1 --runs-root {tmp}/runs"

CASES = [
    # ------------------------------------------------------------------ fields convert
    case("convert/missing-dir", CONVERT, "directory not found"),
    case("convert/empty-dir", CONVERT, "no CSV found", write_file("csv/readme.txt", "x")),
    case("convert/truncated-last-line", CONVERT, r"line 26: 5 fields where the header has 14",
         edit_csv("trunc", lambda rows: None, tail="1e-06,2e-06,0,300,0.1\n")),
    case("convert/extra-field", CONVERT, r"line 4: 15 fields where the header has 14",
         edit_csv("extra", lambda rows: rows[2].append("7"))),
    case("convert/header-only", CONVERT, "holds a header but no data rows",
         edit_csv("header", lambda rows: rows.clear())),
    case("convert/directory-named-csv", CONVERT, "is not a regular file",
         lambda tmp, w: (csv_dir(tmp / "csv"), (tmp / "csv" / "Alldata_withpoints_7.csv").mkdir())),
    case("convert/absurd-step-number", CONVERT, "time-step number 9999999999999999999999999 is larger than",
         lambda tmp, w: (csv_dir(tmp / "csv"), write_csv(tmp / "csv" / "Alldata_withpoints_9999999999999999999999999.csv"))),
    case("convert/temperature-1e40", CONVERT, r"line 4: out-of-range temperature 1e\+40",
         edit_csv("t", set_value("T", "1e40"))),
    case("convert/temperature-nan", CONVERT, r"line 4: NaN temperature", edit_csv("t", set_value("T", "nan"))),
    case("convert/temperature-negative", CONVERT, r"out-of-range temperature -5", edit_csv("t", set_value("T", "-5"))),
    case("convert/temperature-empty", CONVERT, r"line 4: missing temperature", edit_csv("t", set_value("T", ""))),
    case("convert/ipf-beyond-float16", CONVERT, r"line 4: out-of-range IPF value 100000 \(expected -65504 to 65504\) in column 'ipf_y:1'",
         edit_csv("ipf", set_value("ipf_y:1", "1e5"))),
    case("convert/ipf-inf", CONVERT, r"line 4: infinite IPF value", edit_csv("ipf", set_value("ipf_x:0", "inf"))),
    case("convert/ori-beyond-int32", CONVERT, r"line 4: out-of-range grain label 3e\+09",
         edit_csv("ori", set_value("ori_inds", "3000000000"))),
    case("convert/ori-fraction", CONVERT, r"line 4: ori_inds must be an integer",
         edit_csv("ori", set_value("ori_inds", "1.5"))),
    case("convert/non-numeric", CONVERT, r"line 4: value 'abc' in column 'T' is not a number",
         edit_csv("abc", set_value("T", "abc"))),
    case("convert/missing-column", CONVERT, r"missing column 'ori_inds'",
         edit_csv("col", lambda rows: [r.pop() for r in rows], header=CSV_COLUMNS[:-1])),
    case("convert/stray-coordinate", CONVERT, r"grid|off the regular grid",
         edit_csv("stray", set_value("Points:0", "1000.0"))),
    case("convert/non-utf8-value", CONVERT, r"line 4: bytes that are not UTF-8 text", edit_csv("bin", set_value("T", "\udcff"))),
    case("convert/target-exists", CONVERT, "already exists",
         lambda tmp, w: (csv_dir(tmp / "csv"), (tmp / "out.h5").write_text("keep"))),
    case("convert/target-is-directory", CONVERT, "already exists",
         lambda tmp, w: (csv_dir(tmp / "csv"), (tmp / "out.h5").mkdir())),
    case("convert/under-a-regular-file", "fields convert {tmp}/csv {w}/file/out.h5", "file is not a directory|not a directory",
         lambda tmp, w: csv_dir(tmp / "csv")),
    case("convert/special-file-system", "fields convert {tmp}/csv /proc/simrnn_hostile.h5", "/proc",
         lambda tmp, w: csv_dir(tmp / "csv")),
    case("convert/downsample-0", CONVERT + " --downsample 0", "expected downsample >= 1",
         lambda tmp, w: csv_dir(tmp / "csv")),
    case("convert/tolerance-nan", CONVERT + " --tolerance nan", "--tolerance should be a finite number",
         lambda tmp, w: csv_dir(tmp / "csv")),
    case("convert/partial-of-other-settings", CONVERT, "interrupted conversion of different files or settings",
         lambda tmp, w: (csv_dir(tmp / "csv", 2), shutil.copyfile(w / "cache.h5", tmp / "out.h5.partial")),
         keep=["out.h5.partial"]),
    case("convert/partial-garbage", CONVERT, "unreadable interrupted conversion",
         lambda tmp, w: (csv_dir(tmp / "csv"), (tmp / "out.h5.partial").write_text("junk")), keep=["out.h5.partial"]),
    case("convert/second-writer", CONVERT, "another process is writing it", hold_lock, keep=["out.h5.lock"]),
    # ------------------------------------------------------------------ fields train / predict / rollout
    case("ftrain/cache-missing", "fields train --cache {tmp}/none.h5 --epochs 1 --runs-root {tmp}/runs",
         "none.h5: cache file not found"),
    case("ftrain/cache-not-hdf5", "fields train --cache {tmp}/c.h5 --epochs 1 --runs-root {tmp}/runs",
         "c.h5: not an HDF5 file", write_file("c.h5", "junk")),
    case("ftrain/cache-forged", "fields train --cache {tmp}/bad.h5 --epochs 1 --runs-root {tmp}/runs",
         "none of its data was ever written", lambda tmp, w: _forged_cache(tmp, w)),
    case("ftrain/epochs-0", "fields train --cache {w}/cache.h5 --epochs 0 --runs-root {tmp}/runs", "epochs"),
    case("ftrain/plane-bogus", "fields train --cache {w}/cache.h5 --plane ab --runs-root {tmp}/runs", "plane"),
    case("ftrain/cache-too-short", "fields train --cache {w}/cache.h5 --epochs 1 --runs-root {tmp}/runs",
         "usable time steps; seq_length 3 needs at least 4"),
    case("fpredict/run-missing", "fields predict {tmp}/nope", "nope: not a simrnn run directory"),
    case("fpredict/sequence-run", "fields predict {w}/run", "run: not a fields run"),
    case("frollout/run-missing", "fields rollout {tmp}/nope", "nope: not a simrnn run directory"),
    case("frollout/sequence-run", "fields rollout {w}/run", "run: not a fields run"),
    # ------------------------------------------------------------------ fields synth
    case("synth/grid-too-small", "fields synth {tmp}/out --grid 1x2x3", "--grid '1x2x3'"),
    case("synth/grid-not-numbers", "fields synth {tmp}/out --grid axbxc", "--grid 'axbxc'"),
    case("synth/grid-huge", "fields synth {tmp}/out --grid 100000x100000x100000", "nodes is more than"),
    case("synth/steps-1", "fields synth {tmp}/out --steps 1", "--steps 1: expected 2"),
    case("synth/steps-negative", "fields synth {tmp}/out --steps -5", "--steps -5"),
    case("synth/out-is-a-file", "fields synth {w}/file", "exists and is not a folder"),
    case("synth/under-a-regular-file", "fields synth {w}/file/out", "not a directory"),
    case("synth/out-has-csvs", "fields synth {tmp}/csv", "already contains", lambda tmp, w: csv_dir(tmp / "csv", 1)),
    # ------------------------------------------------------------------ fields info
    case("info/missing", "fields info {tmp}/none.h5", "cache file not found"),
    case("info/partial-hint", "fields info {tmp}/c.h5", "interrupted conversion: run the conversion again",
         write_file("c.h5.partial", "x")),
    case("info/not-hdf5", "fields info {tmp}/c.h5", "not an HDF5 file", write_file("c.h5", "text")),
    case("info/foreign-hdf5", "fields info {tmp}/bad.h5", "not a simrnn field cache", h5_with(lambda f: None, base=False)),
    case("info/forged-attributes", "fields info {tmp}/bad.h5", "without the attribute",
         h5_with(lambda f: f.attrs.update({"format": "simrnn.fields.cache"}), base=False)),
    case("info/never-written-axis", "fields info {tmp}/bad.h5", "none of its data was ever written",
         lambda tmp, w: _forged_cache(tmp, w)),
    case("info/directory", "fields info {tmp}", "cache file not found"),
    # ------------------------------------------------------------------ sequence synth
    case("seqsynth/exists", "sequence synth {w}/file", r"already exists; pass --force"),
    case("seqsynth/pressures-text", "sequence synth {tmp}/o.h5 --pressures abc", "--pressures 'abc'"),
    case("seqsynth/pressures-nan", "sequence synth {tmp}/o.h5 --pressures nan", "--pressures"),
    case("seqsynth/pressures-negative", "sequence synth {tmp}/o.h5 --pressures -1e5", "--pressures"),
    case("seqsynth/pressures-1e300", "sequence synth {tmp}/o.h5 --pressures 1e300", "--pressures"),
    case("seqsynth/types", "sequence synth {tmp}/o.h5 --experiment-types cyclic", "--experiment-types 'cyclic'"),
    case("seqsynth/samples-0", "sequence synth {tmp}/o.h5 --samples-per-group 0", "--samples-per-group"),
    case("seqsynth/length-1", "sequence synth {tmp}/o.h5 --sequence-length 1", "--sequence-length"),
    case("seqsynth/strain-nan", "sequence synth {tmp}/o.h5 --max-axial-strain nan", "--max-axial-strain"),
    case("seqsynth/strain-negative", "sequence synth {tmp}/o.h5 --max-axial-strain -0.1", "--max-axial-strain"),
    case("seqsynth/under-a-regular-file", "sequence synth {w}/file/o.h5", "not a directory"),
    case("seqsynth/out-is-directory", "sequence synth {tmp} --force", "is a directory"),
    # ------------------------------------------------------------------ sequence from-yade
    case("yade/missing-dir", "sequence from-yade {tmp}/yade {tmp}/o.h5", "not a folder of YADE"),
    case("yade/no-files", "sequence from-yade {tmp} {tmp}/o.h5", "no .npy files"),
    case("yade/code-execution", "sequence from-yade {tmp}/yade {tmp}/o.h5", r"global '(posix|nt).system' is not allowed",
         yade_file(_Call(os.system, "touch pwned"))),
    case("yade/bytes-1e15", "sequence from-yade {tmp}/yade {tmp}/o.h5", r"bytes\(\) is allowed only",
         yade_file(_Call(bytes, 10**15))),
    case("yade/list-reduce", "sequence from-yade {tmp}/yade {tmp}/o.h5", "global 'builtins.list' is not allowed",
         yade_file(_Call(list, (1, 2)))),
    case("yade/plain-array", "sequence from-yade {tmp}/yade {tmp}/o.h5", "plain float64 array",
         yade_file(np.zeros(3))),
    case("yade/truncated", "sequence from-yade {tmp}/yade {tmp}/o.h5", "not a safely readable pickle",
         yade_file(pickle.dumps(yade_simulation())[:40])),
    case("yade/not-a-pair", "sequence from-yade {tmp}/yade {tmp}/o.h5", r"expected a pickled \(params dict",
         yade_file([1, 2, 3])),
    case("yade/values-1e300", "sequence from-yade {tmp}/yade {tmp}/o.h5 --sequence-length 5",
         r"features\['q'\] at step 1 is 1e\+294", yade_file(yade_simulation(q=1e300))),
    case("yade/conf-1e10", "sequence from-yade {tmp}/yade {tmp}/o.h5 --sequence-length 5", "params\\['conf'\\]",
         yade_file(yade_simulation(conf=1e10))),
    case("yade/feature-not-list", "sequence from-yade {tmp}/yade {tmp}/o.h5 --sequence-length 5",
         "is not a sequence", yade_file(({**yade_simulation()[0]}, {**yade_simulation()[1], "e": 5.0}))),
    case("yade/out-exists", "sequence from-yade {tmp}/yade {w}/file", "already exists",
         yade_file(yade_simulation())),
    case("yade/length-0", "sequence from-yade {tmp}/yade {tmp}/o.h5 --sequence-length 0", "must be at least 1",
         yade_file(yade_simulation())),
    case("yade/under-a-regular-file", "sequence from-yade {tmp}/yade {w}/file/o.h5", "not a directory",
         yade_file(yade_simulation())),
    case("yade/directory-named-npy", "sequence from-yade {tmp}/yade {tmp}/o.h5", "not a regular file",
         lambda tmp, w: (tmp / "yade" / "x.npy").mkdir(parents=True)),
    # ------------------------------------------------------------------ sequence import-keras
    case("keras/missing-dir", "sequence import-keras {tmp}/model --out {tmp}/run", "not a directory"),
    case("keras/empty-dir", "sequence import-keras {tmp} --out {tmp}/run", "no GrainLearning config found"),
    case("keras/std-nan", "sequence import-keras {tmp}/model --out {tmp}/run", r"'std'\[0\] is nan",
         model_copy(stats_with(std=np.array([np.nan, 1, 1, 1, 1, 1, 1.0])))),
    case("keras/std-zero", "sequence import-keras {tmp}/model --out {tmp}/run", r"'std'\[1\] is 0",
         model_copy(stats_with(std=np.array([1, 0, 1, 1, 1, 1, 1.0])))),
    case("keras/stats-code", "sequence import-keras {tmp}/model --out {tmp}/run", "is not allowed",
         model_copy(lambda f: (f / "train_stats.npy").write_bytes(pickle.dumps(_Call(os.system, "true"))))),
    case("keras/config-not-utf8", "sequence import-keras {tmp}/model --out {tmp}/run", "not a UTF-8",
         model_copy(lambda f: (f / "config.yml").write_bytes(b"\xff\xfe\x00bad"))),
    case("keras/config-bad-yaml", "sequence import-keras {tmp}/model --out {tmp}/run", "cannot parse GrainLearning config",
         model_copy(lambda f: (f / "config.yml").write_text("a: [1,\n"))),
    case("keras/weights-not-hdf5", "sequence import-keras {tmp}/model --out {tmp}/run", "not a readable HDF5",
         model_copy(lambda f: (f / "model-best.h5").write_text("junk"))),
    case("keras/weights-never-written", "sequence import-keras {tmp}/model --out {tmp}/run",
         "none of its data was ever written",
         model_copy(weights_with(replace_weight(shape=(10**9, 5), dtype="f4", chunks=(1000, 5))))),
    case("keras/weights-complex", "sequence import-keras {tmp}/model --out {tmp}/run", "complex numbers",
         model_copy(weights_with(replace_weight(data=np.ones((2, 2), complex))))),
    case("keras/weights-external-link", "sequence import-keras {tmp}/model --out {tmp}/run", "external link",
         model_copy(weights_with(external_weight))),
    case("keras/weights-nan", "sequence import-keras {tmp}/model --out {tmp}/run", "NaN/inf values",
         model_copy(weights_with(replace_weight(data=np.full((6, 200), np.nan, np.float32))))),
    case("keras/out-exists", "sequence import-keras {w}/model --out {w}/run", "already exists"),
    case("keras/out-under-a-regular-file", "sequence import-keras {w}/model --out {w}/file/run", "not a directory"),
    case("keras/runs-root-under-a-regular-file", "sequence import-keras {w}/model --runs-root {w}/file",
         "not a directory"),
    # ------------------------------------------------------------------ sequence train: the data file
    case("train/missing-data", TRAIN, "file not found"),
    case("train/not-hdf5", TRAIN, "not a readable HDF5", write_file("bad.h5", "junk")),
    case("train/never-written-1e9x5", TRAIN, "none of its data was ever written",
         h5_with(replace_dataset("outputs", shape=(10**9, 12, 7), dtype="f4", chunks=(1000, 12, 7)))),
    case("train/complex", TRAIN, "complex numbers", h5_with(scale_dataset("inputs", 0, complex))),
    case("train/strings", TRAIN, "holds strings",
         h5_with(replace_dataset("contact_params", data=np.array([["a"] * 5] * 8, dtype="S1")))),
    case("train/compound", TRAIN, "compound",
         h5_with(replace_dataset("contact_params", data=np.zeros((8, 5), dtype=[("a", "f4"), ("b", "i4")])))),
    case("train/dangling-link", TRAIN, "link to '/nowhere', which does not exist",
         h5_with(lambda f: (f["0.2e6/drained"].__delitem__("inputs"),
                            f["0.2e6/drained"].__setitem__("inputs", h5py.SoftLink("/nowhere"))))),
    case("train/external-link", TRAIN, "external link to",
         h5_with(lambda f: (f["0.2e6/drained"].__delitem__("inputs"),
                            f["0.2e6/drained"].__setitem__("inputs", h5py.ExternalLink("other.h5", "/x"))))),
    case("train/corrupt-metadata", TRAIN, "damaged|not a readable HDF5", corrupt_metadata),
    case("train/corrupt-data-bytes", TRAIN, "NaN/inf values", corrupt_data),
    case("train/truncated-file", TRAIN, "not a readable HDF5|damaged", truncated_copy),
    case("train/zero-features", TRAIN, "zero features",
         h5_with(replace_dataset("inputs", data=np.zeros((8, 12, 0), np.float32)))),
    case("train/values-3e38", TRAIN, r"holds 3e\+38 at index \(0, 0, 0\), beyond the plausible magnitude",
         h5_with(replace_dataset("outputs", data=np.full((8, 12, 7), 3e38, np.float32)))),
    case("train/group-named-nan", TRAIN, "'nan' is not a plausible confining pressure",
         h5_with(lambda f: f.move("0.2e6", "nan"))),
    case("train/group-named-1e300", TRAIN, "not a plausible confining pressure",
         h5_with(lambda f: f.move("0.2e6", "1e300"))),
    case("train/names-not-strings", TRAIN, "must be a list of names",
         h5_with(lambda f: f.attrs.__setitem__("outputs", np.arange(7)))),
    case("train/runs-root-under-a-file", "sequence train --raw-data {w}/data.h5 --epochs 1 --runs-root {w}/file/runs",
         "file/runs/sequence.*(a path component is not a directory|cannot be created because .*file is not a directory)"),
    case("train/config-not-utf8", "sequence train --config {tmp}/c.yml", "c.yml: not a UTF-8 text file",
         write_file("c.yml", b"\xff\xfe raw_data: x")),
    case("train/config-bad-yaml", "sequence train --config {tmp}/c.yml", "c.yml: cannot parse config", write_file("c.yml", "a: [1,\n")),
    case("train/config-raw-data-null", "sequence train --config {tmp}/c.yml --runs-root {tmp}/runs",
         "c.yml: 'raw_data' has no value", write_file("c.yml", "raw_data: null\n")),
    case("train/override-yaml-syntax", ["sequence", "train", "--raw-data", "{w}/data.h5", "--runs-root", "{tmp}/runs",
                                        "--lstm-units", "[1,"], "--lstm-units should be an integer"),
    case("train/seed-negative", "sequence train --raw-data {w}/data.h5 --runs-root {tmp}/runs --seed -1", "'seed' must be between 0 and"),
    case("train/seed-2e40", "sequence train --raw-data {w}/data.h5 --runs-root {tmp}/runs --seed 10000000000000000000000",
         "'seed' must be between 0 and"),
    case("train/learning-rate-negative",
         "sequence train --raw-data {w}/data.h5 --runs-root {tmp}/runs --learning-rate -1", "'learning_rate' must be positive"),
    case("train/epochs-0", "sequence train --raw-data {w}/data.h5 --runs-root {tmp}/runs --epochs 0", "'epochs' must be at least 1"),
    case("train/resume-missing", "sequence train --resume {tmp}/nope", "nope: not a simrnn run directory"),
    # ------------------------------------------------------------------ sequence predict
    case("predict/run-missing", "sequence predict {tmp}/nope --data {w}/data.h5", "not a simrnn run directory"),
    case("predict/data-missing", "sequence predict {w}/run --data {tmp}/none.h5 --split all", "file not found"),
    case("predict/data-never-written", "sequence predict {w}/run --data {tmp}/bad.h5 --split all",
         "none of its data was ever written",
         h5_with(replace_dataset("outputs", shape=(10**9, 12, 7), dtype="f4", chunks=(1000, 12, 7)))),
    case("predict/config-wrong-type", "sequence predict {tmp}/run --data {w}/data.h5 --split all", "config.json",
         run_copy(lambda r: (r / "config.json").write_text("[1, 2]"))),
    case("predict/config-not-json", "sequence predict {tmp}/run --data {w}/data.h5 --split all", "not valid JSON",
         run_copy(lambda r: (r / "config.json").write_text("{"))),
    case("predict/checkpoint-missing", "sequence predict {tmp}/run --data {w}/data.h5 --split all", "best.ckpt: checkpoint not found",
         run_copy(lambda r: (r / "checkpoints" / "best.ckpt").unlink())),
    case("predict/checkpoint-garbage", "sequence predict {tmp}/run --data {w}/data.h5 --split all", "best.ckpt: not a readable simrnn checkpoint",
         run_copy(lambda r: (r / "checkpoints" / "best.ckpt").write_bytes(b"junk"))),
    case("predict/n-plot-negative", "sequence predict {w}/run --data {w}/data.h5 --split all --n-plot -1 --out {tmp}/p",
         "--n-plot is -1"),
    case("predict/out-under-a-file", "sequence predict {w}/run --data {w}/data.h5 --split all --out {w}/file/p",
         "file/p.*(a path component is not a directory|cannot be created because .*file is not a directory)"),
    case("predict/out-exists", "sequence predict {w}/run --data {w}/data.h5 --split all --out {w}/csv",
         "exists already|already exists"),
    case("predict/split-bogus", "sequence predict {w}/run --data {w}/data.h5 --split sideways", "--split"),
    # ------------------------------------------------------------------ calibrate
    case("calibrate/obs-missing", "calibrate {w}/run --obs {tmp}/none.dat --fixed pressure=0.2 --out {tmp}/c",
         "none.dat: observation file not found"),
    case("calibrate/obs-1e300", "calibrate {w}/run --obs {tmp}/o.dat --fixed pressure=0.2 --out {tmp}/c",
         "o.dat: data row 1 holds a value beyond", write_file("o.dat", "# epsilon_axial e p q\n0 1e300 1e300 1e300\n0.001 1e300 1e300 1e300\n")),
    case("calibrate/param-range-1e300",
         "calibrate {w}/run --obs {w}/obs.dat --fixed pressure=0.2 --param E=0:1e300 --out {tmp}/c", "range of 'E' .* must lie within"),
    case("calibrate/obs-names-duplicate",
         "calibrate {w}/run --obs {w}/obs.dat --fixed pressure=0.2 --obs-names e,e --out {tmp}/c", "named twice"),
    case("calibrate/samples-0", "calibrate {w}/run --obs {w}/obs.dat --fixed pressure=0.2 --samples 0 --out {tmp}/c",
         "--samples must be"),
    case("calibrate/run-missing", "calibrate {tmp}/nope --obs {w}/obs.dat --fixed pressure=0.2 --out {tmp}/c",
         "nope: not a simrnn run directory"),
    case("calibrate/out-under-a-file", "calibrate {w}/run --obs {w}/obs.dat --fixed pressure=0.2 --out {w}/file/c",
         "file/c.*(a path component is not a directory|cannot be created because .*file is not a directory)"),
    # ------------------------------------------------------------------ export
    case("export/run-missing", "export {tmp}/nope --format onnx", "nope: not a simrnn run directory"),
    case("export/format-bogus", "export {w}/run --format pickle --out {tmp}/e", "unknown export format"),
    case("export/out-exists", "export {w}/run --format torchscript --out {w}/csv", "already exists"),
    case("export/no-best-checkpoint", "export {tmp}/run --format torchscript --out {tmp}/e", "best.ckpt",
         run_copy(lambda r: (r / "checkpoints" / "best.ckpt").unlink())),
    # ------------------------------------------------------------------ runs
    case("runs/root-is-a-file", "runs list --root {w}/file", "file: not a directory"),
    case("runs/compare-missing", "runs compare {tmp}/a {tmp}/b", "not a simrnn run directory"),
    case("runs/compare-not-a-run", "runs compare {w}/run {w}/csv", "csv: not a simrnn run directory"),
    case("demo/workdir-under-a-file", "demo --workdir {w}/file/demo", "file/demo.*(a path component is not a directory|cannot be created because .*file is not a directory)"),
    case("demo/too-few-samples", "demo --workdir {tmp}/demo --samples-per-group 2 --epochs 1",
         "--samples-per-group is 2; the demo needs at least 3"),
    case("demo/samples-0", "demo --workdir {tmp}/demo --samples-per-group 0 --epochs 1",
         "--samples-per-group is 0; the demo needs at least 3"),
]


def _forged_cache(tmp: Path, w: Path) -> None:
    """A file claiming to be a cache whose x axis declares 10**9 values never written."""
    shutil.copyfile(w / "cache.h5", tmp / "bad.h5")
    with h5py.File(tmp / "bad.h5", "a") as f:
        del f["x"]
        f.create_dataset("x", shape=(10**9,), dtype="f8", chunks=(10**6,))


_BOX = "╭╮╰╯─│ Error"  # the characters of the frame of click's rich error box


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


@pytest.mark.parametrize(
    "c",
    [pytest.param(c, id=c.id, marks=[pytest.mark.xfail(strict=False, reason=c.owner)] if c.owner else [])
     for c in CASES],
)
def test_hostile_input_is_one_sentence_and_exit_2(c: Case, world: Path, tmp_path: Path) -> None:
    if c.setup is not None:
        c.setup(tmp_path, world)
    before, world_before = _files(tmp_path), _files(world)
    args = [a.replace("{tmp}", str(tmp_path)).replace("{w}", str(world)) for a in c.args]
    try:
        result = CliRunner().invoke(app, args)
    finally:
        while _HELD:
            os.close(_HELD.pop())
    assert isinstance(result.exception, SystemExit), f"traceback: {result.exception!r}\n{result.output}"
    assert result.exit_code == 2, result.output
    stderr = result.stderr.strip()
    assert "Traceback" not in result.output
    lines = stderr.splitlines()
    if lines and lines[0].startswith("Usage:"):  # click's usage error: usage, hint, then the message box
        lines = [line for line in lines[2:] if set(line) - set(_BOX)]
    assert 1 <= len(lines) <= 3, stderr
    assert re.search(c.expect, stderr), stderr
    left = {p for p in _files(tmp_path) - before - set(c.keep) if Path(p).name not in stderr}  # kept and said so
    assert not left, f"left behind: {sorted(left)}"
    assert _files(world) == world_before, "a valid shared input was changed"


def test_every_command_has_hostile_cases() -> None:
    """The table covers every command ``simrnn --help`` lists (sweep and hpc: see their own tests)."""
    import typer.main

    group = typer.main.get_command(app)
    commands = set()
    for name, command in group.commands.items():
        sub = getattr(command, "commands", None)
        commands |= {f"{name} {s}" for s in sub} if sub else {name}
    covered = Counter(" ".join(a for a in c.args[:2] if not a.startswith(("{", "-"))) for c in CASES)
    covered = {k if k in commands else k.split()[0]: v for k, v in covered.items()}
    missing = sorted(cmd for cmd in commands - set(covered) if not cmd.startswith(("sweep", "hpc")))
    assert not missing, f"commands without hostile cases: {missing}"


def test_sigint_during_convert_says_what_was_kept(tmp_path: Path, monkeypatch) -> None:
    """Ctrl-C after two steps: one line naming the kept steps and the partial file, exit 130, resume works."""
    from simrnn.fields import cache

    csv_dir(tmp_path / "csv", 4)
    real = cache._PartialCache.write
    calls = []

    def interrupted_write(self, step):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(step.index)
        real(self, step)

    monkeypatch.setattr(cache._PartialCache, "write", interrupted_write)
    result = CliRunner().invoke(app, ["fields", "convert", str(tmp_path / "csv"), str(tmp_path / "c.h5"), "--workers", "1"])
    assert result.exit_code == 130 and isinstance(result.exception, SystemExit)
    assert result.stderr.strip().splitlines() == [
        f"interrupted; 2 of 4 time steps are kept in {tmp_path / 'c.h5.partial'}; run the same command again to resume"
    ]
    monkeypatch.setattr(cache._PartialCache, "write", real)
    result = CliRunner().invoke(app, ["fields", "convert", str(tmp_path / "csv"), str(tmp_path / "c.h5")])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.h5", "csv"]


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, MemoryError])
def test_a_failed_or_interrupted_fields_synth_leaves_nothing(tmp_path: Path, monkeypatch, interrupt) -> None:
    from simrnn.fields import synthetic

    real, written = synthetic._write_csv, []

    def fail_on_third(path, coords, step):
        if len(written) == 2:
            raise interrupt
        written.append(path)
        real(path, coords, step)

    monkeypatch.setattr(synthetic, "_write_csv", fail_on_third)
    result = CliRunner().invoke(app, ["fields", "synth", str(tmp_path / "new" / "csv"), "--grid", "6x4x3", "--steps", "5"])
    assert list(tmp_path.iterdir()) == []  # neither the CSVs nor the folders made for them
    if interrupt is KeyboardInterrupt:
        assert result.exit_code == 130
        assert result.stderr.strip() == "interrupted; the 2 CSV files written so far were removed; nothing was kept"
    else:
        assert isinstance(result.exception, MemoryError)


def test_the_console_script_boundary_prints_one_line(tmp_path: Path, capsys) -> None:
    """``simrnn.cli.main`` (the console script) exits 2 with one line for a user error and a path error."""
    from simrnn.cli import main

    for args, fragment in ((["fields", "info", str(tmp_path / "none.h5")], "cache file not found"),
                           (["sequence", "synth", "/proc/simrnn_hostile.h5"], "/proc")):
        with pytest.raises(SystemExit) as exit_info:
            main(args)
        assert exit_info.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and fragment in err[0] and err[0].startswith("error: ")


def test_json_writer_refuses_nan(tmp_path: Path) -> None:
    from simrnn.errors import UserInputError
    from simrnn.files import write_json_atomic

    with pytest.raises(UserInputError, match=r"m.json: refusing to write the non-finite value nan at key 'metrics'\['mse'\]"):
        write_json_atomic(tmp_path / "m.json", {"metrics": {"mse": float("nan")}})
    assert list(tmp_path.iterdir()) == []
    write_json_atomic(tmp_path / "m.json", {"metrics": {"mse": 0.5}})
    assert json.loads((tmp_path / "m.json").read_text()) == {"metrics": {"mse": 0.5}}
