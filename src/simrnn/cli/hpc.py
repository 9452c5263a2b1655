"""``simrnn hpc script``: a ready LSF or SLURM batch script for any simrnn command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from simrnn.cli.output import console

app = typer.Typer(help="Cluster job scripts (LSF, SLURM).", no_args_is_help=True)

_SUBMIT = {"lsf": "bsub < {path}", "slurm": "sbatch {path}"}


def register(root_app: typer.Typer) -> None:
    """Add the ``hpc`` sub-application."""
    root_app.add_typer(app, name="hpc")


@app.command()
def script(
    command: Annotated[list[str], typer.Argument(help="The command the job runs, after --.")],
    scheduler: Annotated[str, typer.Option(help="lsf (bsub) or slurm (sbatch).")],
    gpus: Annotated[int, typer.Option(help="GPUs per job (0 for CPU only).")] = 1,
    cores: Annotated[int, typer.Option(help="CPU cores per job.")] = 4,
    mem: Annotated[str, typer.Option(help="Memory per job, e.g. 64GB.")] = "64GB",
    walltime: Annotated[str, typer.Option(help="Wall-clock limit H:MM (8:00 = eight hours) or H:MM:SS.")] = "8:00",
    queue: Annotated[str | None, typer.Option(help="Queue (LSF) or partition (SLURM).")] = None,
    array: Annotated[int | None, typer.Option(help="Run N copies as an array job (e.g. N sweep workers).")] = None,
    job_name: Annotated[str, typer.Option(help="Job name; also names the log files.")] = "simrnn",
    out: Annotated[Path | None, typer.Option(help="Script file (default <job-name>.<scheduler>.sh; never overwritten); - prints it.")] = None,
) -> None:
    """Write a batch script that runs COMMAND, e.g.:

    simrnn hpc script --scheduler slurm --array 8 -- simrnn sweep worker --storage URL --study NAME
    """
    from simrnn.errors import UserInputError
    from simrnn.files import write_text_atomic
    from simrnn.hpc import JobResources, batch_script

    text = batch_script(scheduler, command, JobResources(
        gpus=gpus, cores=cores, mem=mem, walltime=walltime, queue=queue, array=array, job_name=job_name))
    if out == Path("-"):
        typer.echo(text, nl=False)
        return
    path = out or Path(f"{job_name}.{scheduler}.sh")
    if path.exists():
        raise UserInputError(f"{path}: exists already; choose another --out.")
    write_text_atomic(path, text)
    console.print(f"written {path}; submit with: {_SUBMIT[scheduler].format(path=path)}")
