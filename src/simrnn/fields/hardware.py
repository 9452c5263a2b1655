"""Convolution layout and precision for the machine at hand, decided once per process by timing.

The field models are convolution-bound, and on CPUs the memory layout alone can change a 3x3
convolution's speed several-fold (oneDNN's blocked kernels want ``channels_last``); bf16 helps only
where the CPU has bf16 dot products (AVX512-BF16, AMX) or the GPU has bf16 tensor cores. Nothing
here assumes a particular machine: each answer comes from a tiny timing on the device itself
(tens of milliseconds), cached for the rest of the process. On CPUs the layout and bf16 probes
run on one thread and measure CPU time, so that a busy shared machine (where every OpenMP barrier
waits for a time slice) cannot flip the answer; the peak uses every thread and wall time.

- :func:`conv_layout` -> ``torch.channels_last`` or ``torch.contiguous_format`` (no change in
  results beyond fp32 rounding, so the models use it automatically);
- :func:`fast_bf16` -> whether bf16 autocast makes convolutions clearly faster (bf16 changes
  results, so it stays opt-in: ``--precision bf16-mixed``);
- :func:`measured_conv_peak_gflops` -> the best GFLOP/s of a large 3x3 convolution, the yardstick
  the benchmark prints next to the models' achieved rate;
- :func:`hardware_summary` -> all of the above plus CPU facts, for a run's config.json.

Set ``SIMRNN_CONV_LAYOUT=channels_last|contiguous`` to override the layout choice (read once per
process by :mod:`simrnn.environment`). The field models take the layout when they are built.

Example::

    >>> conv_layout(torch.device("cpu")) in (torch.channels_last, torch.contiguous_format)
    True
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from simrnn.cpu import torch_threads
from simrnn.environment import environment

#: a layout or precision must win by this factor to be chosen (timing noise on a busy machine).
_MARGIN = 1.15
#: probe convolution [batch, channels in, channels out, height, width]: the encoder's 16 -> 32
#: stage at half of LASERNet's 47 x 465 xz plane, the shape the issue measured.
_PROBE = (4, 16, 32, 24, 232)
#: peak probe: a large, compute-bound 3x3 convolution.
_PEAK = (8, 64, 64, 64, 128)
#: the layouts by the names config.json and ``SIMRNN_CONV_LAYOUT`` use.
LAYOUTS = {"channels_last": torch.channels_last, "contiguous": torch.contiguous_format}


def _device_type(device: torch.device | str | None) -> str:
    return torch.device(device if device is not None else "cpu").type


def _best_seconds(fn: Callable[[], object], device_type: str, repeats: int, cpu_time: bool) -> float:
    """Best time of ``fn`` over ``repeats`` calls after one warm-up call.

    ``cpu_time`` (CPU only): this process's CPU seconds on one thread instead of wall seconds.
    """
    clock = time.process_time if cpu_time else time.perf_counter
    with torch_threads(1) if cpu_time else contextlib.nullcontext():
        fn()
        best = float("inf")
        for _ in range(repeats):
            if device_type == "cuda":
                torch.cuda.synchronize()
            start = clock()
            fn()
            if device_type == "cuda":
                torch.cuda.synchronize()
            best = min(best, clock() - start)
    return best


def _conv_seconds(shape: tuple[int, ...], device_type: str, layout: torch.memory_format,
                  bf16: bool, repeats: int = 5, peak: bool = False) -> float:
    """Best seconds of one 3x3 convolution of ``shape`` = (batch, c_in, c_out, height, width).

    CPU time on one thread on CPUs, unless ``peak`` (then wall time on every thread).
    """
    batch, c_in, c_out, height, width = shape
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(batch, c_in, height, width, generator=generator, device="cpu").to(device_type)
    weight = torch.randn(c_out, c_in, 3, 3, generator=generator, device="cpu").to(device_type)
    x, weight = x.contiguous(memory_format=layout), weight.contiguous(memory_format=layout)
    autocast = (torch.autocast(device_type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext())

    def run() -> None:
        with torch.no_grad(), autocast:
            F.conv2d(x, weight, padding=1)

    return _best_seconds(run, device_type, repeats, cpu_time=device_type == "cpu" and not peak)


def _conv_flops(shape: tuple[int, ...]) -> float:
    batch, c_in, c_out, height, width = shape
    return 2.0 * batch * c_in * c_out * 9 * height * width


@functools.cache
def _timed_layout(device_type: str) -> torch.memory_format:
    contiguous = _conv_seconds(_PROBE, device_type, torch.contiguous_format, bf16=False)
    channels_last = _conv_seconds(_PROBE, device_type, torch.channels_last, bf16=False)
    return torch.channels_last if contiguous > _MARGIN * channels_last else torch.contiguous_format


def conv_layout(device: torch.device | str | None = None) -> torch.memory_format:
    """The faster memory format for fp32 3x3 convolutions on ``device`` (default CPU).

    Timed once per device type and process; ``SIMRNN_CONV_LAYOUT`` (read once, see
    :mod:`simrnn.environment`) overrides it. Called when a model is BUILT, never in ``forward``.
    """
    override = environment().conv_layout
    if override is not None:
        return LAYOUTS[override]
    return _timed_layout(_device_type(device))


def layout_name(layout: torch.memory_format) -> str:
    """``"channels_last"`` or ``"contiguous"``: how config.json names a memory format."""
    return next(name for name, value in LAYOUTS.items() if value == layout)


@functools.cache
def _timed_bf16(device_type: str) -> bool:
    if device_type == "cuda" and not torch.cuda.is_bf16_supported():
        return False
    fp32 = _conv_seconds(_PROBE, device_type, torch.channels_last, bf16=False)
    try:
        bf16 = _conv_seconds(_PROBE, device_type, torch.channels_last, bf16=True)
    except RuntimeError:  # a backend without bf16 convolutions
        return False
    return fp32 > _MARGIN * bf16


def fast_bf16(device: torch.device | str | None = None) -> bool:
    """Whether bf16 autocast makes 3x3 convolutions at least 15 % faster on ``device`` (timed once)."""
    return _timed_bf16(_device_type(device))


@functools.cache
def _timed_peak(device_type: str, bf16: bool) -> float:
    seconds = min(_conv_seconds(_PEAK, device_type, layout, bf16, repeats=3, peak=True)
                  for layout in (torch.contiguous_format, torch.channels_last))
    return _conv_flops(_PEAK) / seconds / 1e9


def measured_conv_peak_gflops(device: torch.device | str | None = None, bf16: bool = False) -> float:
    """GFLOP/s of a large 3x3 convolution (64 -> 64 channels, 8 x 64 x 128) in its best layout.

    A practical peak for convolution-bound networks on this device, timed once per process;
    ``bf16=True`` times it under bf16 autocast.
    """
    return _timed_peak(_device_type(device), bf16)


def hardware_summary(device: torch.device | str | None = None) -> dict:
    """The choices made for ``device`` and the facts behind them, JSON-ready (for config.json)."""
    device_type = _device_type(device)
    summary = {
        "device_type": device_type,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "conv_layout": layout_name(conv_layout(device_type)),
        "fast_bf16": fast_bf16(device_type),
    }
    if device_type == "cpu":
        summary["cpu_capability"] = torch.backends.cpu.get_cpu_capability()
        summary["mkldnn"] = torch.backends.mkldnn.is_available()
    elif device_type == "cuda":
        summary["gpu"] = torch.cuda.get_device_name()
    return summary
