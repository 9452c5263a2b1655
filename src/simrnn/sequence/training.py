"""Train a sequence surrogate from a config (GrainLearning's keys) into a fresh run directory.

A thin front of :func:`simrnn.engine.fit` for the ``sequence`` task (a module named ``training``, not
``train``, so that importing it never shadows the package's ``train`` function). Example::

    from simrnn.sequence import train
    run_dir = train({"raw_data": "triaxial.h5", "window_size": 10, "epochs": 5})
    train({"epochs": 20}, resume=run_dir)        # continue the same run to epoch 20
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simrnn.engine import fit, task_config
from simrnn.sequence.config import SequenceConfig


def load_sequence_config(config: dict[str, Any] | SequenceConfig, source: str = "config") -> SequenceConfig:
    """Accept a GrainLearning-style dict (unknown keys -> one warning) or a ready config; validate it."""
    return task_config("sequence", config, source=source)


def train(config: dict[str, Any] | SequenceConfig | None = None, *, resume: str | Path | None = None,
          source: str = "config") -> Path:
    """Train (or resume) a sequence surrogate; return the run directory.

    Args:
        config: GrainLearning-style settings (see :class:`SequenceConfig`). When resuming, only
            the overrides, of which only resumable keys may change (e.g. more ``epochs``).
        resume: a run directory whose ``checkpoints/last.ckpt`` is continued in place.
    """
    return fit("sequence", config, resume=resume, source=source)
