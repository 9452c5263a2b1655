"""Batch scripts for LSF (``bsub``) and SLURM (``sbatch``) that run one simrnn command.

Example::

    script = batch_script("slurm", ["simrnn", "fields", "train", "cache.h5"], JobResources(gpus=2, cores=8))

SLURM: one task per GPU (``--ntasks-per-node`` = GPUs) started by ``srun``, which is how
Lightning's SLURM environment finds the ranks for DDP. LSF: one process on one host with
exclusive-process GPUs; Lightning starts its own DDP processes there. ``array=N`` runs the same
command N times (e.g. N sweep workers sharing one study); each copy sees its index in
``$LSB_JOBINDEX`` / ``$SLURM_ARRAY_TASK_ID``.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from collections.abc import Sequence
from pathlib import Path

from simrnn.config import setting
from simrnn.errors import UserInputError

SCHEDULERS = ("lsf", "slurm")
SUBMIT = {"lsf": "bsub < {path}", "slurm": "sbatch {path}"}
# Values that go into the script's header must be one plain word: these patterns match the WHOLE
# text (\A...\Z, ASCII digits only), so a newline, ``$``, a quote or a control character never passes.
_MEMORY = re.compile(r"\A([0-9]+(?:\.[0-9]+)?)([KMGT])i?B?\Z", re.I)
_WORD = re.compile(r"\A[A-Za-z0-9_.-]+\Z")
_QUEUE = re.compile(r"\A[A-Za-z0-9_.,-]+\Z")
_WALLTIME = re.compile(r"\A[0-9]{1,6}(?::[0-9]{1,2}){0,2}\Z")
#: the largest array job and core or GPU count accepted (beyond any scheduler's limits).
MAX_COUNT = 100_000


@dataclasses.dataclass(frozen=True)
class JobResources:
    """What one job asks for (the options of ``simrnn hpc script``; defaults written once, here)."""

    gpus: int = setting(1, "GPUs per job (0 for CPU only).")
    cores: int = setting(4, "CPU cores per job.")
    mem: str = setting("64GB", "Memory per job, e.g. 64GB or 500MB.")
    walltime: str = setting("8:00", "Wall-clock limit H:MM (8:00 = eight hours), H:MM:SS or minutes.")
    queue: str | None = setting(None, "Queue (LSF) or partition (SLURM).")
    array: int | None = setting(None, "Run N copies as an array job (e.g. N sweep workers).")
    job_name: str = setting("simrnn", "Job name; also names the log files.")

    def validate(self, source: str = "hpc") -> None:
        """One :class:`UserInputError` (with the setting's key) for an impossible or unsafe request."""
        for key, low in (("gpus", 0), ("cores", 1), ("array", 1)):
            value = getattr(self, key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or not low <= value <= MAX_COUNT):
                raise UserInputError(f"{key} {value!r}: expected an integer from {low} to {MAX_COUNT}.", key=key)
        _check_word("job_name", self.job_name, _WORD, "letters, digits, '_', '.' and '-' only")
        if self.queue is not None:
            _check_word("queue", self.queue, _QUEUE, "letters, digits, '_', '.', ',' and '-' only")
        memory_mb(self.mem)
        walltime_minutes(self.walltime)


def _check_word(key: str, value: object, pattern: re.Pattern, allowed: str) -> None:
    if not isinstance(value, str) or not pattern.match(value):
        raise UserInputError(f"{key} {value!r} should use {allowed} (it is written into the job script).", key=key)


def memory_mb(text: str) -> int:
    """``64GB`` / ``64G`` / ``500MB`` / ``1.5T`` -> megabytes (binary units, as schedulers use); at least 1."""
    match = _MEMORY.match(text) if isinstance(text, str) else None
    if not match:
        raise UserInputError(f"mem {text!r} is not a memory size such as 64GB or 500MB.", key="mem")
    number, unit = float(match.group(1)), match.group(2).upper()
    mb = round(number * {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024**2}[unit])
    if mb < 1:
        raise UserInputError(f"mem {text!r} is less than 1 MB; a job needs memory.", key="mem")
    return mb


def walltime_minutes(text: str) -> int:
    """``8:00`` (H:MM) or ``8:00:00`` (H:MM:SS, seconds rounded up) or ``90`` (minutes) -> minutes."""
    if not isinstance(text, str) or not _WALLTIME.match(text):
        raise UserInputError(f"walltime {text!r} should be H:MM (e.g. 8:00), H:MM:SS or minutes.", key="walltime")
    numbers = [int(p) for p in text.split(":")]
    if len(numbers) == 1:
        minutes = numbers[0]
    else:
        if any(n >= 60 for n in numbers[1:]):
            raise UserInputError(f"walltime {text!r}: minutes and seconds must be below 60.", key="walltime")
        minutes = numbers[0] * 60 + numbers[1] + (1 if len(numbers) == 3 and numbers[2] else 0)
    if minutes < 1:
        raise UserInputError(f"walltime {text!r} must be at least one minute.", key="walltime")
    return minutes


def batch_script(scheduler: str, command: Sequence[str], resources: JobResources = JobResources()) -> str:
    """The text of a batch script that runs ``command`` (argument list, quoted for bash) under ``scheduler``."""
    if scheduler not in SCHEDULERS:
        raise UserInputError(f"scheduler {scheduler!r}; expected one of {', '.join(SCHEDULERS)}.", key="scheduler")
    if not command:
        raise UserInputError("no command to run: give it after --, e.g. -- simrnn sweep worker --storage URL --study NAME.")
    resources.validate()
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


def write_batch_script(scheduler: str, command: Sequence[str], resources: JobResources = JobResources(),
                       out: str | Path | None = None) -> Path:
    """Write :func:`batch_script` to ``out`` (default ``<job_name>.<scheduler>.sh``); never overwrites.

    Everything is checked before the file is created; the file appears whole or not at all.
    """
    from simrnn.files import check_output_location, write_text_atomic

    text = batch_script(scheduler, command, resources)
    path = Path(out) if out is not None else Path(f"{resources.job_name}.{scheduler}.sh")
    if path.exists() or path.is_symlink():
        raise UserInputError(f"{path}: exists already; choose another out.", key="out")
    check_output_location(path)
    write_text_atomic(path, text, replace=False)
    return path


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
