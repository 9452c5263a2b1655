"""``simrnn fields ...``: synthesise LASERNet-format CSVs and convert CSVs into the gridded cache."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer

from simrnn.cli.options import settings_command
from simrnn.fields.cache import ConvertSettings
from simrnn.fields.synthetic import FieldSynthSettings

fields_app = typer.Typer(
    help="Field surrogates (LASERNet-style melt-pool microstructure data).", no_args_is_help=True
)


def _progress():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=False,
    )


@fields_app.command()
@settings_command(FieldSynthSettings)
def synth(
    out_dir: Annotated[
        Path, typer.Argument(help="Folder for the Alldata_withpoints_<k>.csv files (none there yet).")
    ],
    *,
    settings: FieldSynthSettings,
) -> None:
    """Write synthetic LASERNet-format CSVs: a moving melt pool over Voronoi grains with epitaxial regrowth."""
    from simrnn.fields.synthetic import check_out_dir, synthesise

    shape, steps = settings.shape, settings.steps
    check_out_dir(out_dir)
    with _progress() as progress:
        task = progress.add_task("synthesising", total=steps)

        def advance(path: Path) -> None:
            progress.update(task, advance=1, description=path.name)

        files = synthesise(out_dir, grid=shape, steps=steps, seed=settings.seed, on_file=advance)
    typer.echo(f"wrote {len(files)} CSV files of {shape[0] * shape[1] * shape[2]} points to {out_dir}")


@fields_app.command()
@settings_command(ConvertSettings)
def convert(
    csv_dir: Annotated[Path, typer.Argument(help="Folder of Alldata_withpoints_<k>.csv files.")],
    cache: Annotated[Path, typer.Argument(help="HDF5 cache to create (never overwritten).")],
    *,
    settings: ConvertSettings,
) -> None:
    """Convert CSV point clouds into one chunked HDF5 cache; rerun after an interruption to resume."""
    from simrnn.fields.cache import check_target
    from simrnn.fields.cache import convert as convert_csvs
    from simrnn.fields.pointcloud import find_step_files

    check_target(cache)
    n_files = len(find_step_files(csv_dir))
    with _progress() as progress:
        task = progress.add_task("converting", total=n_files)

        def advance(source: dict) -> None:
            progress.update(task, advance=1, description=source["name"])

        path = convert_csvs(
            csv_dir, cache, **dataclasses.asdict(settings), on_step=advance
        )
    typer.echo(f"wrote {path}")


@fields_app.command()
def info(cache: Annotated[Path, typer.Argument(help="HDF5 cache made by `simrnn fields convert`.")]) -> None:
    """Print a cache's grid, time steps, temperature range and provenance."""
    from simrnn.fields.cache import open_cache

    c = open_cache(cache)
    typer.echo(f"{c.path}: {c.shape[0]} steps ({int(c.steps[0])}..{int(c.steps[-1])}) on {c.grid.describe()}")
    typer.echo(
        f"temperature {float(c.t_min.min()):.1f}..{float(c.t_max.max()):.1f} K; "
        f"downsample {int(c.attrs['downsample'])}; simrnn {c.attrs['simrnn_version']}; "
        f"{len(c.sources)} source files from {c.attrs['source_dir']}"
    )


def _register_train_predict_rollout() -> None:
    from simrnn.cli import fields_train

    fields_train.register(fields_app)


_register_train_predict_rollout()
#: the fields task's command group, mounted by :mod:`simrnn.cli` as ``simrnn fields``.
app = fields_app
