"""How many PyTorch CPU threads a training uses: chosen by timing a training step once, or given.

Small recurrent models (the demo sizes, most GrainLearning surrogates) do many short operations.
PyTorch splits each one over its intra-op threads and waits for the slowest; with another process
busy on one of two cores every such wait stalls, and 2 threads have trained 16-22x SLOWER than 1
(measured in this project at load 3-5). ``threads="auto"`` therefore times one training step of
the real model on a real batch with 1 thread and with all usable cores, and keeps the faster
(ties go to 1 thread); large models on idle machines keep all cores.
"""

from __future__ import annotations

import contextlib
import copy
import time
import warnings
from collections.abc import Iterator

import lightning as L
import torch

from simrnn.cpu import torch_threads
from simrnn.engine.settings import available_cpu_cores, parse_devices, resolve_threads, runs_on_cpu


def _step_seconds(module: L.LightningModule, batch) -> float:
    start = time.perf_counter()
    loss = module.training_step(batch, 0)
    loss = loss["loss"] if isinstance(loss, dict) else loss
    loss.backward()
    return time.perf_counter() - start


def fastest_thread_count(module: L.LightningModule, datamodule: L.LightningDataModule, candidates: tuple[int, ...]) -> int:
    """The candidate thread count whose training step (best of 2 after a warm-up) is fastest; ties -> fewest.

    A copy of ``module`` is timed, so the real model's weights and gradients are untouched.
    """
    probe = copy.deepcopy(module).train()
    batch = next(iter(datamodule.train_dataloader()))
    seconds = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # self.log() outside a Trainer warns and does nothing
        for n in candidates:
            with torch_threads(n):
                _step_seconds(probe, batch)
                seconds[n] = min(_step_seconds(probe, batch), _step_seconds(probe, batch))
    fewest = min(candidates)
    best = min(seconds, key=seconds.get)
    return best if seconds[best] < seconds[fewest] / 1.15 else fewest


@contextlib.contextmanager
def training_threads(threads: str, module: L.LightningModule, datamodule: L.LightningDataModule,
                     cpu_single_process: bool) -> Iterator[int]:
    """Run the block with the chosen number of PyTorch threads (yielded), then restore the caller's."""
    previous = torch.get_num_threads()
    chosen = resolve_threads(threads)
    if chosen is None:
        cores = min(available_cpu_cores(), previous)
        chosen = fastest_thread_count(module, datamodule, (1, cores)) if cpu_single_process and cores > 1 else previous
    with torch_threads(chosen):
        yield chosen


def is_cpu_single_process(accelerator: str, devices: str, num_nodes: int, strategy: str) -> bool:
    """True when training runs in this one process on the CPU (the case the thread probe is for)."""
    n = parse_devices(devices)
    return runs_on_cpu(accelerator) and n in ("auto", 1) and num_nodes == 1 and strategy in ("auto", "single_device")
