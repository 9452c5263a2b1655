"""The cascade: the temperature surrogate drives the microstructure surrogate ahead of the simulation.

Trains, with the demo settings (``simrnn.fields.demo_models``) on the demo's synthetic melt pool
(96 x 24 x 16 nodes, 24 steps, xz plane), the CNN-LSTM microstructure model and the temperature
model (``--target temperature``, same core and widths) for each epoch count and seed, then rolls the
microstructure model out ``--horizon`` test steps with the true and with the predicted temperatures
and prints, per horizon step: temperature MAE (K) of the surrogate and of persistence, skill with
true and predicted T, solidification skill with both, and the cascade penalty (MSE with predicted T
over MSE with true T, in %). Writes ``benchmarks/results/fields_cascade.json``.

    .venv/bin/python benchmarks/fields_cascade.py [--epochs 3 20] [--seeds 0 1]
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
from simrnn.fields.demo_models import DEMO_FIELD_TRAINING, cascade_summary, format_cascade
from simrnn.files import write_json_atomic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, nargs="+", default=[3, 20])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--horizon", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1: fastest at this size)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    flags, load_start = print_machine()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cache = demo_cache(tmp)
        for epochs in args.epochs:
            for seed in args.seeds:
                settings = dict(DEMO_FIELD_TRAINING, cache=str(cache), runs_root=str(tmp / "runs"), model="cnn-lstm",
                                epochs=epochs, seed=seed, accelerator="cpu", precision="32-true", progress_bar=False)
                start = time.perf_counter()
                micro = fit("fields", settings)
                temperature = fit("fields", dict(settings, target="temperature"))
                seconds = time.perf_counter() - start
                summary = cascade_summary(micro, temperature, args.horizon)
                temperature_test = json.loads((temperature / "test_results.json").read_text())
                rows.append({"epochs": epochs, "seed": seed, "seconds": seconds, "load_average": os.getloadavg()[0],
                             "temperature_test": temperature_test["metrics"],
                             "temperature_persistence": temperature_test["baselines"]["persistence"], **summary})
                t = temperature_test["metrics"]
                print(f"\n{epochs} epochs, seed {seed} ({seconds:.0f} s for both models, load "
                      f"{os.getloadavg()[0]:.1f}); temperature model on the test split: MAE {t['mae_K']:.1f} K "
                      f"(persistence {temperature_test['baselines']['persistence']['mae_K']:.1f}), melt-pool MAE "
                      f"{t.get('pool_mae_K', float('nan')):.1f} K, band MAE {t.get('band_mae_K', float('nan')):.1f} K, "
                      f"skill {t['skill']:.3f}", flush=True)
                print(format_cascade(summary), flush=True)
    load_end = os.getloadavg()
    print(f"\nload average {load_start[0]:.2f} at start, {load_end[0]:.2f} at end; {now()}")
    out = Path(__file__).parent / "results" / "fields_cascade.json"
    write_json_atomic(out, {"cpu": cpu_model(), "cpu_flags": flags, "torch": torch.__version__,
                            "threads": torch.get_num_threads(), "settings": DEMO_FIELD_TRAINING,
                            "load_average": {"start": load_start, "end": load_end}, "rows": rows})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
