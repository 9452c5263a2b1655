"""``simrnn sequence import-keras``: GrainLearning's pretrained Keras models -> simrnn runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def import_keras_command(
    model_dir: Annotated[Path, typer.Argument(
        metavar="DIR",
        help="GrainLearning model folder: config.yml or config.npy, train_stats.npy, model-best.h5 or model.weights.h5.",
    )],
    out: Annotated[Path | None, typer.Option("--out", metavar="RUN_DIR", help="Run directory to create (must not exist).")] = None,
    runs_root: Annotated[Path | None, typer.Option("--runs-root", help="Where <runs_root>/sequence/<timestamp>/ is created without --out (default: the engine's runs_root).")] = None,
) -> None:
    """Import a GrainLearning pretrained Keras surrogate as a simrnn sequence run (no TensorFlow needed).

    Prints the new run directory; use it with `simrnn sequence predict RUN --data X.h5`.
    """
    from simrnn.cli.output import console
    from simrnn.sequence.keras_import import import_keras

    run_dir = import_keras(model_dir, out=out, **({} if runs_root is None else {"runs_root": runs_root}))
    console.print(str(run_dir), soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add ``import-keras`` to the ``sequence`` sub-application."""
    app.command("import-keras")(import_keras_command)
