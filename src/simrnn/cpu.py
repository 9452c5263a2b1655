"""What this CPU offers, and sharing CPU work between threads that tolerate busy cores.

- :func:`cpu_model`, :func:`cpu_flags`: the CPU's name and the instruction-set flags that decide
  kernels (AVX2, AVX-512, AVX-512 BF16, AMX), from ``/proc/cpuinfo`` where it exists;
- :func:`has_bf16`: bf16 dot products in hardware (AVX-512 BF16 or AMX) that oneDNN's bf16 math
  mode really uses for float32 products (probed once);
- :func:`worker_count`: how many workers may share a job (the affinity mask, capped by the
  caller's ``torch.get_num_threads()``);
- :func:`share_work`: runs a job in several threads at once, each with ONE PyTorch thread; the
  job takes its next piece of work from a shared iterator itself;
- :func:`torch_threads`: runs a block with a given number of PyTorch threads, then restores
  the caller's setting (the ONE place in simrnn that changes the process-wide thread count).

Why not PyTorch's own threads for many small operations: PyTorch splits every operation
statically over its threads and waits for the slowest at the end. With another process busy on
one of two cores, the thread that shares that core gets half of it in slices of milliseconds,
and each of the thousands of short operations of a prediction waits for it: 50 sequences took
22x longer. Workers that each run whole blocks single-threaded and take the next block when
done need no such waits: the worker on the busy core simply does fewer blocks.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import torch


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


@functools.cache
def has_bf16() -> bool:
    """Whether float32 products run as bf16 dot products here under oneDNN's bf16 math mode.

    The hardware flags (AVX-512 BF16 or AMX) are necessary but not sufficient: oneDNN may keep
    float32 kernels on a CPU that has the instructions (seen on an AMD EPYC with AVX-512 BF16 and
    oneDNN 3.12), and then "bf16" would silently be float32. So one small product is computed in
    both modes, once per process; bf16 counts as available only if it changes the result.
    """
    if not torch.backends.mkldnn.is_available() or not (
        torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    ):
        return False
    generator = torch.Generator().manual_seed(0)
    a, w = torch.rand(64, 64, generator=generator), torch.rand(64, 64, generator=generator)
    previous = torch.backends.mkldnn.matmul.fp32_precision
    with torch.inference_mode():
        exact = torch.ops.mkldnn._linear_pointwise(a, torch.ops.mkldnn._reorder_linear_weight(w), None,
                                                   "none", [], "")
        try:
            torch.backends.mkldnn.matmul.fp32_precision = "bf16"
            packed = torch.ops.mkldnn._reorder_linear_weight(w)
            rounded = torch.ops.mkldnn._linear_pointwise(a, packed, None, "none", [], "")
        finally:
            torch.backends.mkldnn.matmul.fp32_precision = previous
    return bool((rounded - exact).abs().max() > 1e-4)


def affinity_cpus() -> list[int]:
    """The CPU numbers this process may run on."""
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return list(range(os.cpu_count() or 1))


def worker_count(limit: int | None = None) -> int:
    """Workers for CPU work shared out in blocks: the cores of the affinity mask, at most ``limit``.

    ``limit`` defaults to ``torch.get_num_threads()``, so a caller's own setting
    (``torch.set_num_threads``, ``OMP_NUM_THREADS``) is never exceeded.
    """
    limit = torch.get_num_threads() if limit is None else limit
    return max(1, min(limit, len(affinity_cpus())))


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[int]:
    """Run the block with ``threads`` PyTorch intra-op threads; the previous count is restored after.

    PyTorch's thread count is process-wide; every part of simrnn that needs another count (the
    training thread choice, the convolution probes, prediction workers) goes through this.
    """
    previous = torch.get_num_threads()
    if threads != previous:
        torch.set_num_threads(threads)
    try:
        yield threads
    finally:
        if threads != previous:
            torch.set_num_threads(previous)


_POOLS: dict[int, ThreadPoolExecutor] = {}


def share_work(job: Callable[[], None], workers: int) -> None:
    """Run ``job()`` in ``workers`` threads at once (1: this thread), each in inference mode with one
    PyTorch intra-op thread; returns when all are done and re-raises the first error.

    ``job`` must take its pieces of work from something shared (an iterator behind a lock) until
    none is left, so that a thread slowed by a busy core takes fewer pieces. The threads are kept
    in a pool for the rest of the process. PyTorch's thread count is process-wide: other threads
    of the caller that run PyTorch meanwhile also get one thread.
    """

    def in_inference_mode() -> None:
        with torch.inference_mode():
            job()

    with torch_threads(1):
        if workers == 1:
            in_inference_mode()
            return
        if workers not in _POOLS:
            _POOLS[workers] = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="simrnn-worker")
        futures = [_POOLS[workers].submit(in_inference_mode) for _ in range(workers)]
        for future in futures:
            future.result()
