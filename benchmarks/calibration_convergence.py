"""Steps to convergence of the MCMC sampler on held-out synthetic truths: the starting stage and the
burn-in rule, before vs after.

For each truth (the noisy drained curve of ``calibration_truths.py``) one chain of ``WALKERS`` x
``STEPS`` with the simulator; at every 50 steps the convergence rule is evaluated on the prefix of the
chain with the former burn-in (the first half) and with :func:`~simrnn.sequence.calibration.mcmc.burn_in`.
``--old-start`` replaces the starting stage by the former one (the best ``8 x walkers`` uniform prior
draws). Prints the date, CPU and load average, the first converged step under each rule, the burn-in,
tau, ESS and R-hat of the whole chain and the posterior std / range.

    .venv/bin/python benchmarks/calibration_convergence.py WALKERS STEPS SEEDS [--old-start]
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import calibration_truths as ct

from simrnn.cpu import cpu_model
from simrnn.sequence.calibration import mcmc
from simrnn.sequence.calibration.demo import heldout_truth
from simrnn.sequence.calibration.mcmc import McmcSettings, _integrated_time, split_rhat
from simrnn.sequence.calibration.mcmc_driver import calibrate_mcmc
from simrnn.sequence.triaxial import CONTACT_PARAM_NAMES, PARAM_RANGES


def old_start(log_prob, bounds, settings):
    """The former starting stage: the best ``walkers`` of ``8 x walkers`` uniform prior draws."""
    rng = np.random.default_rng(settings.seed)
    draws = bounds[:, 0] + (bounds[:, 1] - bounds[:, 0]) * rng.random((settings.init_factor * settings.walkers,
                                                                        len(bounds)))
    lp = log_prob(draws)
    return draws[np.argsort(-np.where(np.isfinite(lp), lp, -np.inf), kind="stable")[:settings.walkers]], len(draws)


def old_rule(chain: np.ndarray, settings: McmcSettings) -> bool:
    """The former rule: first half burn-in, steps >= 10 tau, ESS >= 1000, R-hat <= 1.05."""
    kept = chain[len(chain) // 2:]
    tau = _integrated_time(kept)
    return bool(len(chain) >= settings.min_tau_multiple * tau.max()
                and (len(kept) * chain.shape[1] / tau).min() >= settings.target_ess
                and split_rhat(kept, settings.groups).max() <= settings.max_rhat)


def main() -> None:
    walkers, steps, seeds = int(sys.argv[1]), int(sys.argv[2]), [int(s) for s in sys.argv[3].split(",")]
    torch.set_num_threads(1)
    if "--old-start" in sys.argv:
        mcmc.initial_ensemble = old_start
    print(f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M UTC}; {cpu_model()}; load {os.getloadavg()[0]:.1f}; "
          f"start: {'former (best prior draws)' if '--old-start' in sys.argv else 'adaptive importance sampling'}")
    settings = McmcSettings(walkers=walkers, max_steps=steps, check_every=steps)
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            truth = heldout_truth(seed)
            obs = Path(tmp) / f"t{seed}.dat"
            ct.noisy_observation(obs, truth, seed, 100)
            began = time.perf_counter()
            r = calibrate_mcmc("simulator", obs, param_ranges={n: PARAM_RANGES[n] for n in CONTACT_PARAM_NAMES},
                               fixed_params={"pressure": ct.PRESSURE}, settings=settings, noise=ct.NOISE,
                               figures=False, control=["e_z"], obs_names=ct.OBS_NAMES, reference=truth,
                               out_dir=Path(tmp) / f"run{seed}")
            wall = time.perf_counter() - began
            with np.load(r.out_dir / mcmc.CHAIN_FILE) as data:
                chain, lp = data["chain"], data["log_prob"]
            first = {"former": None, "new": None}
            for s in range(50, steps + 1, 50):
                if first["former"] is None and old_rule(chain[:s], settings):
                    first["former"] = s
                if first["new"] is None and mcmc.diagnostics(chain[:s], settings, lp[:s])["converged"]:
                    first["new"] = s
            d = mcmc.diagnostics(chain, settings, lp)
            print(f"seed {seed}: {walkers} x {steps} steps in {wall:.0f} s; first converged step: former rule "
                  f"{first['former']}, new rule {first['new']}; whole chain: burn-in {d['burn_in']}, tau max "
                  f"{max(d['tau']):.0f}, ESS min {min(d['ess']):.0f}, R-hat max {max(d['rhat']):.3f}; std / range "
                  + ", ".join(f"{n} {v['std_fraction_of_range']:.3f}" for n, v in r.posterior.items()), flush=True)
    print(f"load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
