"""``simrnn sequence ...``: data conversion, synthesis, training, prediction, Keras import."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from simrnn.cli.output import console
from simrnn.cli.training import add_train_command

app = typer.Typer(help="Sequence surrogates of granular (DEM triaxial) simulations.", no_args_is_help=True)

add_train_command(app, "sequence", """Train a parameter-conditioned LSTM surrogate into runs/sequence/<timestamp>/.

    Every setting below can also come from --config (GrainLearning's config.yml is accepted unchanged).
    """, data_argument="raw_data")


@app.command()
def predict(
    run: Annotated[Path, typer.Argument(help="A sequence run directory (trained or imported).")],
    data: Annotated[Path, typer.Option("--data", help="HDF5 file with sequences to predict.")],
    split: Annotated[str, typer.Option(help="auto (the test split of the run's own data file, else all), test, val, train or all.")] = "auto",
    n_plot: Annotated[int, typer.Option(help="Sequences shown in the figure.")] = 3,
    out: Annotated[Path | None, typer.Option(help="Output directory (default RUN/predictions/<timestamp>).")] = None,
) -> None:
    """Predict whole sequences with RUN; write predictions.npz, metrics.json and a figure."""
    from simrnn.sequence.predict import load_run
    from simrnn.sequence.predict_files import predict_file

    summary = predict_file(load_run(run), data, split=split, n_plot=n_plot, out=out)
    m = summary["metrics"]
    console.print(f"predicted {summary['n_sequences']} sequences ({summary['split']}), steps {m['predicted_steps'][0]}..{m['predicted_steps'][1]}")
    console.print(f"MSE (standardised) {m['mse']:.4g} vs {m['baseline_mse']:.4g} for the training mean")
    console.print("RMSE per label: " + ", ".join(f"{k} {v:.4g}" for k, v in m["rmse_per_label"].items()))
    console.print(f"written to {summary['out_dir']} (figure: {summary['figure']})")


def _register_data_and_import_commands() -> None:
    """``from-yade``, ``synth`` and ``import-keras`` live in their own modules."""
    from simrnn.cli import sequence_data, sequence_import

    sequence_data.register(app)
    sequence_import.register(app)


_register_data_and_import_commands()
