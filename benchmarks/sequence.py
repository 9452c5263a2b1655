"""Sequence surrogate speed: prediction throughput of the imported drained GrainLearning model and
training time per epoch. Prints a table and writes ``benchmarks/results/sequence.json``.

    .venv/bin/python benchmarks/sequence.py [--repeats 15] [--train-epochs 3] [--skip-training]

Prediction: ``simrnn.sequence.predict`` on N sequences of 200 steps (drained: e_z = 0 .. 0.199,
window 4, so N x 197 windows), warm, median (and min) of several calls. For comparison: the same
windows through the model's own ``forward`` (``nn.LSTM``, what ``predict`` did before it shared
work between windows), and the arithmetic floor, the matrix products alone: every window step
after the first multiplies ``[N*K, 200] x [200, 800]``; for N = 50 that is 3 GEMMs of 3.1 GFLOP
plus 0.8 GFLOP for the Dense layer, about 60 ms at ~160 GFLOPS (2 AVX2 cores).
GrainLearning's TensorFlow prediction takes about 4 s for 50 sequences on a 2-core CPU.

Training: ``simrnn.sequence.train`` with the drained model's settings on synthetic triaxial data
(``write_synthetic_triaxial``); time per epoch = (t(E epochs) - t(1 epoch)) / (E - 1), which
removes data loading, set-up and the final evaluation.

Timings are only meaningful on an otherwise idle machine: with other processes competing for the
cores, OpenMP parallel regions wait for descheduled threads and any timing here can grow several
fold. The 1-minute load average at start and end is recorded with the results.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from simrnn.runs import package_versions
from simrnn.sequence import import_keras, load_run, predict
from simrnn.sequence.predict import CHUNK_ROWS, sliding_windows

MODEL_DIR = Path(__file__).resolve().parents[1] / "tests" / "data" / "grainlearning" / "rnn_triaxial_drained"
RESULTS = Path(__file__).resolve().parent / "results" / "sequence.json"
SEQUENCE_LENGTH = 200
#: GrainLearning's training ranges: E (log10 Pa), v, kr, eta, mu; confining pressure 0.2 MPa.
PARAM_LOW, PARAM_HIGH = np.array([7.0, 0.0, 0.0, 0.0, 0.0]), np.array([10.0, 0.5, 1.0, 1.0, 60.0])


def drained_batch(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``inputs [n, 200, 1]`` (e_z = 0, 0.001, ...) and ``params [n, 6]`` (random, pressure 0.2)."""
    rng = np.random.default_rng(seed)
    inputs = np.broadcast_to(np.arange(SEQUENCE_LENGTH, dtype=np.float32)[None, :, None] * 1e-3,
                             (n, SEQUENCE_LENGTH, 1)).copy()
    params = np.concatenate([rng.uniform(PARAM_LOW, PARAM_HIGH, (n, 5)), np.full((n, 1), 0.2)], axis=1)
    return inputs, params.astype(np.float32)


def timed(fn, args: tuple, repeats: int) -> dict[str, float]:
    """Warm call, then ``repeats`` timed calls of ``fn(*args)``: median and min in ms."""
    fn(*args)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return {"median_ms": 1e3 * float(np.median(times)), "min_ms": 1e3 * float(np.min(times))}


@torch.inference_mode()
def forward_all_windows(run, inputs: np.ndarray, params: np.ndarray) -> torch.Tensor:
    """The model's own forward (``nn.LSTM``) on every window: what ``predict`` did before."""
    x, p = torch.from_numpy(inputs), torch.from_numpy(params)
    windows = sliding_windows(x, run.window_size, run.pad_length)
    n, k = windows.shape[:2]
    return run.model(windows.reshape(n * k, run.window_size, -1), p.repeat_interleave(k, 0))


@torch.inference_mode()
def gemm_floor(run, inputs: np.ndarray, params: np.ndarray) -> None:
    """Only the unavoidable matrix products, in ``predict``'s blocks: (W - 1) x ``[N*K, U] x [U, 4U]``
    and the Dense layer ``[N*K, U] x [U, D]``."""
    model, n_windows = run.model, len(inputs) * (inputs.shape[1] - run.window_size + 1)
    rows = max(len(inputs), CHUNK_ROWS // len(inputs) * len(inputs))
    h = torch.rand(rows, model.lstm.hidden_size)
    gates, dense = torch.empty(rows, 4 * model.lstm.hidden_size), torch.empty(rows, model.dense.out_features)
    for _ in range(0, n_windows, rows):
        for _ in range(run.window_size - 1):
            torch.mm(h, model.lstm.weight_hh_l0.t(), out=gates)
        torch.mm(h, model.dense.weight.t(), out=dense)


def bench_prediction(run, repeats: int) -> list[dict]:
    rows = []
    for n in (50, 500):
        inputs, params = drained_batch(n)
        reps = repeats if n == 50 else max(3, repeats // 3)
        for method, fn in (("simrnn predict", predict), ("before: nn.LSTM on all windows", forward_all_windows),
                           ("floor: the GEMMs alone", gemm_floor)):
            t = timed(fn, (run, inputs, params), reps)
            rows.append({"method": method, "n_sequences": n, "steps": SEQUENCE_LENGTH, **t,
                         "sequences_per_s": n / (t["median_ms"] / 1e3)})
    return rows


def bench_training(epochs: int, workdir: Path) -> dict:
    from simrnn.sequence import train
    from simrnn.sequence.triaxial import write_synthetic_triaxial

    data = write_synthetic_triaxial(workdir / "triaxial.h5", 100, experiment_types=("drained",), seed=0)
    config = {
        "raw_data": str(data), "pressure": "All", "experiment_type": "drained", "add_pressure": True,
        "add_experiment_type": False, "add_e0": False, "window_size": 4, "window_step": 1,
        "lstm_units": 200, "dense_units": 200, "batch_size": 256, "patience": 1000, "seed": 0,
        "accelerator": "cpu", "progress_bar": False, "runs_root": str(workdir / "runs"),
    }
    wall = {}
    for n_epochs in (1, epochs):
        start = time.perf_counter()
        run_dir = train({**config, "epochs": n_epochs})
        wall[n_epochs] = time.perf_counter() - start
    n_windows = json.loads((run_dir / "config.json").read_text())["data"]["n_windows"]
    per_epoch = (wall[epochs] - wall[1]) / (epochs - 1)
    return {"sequences": 300, "train_windows": n_windows["train"], "val_windows": n_windows["val"],
            "batch_size": 256, "epochs": epochs, "seconds_per_epoch": per_epoch,
            "train_windows_per_s": n_windows["train"] / per_epoch, "wall_1_epoch_s": wall[1],
            f"wall_{epochs}_epochs_s": wall[epochs]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--train-epochs", type=int, default=3)
    parser.add_argument("--skip-training", action="store_true")
    args = parser.parse_args()

    result = {"machine": {"cpu": platform.processor() or platform.machine(), "torch_threads": torch.get_num_threads(),
                          "load_average_at_start": os.getloadavg()[0]},
              "versions": package_versions()}
    with tempfile.TemporaryDirectory() as tmp:
        run = load_run(import_keras(MODEL_DIR, out=Path(tmp) / "drained"))
        result["prediction"] = bench_prediction(run, args.repeats)
        print(f"{'prediction (drained, 200 steps)':34s} {'N':>4s} {'median ms':>10s} {'min ms':>8s} {'seq/s':>8s}")
        for row in result["prediction"]:
            print(f"{row['method']:34s} {row['n_sequences']:4d} {row['median_ms']:10.1f} {row['min_ms']:8.1f} "
                  f"{row['sequences_per_s']:8.0f}")
        if not args.skip_training:
            result["training"] = bench_training(args.train_epochs, Path(tmp))
            t = result["training"]
            print(f"training: {t['seconds_per_epoch']:.2f} s/epoch ({t['train_windows']} windows of 4 steps, "
                  f"batch 256, U = D = 200: {t['train_windows_per_s']:.0f} windows/s)")
    result["machine"]["load_average_at_end"] = os.getloadavg()[0]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written {RESULTS}")


if __name__ == "__main__":
    main()
