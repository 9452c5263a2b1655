"""``simrnn sequence ...``: data conversion, synthesis, training, prediction, Keras import."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer

from simrnn.cli.options import settings_command
from simrnn.cli.output import console, key_aliases
from simrnn.cli.training import add_train_command
from simrnn.sequence.predict_settings import PredictSettings

app = typer.Typer(help="Sequence surrogates of granular (DEM triaxial) simulations.", no_args_is_help=True)

add_train_command(app, "sequence", """Train a parameter-conditioned LSTM surrogate into runs/sequence/<timestamp>/.

    Every setting below can also come from --config (GrainLearning's config.yml is accepted unchanged).
    """, data_argument="raw_data")


@app.command()
@key_aliases(params="param")
@settings_command(PredictSettings)
def predict(
    run: Annotated[Path, typer.Argument(help="A sequence run directory (trained or imported).")],
    data: Annotated[Path | None, typer.Option("--data", help="HDF5 file with sequences to predict; scored where it holds outputs.")] = None,
    inputs: Annotated[Path | None, typer.Option(help="CSV of new conditions: one row per step, a column per input and parameter (optional 'sequence').")] = None,
    param: Annotated[list[str] | None, typer.Option(help="NAME=VALUE of every run parameter (repeat), with --strain.")] = None,
    strain: Annotated[str | None, typer.Option(help="START:STOP:STEPS axial strain path, e.g. 0:0.2:200, with --param.")] = None,
    out: Annotated[Path | None, typer.Option(help="Output directory (default RUN/predictions/<timestamp>).")] = None,
    *,
    settings: PredictSettings,
) -> None:
    """Predict whole sequences with RUN: a data file (scored), or new conditions without ground truth.

    simrnn sequence predict RUN --data data/triaxial.h5
    simrnn sequence predict RUN --inputs conditions.csv
    simrnn sequence predict RUN --param E=7.6 --param v=0.44 ... --strain 0:0.2:200
    """
    from simrnn.errors import UserInputError
    from simrnn.sequence.predict import load_run

    given = [name for name, value in (("--data", data), ("--inputs", inputs), ("--param/--strain", param or strain))
             if value]
    if len(given) != 1:
        raise UserInputError("give the sequences to predict once: --data FILE.h5, --inputs FILE.csv, or --param "
                             f"NAME=VALUE ... --strain START:STOP:STEPS{' (got ' + ', '.join(given) + ')' if given else ''}.")
    if data is None:
        _predict_conditions(load_run(run), inputs, param or [], strain, out)
        return
    from simrnn.sequence.predict_files import predict_file

    summary = predict_file(load_run(run), data, **dataclasses.asdict(settings), out=out)
    m = summary["metrics"]
    if m is None:  # a file of new conditions without outputs: nothing to score
        console.print(f"predicted {summary['n_sequences']} sequence(s) of {data} (no outputs in the file: not scored)")
        console.print(f"written to {summary['out_dir']}:")
        for name in ("predictions.csv", "predictions.npz", "prediction_curves.png"):
            console.print(f"  {summary['out_dir'] / name}")
        return
    console.print(f"predicted {summary['n_sequences']} sequences ({summary['split']}), steps {m['predicted_steps'][0]}..{m['predicted_steps'][1]}")
    console.print(f"MSE (standardised) {m['mse']:.4g} vs {m['baseline_mse']:.4g} for the training mean")
    console.print("RMSE per label: " + ", ".join(f"{k} {v:.4g}" for k, v in m["rmse_per_label"].items()))
    console.print(f"written to {summary['out_dir']} (figure: {summary['figure']})")


def _predict_conditions(run, inputs: Path | None, param: list[str], strain: str | None, out: Path | None) -> None:
    """``predict --inputs`` / ``--param --strain``: new conditions, no scoring (see simrnn.sequence.conditions)."""
    from simrnn.errors import UserInputError
    from simrnn.sequence.conditions import conditions_from_csv, conditions_from_options, predict_conditions

    if inputs is not None:
        x, p = conditions_from_csv(run, inputs)
    elif strain is None or not param:
        raise UserInputError("--param and --strain go together: every run parameter as NAME=VALUE and the strain path.")
    else:
        x, p = conditions_from_options(run, param, strain)
    summary = predict_conditions(run, x, p, out=out)
    steps = summary["steps"]
    console.print(f"predicted {summary['n_sequences']} sequence(s) of new conditions, steps {steps[0]}..{steps[-1]}")
    console.print(f"written to {summary['out_dir']}:")
    for name in ("predictions.csv", "predictions.npz", "prediction_curves.png"):
        console.print(f"  {summary['out_dir'] / name}")


def _register_data_and_import_commands() -> None:
    """``from-yade``, ``synth`` and ``import-keras`` live in their own modules."""
    from simrnn.cli import sequence_data, sequence_import

    sequence_data.register(app)
    sequence_import.register(app)


_register_data_and_import_commands()
