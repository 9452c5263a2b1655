"""The environment variables simrnn reads, read ONCE per process into one object.

- ``SIMRNN_CONV_LAYOUT`` = ``channels_last`` | ``contiguous``: force the field models' convolution
  layout instead of timing both (see :mod:`simrnn.fields.hardware`);
- ``WANDB_MODE`` = ``online`` together with ``WANDB_API_KEY``: ``--logger wandb`` syncs online;
  otherwise it writes offline files;
- ``SIMRNN_TASKS`` = ``package[,package...]``: task packages of one's own on ``sys.path`` (see
  :func:`simrnn.registry.task_packages`).

The ``simrnn`` command reads them at its start (a bad value is one sentence before any work);
a library user's first call reads them the same way. Nothing deeper in simrnn calls
:func:`os.getenv`. Tests and programs replace the object with :func:`use_environment`.

Example::

    >>> read_environment({"SIMRNN_CONV_LAYOUT": "contiguous"}).conv_layout
    'contiguous'
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping

from simrnn.errors import UserInputError

CONV_LAYOUTS = ("channels_last", "contiguous")


@dataclasses.dataclass(frozen=True)
class Environment:
    """What the environment says: ``conv_layout`` (None = time both), ``wandb_online``, ``tasks``."""

    conv_layout: str | None = None
    wandb_online: bool = False
    tasks: tuple[str, ...] = ()


def read_environment(environ: Mapping[str, str] = os.environ) -> Environment:
    """Read and check the variables above from ``environ``; one sentence for a bad value."""
    layout = environ.get("SIMRNN_CONV_LAYOUT") or None
    if layout is not None and layout not in CONV_LAYOUTS:
        raise UserInputError(f"SIMRNN_CONV_LAYOUT={layout!r} is not a layout; expected one of "
                             f"{', '.join(CONV_LAYOUTS)}.", key="SIMRNN_CONV_LAYOUT")
    online = environ.get("WANDB_MODE", "offline") == "online" and bool(environ.get("WANDB_API_KEY"))
    tasks = tuple(filter(None, (p.strip() for p in environ.get("SIMRNN_TASKS", "").split(","))))
    return Environment(conv_layout=layout, wandb_online=online, tasks=tasks)


_CURRENT: list[Environment] = []


def environment() -> Environment:
    """The process's :class:`Environment`, read from ``os.environ`` on first use."""
    if not _CURRENT:
        _CURRENT.append(read_environment())
    return _CURRENT[0]


def use_environment(env: Environment | None) -> None:
    """Replace the process's :class:`Environment` (None: read ``os.environ`` again on next use)."""
    _CURRENT.clear()
    if env is not None:
        _CURRENT.append(env)
