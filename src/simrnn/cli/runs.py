"""``simrnn runs ...``: list and compare run directories of any task."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from simrnn.cli.output import console

app = typer.Typer(help="List and compare run directories.", no_args_is_help=True)


def _fmt(value) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


@app.command("list")
def list_command(
    root: Annotated[Path, typer.Option("--runs-root", "--root", help="Folder holding <task>/<timestamp> run directories.")] = Path("runs"),
    task: Annotated[str | None, typer.Option(help="Only runs of this task (e.g. sequence).")] = None,
) -> None:
    """List runs, oldest first, with their data, epochs and test metrics (best checkpoint)."""
    from simrnn.runs import list_runs, summarize_run

    rows = [summarize_run(run) for run in list_runs(root, task)]
    if not rows:
        console.print(f"no runs under {root}" + (f" for task {task}" if task else ""))
        return
    console.print(f"runs under {root}:")
    table = Table("run", "data / source", "epochs", "best", "test metrics", "baselines")
    table.columns[0].no_wrap = table.columns[1].no_wrap = True
    for r in rows:
        name = str(Path(r["run"]).relative_to(root))
        if r["error"]:
            table.add_row(name, "[red]unreadable[/red]", "-", "-", r["error"], "-")
            continue
        source = Path(r["source"]).name if r["source"] else None
        metrics = ", ".join(f"{k} {_fmt(v)}" for k, v in r["metrics"].items()) or "-"
        baselines = "; ".join(f"{b}: " + ", ".join(f"{k} {_fmt(v)}" for k, v in vals.items())
                              for b, vals in r["baselines"].items()) or "-"
        table.add_row(name, _fmt(source), _fmt(r["epochs"]), _fmt(r["best_epoch"]), metrics, baselines)
    console.print(table)


@app.command("compare")
def compare_command(
    runs: Annotated[list[Path], typer.Argument(help="Run directories; the first is the reference.")],
) -> None:
    """Test metrics of several runs side by side, with the change in % against the first run."""
    from simrnn.errors import UserInputError
    from simrnn.runs import compare_runs, require_run_dir

    if len(runs) < 2:
        raise UserInputError("runs compare needs at least two run directories.")
    comparison = compare_runs([require_run_dir(r) for r in runs])
    table = Table("metric", *(f"{Path(r).name}\n({t})" for r, t in zip(comparison["runs"], comparison["tasks"], strict=True)))
    for row in comparison["rows"]:
        cells = [_fmt(row["values"][0])]
        for value, change in zip(row["values"][1:], row["change_percent"][1:], strict=True):
            cells.append(_fmt(value) + ("" if change is None else f" ({change:+.1f} %)"))
        table.add_row(row["name"], *cells)
    console.print(table)


def register(root_app: typer.Typer) -> None:
    """Add the ``runs`` sub-application."""
    root_app.add_typer(app, name="runs")
