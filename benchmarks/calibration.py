"""Speed of calibration with a surrogate: the callback alone, GrainLearning's filter and MCMC on its tutorial.

Measures, with GrainLearning's pretrained drained model imported into a temporary run:

1. the surrogate callback (one model evaluation) for 50 and 500 samples (median of repeats);
2. the tutorial calibration with GrainLearning's filter as run today (50 samples, up to 20
   iterations, tutorial ranges, ESS 0.3, at most 5 mixture components, prior weight 0.01, one
   mixture fit per iteration) and with ensemble MCMC (``--walkers`` x up to ``--mcmc-steps``),
   alternating A/B/A/B in one process: wall time, the model's share of it, evaluations, whether it
   converged, and what it found.

Prints a table (date, CPU, load) and writes ``benchmarks/results/calibration.json``. Usage::

    .venv/bin/python benchmarks/calibration.py [--repeats 5] [--iterations 20] [--walkers 32] [--mcmc-steps 300]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from simrnn.cpu import cpu_flags, cpu_model
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


def tutorial(run_dir: Path, obs_file: Path, out: Path, iterations: int) -> dict:
    """GrainLearning's tutorial calibration with its filter, as the command runs it."""
    result = calibrate(run_dir, obs_file, sampler="grainlearning", param_ranges=RANGES, fixed_params={"pressure": 0.2},
                       samples=50, iterations=iterations, ess_target=0.3, seed=0, gmm_n_init=1, max_components=5,
                       prior_weight=0.01, reference=TRUTH, out_dir=out, figures=False)
    t = result.timings
    return {
        "sampler": "grainlearning", "iterations_run": len(result.iterations), "stop_reason": result.stop_reason,
        "converged": result.stop_reason == "converged", "wall_s": t["wall_seconds"], "model_s": t["surrogate_seconds"],
        "model_fraction": t["surrogate_fraction"], "evaluations": 50 * len(result.iterations),
        "posterior_mean": result.mean, "posterior_std": result.std,
    }


def tutorial_mcmc(run_dir: Path, obs_file: Path, out: Path, walkers: int, steps: int) -> dict:
    """The same tutorial with ensemble MCMC (the default error model: e and q, p = p0 + q/3 dropped)."""
    result = calibrate(run_dir, obs_file, param_ranges=RANGES, fixed_params={"pressure": 0.2}, walkers=walkers,
                       steps=steps, seed=0, reference=TRUTH, out_dir=out, figures=False)
    t, d = result.timings, result.diagnostics
    return {
        "sampler": "emcee", "steps": d["steps"], "walkers": walkers, "converged": result.converged,
        "max_tau": max(d["tau"]), "min_ess": min(d["ess"]), "max_rhat": max(d["rhat"]),
        "wall_s": t["wall_seconds"], "model_s": t["model_seconds"], "model_fraction": t["model_fraction"],
        "evaluations": t["evaluations"], "posterior_mean": result.mean, "posterior_std": result.std,
        "dropped": result.experiments[0]["dropped"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DATA / "rnn_triaxial_drained")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--walkers", type=int, default=32)
    parser.add_argument("--mcmc-steps", type=int, default=300)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "calibration.json")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    load_start = os.getloadavg()[0]
    date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run_dir = import_keras(args.model, out=tmp / "drained")
        run = load_run(run_dir)
        obs_file = DATA / OBS
        callback = [time_callback(run, obs_file, n, args.repeats) for n in (50, 500)]
        runs = []
        for k in range(2):  # A/B/A/B
            runs.append(tutorial(run_dir, obs_file, tmp / f"gl_{k}", args.iterations))
            runs.append(tutorial_mcmc(run_dir, obs_file, tmp / f"mcmc_{k}", args.walkers, args.mcmc_steps))
    results = {
        "date": date, "cpu": cpu_model(), "cpu_flags": cpu_flags(),
        "device": f"cpu ({os.cpu_count()} cores, torch threads {torch.get_num_threads()})",
        "load_average_1min": {"start": load_start, "end": os.getloadavg()[0]},
        "versions": package_versions(),
        "goals": {"mcmc_wall_at_most_fraction_of_filter": 1 / 3, "mcmc_model_fraction_at_least": 0.7},
        "callback": callback,
        "tutorial": runs,
    }
    write_json_atomic(args.out, results)
    print(f"{date}; {results['cpu']}; {results['device']}; load average {load_start:.2f} -> "
          f"{results['load_average_1min']['end']:.2f}")
    print("one model evaluation:")
    for c in callback:
        print(f"  {c['samples']:>4} samples: median {c['median_ms']:8.1f} ms, best {c['best_ms']:8.1f} ms")
    print("tutorial calibration (GrainLearning: 50 samples, 5 components, prior weight 0.01; MCMC: "
          f"{args.walkers} walkers, up to {args.mcmc_steps} steps):")
    print("  sampler         wall s   model s   model %   evaluations  converged  E, v, kr, eta, mu (mean +- std)")
    for r in runs:
        found = ", ".join(f"{r['posterior_mean'][k]:.4g}+-{r['posterior_std'][k]:.2g}" for k in RANGES)
        print(f"  {r['sampler']:<14} {r['wall_s']:7.1f} {r['model_s']:9.2f} {100 * r['model_fraction']:8.1f} "
              f"{r['evaluations']:13d}  {'yes' if r['converged'] else 'no':>9}  {found}")
    print(f"truth: {', '.join(f'{v:.4g}' for v in TRUTH.values())}; written to {args.out}")


if __name__ == "__main__":
    main()
