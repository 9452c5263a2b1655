"""Calibration you can trust: held-out synthetic truths, calibrated with the surrogate and the simulator.

Trains the demo's surrogate (``simrnn.demo.DEMO_TRAINING`` on ``--samples-per-group`` synthetic
sequences per pressure and drainage; or uses ``--run``), then for each held-out truth (seeds
``0 .. --truths - 1``, drawn from the middle 60 % of GrainLearning's ranges) calibrates the same
drained 0.2 MPa curve twice with :func:`simrnn.sequence.calibration.demo.demo_calibration`: with the
surrogate (its test RMSE as model error) and with the synthetic simulator itself. Checks issue 11's
goals: every identifiable parameter (simulator posterior std < 10 % of its range) recovered within
5 % of its range by the surrogate's posterior mean, and the truth inside the surrogate's 90 %
interval for >= 90 % of the (truth, parameter) pairs.

Prints a table and writes ``benchmarks/results/calibration_truths.json``. Usage::

    .venv/bin/python benchmarks/calibration_truths.py [--truths 5] [--run RUN_DIR] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

from simrnn.cpu import cpu_flags, cpu_model
from simrnn.files import write_json_atomic
from simrnn.runs import package_versions

HERE = Path(__file__).resolve().parent
RECOVERY_FRACTION = 0.05
COVERAGE_GOAL = 0.9


def train_demo_surrogate(workdir: Path, samples_per_group: int) -> tuple[Path, float]:
    """The demo's data and surrogate under ``workdir``; returns the run and the training seconds."""
    from simrnn.demo import DEMO_TRAINING
    from simrnn.sequence import train
    from simrnn.sequence.triaxial import write_synthetic_triaxial

    data = write_synthetic_triaxial(workdir / "triaxial.h5", n_samples_per_group=samples_per_group, seed=0)
    start = time.perf_counter()
    run = train(dict(DEMO_TRAINING, raw_data=str(data), runs_root=str(workdir / "runs"), progress_bar=False))
    return Path(run), time.perf_counter() - start


def verdicts(rows: list[dict]) -> dict:
    """Issue 11's two goals over every (truth, parameter) row."""
    identifiable = [r for r in rows if r["identifiable"]]
    inside = [r for r in rows if r["surrogate"]["truth_inside_ci90"]]
    recovered = [r for r in identifiable if abs(r["surrogate"]["error_fraction_of_range"]) <= RECOVERY_FRACTION]
    return {
        "identifiable_pairs": len(identifiable), "identifiable_recovered_within_5pct": len(recovered),
        "pairs": len(rows), "truth_inside_surrogate_ci90": len(inside),
        "coverage": len(inside) / len(rows),
        "simulator_coverage": sum(r["simulator"]["truth_inside_ci90"] for r in rows) / len(rows),
        "goal_recovery_met": len(recovered) == len(identifiable),
        "goal_coverage_met": len(inside) >= COVERAGE_GOAL * len(rows),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--truths", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--run", type=Path, default=None, help="use this run instead of training the demo's")
    parser.add_argument("--samples-per-group", type=int, default=None, help="default: the demo's")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "calibration_truths.json")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from simrnn.demo import DEMO_SAMPLES_PER_GROUP
    from simrnn.sequence.calibration.demo import demo_calibration

    load_start = os.getloadavg()[0]
    samples_per_group = args.samples_per_group or DEMO_SAMPLES_PER_GROUP
    rows, timings, fits = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run, train_seconds = (args.run, 0.0) if args.run else train_demo_surrogate(tmp, samples_per_group)
        for seed in range(args.first_seed, args.first_seed + args.truths):
            summary = demo_calibration(run, tmp / f"truth_{seed}", seed=seed)
            timings.append({k: v["wall_seconds"] for k, v in summary["timings"].items()})
            fits.append({"seed": seed, "surrogate_error": summary["surrogate_error"], **summary["fit"]})
            for name, truth in summary["truth"].items():
                rows.append({"seed": seed, "param": name, "truth": truth,
                             "identifiable": summary["identifiable"][name],
                             "surrogate": summary["surrogate"][name], "simulator": summary["simulator"][name],
                             "stop_reason": summary["stop_reason"]})
    result = {
        "cpu": cpu_model(), "cpu_flags": cpu_flags(), "torch_threads": torch.get_num_threads(),
        "load_average_1min": {"start": load_start, "end": os.getloadavg()[0]},
        "versions": package_versions(), "samples_per_group": samples_per_group,
        "run": str(args.run) if args.run else "demo surrogate (trained here)", "train_seconds": train_seconds,
        "calibration_seconds": timings, "fits": fits, "verdicts": verdicts(rows), "rows": rows,
    }
    write_json_atomic(args.out, result)
    print(f"{result['cpu']}; torch threads {result['torch_threads']}; load average "
          f"{load_start:.2f} -> {result['load_average_1min']['end']:.2f}; training {train_seconds:.0f} s")
    print("seed param      truth | surrogate mean +- std   [90 % interval]    err/range in? | "
          "simulator mean +- std  [90 % interval]    ident.")
    for r in rows:
        s, m = r["surrogate"], r["simulator"]
        print(f"{r['seed']:>4} {r['param']:<5} {r['truth']:9.4g} | {s['mean']:8.4g} +- {s['std']:<8.3g}"
              f"[{s['ci90'][0]:.4g}, {s['ci90'][1]:.4g}] {s['error_fraction_of_range']:+7.3f} "
              f"{'yes' if s['truth_inside_ci90'] else 'NO ':>3} | {m['mean']:8.4g} +- {m['std']:<8.3g}"
              f"[{m['ci90'][0]:.4g}, {m['ci90'][1]:.4g}] {'yes' if r['identifiable'] else 'no'}")
    for f in fits:
        print(f"seed {f['seed']}: weighted-mean curve minus observation, mean offset (surrogate | simulator): " + ", ".join(
            f"{n} {f['surrogate'][n]['mean_offset']:+.4f} | {f['simulator'][n]['mean_offset']:+.4f}" for n in f["surrogate"]))
    v = result["verdicts"]
    print(f"identifiable recovered within 5 % of range: {v['identifiable_recovered_within_5pct']}/"
          f"{v['identifiable_pairs']}; truth inside the surrogate's 90 % interval: {v['truth_inside_surrogate_ci90']}/"
          f"{v['pairs']} (simulator: {100 * v['simulator_coverage']:.0f} %); written to {args.out}")


if __name__ == "__main__":
    main()
