"""Speed of calibration with a surrogate: the callback alone and GrainLearning's tutorial end to end.

Measures, with GrainLearning's pretrained drained model imported into a temporary run:

1. the surrogate callback (one GrainLearning evaluation) for 50 and 500 samples (median of repeats);
2. the tutorial calibration (50 samples, up to 20 iterations, tutorial ranges, ESS 0.3, at most 5
   mixture components, prior weight 0.01) with the mixture fitted ``n_init`` = 1 and 10 times per
   iteration: wall time split into surrogate time and GrainLearning's own time, and what it found.

Prints a table and writes ``benchmarks/results/calibration.json``. Usage::

    .venv/bin/python benchmarks/calibration.py [--repeats 5] [--iterations 20] [--threads N] [--model DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from simrnn.files import write_json_atomic
from simrnn.runs import package_versions
from simrnn.sequence.calibration import calibrate, surrogate_callback
from simrnn.sequence.calibration.observations import read_observation_table
from simrnn.sequence.keras_import import import_keras
from simrnn.sequence.predict import load_run

HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "tests" / "data" / "grainlearning"
OBS = "experimental_test_drained_s3=0.2.dat"
RANGES = {"E": (7.002, 9.996), "v": (1.6e-4, 0.4995), "kr": (8.3e-4, 0.99875), "eta": (1.5e-4, 0.99878),
          "mu": (0.045, 59.955)}
TRUTH = {"E": 7.57811981, "v": 0.4448, "kr": 0.47813, "eta": 0.22497, "mu": 56.0784}


def time_callback(run, obs_file: Path, num_samples: int, repeats: int) -> dict[str, float]:
    """Median and best wall time of one callback evaluation of ``num_samples`` samples."""
    table = read_observation_table(obs_file)
    callback = surrogate_callback(run, ["e", "p", "q"], "epsilon_axial", {"pressure": 0.2})
    rng = np.random.default_rng(0)
    params = np.column_stack([rng.uniform(lo, hi, num_samples) for lo, hi in RANGES.values()])
    args = (params, list(RANGES), table.columns["epsilon_axial"], table.stack(["e", "p", "q"]))
    callback.simulate(*args)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        callback.simulate(*args)
        times.append(time.perf_counter() - start)
    return {"samples": num_samples, "median_ms": 1e3 * statistics.median(times), "best_ms": 1e3 * min(times)}


def tutorial(run_dir: Path, obs_file: Path, out_root: Path, n_init: int, iterations: int) -> dict:
    """GrainLearning's tutorial calibration with ``n_init`` mixture fits per iteration."""
    result = calibrate(run_dir, obs_file, param_ranges=RANGES, fixed_params={"pressure": 0.2}, samples=50,
                       iterations=iterations, ess_target=0.3, seed=0, gmm_n_init=n_init, max_components=5,
                       prior_weight=0.01, reference=TRUTH, out_dir=out_root / f"n_init_{n_init}")
    t = result.timings
    n = len(result.iterations)
    return {
        "gmm_n_init": n_init, "iterations_run": n, "stopped_early": result.stopped_early,
        "wall_s": t["wall_seconds"], "surrogate_s": t["surrogate_seconds"],
        "grainlearning_s": t["grainlearning_seconds"], "surrogate_fraction": t["surrogate_fraction"],
        "surrogate_ms_per_evaluation": t["surrogate_ms_per_evaluation"],
        "grainlearning_s_per_iteration": t["grainlearning_seconds"] / n,
        "most_probable": result.most_probable, "posterior_mean": result.mean, "posterior_std": result.std,
        "error_fraction_of_range": {k: (result.most_probable[k] - v) / (RANGES[k][1] - RANGES[k][0])
                                    for k, v in TRUTH.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DATA / "rnn_triaxial_drained")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "calibration.json")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run_dir = import_keras(args.model, out=tmp / "drained")
        run = load_run(run_dir)
        obs_file = DATA / OBS
        callback = [time_callback(run, obs_file, n, args.repeats) for n in (50, 500)]
        tutorials = [tutorial(run_dir, obs_file, tmp, n_init, args.iterations) for n_init in (1, 10)]
    results = {
        "device": f"cpu ({os.cpu_count()} cores, torch threads {torch.get_num_threads()})",
        "load_average_1min": os.getloadavg()[0],
        "versions": package_versions(),
        "targets": {"callback_ms_50_samples": 20.0, "surrogate_fraction": 0.05},
        "callback": callback,
        "tutorial": tutorials,
    }
    write_json_atomic(args.out, results)
    print(f"callback (one GrainLearning evaluation, {results['device']}):")
    for c in callback:
        print(f"  {c['samples']:>4} samples: median {c['median_ms']:8.1f} ms, best {c['best_ms']:8.1f} ms")
    print("tutorial calibration (50 samples, 5 components, prior weight 0.01):")
    print("  n_init  iters   wall s  surrogate s  GrainLearning s  GL s/iter  surrogate %  "
          "E, v, kr, eta, mu (most probable)")
    for r in tutorials:
        found = ", ".join(f"{v:.4g}" for v in r["most_probable"].values())
        print(f"  {r['gmm_n_init']:>6} {r['iterations_run']:>6} {r['wall_s']:8.1f} {r['surrogate_s']:12.2f} "
              f"{r['grainlearning_s']:16.1f} {r['grainlearning_s_per_iteration']:10.2f} "
              f"{100 * r['surrogate_fraction']:11.1f}  {found}")
    print(f"truth: {', '.join(f'{v:.4g}' for v in TRUTH.values())}; written to {args.out}")


if __name__ == "__main__":
    main()
