"""Files a calibration writes.

A calibration directory (``runs/calibration/<YYYY-MM-DD_HH-MM-SS>/``, never overwritten) holds::

    calibration.json   settings, posterior per parameter (mean, std, 90 % interval, truth inside?),
                       stop reason and notes, per-iteration mean/std, timings
    posterior.csv      one row per iteration: sigma, ESS and <param>_mean/_std/_most_probable
    ensemble.csv       every sample of every iteration with its posterior weight
    final_ensemble.npz control [T], observed [num_obs, T], simulated [N, num_obs, T], weights [N]
    sensitivity.json   how much each observable moves per parameter around the posterior mean
    curves.png         observed vs simulated curves of the final ensemble
    posteriors.png     parameter posteriors (samples coloured by weight, mean +- std) per iteration
    grainlearning.log  GrainLearning's own console output and the warnings it raised

An MCMC calibration (the default sampler) writes instead::

    calibration.json       settings, per-experiment error model, posterior per parameter, diagnostics
                           (tau, ESS, split R-hat, converged), notes (warnings), fit, timings
    chain.npz              the whole chain [steps, walkers, P] and log_prob [steps, walkers] (resumable)
    posterior_samples.npz  samples [M, P] after burn-in, param_names, per experiment observed [T, O]
                           and posterior-predictive curves [D, T, O]
    corner.png             pairwise densities and marginals (truth marked when known)
    curves.png             observed vs posterior-predictive curves per experiment, with units
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from simrnn.errors import UserInputError
from simrnn.files import (
    atomic_path,
    new_directory,
    new_timestamped_directory,
    sha256_file,
    write_json_atomic,
    write_text_atomic,
)
from simrnn.runs import package_versions
from simrnn.sequence.calibration.observations import ObservationTable

if TYPE_CHECKING:
    from simrnn.sequence.calibration.posterior import CalibrationResult

SUMMARY_FILE = "calibration.json"
POSTERIOR_CSV = "posterior.csv"
ENSEMBLE_CSV = "ensemble.csv"
FINAL_ENSEMBLE = "final_ensemble.npz"
SENSITIVITY_FILE = "sensitivity.json"
CURVES_FIGURE = "curves.png"
POSTERIORS_FIGURE = "posteriors.png"
LOG_FILE = "grainlearning.log"
CORNER_FIGURE = "corner.png"
SAMPLES_NPZ = "posterior_samples.npz"


def check_new_directory(out_dir: str | Path | None) -> None:
    """A one-line error if ``out_dir`` is given and already exists (results are never overwritten)."""
    if out_dir is not None and Path(out_dir).exists():
        raise UserInputError(f"{out_dir}: already exists; choose a new output directory.")


def fresh_directory(out_dir: str | Path | None, runs_root: str | Path = "runs") -> Path:
    """Create ``out_dir`` (which must not exist yet) or ``runs_root/calibration/<timestamp>[_N]``."""
    # Not yet all-or-nothing: the driver writes into it after this returns (simrnn.files.output_directory
    # needs the driver's writes inside one block).
    made = new_directory(out_dir) if out_dir is not None else new_timestamped_directory(Path(runs_root) / "calibration")
    with made as created:
        return created


def write_csv_atomic(path: str | Path, header: list[str], rows: list[list]) -> Path:
    """Write a CSV file (header + rows) through a temporary file and a rename."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return write_text_atomic(path, buffer.getvalue())


def write_npz_atomic(path: str | Path, **arrays: np.ndarray) -> Path:
    """Write NumPy arrays to an ``.npz`` file atomically (readable without ``allow_pickle``)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays)
    return Path(path)


def write_calibration(result: CalibrationResult, settings: dict[str, Any], table: ObservationTable,
                      observed: np.ndarray, control: np.ndarray, log_text: str) -> None:
    """Write every artefact but the figures into ``result.out_dir``.

    Args:
        observed: ``[num_obs, T]``; control: ``[T]`` or ``[F, T]`` as fed to the surrogate.
    """
    out = result.out_dir
    names = result.param_names
    per_iteration = [
        {"iteration": it.iteration, "sigma": it.sigma, "ess": it.ess,
         "mean": dict(zip(names, it.mean.tolist(), strict=True)), "std": dict(zip(names, it.std.tolist(), strict=True)),
         "most_probable": dict(zip(names, it.most_probable.tolist(), strict=True))}
        for it in result.iterations
    ]
    write_json_atomic(out / SUMMARY_FILE, {
        "settings": dict(settings, obs_file_sha256=sha256_file(table.path)),
        "posterior": result.posterior,
        "fit": result.fit,
        "stop_reason": result.stop_reason,
        "notes": result.notes,
        "iterations_run": len(result.iterations),
        "final_sigma": result.final.sigma,
        "final_ess": result.final.ess,
        "timings": result.timings,
        "per_iteration": per_iteration,
        "versions": package_versions(),
    })
    write_json_atomic(out / SENSITIVITY_FILE, result.sensitivity)
    write_csv_atomic(
        out / POSTERIOR_CSV,
        ["iteration", "sigma", "ess"] + [f"{n}_{k}" for n in names for k in ("mean", "std", "most_probable")],
        [[it.iteration, it.sigma, it.ess]
         + [v for j in range(len(names)) for v in (it.mean[j], it.std[j], it.most_probable[j])]
         for it in result.iterations],
    )
    write_csv_atomic(
        out / ENSEMBLE_CSV, ["iteration", "sample", "weight", *names],
        [[it.iteration, i, it.weights[i], *it.samples[i]] for it in result.iterations
         for i in range(len(it.weights))],
    )
    write_npz_atomic(out / FINAL_ENSEMBLE, control=np.asarray(control), observed=observed,
                     simulated=result.simulated, weights=result.iterations[-1].weights,
                     samples=result.iterations[-1].samples, param_names=np.asarray(names),
                     obs_names=np.asarray(settings["obs_names"]))
    write_text_atomic(out / LOG_FILE, log_text)


def write_mcmc(result, settings: dict[str, Any], tables: list[ObservationTable]) -> None:
    """Write calibration.json and posterior_samples.npz of an MCMC :class:`~.mcmc_driver.McmcResult`."""
    out = result.out_dir
    experiments = [dict(e, obs_file_sha256=sha256_file(t.path)) for e, t in zip(result.experiments, tables, strict=True)]
    write_json_atomic(out / SUMMARY_FILE, {
        "settings": settings,
        "experiments": experiments,
        "posterior": result.posterior,
        "converged": result.converged,
        "diagnostics": dict(result.diagnostics, param_names=result.param_names),
        "stop_reason": result.stop_reason,
        "notes": result.notes,
        "fit": result.fit,
        "timings": result.timings,
        "versions": package_versions(),
    })
    arrays = {"samples": result.samples, "param_names": np.asarray(result.param_names)}
    for k, (observed, curves) in enumerate(zip(result.observed, result.predictive, strict=True)):
        arrays[f"observed_{k}"], arrays[f"predictive_{k}"] = observed, curves
    write_npz_atomic(out / SAMPLES_NPZ, **arrays)
