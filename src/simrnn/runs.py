"""Run directories of every task: :class:`Run` creates, opens, validates and describes them.

A run lives in ``runs/<task>/<YYYY-MM-DD_HH-MM-SS>[_N]/`` (created fresh, never overwritten)::

    config.json          the run record (:func:`run_record`): task, created, settings, data, model,
                         data_meta, versions, hardware (+ loggers, resumed, imported_from ...)
    history.json         per epoch: train/val loss and metrics
    test_results.json    metrics on the test split, computed with checkpoints/best.ckpt
    training_losses.png  the learning curves
    checkpoints/best.ckpt, checkpoints/last.ckpt   (self-describing; last.ckpt resumes)
    predictions/<timestamp>/, rollouts/<timestamp>/ ...   outputs written with :meth:`Run.output`

Example::

    run = Run.open("runs/sequence/2026-01-01_12-00-00", task="sequence")
    run.model, run.meta                      # validated: see :meth:`Run.open`
    with run.output("predictions") as out:   # all or nothing
        write_json_atomic(out / "metrics.json", {...})
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import platform
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from simrnn.errors import UserInputError
from simrnn.files import (
    OutputDir,
    first_non_finite,
    new_timestamped_directory,
    output_directory,
    read_json,
    to_jsonable,
    write_json_atomic,
)

CONFIG_FILE = "config.json"
HISTORY_FILE = "history.json"
TEST_RESULTS_FILE = "test_results.json"
LOSS_FIGURE = "training_losses.png"
CHECKPOINT_DIR = "checkpoints"
BEST_CHECKPOINT = "best.ckpt"
LAST_CHECKPOINT = "last.ckpt"
RUN_LOCK = ".run.lock"

_TRACKED_PACKAGES = ("simrnn", "torch", "lightning", "numpy", "h5py", "optuna", "grainlearning")


@dataclass
class Run:
    """A run directory of any task, and (after :meth:`open`) its validated model and ``data_meta``.

    Attributes:
        path: the run directory.
        config: config.json (a mapping; empty for a run created but not yet recorded).
        task: the task name recorded in config.json.
        model: the checkpoint's plain ``nn.Module`` in eval mode (``None`` unless opened with a model).
        meta: the checkpoint's ``data_meta`` (normalisation, names, sizes).
        owner: False on DDP ranks other than 0 (they write nothing into the run).
    """

    path: Path
    config: dict[str, Any] = field(default_factory=dict)
    task: str = ""
    model: Any = None
    meta: dict[str, Any] = field(default_factory=dict)
    owner: bool = True

    # ------------------------------------------------------------------ create
    @classmethod
    def create(cls, root: str | Path, task: str, record: dict[str, Any] | None = None) -> Run:
        """Claim a fresh ``root/task/<timestamp>`` with ``checkpoints/`` (rank 0 only under DDP).

        Other DDP ranks get rank 0's directory (``$SIMRNN_RUN_DIR``, see
        :mod:`simrnn.engine.distributed`) with ``owner=False``. With ``record``, config.json is
        written too; the record is checked for NaN/inf BEFORE the directory is made, and a failed
        write removes the new directory again.
        """
        from simrnn.engine.distributed import claim_run_dir

        if record is not None:
            check_record(record, f"{Path(root) / task}/<new run>/{CONFIG_FILE}")
        path, owner = claim_run_dir(root, task)
        run = cls(path, task=task, owner=owner)
        if record is not None and owner:
            try:
                run.write_record(record)
            except BaseException:
                _remove_fresh_run(path)
                raise
        return run

    def write_record(self, record: dict[str, Any]) -> Path:
        """Write config.json (the one run-record writer; see :func:`run_record`)."""
        self.config = to_jsonable(record)
        return write_json_atomic(self.path / CONFIG_FILE, self.config)

    # ------------------------------------------------------------------ open
    @classmethod
    def open(cls, path: str | Path, task: str | None = None, *, which: str | None = "best",
             meta_keys: tuple[str, ...] = ()) -> Run:
        """Open and validate a run directory; with ``which`` (``best``/``last``) load its model too.

        Checked, each refusal one sentence naming the file and key: config.json is a JSON object
        with a ``task`` (equal to ``task`` if given: "RUN is a fields run, expected a sequence run");
        the checkpoint is read safely, its model is registered for the task, its ``model_args``
        fit the constructor and its tensors fit the model (before allocating: see
        :func:`simrnn.checkpoints.model_from_checkpoint`); ``data_meta`` is a mapping holding
        ``meta_keys`` (dotted for nested keys: ``normalisation.t_ambient_K``).
        """
        run = cls(require_run_dir(path))
        run.config = run.read(CONFIG_FILE)
        if not isinstance(run.config, dict):
            raise UserInputError(f"{run.path / CONFIG_FILE}: expected a JSON object of run settings, "
                                 f"got a {type(run.config).__name__}.")
        run.task = run.config.get("task") if isinstance(run.config.get("task"), str) else ""
        if not run.task:
            raise UserInputError(f"{run.path / CONFIG_FILE}: no 'task' key; not a simrnn run record.")
        if task is not None and run.task != task:
            raise UserInputError(f"{run.path} is a {run.task} run, expected a {task} run.")
        if which is not None:
            run._load_model(which, meta_keys)
        return run

    def _load_model(self, which: str, meta_keys: tuple[str, ...]) -> None:
        from simrnn.checkpoints import model_from_checkpoint, read_checkpoint

        where = self.checkpoint_path(which)
        ckpt = read_checkpoint(where)
        meta = ckpt["hyper_parameters"].get("data_meta")
        if not isinstance(meta, dict):
            raise UserInputError(f"{where}: hyper_parameters.data_meta is missing or not a mapping; "
                                 f"not a {self.task} run checkpoint.")
        for key in meta_keys:
            check_key(meta, key, f"{where}: hyper_parameters.data_meta")
        self.meta = dict(meta)
        self.model = model_from_checkpoint(ckpt, where, task=self.task)

    # ------------------------------------------------------------------ files of the run
    def checkpoint_path(self, which: str = "best") -> Path:
        """Path of the ``best`` or ``last`` checkpoint; a one-line error if it does not exist."""
        return checkpoint_path(self.path, which)

    def read(self, name: str) -> Any:
        """A JSON artefact of the run (one sentence if missing or invalid)."""
        return read_json(self.path / name)

    def write(self, name: str, obj: Any) -> Path:
        """Write a JSON artefact into the run atomically."""
        return write_json_atomic(self.path / name, obj)

    @contextlib.contextmanager
    def output(self, name: str, out: str | Path | None = None) -> Iterator[OutputDir]:
        """THE way to write an output next to the run: ``out``, or ``RUN/<name>/<timestamp>``.

        All or nothing (see :func:`simrnn.files.output_directory`): the block writes into a hidden
        temporary folder that is renamed into place only if the block succeeds.
        """
        with output_directory(out, self.path / name) as made:
            yield made

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the run's lock (``.run.lock``) while training it; a second trainer is refused."""
        from simrnn.files import exclusive_lock

        try:
            with exclusive_lock(self.path / RUN_LOCK.removesuffix(".lock")):
                yield
        except UserInputError as exc:
            if "another process" not in str(exc):
                raise
            raise UserInputError(f"{self.path}: another process is training this run right now "
                                 f"(lock {RUN_LOCK} is held); wait for it to finish.") from None


def check_key(mapping: dict[str, Any], dotted: str, where: str) -> None:
    """One sentence if ``mapping`` lacks the (dotted, nested) key ``dotted``."""
    node: Any = mapping
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise UserInputError(f"{where} lacks the key {dotted!r}; the run is incomplete or was edited.")
        node = node[part]


def _remove_fresh_run(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------------- the run record


def run_record(task: str, *, settings: dict[str, Any], data: dict[str, Any], model_name: str,
               model_args: dict[str, Any], data_meta: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """config.json of every run, trained or imported: one schema (docs/engine.md).

    ``task, created, settings, data {file, sha256, ...}, model {name, args}, data_meta, versions,
    hardware``, then ``extra`` (``loggers`` of a trained run, ``imported_from`` of an import ...).
    """
    return {
        "task": task,
        "created": _dt.datetime.now().isoformat(timespec="seconds"),
        "settings": settings,
        "data": data,
        "model": {"name": model_name, "args": model_args},
        "data_meta": data_meta,
        "versions": package_versions(),
        "hardware": hardware_record(),
        **extra,
    }


def check_record(record: dict[str, Any], where: str) -> None:
    """One sentence if the record holds NaN/inf (JSON has none): refused before anything is written."""
    found = first_non_finite(to_jsonable(record))
    if found is not None:
        raise UserInputError(f"{where} would hold {found[1]} at {found[0]}; the settings and data must give "
                             "finite numbers (nothing was written).")


def package_versions() -> dict[str, str]:
    """Versions of Python and the packages that determine a run's numbers."""
    found = {"python": platform.python_version()}
    for name in _TRACKED_PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def hardware_record() -> dict[str, Any]:
    """The one hardware record: CPU model, usable cores, torch threads, CPU capability, CUDA devices."""
    import torch

    from simrnn.cpu import affinity_cpus, cpu_model

    cuda = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    return {"cpu": cpu_model(), "cpu_cores": len(affinity_cpus()), "torch_threads": torch.get_num_threads(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(), "cuda_devices": cuda}


# ---------------------------------------------------------------------- lower-level helpers


def create_run_dir(root: str | Path, task: str, now: _dt.datetime | None = None) -> Path:
    """Create ``root/task/<timestamp>`` with an empty ``checkpoints/`` folder (never reused).

    Used by :func:`simrnn.engine.distributed.claim_run_dir` on rank 0; everything else calls
    :meth:`Run.create`.
    """
    with new_timestamped_directory(Path(root) / task, now=now) as run_dir:
        (run_dir / CHECKPOINT_DIR).mkdir()
    return run_dir


@contextlib.contextmanager
def output_dir(out: str | Path | None, default_parent: str | Path) -> Iterator[Path]:
    """``out`` or a fresh ``default_parent/<timestamp>``, filled IN PLACE and removed if the block fails.

    The same failure policy as :meth:`Run.output` (a failed command leaves nothing) for outputs that
    record their own final paths while they are written (calibration chains, prediction tables);
    prefer :meth:`Run.output` / :func:`simrnn.files.output_directory`, which also hide the folder
    until it is complete.
    """
    from simrnn.files import new_directory

    with (new_timestamped_directory(default_parent) if out is None else new_directory(out)) as created:
        yield created


def require_run_dir(path: str | Path) -> Path:
    """Return ``path`` if it is a run directory (has config.json), else raise a one-line error."""
    path = Path(path)
    if not (path / CONFIG_FILE).is_file():
        raise UserInputError(f"{path}: not a simrnn run directory (no {CONFIG_FILE}).")
    return path


def checkpoint_path(run_dir: Path, which: str = "best") -> Path:
    """Path of ``best`` or ``last`` checkpoint; a one-line error if it does not exist."""
    path = Path(run_dir) / CHECKPOINT_DIR / (BEST_CHECKPOINT if which == "best" else LAST_CHECKPOINT)
    if not path.is_file():
        raise UserInputError(f"{path}: checkpoint not found; was the run trained to the end?")
    return path


# ---------------------------------------------------------------------- runs list / compare


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


def _numbers(value: Any, where: str) -> dict[str, float]:
    """``{name: number}`` or one sentence naming ``where``."""
    if not isinstance(value, dict):
        raise UserInputError(f"{where} is a {type(value).__name__}, expected a mapping of metric names to numbers.")
    for name, number in value.items():
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            raise UserInputError(f"{where}[{name!r}] is {number!r}, expected a number.")
    return {str(k): float(v) for k, v in value.items()}


_HEADLINE = ("mse", "skill", "solidify/skill")  # the metrics `runs list` shows when a run has them


def summarize_run(run_dir: Path) -> dict[str, Any]:
    """One row about a run of any task, from config.json and test_results.json (docs/engine.md).

    Keys: ``run, task, model, imported (config.json imported_from or None), created, source, epochs,
    best_epoch, metrics, headline ({name: value} of mse / skill / solidify/skill present), baselines,
    error``. Missing artefacts (an unfinished or imported run) leave their fields ``None``; an
    unreadable or malformed file (a text metric, a baseline that is not a mapping ...) gives the row an
    ``error`` sentence instead of failing the whole listing.
    """
    run_dir = Path(run_dir)
    row: dict[str, Any] = {"run": str(run_dir), "task": run_dir.parent.name, "model": None, "imported": None,
                           "created": None, "source": None, "epochs": None, "best_epoch": None, "metrics": {},
                           "headline": {}, "baselines": {}, "error": None}
    try:
        run = Run.open(run_dir, which=None)
        results_file = run_dir / TEST_RESULTS_FILE
        results = read_json(results_file) if results_file.is_file() else {}
        if not isinstance(results, dict):
            raise UserInputError(f"{results_file}: expected a JSON object, got a {type(results).__name__}.")
        data = _mapping(run.config.get("data"))
        baselines = results.get("baselines") or {}
        if not isinstance(baselines, dict):
            raise UserInputError(f"{results_file}: 'baselines' is a {type(baselines).__name__}, expected a mapping.")
        metrics = _numbers(results.get("metrics") or {}, f"{results_file}: 'metrics'")
        imported = run.config.get("imported_from")
        row.update(task=run.task, created=run.config.get("created"), source=data.get("file"),
                   model=_mapping(run.config.get("model")).get("name"),
                   imported=None if imported is None else str(imported),
                   epochs=results.get("epochs_trained"), best_epoch=results.get("best_epoch"), metrics=metrics,
                   headline={k: metrics[k] for k in _HEADLINE if k in metrics},
                   baselines={str(b): _numbers(v, f"{results_file}: baselines[{b!r}]") for b, v in baselines.items()})
    except UserInputError as exc:
        row["error"] = str(exc)
    return row


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _flatten(mapping: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (lists stay values)."""
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


# config.json keys (dotted) that, when they differ, make test metrics incomparable
_DATA_KEYS = ("data.file", "data.sha256")
_SPLIT_KEYS = ("data.split", "data.steps", "data.n_samples", "data.n_windows", "data.split_ratio",
               "settings.train_frac", "settings.val_frac", "settings.split_ratio")
_BAND_KEYS = ("settings.t_solidus", "settings.t_liquidus", "data_meta.solidification_band_K")


def _differing(configs: list[dict[str, Any]], keys: list[str] | tuple[str, ...]) -> list[str]:
    """The dotted ``keys`` (or mappings under them) whose values differ between the configs recording them."""
    out = []
    for key in keys:
        values = [{k: v for k, v in c.items() if k == key or k.startswith(key + ".")} for c in configs]
        values = [v for v in values if v]
        if any(v != values[0] for v in values[1:]):
            out.append(key)
    return out


def _band(config: dict[str, Any]) -> str:
    """``"1600.0-1800.0 K"`` from settings t_solidus/t_liquidus or data_meta.solidification_band_K."""
    band = config.get("data_meta.solidification_band_K") or ["?", "?"]
    return f"{config.get('settings.t_solidus', band[0])}-{config.get('settings.t_liquidus', band[-1])} K"


def _warnings(configs: list[dict[str, Any]]) -> list[str]:
    """One sentence per reason the runs' metrics are not comparable: data, split, band (runs in order)."""
    out = []
    if _differing(configs, _DATA_KEYS):
        files = ", ".join(Path(str(c.get("data.file", "?"))).name + (f"@{c['data.sha256'][:8]}" if c.get("data.sha256") else "")
                          for c in configs)
        out.append(f"metrics not comparable, different data: {files}")
    split = _differing(configs, _SPLIT_KEYS)
    if split:
        out.append(f"metrics not comparable, different splits: {', '.join(split)}")
    if _differing(configs, _BAND_KEYS):
        bands = ", ".join(_band(c) for c in configs)
        out.append(f"band metrics not comparable, different bands: {bands}")
    return out


def compare_runs(run_dirs: list[Path]) -> dict[str, Any]:
    """Test metrics and baselines of runs OF ONE TASK side by side, with the change against the first.

    Returns ``{"runs": [...], "names": [run folder names], "tasks": [...], "models": [...],
    "imported": [...], "rows": [{"name", "values": [float | None per run], "change_percent": [float |
    None per run]}], "settings_differ": [{"key", "values": [value | None per run]}], "warnings":
    [sentence], "settings_in_some": [keys only some runs record]}``; baseline metrics are named ``<baseline>/<metric>``. ``settings_differ`` lists only the
    config.json settings that every run records and whose values differ; ``warnings`` says when the runs used different data
    (data.file / sha256), splits (recorded split steps, sample counts, split ratio) or solidification
    bands, among the runs that record them. Runs of different tasks are refused: their metrics measure different things.
    """
    rows: dict[str, list[float | None]] = {}
    summaries = [summarize_run(Path(r)) for r in run_dirs]
    for summary in summaries:
        if summary["error"]:
            raise UserInputError(summary["error"])
        if summary["task"] != summaries[0]["task"]:
            raise UserInputError(f"{summary['run']} is a {summary['task']} run but {summaries[0]['run']} is a "
                                 f"{summaries[0]['task']} run; compare runs of one task.")
    for i, summary in enumerate(summaries):
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
    configs = [_flatten(read_json(Path(r) / CONFIG_FILE)) for r in run_dirs]
    settings = [{k.removeprefix("settings."): v for k, v in c.items() if k.startswith("settings.")} for c in configs]
    keys = sorted({k for s in settings for k in s})
    in_all = [k for k in keys if all(k in s for s in settings)]
    differ = [{"key": k, "values": [s[k] for s in settings]} for k in _differing(settings, in_all)]
    names = [Path(r).name for r in run_dirs]
    return {"runs": [s["run"] for s in summaries], "names": names, "tasks": [s["task"] for s in summaries],
            "models": [s["model"] for s in summaries], "imported": [s["imported"] for s in summaries],
            "rows": out, "settings_differ": differ, "settings_in_some": [k for k in keys if k not in in_all],
            "warnings": _warnings(configs)}
