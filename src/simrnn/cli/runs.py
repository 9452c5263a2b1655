"""``simrnn runs ...``: look at the run directories."""

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
    root: Annotated[Path, typer.Option(help="Folder holding <task>/<timestamp> run directories.")] = Path("runs"),
    task: Annotated[str | None, typer.Option(help="Only runs of this task (e.g. sequence).")] = None,
) -> None:
    """List runs, oldest first, with their data and test metrics (best checkpoint)."""
    from simrnn.runs import list_runs, summarize_run

    rows = [summarize_run(run) for run in list_runs(root, task)]
    if not rows:
        console.print(f"no runs under {root}" + (f" for task {task}" if task else ""))
        return
    console.print(f"runs under {root}:")
    table = Table("run", "data / source", "epochs", "best", "test MSE", "mean MSE")
    table.columns[0].no_wrap = table.columns[1].no_wrap = True
    for r in rows:
        source = Path(r["source"]).name if r["source"] else None
        table.add_row(str(Path(r["run"]).relative_to(root)), _fmt(source), _fmt(r["epochs"]),
                      _fmt(r["best_epoch"]), _fmt(r["test_mse"]), _fmt(r["baseline_mse"]))
    console.print(table)


def register(root_app: typer.Typer) -> None:
    """Add the ``runs`` sub-application."""
    root_app.add_typer(app, name="runs")
