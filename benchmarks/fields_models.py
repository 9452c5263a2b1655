"""Field-model speed: training step and inference for CNN-LSTM and PredRNN, three ways side by side.

Usage::

    .venv/bin/python benchmarks/fields_models.py [--quick] [--repeats 2] [--steps 2] [--threads N]

For each model (registry defaults: hidden 64, 4 layers) at LASERNet's real xz shape (47 x 465,
seq 3, batch 16) and at the demo's (16 x 96, seq 3, batch 16) it times, in a fresh subprocess per
measurement (so that peak RSS is that configuration's own), and alternating the variants
A/B/C/A/B/C over ``--repeats`` rounds:

- ``nchw-fp32``: the plain implementation (default layout, fp32) -- the baseline;
- ``cl-fp32``: ``channels_last`` convolutions, fp32 (what :func:`conv_layout` picks where faster);
- ``cl-bf16``: ``channels_last`` under bf16 autocast (``--precision bf16-mixed``).

Reported per configuration (best of all timed steps; medians in the JSON): training step
(forward + MSE + decoupling loss + backward + Adam) wall and CPU seconds, training and inference samples/s, speed-up over ``nchw-fp32``, achieved
GFLOP/s (FLOPs counted once by ``torch.utils.flop_counter`` on meta tensors) next to the
machine's measured conv peak (:func:`measured_conv_peak_gflops`), and peak RSS above the
process's start (``resource.getrusage``). Also the accuracy cost of bf16: max |pred_bf16 -
pred_fp32| on a small forward. CPU model, flags, thread count and load averages are printed;
the machine may be shared, so read every figure with its load average.

Prints a table and writes ``benchmarks/results/fields_models.json``.
Goal (issue 8): a training step >= 3x faster than ``nchw-fp32``, measured side by side.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).parent / "results" / "fields_models.json"
MODELS = ("cnn-lstm", "predrnn")
SIZES = {"lasernet-xz": (47, 465), "demo": (16, 96)}
SEQ, BATCH = 3, 16
VARIANTS = ("nchw-fp32", "cl-fp32", "cl-bf16")
LAYOUTS = {"nchw": torch.contiguous_format, "cl": torch.channels_last}
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "avx512_fp16")


def _inputs(height: int, width: int, batch: int = BATCH, device: str = "cpu", seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    tensors = (torch.rand(batch, SEQ, 10, height, width, generator=generator),
               torch.rand(batch, 1, height, width, generator=generator),
               torch.rand(batch, 9, height, width, generator=generator))
    return tuple(t.to(device) for t in tensors)


def _build(name: str, device: str = "cpu"):
    import simrnn.fields  # noqa: F401  (registers the field models)
    from simrnn.registry import build_model

    torch.manual_seed(0)
    return build_model(name).to(device)


def _autocast(precision: str):
    return torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()


def _train_step(model, optimiser, context, future_temp, target, precision: str) -> None:
    optimiser.zero_grad(set_to_none=True)
    with _autocast(precision):
        pred, aux = model.forward_with_aux(context, future_temp)
        loss = torch.nn.functional.mse_loss(pred.float(), target) + sum(aux.values())
    loss.backward()
    optimiser.step()


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def child(config: dict) -> dict:
    """One measurement in this (fresh) process: ``steps`` timed training steps and forwards."""
    torch.set_num_threads(config["threads"])
    layout, precision = config["variant"].split("-")
    height, width = SIZES[config["size"]]
    model = _build(config["model"])
    model.layout = LAYOUTS[layout]
    context, future_temp, target = _inputs(height, width)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    rss_start = _maxrss_mb()
    _train_step(model, optimiser, context, future_temp, target, precision)  # warm-up
    wall, cpu = [], []
    for _ in range(config["steps"]):
        start, start_cpu = time.perf_counter(), time.process_time()
        _train_step(model, optimiser, context, future_temp, target, precision)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    rss_train = _maxrss_mb()
    infer = []
    with torch.inference_mode(), _autocast(precision):
        model(context, future_temp)
        for _ in range(config["steps"]):
            start = time.perf_counter()
            model(context, future_temp)
            infer.append(time.perf_counter() - start)
    return {**config, "train_wall_s": wall, "train_cpu_s": cpu, "infer_wall_s": infer,
            "rss_start_mb": rss_start, "rss_peak_train_mb": rss_train, "load_average": os.getloadavg()}


def run_child(config: dict) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", json.dumps(config)], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def train_flops(name: str, height: int, width: int) -> dict:
    """FLOPs of one training step (forward + backward) and of one forward, counted on meta tensors."""
    from torch.utils.flop_counter import FlopCounterMode

    model = _build(name, device="meta")
    model.layout = torch.contiguous_format
    context, future_temp, target = _inputs(height, width, device="meta")
    with FlopCounterMode(display=False) as forward_counter:
        model(context, future_temp)
    with FlopCounterMode(display=False) as train_counter:
        pred, aux = model.forward_with_aux(context, future_temp)
        (torch.nn.functional.mse_loss(pred, target) + sum(aux.values())).backward()
    return {"train": train_counter.get_total_flops(), "forward": forward_counter.get_total_flops()}


def bf16_accuracy() -> dict:
    """max |pred_bf16 - pred_fp32| and mean over a batch of 2 at the real xz shape, per model."""
    result = {}
    context, future_temp, _ = _inputs(*SIZES["lasernet-xz"], batch=2, seed=1)
    for name in MODELS:
        model = _build(name).eval()
        with torch.no_grad():
            fp32 = model(context, future_temp)
            with _autocast("bf16"):
                bf16 = model(context, future_temp).float()
        diff = (bf16 - fp32).abs()
        result[name] = {"max_abs_diff": diff.max().item(), "mean_abs_diff": diff.mean().item()}
    return result


def machine(threads: int) -> dict:
    from simrnn.fields.hardware import hardware_summary, measured_conv_peak_gflops

    info = {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "torch_threads": threads, "cpu_model": platform.processor(), "cpu_flags": []}
    with contextlib.suppress(OSError):
        text = Path("/proc/cpuinfo").read_text()
        lines = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
        info["cpu_model"] = lines.get("model name\t", "").strip() or info["cpu_model"]
        flags = set(lines.get("flags\t\t", "").split())
        info["cpu_flags"] = [f for f in CPU_FLAGS if f in flags]
    torch.set_num_threads(threads)
    info["choices"] = hardware_summary()
    info["conv_peak_gflops"] = {"fp32": measured_conv_peak_gflops(), "bf16": measured_conv_peak_gflops(bf16=True)}
    return info


def summarise(runs: list[dict], flops: dict) -> list[dict]:
    rows = []
    for name in MODELS:
        for size in SIZES:
            base = None
            for variant in VARIANTS:
                mine = [r for r in runs if (r["model"], r["size"], r["variant"]) == (name, size, variant)]
                if not mine:
                    continue
                # best of all timed steps: on a shared machine a neighbour's burst slows single
                # steps several-fold (2-thread OpenMP barriers wait for time slices); medians in JSON
                wall = min(t for r in mine for t in r["train_wall_s"])
                cpu = min(t for r in mine for t in r["train_cpu_s"])
                infer = min(t for r in mine for t in r["infer_wall_s"])
                base = base or {"wall": wall, "cpu": cpu}
                count = flops[f"{name}@{size}"]
                rows.append({
                    "model": name, "size": size, "variant": variant,
                    "train_step_s": wall, "train_cpu_s": cpu, "train_samples_per_s": BATCH / wall,
                    "speedup_wall": base["wall"] / wall, "speedup_cpu": base["cpu"] / cpu,
                    "train_gflops_per_s": count["train"] / wall / 1e9,
                    "infer_samples_per_s": BATCH / infer, "infer_gflops_per_s": count["forward"] / infer / 1e9,
                    "peak_rss_mb": max(r["rss_peak_train_mb"] for r in mine),
                    "peak_rss_above_start_mb": max(r["rss_peak_train_mb"] - r["rss_start_mb"] for r in mine),
                    "train_step_s_median": statistics.median(t for r in mine for t in r["train_wall_s"]),
                    "load_average_1min": [r["load_average"][0] for r in mine],
                })
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round, one timed step each")
    parser.add_argument("--repeats", type=int, default=2, help="A/B/C rounds")
    parser.add_argument("--steps", type=int, default=2, help="timed steps per measurement")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch threads")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    repeats, steps = (1, 1) if args.quick else (args.repeats, args.steps)
    from simrnn import __version__
    from simrnn.files import write_json_atomic

    report = {"simrnn_version": __version__, "torch": torch.__version__, "machine": machine(args.threads),
              "load_average_at_start": os.getloadavg(), "shape": {"seq": SEQ, "batch": BATCH, "sizes": SIZES}}
    report["bf16_accuracy"] = bf16_accuracy()
    flops = {f"{n}@{s}": train_flops(n, *SIZES[s]) for n in MODELS for s in SIZES}
    runs = []
    for _ in range(repeats):
        for name in MODELS:
            for size in SIZES:
                for variant in VARIANTS:
                    config = {"model": name, "size": size, "variant": variant, "steps": steps,
                              "threads": args.threads}
                    runs.append(run_child(config))
                    print(f"  {name:9s} {size:12s} {variant:10s} {statistics.median(runs[-1]['train_wall_s']):7.3f} s/step"
                          f"  (load {runs[-1]['load_average'][0]:.2f})", flush=True)
    report.update(flops=flops, runs=runs, rows=summarise(runs, flops), load_average_at_end=os.getloadavg())
    write_json_atomic(RESULTS, report)
    print_table(report)


def print_table(report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    m = report["machine"]
    peak = m["conv_peak_gflops"]
    console = Console(width=200)
    console.print(f"{m['cpu_model']} ({m['cpus']} CPUs; flags {' '.join(m['cpu_flags']) or '-'}); "
                  f"torch {report['torch']}, {m['torch_threads']} threads; choices {m['choices']}")
    console.print(f"measured conv peak: fp32 {peak['fp32']:.0f} GFLOP/s, bf16 {peak['bf16']:.0f} GFLOP/s; "
                  f"load average {report['load_average_at_start'][0]:.2f} at start, "
                  f"{report['load_average_at_end'][0]:.2f} at end")
    table = Table(title=f"field models: training step and inference (seq {SEQ}, batch {BATCH})")
    for column in ("model", "size", "variant", "train s/step (best)", "CPU s/step", "speed-up wall (CPU)",
                   "train GFLOP/s", "train samples/s", "infer samples/s", "peak RSS MB (+start)", "load 1 min"):
        table.add_column(column, justify="left" if column in ("model", "size", "variant") else "right")
    for row in report["rows"]:
        table.add_row(
            row["model"], row["size"], row["variant"], f"{row['train_step_s']:.3f}", f"{row['train_cpu_s']:.3f}",
            f"{row['speedup_wall']:.2f}x ({row['speedup_cpu']:.2f}x)", f"{row['train_gflops_per_s']:.0f}",
            f"{row['train_samples_per_s']:.1f}", f"{row['infer_samples_per_s']:.1f}",
            f"{row['peak_rss_mb']:.0f} (+{row['peak_rss_above_start_mb']:.0f})",
            " ".join(f"{x:.1f}" for x in row["load_average_1min"]),
        )
    console.print(table)
    accuracy = ", ".join(f"{n} max {v['max_abs_diff']:.2e} mean {v['mean_abs_diff']:.2e}"
                         for n, v in report["bf16_accuracy"].items())
    console.print(f"bf16 autocast vs fp32 prediction |diff| (outputs in [0, 1]): {accuracy}")
    console.print(f"goal: training step >= 3x faster than nchw-fp32; written to {RESULTS}")


if __name__ == "__main__":
    main()
