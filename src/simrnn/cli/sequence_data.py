"""``simrnn sequence from-yade`` and ``simrnn sequence synth``: build GrainLearning HDF5 data files."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer

from simrnn.cli.options import settings_command
from simrnn.sequence.triaxial import SynthSettings


def from_yade_command(
    src_dir: Annotated[Path, typer.Argument(metavar="DIR", help="YADE .npy files, flat or in <pressure>/<experiment_type>/ subfolders.")],
    out: Annotated[Path, typer.Argument(metavar="OUT.h5", help="HDF5 file to create.")],
    sequence_length: Annotated[int, typer.Option(help="Steps kept per sequence; shorter simulations are dropped.")] = 200,
    overwrite: Annotated[bool, typer.Option("--force", help="Overwrite OUT.h5 if it exists.")] = False,
) -> None:
    """Convert YADE triaxial simulations into GrainLearning's HDF5 layout (p, q in MPa).

    Prints how many sequences each group kept and which files were dropped as too short.
    """
    from simrnn.cli.output import console
    from simrnn.sequence.yade import convert_yade

    summary = convert_yade(src_dir, out, sequence_length=sequence_length, overwrite=overwrite)
    for group, counts in summary["groups"].items():
        console.print(f"{group}: {counts['converted']} sequences converted, {counts['dropped']} dropped")
    for item in summary["dropped_files"]:
        console.print(f"dropped {item['file']} ({item['length']} < {sequence_length} steps)", soft_wrap=True)
    console.print(f"written {summary['output']}", soft_wrap=True)


@settings_command(SynthSettings)
def synth_command(
    out: Annotated[Path, typer.Argument(metavar="OUT.h5", help="HDF5 file to create.")],
    overwrite: Annotated[bool, typer.Option("--force", help="Overwrite OUT.h5 if it exists.")] = False,
    *,
    settings: SynthSettings,
) -> None:
    """Write a synthetic triaxial-compression data set (no DEM needed) in GrainLearning's HDF5 layout.

    The constitutive model is documented in simrnn.sequence.triaxial; contact parameters are drawn
    uniformly over GrainLearning's ranges (E 7-10, v 0-0.5, kr 0-1, eta 0-1, mu 0-60).
    """
    from simrnn.cli.output import console
    from simrnn.sequence.triaxial import write_synthetic_triaxial

    options = dataclasses.asdict(settings)
    n = options.pop("samples_per_group")
    path = write_synthetic_triaxial(out, n, overwrite=overwrite, **options)
    n_groups = len(settings.pressures) * len(settings.experiment_types)
    console.print(f"written {path}: {n_groups} groups x {n} sequences x {settings.sequence_length} steps",
                  soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add ``from-yade`` and ``synth`` to the ``sequence`` sub-application."""
    app.command("from-yade")(from_yade_command)
    app.command("synth")(synth_command)
