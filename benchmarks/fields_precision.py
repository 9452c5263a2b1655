"""Does bf16 autocast change the field models' test metrics by more than a change of seed?

Trains the demo models (``simrnn.fields.demo_models`` settings, default output and loss) on the demo's
synthetic melt pool (96 x 24 x 16 nodes, 24 steps, xz plane) at ``--epochs`` with each seed in
``32-true`` and ``bf16-mixed`` (alternating), scores the BEST checkpoints in fp32 on the test split,
and prints per model the seed-to-seed spread (|seed a - seed b| in fp32) next to the precision
effect (|bf16 - fp32| per seed) for MSE, the skills and SSIM, plus the training times.
Writes ``benchmarks/results/fields_precision.json``.

    .venv/bin/python benchmarks/fields_precision.py [--epochs 20] [--seeds 0 1] [--models cnn-lstm predrnn]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch
from fields_bench_common import demo_cache, now, print_machine

from simrnn.cpu import cpu_model
from simrnn.engine import fit
from simrnn.fields.demo_models import DEMO_FIELD_TRAINING
from simrnn.fields.hardware import fast_bf16
from simrnn.files import write_json_atomic

PRECISIONS = ("32-true", "bf16-mixed")
SHOWN = ("mse", "skill", "melt/skill", "solidify/skill", "ssim")



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seeds", type=int, nargs=2, default=[0, 1])
    parser.add_argument("--models", nargs="+", default=["cnn-lstm"])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    flags, load_start = print_machine(f"fast_bf16 (timed) {fast_bf16('cpu')}; ")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cache = demo_cache(tmp)
        for model in args.models:
            for seed in args.seeds:
                for precision in PRECISIONS:
                    settings = dict(DEMO_FIELD_TRAINING, cache=str(cache), runs_root=str(tmp / "runs"), model=model,
                                    epochs=args.epochs, seed=seed, precision=precision, accelerator="cpu",
                                    progress_bar=False)
                    start = time.perf_counter()
                    run = fit("fields", settings)
                    seconds = time.perf_counter() - start
                    metrics = json.loads((run / "test_results.json").read_text())["metrics"]
                    results[f"{model} {seed} {precision}"] = {"metrics": metrics, "seconds": seconds,
                                                               "load_average": os.getloadavg()[0]}
                    print(f"  {model} seed {seed} {precision}: {seconds:.1f} s (load {os.getloadavg()[0]:.1f}), "
                          + ", ".join(f"{k} {metrics[k]:.4g}" for k in SHOWN), flush=True)
    print(f"\n{'model':<9}{'metric':<16}" + "".join(f"{f'seed {s} fp32':>13}{f'seed {s} bf16':>13}" for s in args.seeds)
          + f"{'seed spread':>13}{'bf16 effect':>13}")
    for model in args.models:
        for key in SHOWN:
            v = {(s, p): results[f"{model} {s} {p}"]["metrics"][key] for s in args.seeds for p in PRECISIONS}
            spread = abs(v[(args.seeds[0], "32-true")] - v[(args.seeds[1], "32-true")])
            effect = max(abs(v[(s, "bf16-mixed")] - v[(s, "32-true")]) for s in args.seeds)
            print(f"{model:<9}{key:<16}" + "".join(f"{v[(s, p)]:>13.4g}" for s in args.seeds for p in PRECISIONS)
                  + f"{spread:>13.4g}{effect:>13.4g}")
    load_end = os.getloadavg()
    print(f"load average {load_start[0]:.2f} at start, {load_end[0]:.2f} at end; {now()}")
    out = Path(__file__).parent / "results" / "fields_precision.json"
    write_json_atomic(out, {"cpu": cpu_model(), "cpu_flags": flags, "torch": torch.__version__, "epochs": args.epochs,
                            "settings": DEMO_FIELD_TRAINING, "load_average": {"start": load_start, "end": load_end},
                            "results": results})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
