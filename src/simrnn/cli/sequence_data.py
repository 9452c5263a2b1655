"""``simrnn sequence from-yade`` and ``simrnn sequence synth``: build GrainLearning HDF5 data files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from simrnn.errors import UserInputError
from simrnn.files import check_output_location


def from_yade_command(
    src_dir: Annotated[Path, typer.Argument(metavar="DIR", help="YADE .npy files, flat or in <pressure>/<experiment_type>/ subfolders.")],
    out: Annotated[Path, typer.Argument(metavar="OUT.h5", help="HDF5 file to create.")],
    sequence_length: Annotated[int, typer.Option(help="Steps kept per sequence; shorter simulations are dropped.")] = 200,
    force: Annotated[bool, typer.Option("--force", help="Overwrite OUT.h5 if it exists.")] = False,
) -> None:
    """Convert YADE triaxial simulations into GrainLearning's HDF5 layout (p, q in MPa).

    Prints how many sequences each group kept and which files were dropped as too short.
    """
    from simrnn.cli.output import console
    from simrnn.sequence.yade import convert_yade

    _refuse_overwrite(out, force)
    summary = convert_yade(src_dir, out, sequence_length=sequence_length, overwrite=force)
    for group, counts in summary["groups"].items():
        console.print(f"{group}: {counts['converted']} sequences converted, {counts['dropped']} dropped")
    for item in summary["dropped_files"]:
        console.print(f"dropped {item['file']} ({item['length']} < {sequence_length} steps)", soft_wrap=True)
    console.print(f"written {summary['output']}", soft_wrap=True)


def synth_command(
    out: Annotated[Path, typer.Argument(metavar="OUT.h5", help="HDF5 file to create.")],
    samples_per_group: Annotated[int, typer.Option(help="Sequences per (pressure, experiment type) group.")] = 100,
    sequence_length: Annotated[int, typer.Option(help="Steps per sequence.")] = 200,
    seed: Annotated[int, typer.Option(help="Seed of the contact-parameter draws.")] = 0,
    pressures: Annotated[str, typer.Option(help="Comma-separated confining pressures in Pa.")] = "0.2e6,0.5e6,1.0e6",
    experiment_types: Annotated[str, typer.Option(help="Comma-separated: drained, undrained.")] = "drained,undrained",
    max_axial_strain: Annotated[float, typer.Option(help="Axial strain range of the load path.")] = 0.2,
    force: Annotated[bool, typer.Option("--force", help="Overwrite OUT.h5 if it exists.")] = False,
) -> None:
    """Write a synthetic triaxial-compression data set (no DEM needed) in GrainLearning's HDF5 layout.

    The constitutive model is documented in simrnn.sequence.triaxial; contact parameters are drawn
    uniformly over GrainLearning's ranges (E 7-10, v 0-0.5, kr 0-1, eta 0-1, mu 0-60).
    """
    from simrnn.cli.output import console
    from simrnn.sequence.hdf5 import MAX_ABS_VALUE
    from simrnn.sequence.triaxial import INPUT_NAMES, write_synthetic_triaxial

    _refuse_overwrite(out, force)
    values = _split(pressures)
    try:
        pressure_values = tuple(float(p) for p in values)
    except ValueError:
        pressure_values = ()
    if not pressure_values or not all(0 < p <= MAX_ABS_VALUE for p in pressure_values):
        raise UserInputError(
            f"--pressures '{pressures}' must be comma-separated positive numbers in Pa (at most {MAX_ABS_VALUE:g}), "
            "e.g. 0.2e6,0.5e6."
        )
    kinds = tuple(_split(experiment_types))
    unknown = [k for k in kinds if k not in INPUT_NAMES]
    if unknown or not kinds:
        raise UserInputError(f"--experiment-types '{experiment_types}' must list drained and/or undrained.")
    for option, value, low, high in (("--samples-per-group", samples_per_group, 1, 1_000_000),
                                     ("--sequence-length", sequence_length, 2, 1_000_000)):
        if not low <= value <= high:
            raise UserInputError(f"{option} {value}: expected an integer from {low} to {high}.")
    if not 0 < max_axial_strain <= 1:
        raise UserInputError(f"--max-axial-strain {max_axial_strain}: expected a strain above 0 and at most 1.")
    check_output_location(out)
    path = write_synthetic_triaxial(out, samples_per_group, sequence_length=sequence_length, pressures=pressure_values,
                                    experiment_types=kinds, seed=seed, max_axial_strain=max_axial_strain,
                                    overwrite=force)
    n_groups = len(pressure_values) * len(kinds)
    console.print(f"written {path}: {n_groups} groups x {samples_per_group} sequences x {sequence_length} steps",
                  soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add ``from-yade`` and ``synth`` to the ``sequence`` sub-application."""
    app.command("from-yade")(from_yade_command)
    app.command("synth")(synth_command)


def _refuse_overwrite(out: Path, force: bool) -> None:
    if out.is_dir():
        raise UserInputError(f"{out}: is a directory; expected the name of the HDF5 file to write.")
    if out.exists() and not force:
        raise UserInputError(f"{out}: already exists; pass --force to overwrite it.")


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]
