"""What this CPU offers and how many of its cores are free right now.

- :func:`cpu_model`, :func:`cpu_flags`: the CPU's name and the instruction-set flags that decide
  kernels (AVX2, AVX-512, AVX-512 BF16, AMX), from ``/proc/cpuinfo`` where it exists;
- :func:`has_bf16`: bf16 dot products in hardware (AVX-512 BF16 or AMX), as PyTorch detects them;
- :func:`free_cores`: the cores of this process's affinity mask that OTHER processes leave idle,
  measured from ``/proc/stat`` between calls (nothing is assumed about the machine);
- :func:`intra_op_threads`: runs a block with at most that many PyTorch threads, then restores
  the caller's setting.

Why free cores matter: PyTorch splits every operation statically over its threads and waits for
the slowest. With another process busy on one of two cores, the thread that shares that core gets
half of it in slices of milliseconds, so each of the thousands of short operations of a
prediction waits for it: 50 sequences took 22x longer. One thread on the free core instead runs
at full speed.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

import torch

#: Shortest interval (s) over which :func:`free_cores` measures; shorter calls reuse its last answer.
MIN_INTERVAL_S = 0.05
_PROC_STAT = "/proc/stat"


def _cpuinfo_field(name: str) -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith(name):
                    return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what :mod:`platform` knows."""
    import platform

    return _cpuinfo_field("model name") or platform.processor() or platform.machine()


def cpu_flags() -> dict[str, bool]:
    """The instruction sets that choose kernels: avx2, avx512f, avx512_bf16, amx_bf16, and PyTorch's view."""
    flags = set((_cpuinfo_field("flags") or "").split())
    return {
        "avx2": "avx2" in flags or torch.cpu._is_avx2_supported(),
        "avx512f": "avx512f" in flags or torch.cpu._is_avx512_supported(),
        "avx512_bf16": "avx512_bf16" in flags or torch.cpu._is_avx512_bf16_supported(),
        "amx_bf16": "amx_bf16" in flags or torch.cpu._is_amx_tile_supported(),
        "torch_capability": torch.backends.cpu.get_cpu_capability(),
    }


def has_bf16() -> bool:
    """Whether bf16 dot products run in hardware here (AVX-512 BF16 or AMX), as oneDNN will use them."""
    return torch.backends.mkldnn.is_available() and (
        torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    )


def affinity_cpus() -> list[int]:
    """The CPU numbers this process may run on."""
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return list(range(os.cpu_count() or 1))


def _busy_ticks(cpus: list[int]) -> int | None:
    """Non-idle clock ticks (USER_HZ) summed over ``cpus`` since boot, from ``/proc/stat``."""
    wanted = {f"cpu{c}" for c in cpus}
    busy = 0
    try:
        with open(_PROC_STAT, encoding="ascii") as handle:
            for line in handle:
                fields = line.split()
                if fields and fields[0] in wanted:
                    # user nice system idle iowait irq softirq steal: idle and iowait are not busy
                    values = [int(v) for v in fields[1:9]]
                    busy += sum(values) - values[3] - values[4]
    except (OSError, ValueError):
        return None
    return busy


class _Sampler:
    """Busy time of the affinity cores, minus this process's own CPU time, between two calls."""

    def __init__(self) -> None:
        self.cpus = affinity_cpus()
        self.tick = 1.0 / os.sysconf("SC_CLK_TCK")
        self.last = self._sample()
        self.free = float(len(self.cpus))

    def _sample(self) -> tuple[float, float, int | None]:
        return time.monotonic(), time.process_time(), _busy_ticks(self.cpus)

    def free_cores(self) -> float:
        now = self._sample()
        wall = now[0] - self.last[0]
        if now[2] is None or self.last[2] is None:
            return self.free
        if wall < MIN_INTERVAL_S:
            return self.free
        others = (now[2] - self.last[2]) * self.tick - (now[1] - self.last[1])
        self.free = min(len(self.cpus), max(0.0, len(self.cpus) - others / wall))
        self.last = now
        return self.free


_SAMPLER: _Sampler | None = None


def free_cores(wait: bool = True) -> float:
    """Cores of the affinity mask left idle by other processes since the previous call (or import).

    The first call in a process waits :data:`MIN_INTERVAL_S` to measure (``wait=False``: assume
    all cores free instead); later calls closer together than that return the previous answer.
    Where ``/proc/stat`` is missing every core counts as free.
    """
    global _SAMPLER
    if _SAMPLER is None:
        _SAMPLER = _Sampler()
        if wait:
            time.sleep(MIN_INTERVAL_S)
    return _SAMPLER.free_cores()


def adaptive_threads(limit: int | None = None) -> int:
    """PyTorch threads to use now: the free cores (rounded), at least 1, at most ``limit``.

    ``limit`` defaults to the current ``torch.get_num_threads()``, so a caller's own setting
    (``torch.set_num_threads``, ``OMP_NUM_THREADS``) is an upper bound that is never exceeded.
    """
    limit = torch.get_num_threads() if limit is None else limit
    return max(1, min(limit, int(free_cores() + 0.5)))


@contextlib.contextmanager
def intra_op_threads(threads: int) -> Iterator[int]:
    """Run the block with ``threads`` PyTorch intra-op threads; the previous count is restored after."""
    previous = torch.get_num_threads()
    if threads != previous:
        torch.set_num_threads(threads)
    try:
        yield threads
    finally:
        if threads != previous:
            torch.set_num_threads(previous)
