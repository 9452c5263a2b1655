"""What the field benchmarks share: the time stamp, the machine line and the demo cache.

Imported by ``benchmarks/fields_{cascade,curriculum,precision,solidification}.py`` (run as scripts,
so this folder is on ``sys.path``).
"""

from __future__ import annotations

import datetime
import os
import platform
from pathlib import Path

import torch

from simrnn.cpu import cpu_flags, cpu_model
from simrnn.fields.cache import convert
from simrnn.fields.synthetic import synthesise


def now() -> str:
    """The current UTC time, ``YYYY-MM-DD HH:MM UTC``."""
    return f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC"


def print_machine(extra: str = "") -> tuple[dict[str, bool | str], tuple[float, float, float]]:
    """Print the date, CPU model and flags, torch version, thread count and load; return (flags, load)."""
    flags = cpu_flags()
    load_start = os.getloadavg()
    print(f"{now()}; CPU {cpu_model()} ({platform.machine()}, {os.cpu_count()} cores); flags: "
          f"{', '.join(k for k, v in flags.items() if v) or 'none'}; {extra}torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread(s); load average {load_start[0]:.2f}", flush=True)
    return flags, load_start


def demo_cache(folder: Path) -> Path:
    """The demo's field cache (96 x 24 x 16 nodes, 24 steps, seed 0) written under ``folder``."""
    synthesise(folder / "csv", grid=(96, 24, 16), steps=24, seed=0)
    return convert(folder / "csv", folder / "cache.h5")
