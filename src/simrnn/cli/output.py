"""Console output shared by the commands (rich)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import typer
from rich.console import Console

from simrnn.errors import UserInputError

console = Console(highlight=False, soft_wrap=True)


@contextlib.contextmanager
def exit_on_user_error() -> Iterator[None]:
    """Turn a :class:`UserInputError` into one red ``error: ...`` line and exit status 2.

    Used by ``simrnn.cli.main`` and by commands whose errors must also exit 2 under ``CliRunner``.
    """
    try:
        yield
    except UserInputError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        sys.exit(2)


def print_run_summary(run_dir: Path) -> None:
    """Print where a finished run is and its test metrics."""
    from simrnn.runs import LOSS_FIGURE, TEST_RESULTS_FILE, read_artifact

    results = read_artifact(run_dir, TEST_RESULTS_FILE)
    console.print(f"run: {run_dir}")
    console.print(
        f"test MSE (standardised) {results['mse']:.4g} (predicting the training mean: {results['baseline_mse']:.4g}), "
        f"best epoch {results.get('best_epoch')} of {results.get('epochs_trained')}"
    )
    console.print(f"learning curves: {Path(run_dir) / LOSS_FIGURE}")
