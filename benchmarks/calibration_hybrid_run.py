"""The hybrid loop with a trained sequence run (LSTM, fine-tuned every round) vs with the MLP, vs MCMC on the simulator.

The same held-out triaxial truths, observations and reference as
``calibration_hybrid_triaxial.py`` (kr, eta, mu calibrated; E, v fixed at the truth; drained
0.2 MPa, e and q over 100 steps of 0.1 % axial strain plus noise drawn from the error model). Per
truth, in one process, one after the other: (i) emcee on the simulator (the reference, stopped once
converged); (iii) the hybrid loop with a new MLP trained on its initial design; (iii') the hybrid
loop starting from a TRAINED sequence run: the demo's surrogate (``simrnn demo``'s data and
training settings: 192 sequences per pressure and drainage, 3 pressures, contact parameters over
GrainLearning's whole ranges), fine-tuned through the engine every round
(:class:`~simrnn.sequence.calibration.hybrid_run_surrogate.RunSurrogate`). Both loops use the same
settings otherwise (initial design, batch, stopping rule). Printed per truth and method: simulator
calls, wall time, std ratio and mean error (% of the prior range) against the reference, coverage of
the truth by the 90 % interval; then totals. The run's own training time is printed once (it is
not part of any loop's time: a user calibrates with a run trained before).

Run: ``cd benchmarks && PYTHONPATH=../src python calibration_hybrid_run.py --truths 5``
"""

from __future__ import annotations

import argparse
import datetime
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from calibration_hybrid_triaxial import NAMES, OBS, observation, print_totals, print_truth, reference, summary
from calibration_truths import PRESSURE, train_demo_surrogate

from simrnn.cpu import cpu_flags, cpu_model
from simrnn.sequence.calibration.hybrid import HybridSettings, hybrid_calibrate, hybrid_simulator
from simrnn.sequence.calibration.hybrid_run_surrogate import RunSurrogate
from simrnn.sequence.calibration.simulator import triaxial_run
from simrnn.sequence.triaxial import PARAM_RANGES


def loop(run, observed, strain, ranges, settings, surrogate=None) -> tuple[dict, int, float, str]:
    """One hybrid loop into a temporary folder: (summary, simulator calls, wall s, note)."""
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        sim = hybrid_simulator(run, NAMES, OBS, strain, out)
        if surrogate is not None:
            surrogate.work_dir = Path(out) / "surrogate"
        res = hybrid_calibrate(sim, observed, ranges, out, settings, surrogate=surrogate, figures=False)
    return (summary(res.samples), res.simulations_total, time.perf_counter() - began,
            f"{len(res.rounds)} rounds, stopped by its criterion: {res.converged}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--truths", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=100, help="held-out truth seeds (as the triaxial benchmark)")
    parser.add_argument("--ref-walkers", type=int, default=64)
    parser.add_argument("--run", type=Path, default=None, help="a trained sequence run (default: train the demo's)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"date {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC; CPU {cpu_model()}; flags {cpu_flags()}; "
          f"{os.cpu_count()} cores; torch threads {torch.get_num_threads()}; load {os.getloadavg()}", flush=True)
    bounds = np.array([PARAM_RANGES[n] for n in NAMES])
    width = bounds[:, 1] - bounds[:, 0]
    ranges = {n: PARAM_RANGES[n] for n in NAMES}
    rows: dict[str, list] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.run is None:
            from simrnn.demo import DEMO_SAMPLES_PER_GROUP

            trained, seconds = train_demo_surrogate(tmp, DEMO_SAMPLES_PER_GROUP)
            print(f"trained the demo's surrogate in {seconds:.0f} s: {trained.name}", flush=True)
        else:
            trained = args.run
        for seed in range(args.first_seed, args.first_seed + args.truths):
            truth, strain, observed = observation(seed, tmp)
            fixed = {"pressure": PRESSURE, **{k: v for k, v in truth.items() if k not in NAMES}}
            run = triaxial_run(OBS, strain, fixed, NAMES)
            settings = replace(HybridSettings(), seed=seed)
            results = {"(i) MCMC simulator": reference(run, observed, strain, bounds, args.ref_walkers, seed),
                       "(iii) hybrid, MLP": loop(run, observed, strain, ranges, settings)}
            lstm = RunSurrogate(trained, NAMES, OBS, ["e_z"], strain[None], observed, {**fixed, "drained": 1.0}, tmp)
            results["(iii') hybrid, trained run"] = loop(run, observed, strain, ranges, settings, lstm)
            print_truth(seed, truth, results, np.array([truth[n] for n in NAMES]), width, rows)
    print(f"totals over {args.truths} truths (parameters {', '.join(NAMES)}):")
    print_totals(rows)
    print(f"load at the end {os.getloadavg()}")


if __name__ == "__main__":
    main()
