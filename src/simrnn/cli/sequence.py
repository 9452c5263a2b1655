"""``simrnn sequence ...``: data conversion, synthesis, training, prediction, Keras import."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from simrnn.cli.output import console, print_run_summary

app = typer.Typer(help="Sequence surrogates of granular (DEM triaxial) simulations.", no_args_is_help=True)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def train(
    ctx: typer.Context,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML/JSON config (GrainLearning keys; W&B format accepted).")] = None,
    resume: Annotated[Path | None, typer.Option(help="Continue RUN_DIR from checkpoints/last.ckpt (e.g. with more --epochs).")] = None,
    raw_data: Annotated[str | None, typer.Option(help="HDF5 data file (GrainLearning layout).")] = None,
    epochs: Annotated[int | None, typer.Option(help="Maximum number of epochs.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the split, initialisation and shuffling.")] = None,
    logger: Annotated[str | None, typer.Option(help="Extra logger besides CSV: tensorboard or wandb (offline without an account).")] = None,
    accelerator: Annotated[str | None, typer.Option(help="cpu, gpu, auto ... (Lightning).")] = None,
    devices: Annotated[str | None, typer.Option(help="Number or list of devices, or auto.")] = None,
    num_nodes: Annotated[int | None, typer.Option(help="Nodes for multi-node DDP.")] = None,
    strategy: Annotated[str | None, typer.Option(help="auto, ddp, ... (Lightning).")] = None,
    runs_root: Annotated[str | None, typer.Option(help="Where run directories are created.")] = None,
) -> None:
    """Train a parameter-conditioned LSTM surrogate into runs/sequence/<timestamp>/.

    Any config key can also be given as --key value (e.g. --window-size 10 --lstm-units 64).
    """
    from simrnn.config import load_config_file, parse_overrides
    from simrnn.engine import global_rank
    from simrnn.sequence.train import train as train_run

    values = load_config_file(config) if config else {}
    explicit = {"raw_data": raw_data, "epochs": epochs, "seed": seed, "logger": logger, "accelerator": accelerator,
                "devices": devices, "num_nodes": num_nodes, "strategy": strategy, "runs_root": runs_root}
    values.update({k: v for k, v in explicit.items() if v is not None})
    values.update(parse_overrides(list(ctx.args)))
    if resume is None and "raw_data" not in values:
        from simrnn.errors import UserInputError

        raise UserInputError("no data file: give --raw-data FILE.h5 or raw_data in --config.")
    run_dir = train_run(values if resume is None or values else None, resume=resume)
    if global_rank() == 0:
        print_run_summary(run_dir)


@app.command()
def predict(
    run: Annotated[Path, typer.Argument(help="A sequence run directory (trained or imported).")],
    data: Annotated[Path, typer.Option("--data", help="HDF5 file with sequences to predict.")],
    split: Annotated[str, typer.Option(help="test/val/train (of the run's own data file) or all.")] = "test",
    n_plot: Annotated[int, typer.Option(help="Sequences shown in the figure.")] = 3,
    out: Annotated[Path | None, typer.Option(help="Output directory (default RUN/predictions/<timestamp>).")] = None,
) -> None:
    """Predict whole sequences with RUN; write predictions.npz, metrics.json and a figure."""
    from simrnn.sequence.predict import load_run
    from simrnn.sequence.predict_files import predict_file

    summary = predict_file(load_run(run), data, split=split, n_plot=n_plot, out=out)
    m = summary["metrics"]
    console.print(f"predicted {summary['n_sequences']} sequences, steps {m['predicted_steps'][0]}..{m['predicted_steps'][1]}")
    console.print(f"MSE (standardised) {m['mse']:.4g} vs {m['baseline_mse']:.4g} for the training mean")
    console.print("RMSE per label: " + ", ".join(f"{k} {v:.4g}" for k, v in m["rmse_per_label"].items()))
    console.print(f"written to {summary['out_dir']} (figure: {summary['figure']})")


def _register_data_and_import_commands() -> None:
    """``from-yade``, ``synth`` and ``import-keras`` live in their own modules."""
    from simrnn.cli import sequence_data, sequence_import

    sequence_data.register(app)
    sequence_import.register(app)


_register_data_and_import_commands()
