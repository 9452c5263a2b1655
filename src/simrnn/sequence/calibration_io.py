"""Files of a calibration: the observation table it reads and the artefacts it writes.

Observation table (GrainLearning's tutorial format): plain text, a ``#`` header line naming the
columns, then one whitespace-separated row of numbers per time step::

    # epsilon_axial   e       p       q
    0.000             0.6236  0.2000  0.0028
    0.001             0.6225  0.2044  0.0134

A calibration directory (``runs/calibration/<YYYY-MM-DD_HH-MM-SS>/``, never overwritten) holds::

    calibration.json   settings, most probable parameters, posterior mean/std per iteration, timings
    posterior.csv      one row per iteration: sigma, ESS and <param>_mean/_std/_most_probable
    ensemble.csv       every sample of every iteration with its posterior weight
    final_ensemble.npz control [T], observed [num_obs, T], simulated [N, num_obs, T], weights [N]
    sensitivity.json   how much each observable moves per parameter around the most probable point
    curves.png         observed vs simulated curves of the final ensemble
    posteriors.png     parameter posteriors (samples coloured by weight, mean +- std) per iteration
    grainlearning.log  GrainLearning's own console output and the warnings it raised
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from simrnn.errors import UserInputError
from simrnn.files import atomic_path, sha256_file, write_json_atomic, write_text_atomic
from simrnn.runs import new_output_dir, package_versions

if TYPE_CHECKING:
    from simrnn.sequence.calibration import CalibrationResult

SUMMARY_FILE = "calibration.json"
POSTERIOR_CSV = "posterior.csv"
ENSEMBLE_CSV = "ensemble.csv"
FINAL_ENSEMBLE = "final_ensemble.npz"
SENSITIVITY_FILE = "sensitivity.json"
CURVES_FIGURE = "curves.png"
POSTERIORS_FIGURE = "posteriors.png"
LOG_FILE = "grainlearning.log"


@dataclass(frozen=True)
class ObservationTable:
    """Columns of an observation file, each a curve ``[T]`` over the same ``T`` time steps."""

    path: Path
    columns: dict[str, np.ndarray]

    @property
    def names(self) -> list[str]:
        return list(self.columns)

    @property
    def num_steps(self) -> int:
        return len(next(iter(self.columns.values())))

    def stack(self, names: list[str]) -> np.ndarray:
        """The named curves stacked as ``[len(names), T]``; unknown names are a one-line error."""
        unknown = [n for n in names if n not in self.columns]
        if unknown:
            raise UserInputError(
                f"{self.path}: no column {', '.join(map(repr, unknown))}; its columns are {', '.join(self.names)}."
            )
        return np.stack([self.columns[n] for n in names])


def read_observation_table(path: str | Path) -> ObservationTable:
    """Read a whitespace table whose first line is a ``#`` header naming the columns.

    Every row must hold one finite number per header name (a shorter or longer row means curves of
    different lengths and is reported with its line number).
    """
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"{path}: observation file not found.")
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    header_at = next((i for i, line in enumerate(lines) if line.strip()), None)
    if header_at is None or not lines[header_at].lstrip().startswith("#"):
        raise UserInputError(f"{path}: expected a first line like '# epsilon_axial e p q' naming the columns.")
    names = lines[header_at].strip().lstrip("#").replace(",", " ").split()
    if not names or len(set(names)) != len(names):
        raise UserInputError(f"{path}: the header must name each column once, got {names}.")
    rows = []
    for number, line in enumerate(lines[header_at + 1:], start=header_at + 2):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        if len(fields) != len(names):
            raise UserInputError(
                f"{path}: line {number} has {len(fields)} values but the header names {len(names)} columns "
                f"({', '.join(names)}); all curves must have the same length."
            )
        try:
            rows.append([float(v) for v in fields])
        except ValueError:
            raise UserInputError(f"{path}: line {number} holds a value that is not a number: {line.strip()!r}.") \
                from None
    if not rows:
        raise UserInputError(f"{path}: no data rows below the header.")
    table = np.asarray(rows, dtype=np.float64)
    if not np.isfinite(table).all():
        bad = int(np.argwhere(~np.isfinite(table))[0, 0])
        raise UserInputError(f"{path}: data row {bad + 1} holds NaN or inf; observations must be finite.")
    return ObservationTable(path, {name: table[:, j] for j, name in enumerate(names)})


def check_new_directory(out_dir: str | Path | None) -> None:
    """A one-line error if ``out_dir`` is given and already exists (results are never overwritten)."""
    if out_dir is not None and Path(out_dir).exists():
        raise UserInputError(f"{out_dir}: already exists; choose a new output directory.")


def fresh_directory(out_dir: str | Path | None, runs_root: str | Path = "runs") -> Path:
    """Create ``out_dir`` (which must not exist yet) or ``runs_root/calibration/<timestamp>[_N]``."""
    return new_output_dir(out_dir, Path(runs_root) / "calibration")


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


def _reference_errors(result: CalibrationResult, reference: Mapping[str, float],
                      param_ranges: Mapping[str, tuple[float, float]]) -> dict[str, dict[str, float]]:
    """Per known parameter: truth, estimates, and errors relative to the truth and to the range."""
    errors = {}
    for name, truth in reference.items():
        if name not in result.param_names:
            continue
        width = param_ranges[name][1] - param_ranges[name][0]
        found, mean = result.most_probable[name], result.mean[name]
        errors[name] = {
            "truth": truth, "most_probable": found, "mean": mean, "std": result.std[name],
            "relative_error_most_probable": (found - truth) / truth if truth else float("nan"),
            "relative_error_mean": (mean - truth) / truth if truth else float("nan"),
            "error_fraction_of_range_most_probable": (found - truth) / width,
            "error_fraction_of_range_mean": (mean - truth) / width,
        }
    return errors


def write_calibration(result: CalibrationResult, settings: dict[str, Any], table: ObservationTable,
                      observed: np.ndarray, control: np.ndarray, reference: Mapping[str, float],
                      log_text: str) -> None:
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
        "most_probable": result.most_probable,
        "posterior_mean": result.mean,
        "posterior_std": result.std,
        "iterations_run": len(result.iterations),
        "stopped_early": result.stopped_early,
        "reference": _reference_errors(result, reference, settings["param_ranges"]),
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
