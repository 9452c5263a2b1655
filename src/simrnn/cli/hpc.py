"""``simrnn hpc script``: a ready LSF or SLURM batch script for any simrnn command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from simrnn.cli.options import settings_command
from simrnn.cli.output import console
from simrnn.hpc import JobResources

app = typer.Typer(help="Cluster job scripts (LSF, SLURM).", no_args_is_help=True)


def register(root_app: typer.Typer) -> None:
    """Add the ``hpc`` sub-application."""
    root_app.add_typer(app, name="hpc")


# options stop at the job's command: everything from its first word on (after --) belongs to the job
@app.command(context_settings={"allow_interspersed_args": False})
@settings_command(JobResources)
def script(
    command: Annotated[list[str], typer.Argument(help="The command the job runs, after --.")],
    scheduler: Annotated[str, typer.Option(help="lsf (bsub) or slurm (sbatch).")],
    out: Annotated[Path | None, typer.Option(help="Script file (default <job-name>.<scheduler>.sh; never overwritten); - prints it.")] = None,
    *,
    settings: JobResources,
) -> None:
    """Write a batch script that runs COMMAND, e.g.:

    simrnn hpc script --scheduler slurm --array 8 -- simrnn sweep worker --storage URL --study NAME
    """
    from simrnn.hpc import SUBMIT, batch_script, write_batch_script

    if out == Path("-"):
        typer.echo(batch_script(scheduler, command, settings), nl=False)
        return
    path = write_batch_script(scheduler, command, settings, out)
    console.print(f"written {path}; submit with: {SUBMIT[scheduler].format(path=path)}")
