"""Optuna studies for sweeps: storage URLs, samplers, pruners, creating and re-opening a study.

A study keeps its sweep definition and task name as study user attributes, so a worker on
another node needs only ``--storage URL --study NAME``.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import optuna

from simrnn.errors import UserInputError
from simrnn.sweep.spec import PrunerSpec, SweepSpec, parse_sweep

#: the SQLite file that holds every study of a runs folder unless ``--storage`` says otherwise.
DEFAULT_STORAGE_FILE = "sweeps.db"
SPEC_ATTR = "simrnn_sweep"
TASK_ATTR = "simrnn_task"
#: seconds a SQLite connection waits for another worker's write lock before failing.
_SQLITE_TIMEOUT_S = 60

@contextlib.contextmanager
def optuna_quiet(level: int = optuna.logging.WARNING) -> Iterator[None]:
    """Inside the block: Optuna logs at ``level`` or above only (no "A new study created" lines; with
    ``ERROR`` no per-trial failure tracebacks), and its ExperimentalWarning for the heartbeat API simrnn
    relies on (stable since 2.9) is hidden. Optuna's process-wide verbosity is restored after."""
    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(max(level, previous))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            yield
    finally:
        optuna.logging.set_verbosity(previous)


def default_storage() -> Path:
    """``<runs_root>/sweeps.db`` with the engine's default ``runs_root``: the one default storage."""
    from simrnn.engine.settings import TrainSettings

    return Path(TrainSettings.runs_root) / DEFAULT_STORAGE_FILE


def storage_url(storage: str | Path | None, runs_root: str | Path | None = None, *, create: bool = False) -> str:
    """A SQLAlchemy URL: ``None`` -> ``sqlite:///<runs_root>/sweeps.db`` (:func:`default_storage` without
    ``runs_root``); a file path -> SQLite; ``postgresql://`` / ``postgres://`` -> the psycopg (v3) driver.

    ``create``: a SQLite file may be created (its missing folders are made here); otherwise it must
    exist (reading a study never leaves an empty database or folders behind).
    """
    if storage is None:
        storage = default_storage() if runs_root is None else Path(runs_root) / DEFAULT_STORAGE_FILE
    text = str(storage)
    if "://" not in text:
        return f"sqlite:///{_sqlite_file(Path(text).expanduser(), create)}"
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(text)
    except (ArgumentError, ValueError):
        raise UserInputError(f"storage {text!r} is not a database URL (e.g. postgresql://user@host:5432/db).",
                             key="storage") from None
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    if url.drivername.startswith("sqlite") and url.database:
        return f"sqlite:///{_sqlite_file(Path(url.database), create)}"
    return url.render_as_string(hide_password=False)


def _sqlite_file(path: Path, create: bool) -> Path:
    """The absolute SQLite file; checked (and its folders made) for ``create``, else it must exist."""
    from simrnn.files import check_output_location, make_parents

    path = path.resolve()
    if path.is_dir():
        raise UserInputError(f"storage {path} is a folder; expected a SQLite file such as runs/sweeps.db.",
                             key="storage")
    if create:
        check_output_location(path)  # a regular file in the way is named as such
        make_parents(path)
    elif not path.is_file():
        raise UserInputError(f"storage {path}: no such sweep database; give the storage that `simrnn sweep run` "
                             "used.", key="storage")
    return path


def _database_cause(exc: BaseException) -> BaseException | None:
    """The database driver's own error in ``exc``'s chain (psycopg, sqlite3), else SQLAlchemy's, else None.

    Optuna wraps failures in its own words ("invalid data in the commit ..."); the driver says what
    happened (permission denied, server closed the connection).
    """
    from sqlalchemy.exc import SQLAlchemyError

    seen, found = exc, None
    while seen is not None:
        if isinstance(seen, SQLAlchemyError):
            found = getattr(seen, "orig", None) or seen
            break
        seen = seen.__cause__ or seen.__context__
    return found


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def database_sentence(exc: BaseException, url: str) -> str | None:
    """One sentence for a database failure anywhere in ``exc``'s chain (server gone, permission), else None."""
    cause = _database_cause(exc)
    if cause is None:
        return None
    return (f"storage {shown_url(url)}: the database failed ({type(cause).__name__}: {_first_line(cause)}); finished "
            "trials are kept, run the same command again once the database is reachable.")


def open_storage(url: str, spec: SweepSpec | None = None) -> optuna.storages.RDBStorage:
    """An RDB storage with heartbeats, so the trial of a killed worker is marked failed.

    Grid sweeps queue a killed trial's grid point once more, so the grid still completes.
    """
    interval = spec.heartbeat_interval if spec else 60
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": _SQLITE_TIMEOUT_S}}
    else:
        # no connection pool: a worker holds a server connection only while it talks to the database
        # (a few queries per trial and heartbeat), so hundreds of workers fit max_connections
        from sqlalchemy.pool import NullPool

        kwargs["engine_kwargs"] = {"poolclass": NullPool}
    retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1) if spec and spec.method == "grid" else None
    try:
        with optuna_quiet():
            return optuna.storages.RDBStorage(
                url, heartbeat_interval=interval, grace_period=spec.grace_period if spec else None,
                heartbeat_stale_trial_callback=retry, **kwargs)
    except ImportError as exc:
        raise UserInputError(f"storage {shown_url(url)}: no database driver for this URL ({exc.__cause__ or exc}).",
                             key="storage") from None
    except Exception as exc:  # sqlalchemy.exc.OperationalError and friends: server down, bad credentials, permission
        cause = _database_cause(exc) or exc
        raise UserInputError(f"storage {shown_url(url)}: cannot open the database ({_first_line(cause)}).",
                             key="storage") from None


def shown_url(url: str) -> str:
    """``url`` with its password replaced by ``***``, for messages and logs."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def make_sampler(spec: SweepSpec, seed: int) -> optuna.samplers.BaseSampler:
    """bayes -> TPE, random -> random, grid -> GridSampler (its shuffle seeded identically in every worker)."""
    if spec.method == "grid":
        return optuna.samplers.GridSampler(spec.grid_space(), seed=spec.seed)
    if spec.method == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def make_pruner(pruner: PrunerSpec) -> optuna.pruners.BasePruner:
    """median -> MedianPruner, hyperband -> HyperbandPruner, none -> NopPruner; options are their kwargs."""
    classes = {"median": optuna.pruners.MedianPruner, "hyperband": optuna.pruners.HyperbandPruner,
               "none": optuna.pruners.NopPruner}
    try:
        return classes[pruner.type](**pruner.options)
    except (TypeError, ValueError) as exc:
        raise UserInputError(f"simrnn.pruner {pruner.type} with {dict(pruner.options)}: {exc}.") from None


def create_study(spec: SweepSpec, task: str, storage: str, study_name: str) -> optuna.Study:
    """Create the study or re-open it (resume); a study of the same name with another sweep is an error."""
    with optuna_quiet():
        study = optuna.create_study(
            storage=open_storage(storage, spec), study_name=study_name, load_if_exists=True,
            direction=spec.metric.goal, sampler=make_sampler(spec, spec.seed), pruner=make_pruner(spec.pruner))
    saved = study.user_attrs.get(SPEC_ATTR)
    if saved is None or not _has_progress(study):  # nothing trained yet: a corrected sweep file may replace it
        study.set_user_attr(SPEC_ATTR, dict(spec.raw))
        study.set_user_attr(TASK_ATTR, task)
    elif _canonical(saved) != _canonical(spec.raw) or study.user_attrs.get(TASK_ATTR) != task:
        raise UserInputError(
            f"study {study_name!r} in {shown_url(storage)} was started with another sweep definition or task; "
            "resume it with the same file and task, or choose a new study name."
        )
    return study


def load_study(storage: str, study_name: str, seed_offset: int = 0) -> tuple[optuna.Study, SweepSpec, str]:
    """Re-open a study created by :func:`create_study`: ``(study, spec, task name)``.

    The sampler is seeded with ``spec.seed + seed_offset``, so workers that pass the number of
    trials already in the study draw different points, reproducibly.
    """
    storage_obj = open_storage(storage)
    with optuna_quiet():
        try:
            summary = optuna.load_study(study_name=study_name, storage=storage_obj)
        except KeyError:
            names = optuna.get_all_study_names(storage_obj)
            raise UserInputError(
                f"no study {study_name!r} in {shown_url(storage)}; studies there: {', '.join(names) or 'none'}."
            ) from None
    raw, task = summary.user_attrs.get(SPEC_ATTR), summary.user_attrs.get(TASK_ATTR)
    if raw is None or task is None:
        raise UserInputError(f"study {study_name!r} in {shown_url(storage)} was not created by `simrnn sweep run`.")
    spec = parse_sweep(raw, f"study {study_name}")
    with optuna_quiet():
        study = optuna.load_study(
            study_name=study_name, storage=open_storage(storage, spec),
            sampler=make_sampler(spec, spec.seed + seed_offset), pruner=make_pruner(spec.pruner))
    return study, spec, task


def default_study_name(spec: SweepSpec, task: str, sweep_file: str | Path | None) -> str:
    """The W&B ``name`` of the sweep, else ``<task>-<file stem>``."""
    if spec.name:
        return spec.name
    return f"{task}-{Path(sweep_file).stem}" if sweep_file else task


def _has_progress(study: optuna.Study) -> bool:
    """Whether a trial of ``study`` finished, was pruned or is running (failed ones do not count)."""
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.RUNNING)
    return bool(study.get_trials(deepcopy=False, states=states))


def _canonical(raw: Mapping[str, Any]) -> str:
    return json.dumps(raw, sort_keys=True)
