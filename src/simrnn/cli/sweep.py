"""``simrnn sweep ...``: Optuna sweeps from Weights & Biases sweep files, on one machine or many."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from simrnn.cli.output import console

app = typer.Typer(help="Hyper-parameter sweeps (W&B sweep files, run offline with Optuna).", no_args_is_help=True)

_STORAGE_HELP = "SQLAlchemy URL (postgresql://user@host:5432/db for many workers) or SQLite file."
_TRIALS_HELP = "Trials the study should hold (all workers together); default run_cap, else 20."
_TIMEOUT_HELP = "Start no new trial after this many seconds."
_DEFAULT_STORAGE = " Default: sweeps.db in the default runs_root."


def register(root_app: typer.Typer) -> None:
    """Add the ``sweep`` sub-application."""
    root_app.add_typer(app, name="sweep")


def _print_trial(trial) -> None:
    value = "-" if trial.value is None else f"{trial.value:.4g}"
    run = trial.user_attrs.get("run_dir", "-")
    console.print(f"trial {trial.number} {trial.state.name.lower()}: value {value}  {run}")


def _fmt(value) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def print_leaderboard(study, limit: int | None = None) -> None:
    """The study's trials as a rich table, best first (run directories by name, their folder below)."""
    from simrnn.sweep import leaderboard

    rows = leaderboard(study)
    names = sorted({k for r in rows for k in r["settings"]})
    metric = study.user_attrs.get("simrnn_sweep", {}).get("metric", {}).get("name", "value")
    folders = sorted({str(Path(r["run_dir"]).parent) for r in rows if r["run_dir"]})
    table = Table("trial", "state", metric, *names, "epochs", "run",
                  title=f"study {study.study_name} ({study.direction.name.lower()})",
                  caption=f"runs in {', '.join(folders)}" if folders else None)
    table.columns[-1].no_wrap = True
    for r in rows[:limit]:
        run = Path(r["run_dir"]).name if r["run_dir"] else (r["failure"] or "-")
        table.add_row(str(r["number"]), r["state"], _fmt(r["value"]), *(_fmt(r["settings"].get(n)) for n in names),
                      _fmt(r["epochs"]), run)
    # never squeeze numbers into "0.00…": widen past the terminal (job logs are not terminals)
    needed = Measurement.get(console, console.options.update_width(10_000), table).maximum
    Console(width=max(console.width, needed), highlight=False).print(table)


@app.command()
def run(
    sweep_file: Annotated[Path, typer.Argument(help="W&B sweep file (YAML or JSON), used unchanged.")],
    task: Annotated[str, typer.Option(help="Task to train: sequence, fields, ...")],
    trials: Annotated[int | None, typer.Option(help=_TRIALS_HELP)] = None,
    storage: Annotated[str | None, typer.Option(help=_STORAGE_HELP + " Default <runs_root>/sweeps.db.")] = None,
    study: Annotated[str | None, typer.Option(help="Study name; default the sweep's name, else <task>-<file stem>.")] = None,
    timeout: Annotated[float | None, typer.Option(help=_TIMEOUT_HELP)] = None,
) -> None:
    """Create (or resume) a study from SWEEP_FILE and run its trials here; print the leaderboard.

    Re-running the same command resumes the study. More workers join with `simrnn sweep worker`.
    """
    from simrnn.engine import get_task
    from simrnn.sweep import load_sweep, run_sweep, running_note, sweep_storage
    from simrnn.sweep.study import shown_url

    spec = load_sweep(sweep_file)  # read once; run_sweep checks it before creating anything
    for note in spec.notes:
        console.print(f"note: {note}")
    ignored = sorted(set(spec.names()) & getattr(get_task(task), "ignored_keys", frozenset()))
    if ignored:
        console.print(f"note: ignoring {', '.join(ignored)}: no meaning in simrnn (every run keeps full, "
                      "self-describing checkpoints).")
    result = run_sweep(spec, task, trials=trials, storage=storage, study=study, timeout=timeout, on_trial=_print_trial)
    print_leaderboard(result)
    _print_note(running_note(result))
    console.print(f"storage: {shown_url(sweep_storage(spec, task, storage))}  study: {result.study_name}")


@app.command()
def worker(
    study: Annotated[str, typer.Option(help="Name of a study created by `simrnn sweep run`.")],
    storage: Annotated[str | None, typer.Option(help=_STORAGE_HELP + _DEFAULT_STORAGE)] = None,
    trials: Annotated[int | None, typer.Option(help="Trials the study should hold; default: as `sweep run` set.")] = None,
    timeout: Annotated[float | None, typer.Option(help=_TIMEOUT_HELP)] = None,
) -> None:
    """Join a study and run trials until it holds enough (start N of these, e.g. an HPC array job)."""
    from simrnn.sweep import run_worker, running_note

    result = run_worker(storage, study, trials=trials, timeout=timeout, on_trial=_print_trial)
    print_leaderboard(result)
    _print_note(running_note(result))


def _print_note(note: str | None) -> None:
    if note:
        console.print(f"note: {note}")


@app.command()
def best(
    study: Annotated[str, typer.Option(help="Study name.")],
    storage: Annotated[str | None, typer.Option(help=_STORAGE_HELP + _DEFAULT_STORAGE)] = None,
) -> None:
    """Print the best trial's settings, value and run directory."""
    from simrnn.sweep import best_trial

    trial = best_trial(storage, study)
    console.print(f"best trial {trial.number}: value {trial.value:.6g}")
    for name, value in trial.user_attrs.get("settings", {}).items():
        console.print(f"  {name}: {value!r}")
    console.print(f"run: {trial.user_attrs.get('run_dir')}")


@app.command()
def leaderboard(
    study: Annotated[str, typer.Option(help="Study name.")],
    storage: Annotated[str | None, typer.Option(help=_STORAGE_HELP + _DEFAULT_STORAGE)] = None,
    top: Annotated[int | None, typer.Option(min=1, help="Show only the best N trials.")] = None,
) -> None:
    """Print every trial of a study, best first."""
    from simrnn.sweep.study import load_study, storage_url

    opened, _, _ = load_study(storage_url(storage), study)
    print_leaderboard(opened, top)


@app.command()
def report(
    study: Annotated[str, typer.Option(help="Study name.")],
    storage: Annotated[str | None, typer.Option(help=_STORAGE_HELP + _DEFAULT_STORAGE)] = None,
    out: Annotated[Path | None, typer.Option(help="Output folder (default sweep_reports/<study>/<timestamp>).")] = None,
) -> None:
    """Write Optuna's plots (optimisation history, parameter importances, parallel coordinates) as PNG and HTML."""
    from simrnn.sweep.report import write_report
    from simrnn.sweep.study import load_study, storage_url

    opened, spec, _ = load_study(storage_url(storage), study)
    written = write_report(opened, out, target_name=spec.metric.name)
    console.print(f"report: {written[0]}")
    for path in written[1:]:
        console.print(f"  {path}")
