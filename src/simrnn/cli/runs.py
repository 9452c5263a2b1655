"""``simrnn runs ...``: list and compare run directories of any task, in at most 100 columns."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from simrnn.cli.output import console

app = typer.Typer(help="List and compare run directories.", no_args_is_help=True)

WIDTH = 100  # every line printed by `runs list` / `runs compare` fits this many columns


def _fmt(value) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _fit(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, with an ellipsis where it was cut."""
    return text if len(text) <= width else text[: width - 1] + "…"


def _echo(line: str) -> None:
    console.print(_fit(line, WIDTH), markup=False)


def _list_cells(run: Path, row: dict) -> list[str]:
    """run name, task, model, epochs/best (or ``imported``), headline test metrics (or why there are none)."""
    name = _fit(run.name, 22)
    if row["error"]:
        return [name, row["task"], "-", "-", f"unreadable: {row['error']}"]
    metrics = "  ".join(f"{k} {v:.3g}" for k, v in row["headline"].items()) or (
        f"from {row['imported']}" if row["imported"] else "no test metrics")
    epochs = "imported" if row["imported"] else f"{_fmt(row['epochs'])}/{_fmt(row['best_epoch'])}"
    return [name, row["task"], row["model"] or "-", epochs, metrics]


@app.command("list")
def list_command(
    root: Annotated[Path, typer.Option("--runs-root", "--root", help="Folder holding <task>/<timestamp> run directories.")] = Path("runs"),
    task: Annotated[str | None, typer.Option(help="Only runs of this task (e.g. sequence).")] = None,
) -> None:
    """One line per run, oldest first: name, task, model, epochs/best epoch, headline test metrics."""
    from simrnn.runs import list_runs, summarize_run

    runs = list_runs(root, task)
    if not runs:
        console.print(f"no runs under {root}" + (f" for task {task}" if task else ""), markup=False)
        return
    lines = [["run", "task", "model", "ep/best", "test metrics"]]
    lines += [_list_cells(run, summarize_run(run)) for run in runs]
    widths = [max(len(line[i]) for line in lines) for i in range(4)]
    for line in lines:
        _echo(" ".join(cell.ljust(w) if i != 3 else cell.rjust(w) for i, (cell, w) in enumerate(zip(line[:4], widths, strict=True)))
              + "  " + line[4])


def _row(label: str, cells: list[str], label_width: int, cell_width: int) -> str:
    return _fit(label, label_width).ljust(label_width) + "".join(
        " " + _fit(c, cell_width - 1).rjust(cell_width - 1) for c in cells)


@app.command("compare")
def compare_command(
    runs: Annotated[list[Path], typer.Argument(help="Run directories; the first is the reference.")],
) -> None:
    """Test metrics side by side (change in % against the first run), the settings that differ, and
    warnings when the runs used different data, splits or solidification bands."""
    from simrnn.errors import UserInputError
    from simrnn.runs import compare_runs, require_run_dir

    if len(runs) < 2:
        raise UserInputError("runs compare needs at least two run directories.")
    c = compare_runs([require_run_dir(r) for r in runs])
    labels = [row["name"] for row in c["rows"]] + ["  " + item["key"] for item in c["settings_differ"]]
    label_width = min(40, max(len(label) for label in ["model", *labels]))
    cell_width = max(12, (WIDTH - label_width) // len(runs))
    models = [(m or "-") + (" (imported)" if imp else "") for m, imp in zip(c["models"], c["imported"], strict=True)]
    _echo(f"{c['tasks'][0]} runs; change in % against {c['names'][0]}")
    for warning in c["warnings"]:
        _echo(f"WARNING: {warning}")
    _echo(_row("model", models, label_width, cell_width))
    _echo(_row("run", c["names"], label_width, cell_width))
    if not c["rows"]:
        _echo("no test metrics in any of these runs")
    for row in c["rows"]:
        cells = [_fmt(row["values"][0])]
        for value, change in zip(row["values"][1:], row["change_percent"][1:], strict=True):
            cells.append(_fmt(value) + ("" if change is None else f" ({change:+.1f} %)"))
        _echo(_row(row["name"], cells, label_width, cell_width))
    _echo("settings that differ:" if c["settings_differ"] else "settings that differ: none")
    for item in c["settings_differ"]:
        _echo(_row("  " + item["key"], [_fmt(v) for v in item["values"]], label_width, cell_width))
    if c["settings_in_some"]:
        _echo("settings recorded by only some runs: " + ", ".join(c["settings_in_some"]))


def register(root_app: typer.Typer) -> None:
    """Add the ``runs`` sub-application."""
    root_app.add_typer(app, name="runs")
