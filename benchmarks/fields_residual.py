"""Residual (change from the last context frame) vs direct (LASERNet) output of the field models.

Trains CNN-LSTM and PredRNN with the demo settings (``simrnn.fields.demo_models``) on the demo's
synthetic melt pool (96 x 24 x 16 nodes, 24 steps, xz plane), same seed and epochs, alternating
residual / direct per model, optionally also the residual form without the full-resolution skips,
and scores the BEST checkpoints on the test split next to persistence. Accuracy is deterministic
(seeded, 1 thread); times depend on the load. Prints a table and writes
``benchmarks/results/fields_residual.json``.

    .venv/bin/python benchmarks/fields_residual.py [--epochs 3 20] [--no-skip-variant]
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

SHOWN = ("mse", "ssim", "psnr", "band_mse", "skill")


def variants(skip_variant: bool) -> list[tuple[str, dict]]:
    """(label, setting overrides), in the order they are trained (A/B per model)."""
    out = [("residual", {"residual": True}), ("direct", {"residual": False})]
    if skip_variant:
        out.append(("residual, no skip", {"residual": True, "skip": False}))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, nargs="+", default=[3])
    parser.add_argument("--no-skip-variant", action="store_true", help="also train residual without --skip")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1: fastest at this size)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    flags = cpu_flags()
    load_start = os.getloadavg()
    print(f"CPU {cpu_model()} ({platform.machine()}); flags: {', '.join(k for k, v in flags.items() if v) or 'none'}; "
          f"torch threads {torch.get_num_threads()}; load average {load_start[0]:.2f}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        synthesise(tmp / "csv", grid=(96, 24, 16), steps=24, seed=0)
        cache = convert(tmp / "csv", tmp / "cache.h5")
        persistence = {}
        for epochs in args.epochs:
            for model in DEMO_FIELD_MODELS:
                for label, overrides in variants(args.no_skip_variant):
                    settings = dict(DEMO_FIELD_TRAINING, cache=str(cache), runs_root=str(tmp / "runs"), model=model,
                                    epochs=epochs, accelerator="cpu", progress_bar=False, **overrides)
                    start = time.perf_counter()
                    run = fit("fields", settings)
                    seconds = time.perf_counter() - start
                    results = json.loads((run / "test_results.json").read_text())
                    persistence = results["baselines"]["persistence"]
                    rows.append({"model": model, "variant": label, "epochs": epochs, "seconds": seconds,
                                 "load_average": os.getloadavg()[0], "metrics": results["metrics"]})
                    print(f"  {model} {label} {epochs} epochs: {seconds:.1f} s, mse {results['metrics']['mse']:.5f}",
                          flush=True)
    load_end = os.getloadavg()
    print(f"\n{'model':<10}{'variant':<19}{'epochs':>7}" + "".join(f"{k:>10}" for k in SHOWN) + f"{'s':>7}{'load':>6}")
    print(f"{'persistence':<36}" + "".join(f"{persistence[k]:>10.4g}" if k in persistence else f"{'-':>10}"
                                         for k in SHOWN))
    for row in rows:
        m = row["metrics"]
        print(f"{row['model']:<10}{row['variant']:<19}{row['epochs']:>7}" + "".join(f"{m[k]:>10.4g}" for k in SHOWN)
              + f"{row['seconds']:>7.1f}{row['load_average']:>6.1f}")
    print(f"load average {load_start[0]:.2f} at start, {load_end[0]:.2f} at end")
    out = Path(__file__).parent / "results" / "fields_residual.json"
    write_json_atomic(out, {"cpu": cpu_model(), "cpu_flags": flags, "torch": torch.__version__,
                            "threads": torch.get_num_threads(), "settings": DEMO_FIELD_TRAINING,
                            "load_average": {"start": load_start, "end": load_end},
                            "persistence": persistence, "rows": rows})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
