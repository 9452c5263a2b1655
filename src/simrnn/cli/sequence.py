"""``simrnn sequence ...``: data conversion, synthesis, training, prediction, Keras import."""

from __future__ import annotations

import typer

app = typer.Typer(help="Sequence surrogates of granular (DEM triaxial) simulations.", no_args_is_help=True)
