"""Exported surrogates against simrnn's own prediction on the CPU, side by side.

    .venv/bin/python benchmarks/export.py [--repeats 5] [--threads 1,all]

Sequence: GrainLearning's drained surrogate (imported; U = D = 200, window 4, pad 0) on N = 50 and
500 sequences of 200 steps (N x 197 windows): ``simrnn.sequence.predict`` (the shared-work LSTM
path) against the ONNX export in onnxruntime and the TorchScript export, both of which run
``nn.LSTM``'s window model on every window. Fields: one frame (batch 1, 3 context frames) at
LASERNet's xz plane (47 x 465) for CNN-LSTM and PredRNN at the registry defaults (hidden 64, 4
layers; random weights: the speed does not depend on them): ``run.model`` on normalised inputs (as
``simrnn.fields.predict`` calls it, in the layout simrnn picks) against the exports.

All methods of a table run alternately (A/B/C/A/B/C), one warm call first; median and best round.
Every table runs at each of ``--threads`` (default: 1 and all cores of the affinity mask), the same
count for torch and onnxruntime's intra-op pool: on a shared machine, multi-threaded PyTorch stalls
on a busy core, so the one-thread tables are the steadier comparison.
The largest difference of each export from simrnn (relative to the largest output) is printed too.
Prints date, CPU model and flags, threads and load averages; writes ``benchmarks/results/export.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from sequence import alternate  # benchmarks/sequence.py: the A/B/A/B timing loop

from simrnn.checkpoints import write_checkpoint
from simrnn.cpu import affinity_cpus, cpu_flags, cpu_model
from simrnn.export import export_run
from simrnn.export.formats import load_torchscript
from simrnn.fields.predict import load_fields_run
from simrnn.files import write_json_atomic
from simrnn.registry import build_model
from simrnn.runs import package_versions
from simrnn.sequence import import_keras, load_run, predict

ROOT = Path(__file__).resolve().parents[1]
MODEL_DIR = ROOT / "tests" / "data" / "grainlearning" / "rnn_triaxial_drained"
RESULTS = ROOT / "benchmarks" / "results" / "export.json"
SEQUENCE_LENGTH = 200
#: GrainLearning's training ranges: E (log10 Pa), v, kr, eta, mu; confining pressure 0.2 MPa.
PARAM_LOW, PARAM_HIGH = np.array([7.0, 0.0, 0.0, 0.0, 0.0]), np.array([10.0, 0.5, 1.0, 1.0, 60.0])
FIELD_SHAPE, FIELD_CONTEXT = (47, 465), 3
FIELD_META = {"plane": "xz", "seq_length": FIELD_CONTEXT, "image_size": list(FIELD_SHAPE),
              "split_ratio": [12, 6, 6], "normalisation": {"t_ambient_K": 300.0, "t_max_train_K": 2100.0},
              "solidification_band_K": [1600.0, 1700.0]}


def drained_batch(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``inputs [n, 200, 1]`` (e_z = 0, 0.001, ...) and ``params [n, 6]`` (random, pressure 0.2)."""
    rng = np.random.default_rng(seed)
    inputs = np.broadcast_to(np.arange(SEQUENCE_LENGTH, dtype=np.float32)[None, :, None] * 1e-3,
                             (n, SEQUENCE_LENGTH, 1)).copy()
    params = np.concatenate([rng.uniform(PARAM_LOW, PARAM_HIGH, (n, 5)), np.full((n, 1), 0.2)], axis=1)
    return inputs, params.astype(np.float32)


def field_frame(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``context [1, 3, 10, 47, 465]`` (channel 0 in K, IPF in [0, 1]) and ``future [1, 1, 47, 465]`` (K)."""
    rng = np.random.default_rng(seed)
    context = rng.uniform(0, 1, (1, FIELD_CONTEXT, 10, *FIELD_SHAPE)).astype(np.float32)
    context[:, :, 0] = rng.uniform(300, 2100, (1, FIELD_CONTEXT, *FIELD_SHAPE))
    return context, rng.uniform(300, 2100, (1, 1, *FIELD_SHAPE)).astype(np.float32)


def field_run(root: Path, name: str) -> Path:
    """A fields run directory with a randomly initialised model at the registry defaults."""
    run = root / name
    (run / "checkpoints").mkdir(parents=True)
    write_json_atomic(run / "config.json", {"task": "fields", "model": {"name": name}})
    write_checkpoint(run / "checkpoints" / "best.ckpt", build_model(name),
                     {"model_name": name, "model_args": {}, "data_meta": FIELD_META})
    return run


def simrnn_field_predictor(model: torch.nn.Module):
    """``f(context, future) -> [1, 9, H, W]``: the model on inputs normalised as simrnn's dataset does."""
    norm = FIELD_META["normalisation"]
    lo, span = norm["t_ambient_K"], norm["t_max_train_K"] - norm["t_ambient_K"]

    def run(context: np.ndarray, future: np.ndarray) -> np.ndarray:
        normalised = context.copy()
        normalised[:, :, 0] = (context[:, :, 0] - lo) / span
        with torch.no_grad():
            return model(torch.from_numpy(normalised), torch.from_numpy((future - lo) / span)).numpy()

    return run


def exported(folder: Path, threads: int):
    """``f(*arrays) -> first output`` of an export folder: onnxruntime session or torch.jit.load."""
    manifest = json.loads((folder / "manifest.json").read_text())
    if manifest["format"] == "onnx":
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        session = ort.InferenceSession(str(folder / manifest["file"]), options, providers=["CPUExecutionProvider"])
        names = [i["name"] for i in manifest["inputs"]]
        return lambda *arrays: session.run(None, dict(zip(names, arrays, strict=True)))[0]
    module = load_torchscript(folder / manifest["file"])

    def run(*arrays):
        with torch.no_grad():
            return module(*map(torch.from_numpy, arrays)).numpy()

    return run


def relative_difference(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.abs(got - want).max() / np.abs(want).max())


def bench(title: str, methods: dict, reference: str, args_: tuple, rounds: int, per: int, unit: str) -> dict:
    """Time ``methods`` alternately, print one table, return the row."""
    load = os.getloadavg()[0]
    times = alternate({k: (lambda f=f: f(*args_)) for k, f in methods.items()}, rounds)
    want = methods[reference](*args_)
    diffs = {k: relative_difference(f(*args_), want) for k, f in methods.items() if k != reference}
    print(f"{title}   (load average {load:.2f})")
    print(f"  {'method':24s} {'median ms':>10s} {'best ms':>9s} {unit + '/s':>9s} {'vs simrnn':>9s} {'max rel diff':>12s}")
    base = times[reference]["median_ms"]
    for name, t in times.items():
        diff = f"{diffs[name]:.1e}" if name in diffs else "-"
        print(f"  {name:24s} {t['median_ms']:10.1f} {t['best_ms']:9.1f} {per / t['median_ms'] * 1e3:9.1f} "
              f"{base / t['median_ms']:8.2f}x {diff:>12s}")
    return {"title": title, "times": times, "max_relative_difference": diffs, "load_average": load}


def thread_counts(text: str) -> list[int]:
    """``"1,all"`` -> ``[1, cores of the affinity mask]`` (duplicates dropped)."""
    counts = [len(affinity_cpus()) if item == "all" else int(item) for item in text.split(",")]
    return list(dict.fromkeys(counts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds per table (fewer for the big ones)")
    parser.add_argument("--threads", default="1,all", help="comma-separated thread counts for torch and "
                        "onnxruntime, 'all' = the cores of the affinity mask")
    args = parser.parse_args()
    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpu": cpu_model(), "flags": cpu_flags(),
              "affinity_cpus": len(affinity_cpus()), "load_average": list(os.getloadavg()),
              "versions": package_versions(), "tables": []}
    print(f"{result['date']}  CPU: {result['cpu']}, {result['affinity_cpus']} cores; "
          f"load average {' '.join(f'{v:.2f}' for v in result['load_average'])}")
    print("flags: " + ", ".join(f"{k}={v}" for k, v in result["flags"].items()))
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = import_keras(MODEL_DIR, out=Path(tmp) / "drained")
        run = load_run(run_dir)
        sequence_exports = {fmt: export_run(run_dir, fmt) for fmt in ("onnx", "torchscript")}
        field_dirs = {name: field_run(Path(tmp), name) for name in ("cnn-lstm", "predrnn")}
        field_exports = {(name, fmt): export_run(d, fmt) for name, d in field_dirs.items()
                         for fmt in ("onnx", "torchscript")}
        for threads in thread_counts(args.threads):
            torch.set_num_threads(threads)
            print(f"--- torch and onnxruntime threads: {threads}")
            methods = {"simrnn predict": lambda x, p: predict(run, x, p)}
            methods.update({f"{fmt} export": exported(f, threads) for fmt, f in sequence_exports.items()})
            for n in (50, 500):
                rounds = args.repeats if n == 50 else max(3, args.repeats // 2)
                row = bench(f"drained sequences: N = {n} x {SEQUENCE_LENGTH} steps, {threads} thread(s)",
                            methods, "simrnn predict", drained_batch(n), rounds, n, "seq")
                result["tables"].append({**row, "threads": threads})
            for name, field_dir in field_dirs.items():
                methods = {"simrnn model": simrnn_field_predictor(load_fields_run(field_dir).model)}
                methods.update({f"{fmt} export": exported(field_exports[name, fmt], threads)
                                for fmt in ("onnx", "torchscript")})
                row = bench(f"{name} one frame: 1 x 3 x 10 x {FIELD_SHAPE[0]} x {FIELD_SHAPE[1]}, {threads} thread(s)",
                            methods, "simrnn model", field_frame(), args.repeats, 1, "frame")
                result["tables"].append({**row, "threads": threads})
    result["load_average_at_end"] = list(os.getloadavg())
    print(f"load average at end: {' '.join(f'{v:.2f}' for v in result['load_average_at_end'])}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written {RESULTS}")


if __name__ == "__main__":
    main()
