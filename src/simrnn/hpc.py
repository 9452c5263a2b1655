"""Batch scripts for LSF (``bsub``) and SLURM (``sbatch``) that run one simrnn command.

Example::

    script = batch_script("slurm", ["simrnn", "fields", "train", "cache.h5"], gpus=2, cores=8)

SLURM: one task per GPU (``--ntasks-per-node`` = GPUs) started by ``srun``, which is how
Lightning's SLURM environment finds the ranks for DDP. LSF: one process on one host with
exclusive-process GPUs; Lightning starts its own DDP processes there. ``array=N`` runs the same
command N times (e.g. N sweep workers sharing one study); each copy sees its index in
``$LSB_JOBINDEX`` / ``$SLURM_ARRAY_TASK_ID``.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from simrnn.errors import UserInputError

SCHEDULERS = ("lsf", "slurm")
_MEMORY = re.compile(r"^(\d+(?:\.\d+)?)\s*([KMGT])i?B?$", re.I)
_JOB_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class JobResources:
    """What one job asks for. ``mem`` is per job (e.g. ``64GB``); ``walltime`` is ``H:MM``
    (LSF's ``-W`` form) or ``H:MM:SS``; ``array`` copies of the job when given."""

    gpus: int = 1
    cores: int = 4
    mem: str = "64GB"
    walltime: str = "8:00"
    queue: str | None = None
    array: int | None = None
    job_name: str = "simrnn"

    def check(self) -> None:
        """One-sentence :class:`UserInputError` for an impossible request."""
        if self.gpus < 0 or self.cores < 1:
            raise UserInputError(f"--gpus must be >= 0 and --cores >= 1, got {self.gpus} and {self.cores}.")
        if self.array is not None and self.array < 1:
            raise UserInputError(f"--array must be at least 1, got {self.array}.")
        if not _JOB_NAME.match(self.job_name):
            raise UserInputError(f"--job-name {self.job_name!r} should use letters, digits, '_', '.', '-' only.")
        memory_mb(self.mem)
        walltime_minutes(self.walltime)


def memory_mb(text: str) -> int:
    """``64GB`` / ``64G`` / ``500MB`` / ``1.5T`` -> megabytes (binary units, as schedulers use)."""
    match = _MEMORY.match(text.strip())
    if not match:
        raise UserInputError(f"--mem {text!r} is not a memory size such as 64GB or 500MB.")
    number, unit = float(match.group(1)), match.group(2).upper()
    return max(1, round(number * {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024**2}[unit]))


def walltime_minutes(text: str) -> int:
    """``8:00`` (H:MM) or ``8:00:00`` (H:MM:SS, seconds rounded up) or ``90`` (minutes) -> minutes."""
    parts = text.strip().split(":")
    if not 1 <= len(parts) <= 3 or not all(p.isdigit() for p in parts):
        raise UserInputError(f"--walltime {text!r} should be H:MM (e.g. 8:00), H:MM:SS or minutes.")
    numbers = [int(p) for p in parts]
    if len(numbers) == 1:
        minutes = numbers[0]
    else:
        if any(n >= 60 for n in numbers[1:]):
            raise UserInputError(f"--walltime {text!r}: minutes and seconds must be below 60.")
        minutes = numbers[0] * 60 + numbers[1] + (1 if len(numbers) == 3 and numbers[2] else 0)
    if minutes < 1:
        raise UserInputError(f"--walltime {text!r} must be at least one minute.")
    return minutes


def batch_script(scheduler: str, command: Sequence[str], resources: JobResources = JobResources()) -> str:
    """The text of a batch script that runs ``command`` (argument list) under ``scheduler``."""
    if scheduler not in SCHEDULERS:
        raise UserInputError(f"--scheduler {scheduler!r}; expected one of {', '.join(SCHEDULERS)}.")
    if not command:
        raise UserInputError("no command to run: give it after --, e.g. -- simrnn sweep worker --storage URL --study NAME.")
    resources.check()
    header = _lsf_header(resources) if scheduler == "lsf" else _slurm_header(resources)
    launch = "srun " if scheduler == "slurm" else ""
    return "\n".join([
        "#!/bin/bash",
        *header,
        "",
        "set -euo pipefail",
        f"export OMP_NUM_THREADS={_threads(resources)}",
        "# Activate the environment that has simrnn here, e.g.: source .venv/bin/activate",
        f"{launch}{shlex.join(command)}",
        "",
    ])


def _threads(r: JobResources) -> int:
    return max(1, r.cores // max(1, r.gpus))


def _lsf_header(r: JobResources) -> list[str]:
    minutes = walltime_minutes(r.walltime)
    per_core_mb = max(1, memory_mb(r.mem) // r.cores)
    name = f"{r.job_name}[1-{r.array}]" if r.array else r.job_name
    index = "_%I" if r.array else ""
    lines = [f'#BSUB -J "{name}"']
    if r.queue:
        lines.append(f"#BSUB -q {r.queue}")
    lines += [
        f"#BSUB -n {r.cores}",
        '#BSUB -R "span[hosts=1]"',
        f"# --mem {r.mem} per job = {per_core_mb} MB per core (LSF reserves memory per slot on most sites)",
        f'#BSUB -R "rusage[mem={per_core_mb}MB]"',
        f"#BSUB -M {per_core_mb}MB",
        f"#BSUB -W {minutes // 60}:{minutes % 60:02d}",
    ]
    if r.gpus:
        lines.append(f'#BSUB -gpu "num={r.gpus}:mode=exclusive_process"')
    lines += [f"#BSUB -o {r.job_name}_%J{index}.out", f"#BSUB -e {r.job_name}_%J{index}.err"]
    return lines


def _slurm_header(r: JobResources) -> list[str]:
    minutes = walltime_minutes(r.walltime)
    tasks = max(1, r.gpus)
    output = f"{r.job_name}_%A_%a" if r.array else f"{r.job_name}_%j"
    lines = [f"#SBATCH --job-name={r.job_name}"]
    if r.queue:
        lines.append(f"#SBATCH --partition={r.queue}")
    lines += [
        "#SBATCH --nodes=1",
        f"#SBATCH --ntasks-per-node={tasks}",
        f"#SBATCH --cpus-per-task={max(1, r.cores // tasks)}",
        f"#SBATCH --mem={_slurm_memory(memory_mb(r.mem))}",
        f"#SBATCH --time={minutes // 60:02d}:{minutes % 60:02d}:00",
    ]
    if r.gpus:
        lines.append(f"#SBATCH --gres=gpu:{r.gpus}")
    if r.array:
        lines.append(f"#SBATCH --array=1-{r.array}")
    lines += [f"#SBATCH --output={output}.out", f"#SBATCH --error={output}.err"]
    return lines


def _slurm_memory(mb: int) -> str:
    return f"{mb // 1024}G" if mb % 1024 == 0 else f"{mb}M"
