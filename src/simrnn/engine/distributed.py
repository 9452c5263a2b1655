"""Which process owns the run directory in a distributed job, and how the others learn it.

Rank 0 creates the run directory; the processes that Lightning's DDP launcher starts (or that
``srun``/``jsrun`` start on a cluster) read it from ``$SIMRNN_RUN_DIR``. The global rank is
Lightning's own: the cluster environment Lightning would pick (TorchElastic, SLURM, LSF, MPI, in
its order), else its rank-zero utility, which reads the variables its launcher sets.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from simrnn.errors import UserInputError
from simrnn.runs import CHECKPOINT_DIR, CONFIG_FILE, create_run_dir

#: environment variable through which every DDP process learns the run directory of rank 0.
RUN_DIR_ENV = "SIMRNN_RUN_DIR"


def global_rank() -> int:
    """This process's rank in a distributed job as Lightning sees it (0 when not distributed)."""
    from lightning.fabric.plugins.environments import (
        LSFEnvironment,
        MPIEnvironment,
        SLURMEnvironment,
        TorchElasticEnvironment,
    )
    from lightning.fabric.utilities.rank_zero import _get_rank

    for env_type in (TorchElasticEnvironment, SLURMEnvironment, LSFEnvironment, MPIEnvironment):
        try:
            detected = env_type.detect()
        except Exception:  # MPIEnvironment.detect needs mpi4py; a broken one means "not this one"
            detected = False
        if detected:
            try:
                return int(env_type().global_rank())
            except (RuntimeError, ValueError, KeyError, OSError) as exc:  # e.g. srun's --ntasks without --ntasks-per-node
                raise UserInputError(f"{env_type.__name__} (detected from the job's variables): {exc}") from None
    rank = _get_rank() or 0
    # Launched by hand on several nodes (LightningEnvironment): LOCAL_RANK restarts at 0 on every
    # node, so a process is global rank 0 only on node 0; further nodes count as at least rank NODE_RANK.
    node = int(os.environ.get("NODE_RANK") or os.environ.get("GROUP_RANK") or 0)
    return rank if node == 0 else max(rank, node)


def claim_run_dir(runs_root: str | Path, task: str) -> tuple[Path, bool]:
    """The run directory of this (possibly distributed) training and whether this process owns it.

    Rank 0 creates a fresh ``runs_root/task/<timestamp>`` (or uses the EMPTY directory named by
    ``$SIMRNN_RUN_DIR``, as an HPC job script may set); :func:`run_dir_exported` then tells the
    processes that Lightning's DDP launcher starts. Other ranks only read the variable and write
    nothing.
    """
    shared = os.environ.get(RUN_DIR_ENV)
    rank = global_rank()
    if rank != 0:
        if not shared:
            raise UserInputError(f"distributed rank {rank} started without ${RUN_DIR_ENV}; "
                                 "launch through `simrnn` or set it in the job script.")
        return Path(shared), False
    if shared:
        run_dir = Path(shared)
        if (run_dir / CONFIG_FILE).exists():
            raise UserInputError(f"${RUN_DIR_ENV}={run_dir} is an existing run; use resume or a new directory.",
                                 key="resume")
        (run_dir / CHECKPOINT_DIR).mkdir(parents=True, exist_ok=True)
    else:
        run_dir = create_run_dir(runs_root, task)
    return run_dir, True


@contextlib.contextmanager
def run_dir_exported(run_dir: Path):
    """Set ``$SIMRNN_RUN_DIR`` while the block runs (DDP workers started inside inherit it)."""
    previous = os.environ.get(RUN_DIR_ENV)
    os.environ[RUN_DIR_ENV] = str(run_dir)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(RUN_DIR_ENV, None)
        else:
            os.environ[RUN_DIR_ENV] = previous
