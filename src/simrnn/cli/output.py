"""Console output shared by the commands (rich)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

console = Console(highlight=False, soft_wrap=True)


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
