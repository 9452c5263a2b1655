"""The hybrid loop vs GrainLearning's mixed scheme vs MCMC on the simulator: the synthetic triaxial test.

Calibrated: kr, eta and mu (GrainLearning's DEM triaxial tutorial's three), E and v fixed at the
truth. For each of ``--truths`` held-out truths (seeds ``--first-seed ..``,
:func:`~simrnn.sequence.calibration.demo.heldout_truth`: the middle 60 % of GrainLearning's ranges)
the observation is the drained 0.2 MPa curve (e, q; 100 steps of 0.1 % axial strain) plus noise
drawn from the error model itself (``calibration_truths.noisy_observation``: AR(1), 1 % of each
curve's range, 10 effective points per curve), so a correct 90 % interval covers the truth at its
nominal rate. Per truth, in one process, one after the other:

- (i) reference: emcee on the simulator itself (``--ref-walkers`` walkers, checked every 100 steps,
  stops once the convergence rule of :mod:`~simrnn.sequence.calibration.mcmc` holds: ESS >= 1000,
  >= 10 tau after burn-in, split R-hat <= 1.05), every likelihood call a simulation;
- (ii) GrainLearning's mixed scheme (:mod:`~simrnn.sequence.calibration.mixed_baseline`: stock
  ``BayesianCalibration``, 50/50 split, surrogate retrained from scratch) in three settings:
  ``tutorial`` (its triaxial tutorial's: 5 iterations, error_tol 0.1, int(5 P log P) = 16 samples),
  ``5 iter`` (the same without error_tol, so all 5 iterations run) and ``5 iter x 100`` (100 samples);
- (iii) simrnn's hybrid loop (:func:`~simrnn.sequence.calibration.hybrid.hybrid_calibrate`, an MLP
  trained on ``--initial`` Latin-hypercube simulations, batches of ``--batch``).

Printed per truth and method: simulator calls, wall time, std ratio and mean error (% of the prior
range) per parameter against the reference, and whether the 90 % interval covers the truth; then the
totals and the goal (hybrid: std ratio 0.8-1.25 and mean error <= 5 % for every parameter and truth,
>= 10x fewer calls than (i), fewer than (ii)).

Run: ``PYTHONPATH=src python benchmarks/calibration_hybrid_triaxial.py --truths 5``
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import os
import resource
import tempfile
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from calibration_truths import PRESSURE, noisy_observation

from simrnn.cpu import cpu_flags, cpu_model
from simrnn.sequence.calibration.demo import heldout_truth
from simrnn.sequence.calibration.hybrid import HybridSettings, hybrid_calibrate, hybrid_simulator
from simrnn.sequence.calibration.likelihood import ErrorModel, build_experiment
from simrnn.sequence.calibration.mcmc import McmcSettings, run_mcmc
from simrnn.sequence.calibration.mixed_baseline import MixedSettings, mixed_calibrate
from simrnn.sequence.calibration.protocol import FunctionModel
from simrnn.sequence.calibration.simulator import triaxial_run
from simrnn.sequence.triaxial import PARAM_RANGES

NAMES = ["kr", "eta", "mu"]
OBS = ["e", "q"]
STEPS = 100
#: address-space limit of the process, so that GrainLearning's runaway resampling raises MemoryError.
MEMORY_LIMIT = 8 * 2**30
MIXED = {"GL mixed tutorial": MixedSettings(),
         "GL mixed 5 iter": MixedSettings(error_tol=None),
         "GL mixed 5 iter x 100": MixedSettings(error_tol=None, samples=100)}


def observation(seed: int, workdir: Path) -> tuple[dict, np.ndarray, np.ndarray]:
    """The truth, the strain ``[T]`` and the noisy observation ``[2, T]`` (e, q)."""
    truth = heldout_truth(seed)
    strain = noisy_observation(workdir / f"obs{seed}.dat", truth, seed, STEPS)
    table = np.loadtxt(workdir / f"obs{seed}.dat")  # e_z e p q
    return truth, strain, table[:, [1, 3]].T


def summary(samples: np.ndarray, weights: np.ndarray | None = None) -> dict:
    """Mean, std and 90 % interval ``[P]`` of draws ``[M, P]`` (weighted if ``weights [M]``)."""
    from simrnn.sequence.calibration.posterior import weighted_quantile

    w = np.full(len(samples), 1 / len(samples)) if weights is None else weights
    mean = w @ samples
    return {"mean": mean, "std": np.sqrt(w @ (samples - mean) ** 2),
            "ci": np.array([[weighted_quantile(c, w, q) for q in (0.05, 0.95)] for c in samples.T])}


def reference(run, observed: np.ndarray, strain: np.ndarray, bounds: np.ndarray, walkers: int,
              seed: int) -> tuple[dict, int, float, str]:
    """(i): emcee on the simulator ``run`` itself, stopped once converged; (summary, calls, wall s, note)."""
    calls = [0]

    def counted(params):
        calls[0] += len(params)
        return run(params)

    exp = build_experiment("ref", FunctionModel(counted, NAMES, OBS, strain), observed, ErrorModel())
    began = time.perf_counter()
    ref_run = run_mcmc(lambda t: exp.log_likelihood(t)[0], bounds,
                       McmcSettings(walkers=walkers, max_steps=6000, check_every=100, seed=seed))
    return (summary(ref_run.samples), calls[0], time.perf_counter() - began,
            f"converged {ref_run.diagnostics['converged']}, {ref_run.diagnostics['steps']} steps")


def print_truth(seed: int, truth: dict, results: dict, target: np.ndarray, width: np.ndarray, rows: dict) -> None:
    """One line per method of ``results`` {name: (summary, calls, wall, note)} against the first (the
    reference); appends (calls, wall, std ratio [P], mean error % [P], covered [P]) to ``rows[name]``."""
    ref = next(iter(results.values()))[0]
    print(f"truth {seed}: " + ", ".join(f"{n}={truth[n]:.3g}" for n in NAMES) +
          f" (E={truth['E']:.3g}, v={truth['v']:.3g} fixed); load {os.getloadavg()[0]:.2f}")
    for key, (post, n_calls, wall, note) in results.items():
        ratio = post["std"] / ref["std"]
        error = 100 * np.abs(post["mean"] - ref["mean"]) / width
        covered = (target >= post["ci"][:, 0]) & (target <= post["ci"][:, 1])
        rows.setdefault(key, []).append((n_calls, wall, ratio, error, covered))
        print(f"  {key:<28} calls {n_calls:6d}  {wall:6.1f} s  std ratio " +
              " ".join(f"{r:6.2f}" for r in ratio) + "  mean err % " + " ".join(f"{e:5.2f}" for e in error) +
              f"  covered {int(covered.sum())}/{len(NAMES)}  ({note})", flush=True)


def print_totals(rows: dict) -> None:
    """Per method: calls, wall time, std ratio range, worst mean error and coverage over the truths."""
    for key, r in rows.items():
        ratios, errors = np.array([x[2] for x in r]), np.array([x[3] for x in r])
        print(f"  {key:<28} calls {sum(x[0] for x in r):7d}  wall {sum(x[1] for x in r):7.1f} s  std ratio "
              f"{ratios.min():.2f}-{ratios.max():.2f}  max mean err {errors.max():.2f} %  coverage "
              f"{sum(int(x[4].sum()) for x in r)}/{len(r) * len(NAMES)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--truths", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=100, help="held-out truth seeds (other benchmarks use 0-19)")
    parser.add_argument("--ref-walkers", type=int, default=64)
    parser.add_argument("--initial", type=int, default=HybridSettings.initial)
    parser.add_argument("--batch", type=int, default=HybridSettings.batch)
    args = parser.parse_args()
    torch.set_num_threads(1)
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))  # see mixed_baseline: GL's resampling
    warnings.filterwarnings("ignore", module="sklearn")  # GrainLearning's mixture fits warn on tiny ensembles
    print(f"date {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC; CPU {cpu_model()}; flags {cpu_flags()}; "
          f"{os.cpu_count()} cores; torch threads {torch.get_num_threads()}; load {os.getloadavg()}", flush=True)
    bounds = np.array([PARAM_RANGES[n] for n in NAMES])
    width = bounds[:, 1] - bounds[:, 0]
    ranges = {n: PARAM_RANGES[n] for n in NAMES}
    settings = HybridSettings(initial=args.initial, batch=args.batch)
    rows: dict[str, list] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.first_seed, args.first_seed + args.truths):
            truth, strain, observed = observation(seed, Path(tmp))
            fixed = {"pressure": PRESSURE, **{k: v for k, v in truth.items() if k not in NAMES}}
            run = triaxial_run(OBS, strain, fixed, NAMES)
            target = np.array([truth[n] for n in NAMES])
            results = {"(i) MCMC simulator": reference(run, observed, strain, bounds, args.ref_walkers, seed)}
            for key, mixed in MIXED.items():
                began = time.perf_counter()
                with contextlib.redirect_stdout(io.StringIO()):  # GrainLearning prints every iteration
                    res = mixed_calibrate(run, observed, strain, ranges, OBS, replace(mixed, seed=seed))
                results[f"(ii) {key}"] = (summary(res.samples, res.weights), res.simulations,
                                          time.perf_counter() - began, f"{res.iterations} iterations, "
                                          f"final sigma {res.sigma[-1]:.3g}" +
                                          (f"; FAILED: {res.failure}" if res.failure else ""))
            began = time.perf_counter()
            with tempfile.TemporaryDirectory() as out:
                sim = hybrid_simulator(run, NAMES, OBS, strain, out)
                res = hybrid_calibrate(sim, observed, ranges, out, replace(settings, seed=seed),
                                       figures=False)
            results["(iii) simrnn hybrid"] = (summary(res.samples), res.simulations_total, time.perf_counter() - began,
                                              f"{len(res.rounds)} rounds, stopped by its criterion: {res.converged}")
            print_truth(seed, truth, results, target, width, rows)
    print(f"totals over {args.truths} truths (parameters {', '.join(NAMES)}; hybrid initial {args.initial}, batch "
          f"{args.batch}):")
    print_totals(rows)
    hyb = rows["(iii) simrnn hybrid"]
    ratios, errors = np.array([x[2] for x in hyb]), np.array([x[3] for x in hyb])
    hyb_calls = np.array([x[0] for x in hyb])
    ref_calls = np.array([x[0] for x in rows["(i) MCMC simulator"]])
    print(f"goal, hybrid: std ratio 0.8-1.25 {'met' if np.all((ratios >= 0.8) & (ratios <= 1.25)) else 'NOT met'}; "
          f"mean error <= 5 % {'met' if np.all(errors <= 5) else 'NOT met'}; >= 10x fewer calls than (i) "
          f"{'met' if np.all(10 * hyb_calls <= ref_calls) else 'NOT met'} (min ratio {np.min(ref_calls / hyb_calls):.0f}x)")
    for key in MIXED:
        mixed_calls = np.array([x[0] for x in rows[f"(ii) {key}"]])
        print(f"  fewer calls than (ii) {key}: {'met' if np.all(hyb_calls < mixed_calls) else 'NOT met'} "
              f"(hybrid {hyb_calls.min()}-{hyb_calls.max()}, it {mixed_calls.min()}-{mixed_calls.max()} per truth)")
    print(f"load at the end {os.getloadavg()}")


if __name__ == "__main__":
    main()
