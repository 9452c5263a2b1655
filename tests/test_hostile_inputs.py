"""Every command against hostile and broken input: exit 2, one short message, no traceback, nothing left.

The table :data:`CASES` has one row per case (see :mod:`hostile_cases` for the row and the check):
hand-written rows for what is particular to a command, plus rows GENERATED from the registry:
:func:`hostile_cases.task_cases` for the ``train`` command of every task and
:func:`hostile_cases.checkpoint_cases` (crafted checkpoints for every checkpoint reader).
:func:`test_every_command_has_hostile_cases` walks the whole command tree and fails, naming the
command, when a command has no row. Rows whose fix belongs to another module's owner are marked
``xfail(strict=False)`` with the owner. Add a row for every new way of breaking a command.
"""

from __future__ import annotations

import os
import pickle
import shutil
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from hostile_cases import Case, case, check_case, checkpoint_cases, hold_flock, task_cases, write_file
from hostile_setups import (
    CSV_COLUMNS,
    DATA,
    Call,
    _claim_other_checksum,
    _fields_run,
    _forged_cache,
    cache_with_nan,
    copy_of,
    corrupt_data,
    corrupt_metadata,
    csv_dir,
    edit_csv,
    external_weight,
    h5_with,
    hold_lock,
    model_copy,
    replace_dataset,
    replace_weight,
    run_copy,
    scale_dataset,
    set_value,
    stats_with,
    truncated_copy,
    weights_with,
    write_csv,
    yade_file,
    yade_simulation,
)

from simrnn.cli import app
from simrnn.registry import task_names


@pytest.fixture(scope="module")
def world(tmp_path_factory, learnable_h5_writer) -> Path:
    """Valid inputs shared by the cases: data.h5, csv/, model/ (Keras), run/ (imported), obs.dat, cache.h5."""
    from simrnn.engine import fit
    from simrnn.fields.cache import convert
    from simrnn.sequence.keras_import import import_keras

    w = tmp_path_factory.mktemp("world")
    learnable_h5_writer(w / "data.h5", n_per_group=8, steps=12, groups=("0.2e6",))
    csv_dir(w / "csv")
    convert(w / "csv", w / "cache.h5")
    shutil.copytree(DATA / "rnn_triaxial_drained", w / "model",
                    ignore=shutil.ignore_patterns("reference_predictions.npz"))
    import_keras(w / "model", out=w / "run")
    _fields_run(w / "frun", w / "cache.h5")
    trained = fit("sequence", {"raw_data": str(w / "data.h5"), "epochs": 2, "lstm_units": 4, "dense_units": 4,
                               "window_size": 3, "batch_size": 64, "runs_root": str(w / "truns"),
                               "accelerator": "cpu", "devices": "1", "progress_bar": False, "threads": "1"})
    trained.rename(w / "trun")
    shutil.copyfile(DATA / "experimental_test_drained_s3=0.2.dat", w / "obs.dat")
    (w / "file").write_text("a regular file\n")
    return w


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
    case("fpredict/sequence-run", "fields predict {w}/run", "run is a sequence run, expected a fields run"),
    case("frollout/run-missing", "fields rollout {tmp}/nope", "nope: not a simrnn run directory"),
    case("frollout/sequence-run", "fields rollout {w}/run", "run is a sequence run, expected a fields run"),
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
         yade_file(Call(os.system, "touch pwned"))),
    case("yade/bytes-1e15", "sequence from-yade {tmp}/yade {tmp}/o.h5", r"bytes\(\) is allowed only",
         yade_file(Call(bytes, 10**15))),
    case("yade/list-reduce", "sequence from-yade {tmp}/yade {tmp}/o.h5", "global 'builtins.list' is not allowed",
         yade_file(Call(list, (1, 2)))),
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
         model_copy(lambda f: (f / "train_stats.npy").write_bytes(pickle.dumps(Call(os.system, "true"))))),
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
    case("calibrate/samples-0", "calibrate {w}/run --obs {w}/obs.dat --fixed pressure=0.2 --sampler grainlearning --samples 0 "
         "--out {tmp}/c",
         "--samples must be"),
    case("calibrate/sequence-group-obs-missing",
         "sequence calibrate {w}/run --obs {tmp}/none.dat --fixed pressure=0.2 --out {tmp}/c",
         "none.dat: observation file not found"),
    case("calibrate/run-missing", "calibrate {tmp}/nope --obs {w}/obs.dat --fixed pressure=0.2 --out {tmp}/c",
         "nope: not a simrnn run directory"),
    case("calibrate/out-under-a-file", "calibrate {w}/run --obs {w}/obs.dat --fixed pressure=0.2 --out {w}/file/c",
         "file/c.*(a path component is not a directory|cannot be created because .*file is not a directory)"),
    # ------------------------------------------------------------------ new conditions, hybrid calibration, cascade
    case("predict/strain-not-a-number", "sequence predict {w}/run --strain 0:zz:200 --param E=8 --out {tmp}/p",
         "--strain is '0:zz:200'; expected START:STOP:STEPS"),
    case("predict/param-nan", "sequence predict {w}/run --strain 0:0.2:200 --param E=nan --param v=0.3 --param kr=0.5 "
         "--param eta=0.5 --param mu=30 --param pressure=0.2 --out {tmp}/p", "--param 'E=nan': expected a finite number"),
    case("predict/param-missing", "sequence predict {w}/run --strain 0:0.2:200 --param E=8 --out {tmp}/p",
         "--param missing for v, kr, eta, mu, pressure"),
    case("calibrate/simulator-unknown", "calibrate --simulator nosuch --param E=7:10 --obs {w}/obs.dat "
         "--fixed pressure=0.2 --out {tmp}/c", "--simulator 'nosuch': expected 'triaxial' or a Python callable"),
    case("rollout/temperature-not-a-fields-run", "fields rollout {w}/run --temperature {w}/run --steps 2",
         "run is a sequence run, expected a fields run"),
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


CASES += [
    # ------------------------------------------------------------------ runs of one task; resume
    case("predict/fields-run", "sequence predict {w}/frun --data {w}/data.h5 --split all",
         r"frun is a fields run, expected a sequence run"),
    case("calibrate/fields-run", "sequence calibrate {w}/frun --obs {w}/obs.dat --fixed pressure=0.2 --out {tmp}/c",
         r"frun is a fields run, expected a sequence run"),
    case("fpredict/cache-replaced-in-place", "fields predict {tmp}/frun --out {tmp}/p",
         r"cache.h5: changed since .*frun was trained on it", copy_of("frun", _claim_other_checksum)),
    case("runs/compare-across-tasks", "runs compare {w}/run {w}/frun",
         r"frun is a fields run but .*run is a sequence run; compare runs of one task"),
    case("resume/epochs-below-trained", "sequence train --resume {tmp}/trun --epochs 1",
         r"the run has trained 2 epochs already; resume with epochs above 2 \(got 1\)", copy_of("trun")),
    case("resume/epochs-equal-trained", "sequence train --resume {tmp}/trun --epochs 2",
         r"the run has trained 2 epochs already", copy_of("trun")),
    case("resume/second-trainer", "sequence train --resume {tmp}/trun --epochs 9",
         r"trun: another process is training this run right now", copy_of("trun", hold_flock("trun/.run.lock"))),
    case("ftrain/t-max-nan", "fields train --cache {tmp}/c.h5 --seq-length 1 --epochs 1 --runs-root {tmp}/runs "
         "--t-solidus 1000 --t-liquidus 1200",
         r"nan|NaN", cache_with_nan),
]
#: generated from the registry: every task's train command, every checkpoint reader.
CASES += [c for task in task_names() for c in task_cases(task)] + checkpoint_cases()


@pytest.mark.parametrize(
    "c",
    [pytest.param(c, id=c.id, marks=[pytest.mark.xfail(strict=False, reason=c.owner)] if c.owner else [])
     for c in CASES],
)
def test_hostile_input_is_one_sentence_and_exit_2(c: Case, world: Path, tmp_path: Path) -> None:
    check_case(c, app, world, tmp_path)


#: command groups whose hostile inputs are tested in their own files (they need servers or studies).
ELSEWHERE = {"sweep": "tests/sweep/", "hpc": "tests/test_hpc.py", "export": "tests/test_export*.py"}


def command_paths(command, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every leaf command of the click tree under ``command``, as name tuples."""
    sub = getattr(command, "commands", None)
    if not sub:
        return [prefix]
    return [path for name, child in sub.items() for path in command_paths(child, (*prefix, name))]


def test_every_command_has_hostile_cases() -> None:
    """Every leaf command of ``simrnn`` (the CLI built from the registry) has at least one row."""
    import typer.main

    words = [tuple(a for a in c.args if not a.startswith(("{", "-")))[:3] for c in CASES]
    missing = []
    for path in command_paths(typer.main.get_command(app)):
        if path[0] in ELSEWHERE:
            assert list(Path(__file__).parent.parent.glob(ELSEWHERE[path[0]])), ELSEWHERE[path[0]]
            continue
        if not any(w[:len(path)] == path for w in words):
            missing.append(" ".join(path))
    assert not missing, ("commands without hostile-input cases: " + ", ".join(f"'simrnn {m}'" for m in missing)
                         + "; add rows to CASES in tests/test_hostile_inputs.py")


def test_the_meta_test_names_a_command_without_cases(monkeypatch) -> None:
    """A new command without rows fails the meta-test with a message naming it."""
    import typer

    extra = typer.Typer()
    extra.command("new-thing")(lambda: None)
    extra.command("other")(lambda: None)
    monkeypatch.setattr(sys.modules[__name__], "app", _with_group(extra))
    with pytest.raises(AssertionError, match=r"'simrnn brand-new new-thing', 'simrnn brand-new other'; add rows"):
        test_every_command_has_hostile_cases()


def _with_group(extra):
    from simrnn.cli import build_app

    root = build_app()
    root.add_typer(extra, name="brand-new")
    return root
