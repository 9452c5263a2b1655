"""Accuracy (and time) cost of ``--precision bf16-mixed`` for the field models, against fp32, same seed.

Trains CNN-LSTM and PredRNN on a small synthetic melt pool (96 x 24 x 16 nodes, 24 steps, xz plane,
demo-size models) with ``32-true`` and ``bf16-mixed``, alternating fp32/bf16/fp32/bf16, and
compares the test metrics of the BEST checkpoints (always evaluated in fp32) and the training
time. Prints a table and writes ``benchmarks/results/fields_bf16_accuracy.json``.

    .venv/bin/python benchmarks/fields_bf16_accuracy.py [--epochs 3] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from simrnn.cpu import cpu_flags, cpu_model
from simrnn.engine import fit
from simrnn.fields.cache import convert
from simrnn.fields.demo_models import DEMO_FIELD_MODELS, DEMO_FIELD_TRAINING
from simrnn.fields.synthetic import synthesise
from simrnn.files import write_json_atomic

PRECISIONS = ("32-true", "bf16-mixed")
SHOWN = ("mse", "mae", "ssim", "psnr", "band_mse", "skill")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1: fastest at this size)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    flags = cpu_flags()
    load_start = os.getloadavg()
    print(f"CPU {cpu_model()} ({platform.machine()}); bf16 flags: "
          f"{', '.join(k for k, v in flags.items() if v and 'bf16' in k) or 'none'}; torch threads {torch.get_num_threads()}; "
          f"load average {load_start[0]:.2f}")
    results: dict[str, dict[str, dict]] = {m: {} for m in DEMO_FIELD_MODELS}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        synthesise(tmp / "csv", grid=(96, 24, 16), steps=24, seed=0)
        cache = convert(tmp / "csv", tmp / "cache.h5")
        for model in DEMO_FIELD_MODELS:
            for repeat in range(args.repeats):
                for precision in PRECISIONS:  # alternating A/B/A/B
                    settings = dict(DEMO_FIELD_TRAINING, cache=str(cache), runs_root=str(tmp / "runs"), model=model,
                                    precision=precision, epochs=args.epochs, accelerator="cpu", progress_bar=False)
                    start = time.perf_counter()
                    run = fit("fields", settings)
                    seconds = time.perf_counter() - start
                    metrics = json.loads((run / "test_results.json").read_text())["metrics"]
                    entry = results[model].setdefault(precision, {"seconds": [], "metrics": metrics})
                    entry["seconds"].append(seconds)
                    if repeat:
                        assert entry["metrics"] == metrics, "same seed and precision must give the same metrics"
    load_end = os.getloadavg()
    print(f"\n{'model':<10}{'precision':<12}" + "".join(f"{k:>11}" for k in SHOWN) + f"{'best s':>9}")
    for model, by_precision in results.items():
        for precision, entry in by_precision.items():
            m = entry["metrics"]
            print(f"{model:<10}{precision:<12}" + "".join(f"{m.get(k, float('nan')):>11.5g}" for k in SHOWN)
                  + f"{min(entry['seconds']):>9.1f}")
        fp32, bf16 = by_precision["32-true"]["metrics"], by_precision["bf16-mixed"]["metrics"]
        print(f"{model:<10}{'change %':<12}" + "".join(
            f"{100 * (bf16[k] - fp32[k]) / abs(fp32[k]):>+11.2f}" if k in fp32 and k in bf16 else f"{'-':>11}"
            for k in SHOWN))
    print(f"load average {load_start[0]:.2f} at start, {load_end[0]:.2f} at end")
    out = Path(__file__).parent / "results" / "fields_bf16_accuracy.json"
    write_json_atomic(out, {"cpu": cpu_model(), "cpu_flags": flags, "torch": torch.__version__,
                            "threads": torch.get_num_threads(), "epochs": args.epochs, "settings": DEMO_FIELD_TRAINING,
                            "load_average": {"start": load_start, "end": load_end}, "results": results})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
