"""Sequence surrogate speed: prediction with the imported drained GrainLearning model on every
gate-product backend, its GEMM floor, bf16 against fp32, prediction next to a competing busy
process, and training time per epoch. Prints tables and writes ``benchmarks/results/sequence.json``.

    .venv/bin/python benchmarks/sequence.py [--repeats 9] [--train-epochs 3] [--skip-training]
    .venv/bin/python benchmarks/sequence.py --quick   # N = 50 only, 3 rounds, 2 training epochs;
                                                      # writes results/sequence_quick.json

Prediction: ``simrnn.sequence.predict`` on N = 50 and 500 sequences of 200 steps (drained: e_z =
0 .. 0.199, window 4, so N x 197 windows), warm; all methods of a table run alternately, one
call each per round, and the table gives the median and the best round.

- backends: each candidate of ``simrnn.sequence.backend.BACKENDS`` end to end, the one
  ``gate_backend`` chose, and each one's floor: the same matrix products in the same blocks
  without anything else (per block: the first step's small product, W - 1 products
  ``[rows, U + F + 1] x [U + F + 1, 4U]``, the Dense and output layers). The goal is prediction
  within 1.2x of the chosen backend's floor. These rows use the default thread count.
- bf16: ``precision="bf16"`` against fp32, time and error per label (max and RMS over all
  predicted steps, in units of the label's training std; goal 1e-2).
- contention: a child process spinning on one core of this process's affinity mask, started and
  stopped between rounds (idle round, busy round, ...): ``predict`` (blocks shared by one worker
  per core, each with one PyTorch thread), the same LSTM path on PyTorch's own threads (what
  ``predict`` did before) and ``predict(threads=1)``. Goal: ``predict`` at most 2x its idle time.

Training: ``simrnn.sequence.training.train`` with the drained model's settings on synthetic triaxial data
(``write_synthetic_triaxial``); time per epoch = (t(E epochs) - t(1 epoch)) / (E - 1), which
removes data loading, set-up and the final evaluation.

Other processes on the machine change every figure: the load average at start and end is
recorded and printed with the results.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

from simrnn.cpu import affinity_cpus, cpu_flags, cpu_model, has_bf16, share_work, worker_count
from simrnn.runs import package_versions
from simrnn.sequence import import_keras, load_run, predict
from simrnn.sequence.backend import BACKENDS, gate_backend, gate_product
from simrnn.sequence.predict import CHUNK_ROWS, _gate_weights, _predict_lstm, sliding_windows

MODEL_DIR = Path(__file__).resolve().parents[1] / "tests" / "data" / "grainlearning" / "rnn_triaxial_drained"
RESULTS = Path(__file__).resolve().parent / "results" / "sequence.json"
SEQUENCE_LENGTH = 200
#: GrainLearning's training ranges: E (log10 Pa), v, kr, eta, mu; confining pressure 0.2 MPa.
PARAM_LOW, PARAM_HIGH = np.array([7.0, 0.0, 0.0, 0.0, 0.0]), np.array([10.0, 0.5, 1.0, 1.0, 60.0])
SPIN = "import os, sys\nos.sched_setaffinity(0, {int(sys.argv[1])})\nwhile True:\n    pass\n"


def drained_batch(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``inputs [n, 200, 1]`` (e_z = 0, 0.001, ...) and ``params [n, 6]`` (random, pressure 0.2)."""
    rng = np.random.default_rng(seed)
    inputs = np.broadcast_to(np.arange(SEQUENCE_LENGTH, dtype=np.float32)[None, :, None] * 1e-3,
                             (n, SEQUENCE_LENGTH, 1)).copy()
    params = np.concatenate([rng.uniform(PARAM_LOW, PARAM_HIGH, (n, 5)), np.full((n, 1), 0.2)], axis=1)
    return inputs, params.astype(np.float32)


def machine() -> dict:
    return {"cpu": cpu_model(), "flags": cpu_flags(), "affinity_cpus": len(affinity_cpus()),
            "torch_threads": torch.get_num_threads(), "load_average": list(os.getloadavg())}


def alternate(methods: dict, rounds: int) -> dict[str, dict[str, float]]:
    """One warm call of each method, then ``rounds`` rounds of one timed call each: median and best (ms)."""
    for fn in methods.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in methods}
    for _ in range(rounds):
        for name, fn in methods.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: {"median_ms": 1e3 * float(np.median(t)), "best_ms": 1e3 * float(np.min(t))}
            for name, t in times.items()}


@torch.inference_mode()
def forward_all_windows(run, inputs: np.ndarray, params: np.ndarray) -> torch.Tensor:
    """The model's own forward (``nn.LSTM``) on every window: what ``predict`` did at first."""
    x, p = torch.from_numpy(inputs), torch.from_numpy(params)
    windows = sliding_windows(x, run.window_size, run.pad_length)
    n, k = windows.shape[:2]
    return run.model(windows.reshape(n * k, run.window_size, -1), p.repeat_interleave(k, 0))


@torch.inference_mode()
def torch_threads_predict(run, inputs: np.ndarray, params: np.ndarray) -> torch.Tensor:
    """``predict``'s LSTM path run by this thread alone on PyTorch's own (statically split) threads:
    how ``predict`` ran before it shared blocks between workers."""
    return _predict_lstm(run.model, torch.from_numpy(inputs), torch.from_numpy(params), run.window_size)


def gemm_floor(run, n: int, backend: str):
    """The matrix products of ``predict`` alone, in its blocks and workers, on ``backend``: a callable."""
    model, window = run.model, run.window_size
    units, k_total = model.lstm.hidden_size, SEQUENCE_LENGTH - window + 1
    stacked, _ = _gate_weights(model.lstm)
    block = max(1, min(k_total, CHUNK_ROWS // n))
    rows = block * n
    product = gate_product(backend, stacked, activation="none")
    workers = min(worker_count(), -(-k_total // block))

    def floor() -> None:
        starts, lock = iter(range(0, k_total, block)), threading.Lock()

        def job() -> None:
            hx1 = torch.rand(rows, stacked.shape[0])
            gates, dense = torch.empty(rows, 4 * units), torch.empty(rows, model.dense.out_features)
            head = torch.empty(rows, model.head.out_features)
            while (k0 := _next(starts, lock)) is not None:
                r = (min(k_total, k0 + block) - k0) * n
                torch.mm(hx1[:r, units:], stacked[units:], out=gates[:r])
                for _ in range(window - 1):
                    product(hx1[:r], gates)
                torch.addmm(model.dense.bias, hx1[:r, :units], model.dense.weight.t(), out=dense[:r])
                torch.addmm(model.head.bias, dense[:r], model.head.weight.t(), out=head[:r])

        share_work(job, workers)

    return floor


def _next(iterator, lock: threading.Lock):
    with lock:
        return next(iterator, None)


def bench_backends(run, n: int, rounds: int) -> dict:
    inputs, params = drained_batch(n)
    threads = torch.get_num_threads()
    stacked, _ = _gate_weights(run.model.lstm)
    chosen = gate_backend(stacked, max(1, min(SEQUENCE_LENGTH - run.window_size + 1, CHUNK_ROWS // n)) * n)
    methods = {}
    for name in BACKENDS:
        methods[f"predict, {name}"] = lambda name=name: predict(run, inputs, params, backend=name, threads=threads)
        methods[f"floor, {name}"] = gemm_floor(run, n, name)
    methods["predict, default (timed choice)"] = lambda: predict(run, inputs, params, threads=threads)
    methods[f"before: PyTorch's {threads} threads, static split"] = lambda: torch_threads_predict(run, inputs, params)
    methods["first version: nn.LSTM on all windows"] = lambda: forward_all_windows(run, inputs, params)
    times = alternate(methods, rounds)
    ratio = times[f"predict, {chosen}"]["median_ms"] / times[f"floor, {chosen}"]["median_ms"]
    return {"n_sequences": n, "threads": threads, "chosen_backend": chosen, "times": times,
            "predict_over_floor": ratio, "load_average": list(os.getloadavg())}


def label_errors(run, inputs: np.ndarray, params: np.ndarray) -> dict[str, dict[str, float]]:
    """bf16 against fp32 per label: max and RMS absolute error over all steps, in units of its std."""
    fp32 = predict(run, inputs, params)
    bf16 = predict(run, inputs, params, precision="bf16")
    err = np.abs(bf16 - fp32) / np.asarray(run.meta["output_std"], np.float32)
    return {label: {"max_over_std": float(err[..., i].max()), "rms_over_std": float(np.sqrt((err[..., i] ** 2).mean()))}
            for i, label in enumerate(run.output_labels)}


def bench_bf16(run, n: int, rounds: int) -> dict:
    inputs, params = drained_batch(n)
    methods = {"fp32": lambda: predict(run, inputs, params), "bf16": lambda: predict(run, inputs, params, precision="bf16")}
    times = alternate(methods, rounds)
    return {"n_sequences": n, "times": times, "errors": label_errors(run, inputs, params),
            "load_average": list(os.getloadavg())}


class Competitor:
    """A child process spinning on one CPU of this process's affinity mask while the block runs."""

    def __init__(self, cpu: int) -> None:
        self.cpu = cpu
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Competitor:
        self.process = subprocess.Popen([sys.executable, "-c", SPIN, str(self.cpu)])
        time.sleep(0.3)  # let it start spinning
        return self

    def __exit__(self, *exc) -> None:
        self.process.kill()
        self.process.wait()


def bench_contention(run, n: int, rounds: int) -> dict:
    """Idle and busy rounds alternate; each round times adaptive, fixed and 1-thread prediction."""
    inputs, params = drained_batch(n)
    threads = torch.get_num_threads()
    methods = {f"predict ({worker_count()} workers)": lambda: predict(run, inputs, params),
               f"before: PyTorch's {threads} threads, static split": lambda: torch_threads_predict(run, inputs, params),
               "predict, threads=1": lambda: predict(run, inputs, params, threads=1)}
    per_state = {"idle": [], "busy": []}
    for _ in range(rounds):
        per_state["idle"].append(alternate(methods, 1))
        with Competitor(affinity_cpus()[-1]):
            per_state["busy"].append(alternate(methods, 1))
    result = {"n_sequences": n, "competitor_cpu": affinity_cpus()[-1], "load_average": list(os.getloadavg())}
    for state, runs in per_state.items():
        result[state] = {name: {"median_ms": float(np.median([r[name]["median_ms"] for r in runs])),
                                "best_ms": float(np.min([r[name]["best_ms"] for r in runs]))} for name in methods}
    default = next(iter(methods))
    result["busy_over_idle"] = {name: result["busy"][name]["median_ms"] / result["idle"][name]["median_ms"]
                                for name in methods}
    result["predict_busy_over_idle"] = result["busy_over_idle"][default]
    return result


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


def print_times(title: str, times: dict, n: int) -> None:
    print(f"{title:40s} {'N':>4s} {'median ms':>10s} {'best ms':>8s} {'seq/s':>7s}")
    for name, t in times.items():
        print(f"  {name:38s} {n:4d} {t['median_ms']:10.1f} {t['best_ms']:8.1f} {n / t['median_ms'] * 1e3:7.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9, help="rounds per table (fewer for 500 sequences)")
    parser.add_argument("--train-epochs", type=int, default=3)
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument("--quick", action="store_true",
                        help="N = 50 only, 3 rounds, 2 training epochs; writes results/sequence_quick.json")
    args = parser.parse_args()
    sizes = (50,) if args.quick else (50, 500)
    if args.quick:
        args.repeats, args.train_epochs = 3, 2
    results_file = RESULTS.with_name("sequence_quick.json") if args.quick else RESULTS

    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine(),
              "versions": package_versions()}
    m = result["machine"]
    print(f"{result['date']}  CPU: {m['cpu']}, {m['affinity_cpus']} cores, torch threads {m['torch_threads']}, "
          f"load average {' '.join(f'{v:.2f}' for v in m['load_average'])}")
    print("flags: " + ", ".join(f"{k}={v}" for k, v in m["flags"].items()))
    with tempfile.TemporaryDirectory() as tmp:
        run = load_run(import_keras(MODEL_DIR, out=Path(tmp) / "drained"))
        result["backends"], result["bf16"], result["contention"] = [], [], []
        for n in sizes:
            rounds = args.repeats if n == 50 else max(3, args.repeats // 3)
            row = bench_backends(run, n, rounds)
            result["backends"].append(row)
            print_times(f"backends (chosen: {row['chosen_backend']})", row["times"], n)
            print(f"  predict / floor ({row['chosen_backend']}): {row['predict_over_floor']:.2f}   "
                  f"load average {row['load_average'][0]:.2f}")
        for n in sizes:
            if not has_bf16():
                print("bf16: this CPU has no bf16 dot products (AVX-512 BF16 / AMX); skipped.")
                break
            row = bench_bf16(run, n, args.repeats if n == 50 else max(3, args.repeats // 3))
            result["bf16"].append(row)
            print_times("precision", row["times"], n)
            print("  bf16 - fp32 error / std (max, rms): " + ", ".join(
                f"{k} {v['max_over_std']:.1e} {v['rms_over_std']:.1e}" for k, v in row["errors"].items()))
        if len(affinity_cpus()) > 1:
            for n in sizes:
                row = bench_contention(run, n, max(3, args.repeats // 3) if n == 50 else 2)
                result["contention"].append(row)
                for state in ("idle", "busy"):
                    print_times(f"contention: {state}" + (f" (spinner on cpu {row['competitor_cpu']})"
                                                          if state == "busy" else ""), row[state], n)
                print("  busy / idle: " + ", ".join(f"{k} {v:.2f}" for k, v in row["busy_over_idle"].items())
                      + f"   load average {row['load_average'][0]:.2f}")
        if not args.skip_training:
            result["training"] = bench_training(args.train_epochs, Path(tmp))
            t = result["training"]
            print(f"training: {t['seconds_per_epoch']:.2f} s/epoch ({t['train_windows']} windows of 4 steps, "
                  f"batch 256, U = D = 200: {t['train_windows_per_s']:.0f} windows/s)")
    result["load_average_at_end"] = list(os.getloadavg())
    print(f"load average at end: {' '.join(f'{v:.2f}' for v in result['load_average_at_end'])}")
    results_file.parent.mkdir(parents=True, exist_ok=True)
    results_file.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written {results_file}")


if __name__ == "__main__":
    main()
