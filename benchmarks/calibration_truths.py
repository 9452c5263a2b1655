"""Calibration you can trust: held-out synthetic truths, each sampler x each model vs a reference posterior.

For each truth (seeds ``--first-seed ..``, contact parameters from the middle 60 % of GrainLearning's
ranges, :func:`~simrnn.sequence.calibration.demo.heldout_truth`) the drained 0.2 MPa curve of the
synthetic simulator (``--curve-steps`` steps of 0.1 % axial strain, the training data's spacing) gets observation noise drawn from the error model itself (AR(1) along the curve,
marginal std ``NOISE`` of each curve's range, ``POINTS`` effective points per curve; seeded), so a
correct posterior covers the truth at its nominal rate. Then:

- reference: an MCMC run with the simulator (``--ref-walkers``, another seed) that stops only once the
  convergence rule holds (or at ``--ref-steps``; the summary counts the converged references and the
  std ratios use converged references only);
- MCMC (default sampler settings but ``--walkers``/``--steps``) with the simulator and with the demo
  surrogate (model error: its RMSE against the simulator on fresh tests, :func:`surrogate_error`);
- GrainLearning's filter on the first ``--gl-truths`` truths of the run (the demo's former settings: 200 samples, up to 60 iterations, 3 components)
  with both models, on the same error model as far as its diagonal covariance can express it: the
  same observables (e, q; p dropped as ``p0 + q/3``), the same stds, each curve worth ``POINTS``
  independent observations (per-step variance ``T' s^2 / POINTS``) instead of AR(1) residuals.

Per sampler x model: 90 % interval coverage over all (truth, parameter) pairs, posterior std / the
reference's std per parameter (median and range over truths), |mean - truth| in % of the range,
wall time, model evaluations, converged runs. Writes ``benchmarks/results/calibration_truths.json``
(or ``--out``); ``--merge A.json B.json`` combines runs over disjoint seeds and prints the table.

    .venv/bin/python benchmarks/calibration_truths.py --run RUN [--truths 20] [--first-seed 0] [--threads 1]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from simrnn.cpu import cpu_flags, cpu_model
from simrnn.files import write_json_atomic
from simrnn.runs import package_versions

HERE = Path(__file__).resolve().parent
NOISE, POINTS, PRESSURE = 0.01, 10.0, 0.2
GL_SETTINGS = {"samples": 200, "iterations": 60, "gmm_n_init": 1, "max_components": 3}
OBS_NAMES = ["e", "p", "q"]


def train_demo_surrogate(workdir: Path, samples_per_group: int) -> tuple[Path, float]:
    """The demo's data and surrogate under ``workdir``; returns the run and the training seconds."""
    from simrnn.demo import DEMO_TRAINING
    from simrnn.sequence import train
    from simrnn.sequence.triaxial import write_synthetic_triaxial

    data = write_synthetic_triaxial(workdir / "triaxial.h5", n_samples_per_group=samples_per_group, seed=0)
    start = time.perf_counter()
    run = train(dict(DEMO_TRAINING, raw_data=str(data), runs_root=str(workdir / "runs"), progress_bar=False))
    return Path(run), time.perf_counter() - start


def noisy_observation(path: Path, truth: dict[str, float], seed: int, num_steps: int) -> np.ndarray:
    """Write the truth's drained curve plus AR(1) noise (the error model's own) to ``path``; returns the strain."""
    from simrnn.sequence.calibration.likelihood import ar1_coefficient
    from simrnn.sequence.triaxial import OUTPUT_NAMES, triaxial_response

    strain = np.arange(num_steps) * 0.001  # the training data's spacing
    _, out = triaxial_response(np.array([list(truth.values())]), PRESSURE, "drained", strain)
    curves = out[0][:, [OUTPUT_NAMES.index(n) for n in OBS_NAMES]]  # [T, 3]
    rho = ar1_coefficient(len(strain), POINTS)
    rng = np.random.default_rng(10_000 + seed)
    noise = np.empty_like(curves)
    noise[0] = rng.normal(size=3)
    for t in range(1, len(strain)):
        noise[t] = rho * noise[t - 1] + np.sqrt(1 - rho**2) * rng.normal(size=3)
    curves = curves + noise * NOISE * np.ptp(curves, axis=0)
    rows = "\n".join(" ".join(f"{v:.10e}" for v in row) for row in np.column_stack([strain, curves]))
    path.write_text("# e_z e p q\n" + rows + "\n")
    return strain


def one_truth(run: Path, seed: int, workdir: Path, args) -> dict:
    """Every sampler x model on one truth; per parameter the posterior statistics."""
    from simrnn.sequence.calibration import calibrate, simulator_callback, surrogate_callback
    from simrnn.sequence.calibration.demo import heldout_truth, surrogate_error
    from simrnn.sequence.calibration.mcmc import McmcSettings
    from simrnn.sequence.calibration.mcmc_driver import calibrate_mcmc
    from simrnn.sequence.predict import load_run
    from simrnn.sequence.triaxial import CONTACT_PARAM_NAMES, PARAM_RANGES

    truth = heldout_truth(seed)
    obs = workdir / f"truth{seed}.dat"
    strain = noisy_observation(obs, truth, seed, args.curve_steps)
    ranges = {n: PARAM_RANGES[n] for n in CONTACT_PARAM_NAMES}
    run_params = load_run(run).meta["param_names"]
    from simrnn.sequence.triaxial import triaxial_response

    e0 = float(triaxial_response(np.array([list(truth.values())]), PRESSURE, "drained", strain)[1][0, 0, 0])
    fixed = {k: v for k, v in {"pressure": PRESSURE, "drained": 1.0, "e0": e0}.items() if k in run_params}
    model_error = surrogate_error(run, {k: v for k, v in fixed.items() if k != "e0"}, strain, OBS_NAMES)
    common = {"param_ranges": ranges, "reference": truth, "noise": NOISE, "figures": False,
              "control": ["e_z"], "obs_names": OBS_NAMES}
    results = {}

    def mcmc(key, model, walkers, steps, mcmc_seed, **extra):
        began = time.perf_counter()
        r = calibrate_mcmc(model, obs, settings=McmcSettings(walkers=walkers, max_steps=steps, seed=mcmc_seed,
                                                                  check_every=args.check_every),
                           out_dir=workdir / f"{key}_{seed}", **common, **extra)
        results[key] = {"posterior": r.posterior, "wall_s": time.perf_counter() - began,
                        "evaluations": r.timings["evaluations"], "converged": r.converged,
                        "steps": r.diagnostics["steps"], "max_tau": max(r.diagnostics["tau"]),
                        "min_ess": min(r.diagnostics["ess"]), "max_rhat": max(r.diagnostics["rhat"])}

    def grainlearning(key, model, **extra):
        began = time.perf_counter()
        r = calibrate(model, obs, sampler="grainlearning", seed=seed, points_per_curve=POINTS,
                      out_dir=workdir / f"{key}_{seed}", **GL_SETTINGS, **{k: v for k, v in common.items()
                                                                           if k not in ("control", "obs_names")},
                      **extra)
        results[key] = {"posterior": r.posterior, "wall_s": time.perf_counter() - began,
                        "evaluations": len(r.iterations) * GL_SETTINGS["samples"],
                        "converged": r.stop_reason == "converged", "stop_reason": r.stop_reason}

    mcmc("reference", "simulator", args.ref_walkers, args.ref_steps, 1000 + seed, fixed_params={"pressure": PRESSURE})
    with_filter = seed - args.first_seed < args.gl_truths
    for model_name in ("simulator", "surrogate"):
        model = "simulator" if model_name == "simulator" else run
        extra = ({"fixed_params": {"pressure": PRESSURE}} if model_name == "simulator"
                 else {"fixed_params": fixed, "model_error": model_error})
        mcmc(f"mcmc_{model_name}", model, args.walkers, args.steps, seed, **extra)
        if not with_filter:
            continue
        gl_model = (simulator_callback(["e", "q"], "e_z", {"pressure": PRESSURE}) if model_name == "simulator"
                    else surrogate_callback(run, ["e", "q"], "e_z", fixed))
        gl_extra = {} if model_name == "simulator" else {"model_error": {k: model_error[k] for k in ("e", "q")}}
        grainlearning(f"grainlearning_{model_name}", gl_model, **gl_extra)
    return {"seed": seed, "truth": truth, "surrogate_error": model_error, "results": results}


def summarise(truths: list[dict]) -> dict:
    """Per sampler x model: coverage, std ratio to the reference per parameter, mean error, cost."""
    keys = sorted({k for t in truths for k in t["results"] if k != "reference"})
    names = list(truths[0]["truth"])
    summary = {}
    every = truths
    for key in keys:
        truths = [t for t in every if key in t["results"]]
        pairs = [(t, n) for t in truths for n in names]
        inside = sum(t["results"][key]["posterior"][n]["truth_inside_ci90"] for t, n in pairs)
        ratios = {n: [t["results"][key]["posterior"][n]["std"] / t["results"]["reference"]["posterior"][n]["std"]
                      for t in truths if t["results"]["reference"]["converged"]] or [float("nan")] for n in names}
        errors = [100 * abs(t["results"][key]["posterior"][n]["error_fraction_of_range"]) for t, n in pairs]
        walls = [t["results"][key]["wall_s"] for t in truths]
        evals = [t["results"][key]["evaluations"] for t in truths]
        summary[key] = {
            "coverage_90": inside / len(pairs), "pairs": len(pairs),
            "std_ratio_median": {n: float(np.median(v)) for n, v in ratios.items()},
            "std_ratio_range": {n: [float(min(v)), float(max(v))] for n, v in ratios.items()},
            "abs_mean_error_pct_of_range": {"median": float(np.median(errors)), "max": float(max(errors))},
            "wall_s": {"median": float(np.median(walls)), "min": float(min(walls)), "max": float(max(walls))},
            "evaluations_median": float(np.median(evals)),
            "converged": sum(t["results"][key]["converged"] for t in truths), "runs": len(truths),
            "ratio_truths": sum(t["results"]["reference"]["converged"] for t in truths),
        }
    ref = [t["results"]["reference"] for t in every]
    summary["reference"] = {
        "converged": sum(r["converged"] for r in ref), "runs": len(ref),
        "coverage_90": sum(r["posterior"][n]["truth_inside_ci90"] for r in ref for n in names) / (len(ref) * len(names)),
        "wall_s_median": float(np.median([r["wall_s"] for r in ref])),
        "std_fraction_of_range_median": {n: float(np.median([r["posterior"][n]["std_fraction_of_range"] for r in ref]))
                                         for n in names},
        "identifiable_fraction": {n: sum(r["posterior"][n]["std_fraction_of_range"] < 0.1 for r in ref) / len(ref)
                                  for n in names},
    }
    return summary


def print_table(result: dict) -> None:
    print(f"{result['date']}; {result['cpu']}; torch threads {result['torch_threads']}; load average "
          f"{result['load_average_1min']['start']:.2f} -> {result['load_average_1min']['end']:.2f}; "
          f"{len(result['truths'])} truths")
    s = result["summary"]
    names = list(result["truths"][0]["truth"])
    print("sampler x model            coverage  std ratio to reference (median; " + ", ".join(names) +
          ")   |err| % range med/max   wall s med [min, max]   evaluations   converged")
    for key, v in s.items():
        if key == "reference":
            continue
        ratios = ", ".join(f"{v['std_ratio_median'][n]:.2f} [{v['std_ratio_range'][n][0]:.2f}-{v['std_ratio_range'][n][1]:.2f}]"
                           for n in names)
        w = v["wall_s"]
        print(f"{key:<26} {100 * v['coverage_90']:5.1f} %  {ratios}  {v['abs_mean_error_pct_of_range']['median']:5.1f}/"
              f"{v['abs_mean_error_pct_of_range']['max']:5.1f}   {w['median']:6.1f} [{w['min']:.1f}, {w['max']:.1f}]"
              f"   {v['evaluations_median']:9.0f}   {v['converged']}/{v['runs']}   (std ratios over the "
              f"{v['ratio_truths']} converged references)")
    r = s["reference"]
    print(f"reference (simulator, long MCMC): converged {r['converged']}/{r['runs']}, coverage "
          f"{100 * r['coverage_90']:.1f} %, median wall {r['wall_s_median']:.0f} s; median std / range: " +
          ", ".join(f"{n} {v:.3f}" for n, v in r["std_fraction_of_range_median"].items()) +
          "; identifiable (std < 10 % of range) in: " +
          ", ".join(f"{n} {100 * v:.0f} %" for n, v in r["identifiable_fraction"].items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--truths", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--run", type=Path, default=None, help="use this run instead of training the demo's")
    parser.add_argument("--walkers", type=int, default=64)
    parser.add_argument("--steps", type=int, default=2000, help="the most MCMC steps (each chain stops once converged)")
    parser.add_argument("--ref-walkers", type=int, default=64)
    parser.add_argument("--ref-steps", type=int, default=4000, help="the most reference steps (stops once converged)")
    parser.add_argument("--check-every", type=int, default=50, help="steps between convergence checks")
    parser.add_argument("--curve-steps", type=int, default=100, help="steps of each observed curve (0.001 axial strain each)")
    parser.add_argument("--gl-truths", type=int, default=20, help="run GrainLearning's filter on the first N truths")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--merge", type=Path, nargs="*", default=None, help="combine these result files and print")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "calibration_truths.json")
    args = parser.parse_args()
    if args.merge:
        parts = [json.loads(p.read_text()) for p in args.merge]
        merged = dict(parts[0], truths=[t for p in parts for t in p["truths"]],
                      load_average_1min={"start": min(p["load_average_1min"]["start"] for p in parts),
                                         "end": max(p["load_average_1min"]["end"] for p in parts)},
                      date=" / ".join(sorted({p["date"] for p in parts})), parts=[str(p) for p in args.merge])
        merged["summary"] = summarise(merged["truths"])
        write_json_atomic(args.out, merged)
        print_table(merged)
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    load_start = os.getloadavg()[0]
    date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    truths = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        from simrnn.demo import DEMO_SAMPLES_PER_GROUP

        run, train_seconds = (args.run, 0.0) if args.run else train_demo_surrogate(tmp, DEMO_SAMPLES_PER_GROUP)
        for seed in range(args.first_seed, args.first_seed + args.truths):
            truths.append(one_truth(run, seed, tmp, args))
            r = truths[-1]["results"]
            print(f"seed {seed}: " + ", ".join(f"{k} {v['wall_s']:.0f} s" for k, v in r.items()) +
                  f"; load {os.getloadavg()[0]:.1f}", flush=True)
            partial = {"date": date, "truths": truths, "cpu": cpu_model(), "torch_threads": torch.get_num_threads(),
                       "load_average_1min": {"start": load_start, "end": os.getloadavg()[0]}}
            write_json_atomic(args.out.with_suffix(".partial.json"), partial)
    result = {
        "date": date, "cpu": cpu_model(), "cpu_flags": cpu_flags(), "torch_threads": torch.get_num_threads(),
        "load_average_1min": {"start": load_start, "end": os.getloadavg()[0]}, "versions": package_versions(),
        "run": str(args.run) if args.run else "demo surrogate (trained here)", "train_seconds": train_seconds,
        "settings": {"noise_fraction": NOISE, "points_per_curve": POINTS, "pressure": PRESSURE,
                     "curve_steps": args.curve_steps, "grainlearning_truths": args.gl_truths,
                     "mcmc": {"walkers": args.walkers, "max_steps": args.steps},
                     "reference": {"walkers": args.ref_walkers, "max_steps": args.ref_steps},
                     "grainlearning": GL_SETTINGS},
        "truths": truths,
    }
    result["summary"] = summarise(truths)
    write_json_atomic(args.out, result)
    print_table(result)


if __name__ == "__main__":
    main()
