"""The hybrid loop vs MCMC on the simulator alone, on GrainLearning's hyperbola ``y = x / (100 a + b x)``.

For each of ``--truths`` random truths (a in [0.1, 0.5], b in [2, 8], noise-free observation of
30 points on x in [0.1, 10]): (i) emcee on the simulator itself (32 walkers, 2000 steps, every
likelihood call is a simulation; the reference posterior) and (iii) simrnn's hybrid loop
(:func:`~simrnn.sequence.calibration.hybrid.hybrid_calibrate`, default settings), run A/B per truth
in one process. Printed per truth and in total: simulator calls, wall time, the hybrid posterior's
std ratio and mean error (% of the prior range) against the reference, and whether the truth lies in
the hybrid 90 % interval. GrainLearning's mixed scheme (ii) is not run here.

Run: ``PYTHONPATH=src python benchmarks/calibration_hybrid.py --truths 5``
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import tempfile
import time

import numpy as np
import torch

from simrnn.sequence.calibration.hybrid import HybridSettings, hybrid_calibrate, hybrid_simulator
from simrnn.sequence.calibration.likelihood import ErrorModel, build_experiment
from simrnn.sequence.calibration.mcmc import McmcSettings, run_mcmc
from simrnn.sequence.calibration.protocol import FunctionModel

X = np.linspace(0.1, 10, 30)
RANGES = {"a": (0.1, 0.5), "b": (2.0, 8.0)}


def hyperbola(params: np.ndarray) -> np.ndarray:
    """``params [N, 2]`` -> ``[N, 30, 1]``."""
    return (X / (100 * params[:, :1] + params[:, 1:] * X))[:, :, None]


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--truths", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"date {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC; CPU {cpu_model()}; "
          f"{os.cpu_count()} cores; torch threads {torch.get_num_threads()}; load {os.getloadavg()}")
    bounds = np.array(list(RANGES.values()))
    width = bounds[:, 1] - bounds[:, 0]
    truths = bounds[:, 0] + width * (0.15 + 0.7 * np.random.default_rng(args.seed).random((args.truths, 2)))
    rows = []
    for truth in truths:
        observed = hyperbola(truth[None])[0].T
        calls = [0]

        def counted(params, calls=calls):
            calls[0] += len(params)
            return hyperbola(params)

        exp = build_experiment("ref", FunctionModel(counted, ["a", "b"], ["y"], X), observed, ErrorModel())
        start = time.perf_counter()
        ref = run_mcmc(lambda t, exp=exp: exp.log_likelihood(t)[0], bounds,
                       McmcSettings(walkers=32, max_steps=2000, check_every=2000)).samples
        ref_time, ref_calls = time.perf_counter() - start, calls[0]
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            sim = hybrid_simulator(hyperbola, ["a", "b"], ["y"], X, out)
            result = hybrid_calibrate(sim, observed, RANGES, out, HybridSettings())
            hyb_time = time.perf_counter() - start
        samples = result.samples
        ratio = samples.std(0) / ref.std(0)
        error = 100 * np.abs(samples.mean(0) - ref.mean(0)) / width
        low, high = np.percentile(samples, [5, 95], axis=0)
        covered = bool(np.all((truth >= low) & (truth <= high)))
        rows.append((ref_calls, result.simulations_total, ref_time, hyb_time, ratio, error, covered,
                     len(result.rounds), result.converged))
        print(f"truth a={truth[0]:.3f} b={truth[1]:.3f}: reference {ref_calls} calls {ref_time:.1f} s; hybrid "
              f"{result.simulations_total} calls {hyb_time:.1f} s, {len(result.rounds)} rounds "
              f"(converged {result.converged}); std ratio a {ratio[0]:.2f} b {ratio[1]:.2f}; mean error "
              f"a {error[0]:.2f} % b {error[1]:.2f} % of range; truth in hybrid 90 % CI: {covered}")
    ref_calls, hyb_calls = sum(r[0] for r in rows), sum(r[1] for r in rows)
    ratios = np.array([r[4] for r in rows])
    errors = np.array([r[5] for r in rows])
    print(f"total: reference {ref_calls} simulator calls, {sum(r[2] for r in rows):.1f} s; hybrid {hyb_calls} calls "
          f"({ref_calls / hyb_calls:.0f}x fewer), {sum(r[3] for r in rows):.1f} s; std ratio range "
          f"{ratios.min():.2f}-{ratios.max():.2f}; max mean error {errors.max():.2f} % of range; truth covered "
          f"{sum(r[6] for r in rows)}/{len(rows)}; load {os.getloadavg()}")


if __name__ == "__main__":
    main()
