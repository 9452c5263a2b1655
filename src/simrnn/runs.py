"""Run directories: ``runs/<task>/<YYYY-MM-DD_HH-MM-SS>[_N]/``, created fresh, never overwritten.

A finished run holds::

    config.json          every setting: seed, data file + checksum, split, package versions
    history.json         per epoch: train/val loss and metrics
    test_results.json    metrics on the test split, computed with checkpoints/best.ckpt
    training_losses.png  the learning curves
    checkpoints/best.ckpt, checkpoints/last.ckpt   (self-describing; last.ckpt resumes)
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import platform
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from simrnn.errors import UserInputError
from simrnn.files import new_directory, new_timestamped_directory, read_json, write_json_atomic

CONFIG_FILE = "config.json"
HISTORY_FILE = "history.json"
TEST_RESULTS_FILE = "test_results.json"
LOSS_FIGURE = "training_losses.png"
CHECKPOINT_DIR = "checkpoints"
BEST_CHECKPOINT = "best.ckpt"
LAST_CHECKPOINT = "last.ckpt"

_TRACKED_PACKAGES = ("simrnn", "torch", "lightning", "numpy", "h5py", "optuna", "grainlearning")


def create_timestamped_dir(parent: str | Path, now: _dt.datetime | None = None) -> Path:
    """Create and return ``parent/<YYYY-MM-DD_HH-MM-SS>``; a clash gets ``_1``, ``_2``, ... appended."""
    with new_timestamped_directory(parent, now=now, keep_on_error=True) as created:
        return created


def new_output_dir(out: str | Path | None, default_parent: str | Path) -> Path:
    """Create the user's ``out`` (a one-line error if it exists) or a fresh ``default_parent/<timestamp>``."""
    if out is None:
        return create_timestamped_dir(default_parent)
    with new_directory(out, keep_on_error=True) as created:
        return created


@contextlib.contextmanager
def output_dir(out: str | Path | None, default_parent: str | Path) -> Iterator[Path]:
    """Like :func:`new_output_dir` for a block that writes into it: removed again if the block fails."""
    with (new_timestamped_directory(default_parent) if out is None else new_directory(out)) as created:
        yield created


def create_run_dir(root: str | Path, task: str, now: _dt.datetime | None = None) -> Path:
    """Create ``root/task/<timestamp>`` with an empty ``checkpoints/`` folder (never reused)."""
    run_dir = create_timestamped_dir(Path(root) / task, now)
    (run_dir / CHECKPOINT_DIR).mkdir()
    return run_dir


def package_versions() -> dict[str, str]:
    """Versions of Python and the packages that determine a run's numbers."""
    found = {"python": platform.python_version()}
    for name in _TRACKED_PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def require_run_dir(path: str | Path) -> Path:
    """Return ``path`` if it is a run directory (has config.json), else raise a one-line error."""
    path = Path(path)
    if not (path / CONFIG_FILE).is_file():
        raise UserInputError(f"{path}: not a simrnn run directory (no {CONFIG_FILE}).")
    return path


def read_run_config(run_dir: str | Path) -> dict[str, Any]:
    """A run's config.json as a dict; one sentence if it is missing, invalid JSON or not an object."""
    config = read_json(Path(run_dir) / CONFIG_FILE)
    if not isinstance(config, dict):
        raise UserInputError(f"{Path(run_dir) / CONFIG_FILE}: expected a JSON object of run settings, "
                             f"got a {type(config).__name__}.")
    return config


def write_artifact(run_dir: Path, name: str, obj: Any) -> Path:
    """Write a JSON artefact into the run directory atomically."""
    return write_json_atomic(Path(run_dir) / name, obj)


def read_artifact(run_dir: Path, name: str) -> Any:
    """Read a JSON artefact of a run directory."""
    return read_json(Path(run_dir) / name)


def checkpoint_path(run_dir: Path, which: str = "best") -> Path:
    """Path of ``best`` or ``last`` checkpoint; a one-line error if it does not exist."""
    path = Path(run_dir) / CHECKPOINT_DIR / (BEST_CHECKPOINT if which == "best" else LAST_CHECKPOINT)
    if not path.is_file():
        raise UserInputError(f"{path}: checkpoint not found; was the run trained to the end?")
    return path


def list_runs(root: str | Path, task: str | None = None) -> list[Path]:
    """All run directories under ``root`` (optionally of one task), oldest first."""
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise UserInputError(f"{root}: not a directory; expected the folder holding <task>/<timestamp> runs.")
    if task:
        tasks = [root / task]
    else:
        tasks = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    return sorted(p for t in tasks if t.is_dir() for p in t.iterdir() if (p / CONFIG_FILE).is_file())


def summarize_run(run_dir: Path) -> dict[str, Any]:
    """One row about a run of any task, from config.json and test_results.json (docs/engine.md).

    Missing artefacts (an unfinished or imported run) leave their fields ``None``; an unreadable
    or malformed file gives the row an ``error`` instead of failing the whole listing.
    """
    row: dict[str, Any] = {"run": str(run_dir), "task": Path(run_dir).parent.name, "created": None, "source": None,
                           "epochs": None, "best_epoch": None, "metrics": {}, "baselines": {}, "error": None}
    try:
        config = read_json(Path(run_dir) / CONFIG_FILE)
        results = read_json(Path(run_dir) / TEST_RESULTS_FILE) if (Path(run_dir) / TEST_RESULTS_FILE).is_file() else {}
        if not isinstance(config, dict) or not isinstance(results, dict):
            raise UserInputError(f"{run_dir}: config.json or test_results.json is not a JSON object.")
        data = config.get("data") if isinstance(config.get("data"), dict) else {}
        source = config.get("source") if isinstance(config.get("source"), dict) else {}
        row.update(task=config.get("task", row["task"]), created=config.get("created"),
                   source=data.get("file") or source.get("dir"), epochs=results.get("epochs_trained"),
                   best_epoch=results.get("best_epoch"), metrics=dict(results.get("metrics") or {}),
                   baselines=dict(results.get("baselines") or {}))
    except (UserInputError, TypeError, ValueError) as exc:
        row["error"] = str(exc)
    return row


def compare_runs(run_dirs: list[Path]) -> dict[str, Any]:
    """Test metrics and baselines of several runs side by side, with the change against the first run.

    Returns ``{"runs": [...], "rows": [{"name", "values": [float | None per run], "change_percent":
    [float | None per run]}]}``; baseline metrics are named ``<baseline>/<metric>``.
    """
    rows: dict[str, list[float | None]] = {}
    summaries = [summarize_run(Path(r)) for r in run_dirs]
    for i, summary in enumerate(summaries):
        if summary["error"]:
            raise UserInputError(summary["error"])
        if not summary["metrics"]:
            raise UserInputError(f"{summary['run']}: no test_results.json metrics; was the run trained to the end?")
        flat = dict(summary["metrics"])
        for baseline, values in summary["baselines"].items():
            flat.update({f"{baseline}/{k}": v for k, v in values.items()})
        for name, value in flat.items():
            rows.setdefault(name, [None] * len(summaries))[i] = value
    out = []
    for name, values in rows.items():
        first = values[0]
        change = [None if v is None or not first else 100.0 * (v - first) / abs(first) for v in values]
        out.append({"name": name, "values": values, "change_percent": change})
    return {"runs": [s["run"] for s in summaries], "tasks": [s["task"] for s in summaries], "rows": out}
