"""Which output form and loss learn solidification: change-aware test scores per candidate and seed.

Trains CNN-LSTM (``--models`` for more) with the demo settings (``simrnn.fields.demo_models``) on
the demo's synthetic melt pool (96 x 24 x 16 nodes, 24 steps, xz plane) for each candidate
(output form x loss), each seed and each epoch count, candidates alternating (A/B/A/B) inside
each seed, and scores the BEST checkpoints on the test split. Prints, per run, the MSE of the
cells that melt and that solidify (see ``simrnn.fields.metrics.change_categories``), their skills
and the overall skill, next to persistence; writes ``benchmarks/results/fields_solidification.json``.
fp32 throughout (the docs tables were measured so). Accuracy is deterministic (seeded, 1 thread); times depend on the load.

    .venv/bin/python benchmarks/fields_solidification.py [--epochs 3 20] [--seeds 0 1]
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
from simrnn.files import write_json_atomic

#: label -> setting overrides (output form, loss); the first is the pre-issue-15 default.
CANDIDATES = {
    "logit, mse": {"output": "logit", "loss": "mse"},
    "logit, change": {"output": "logit", "loss": "change"},
    "gated, mse": {"output": "gated", "loss": "mse"},
    "gated, change": {"output": "gated", "loss": "change"},
    "direct, mse": {"output": "direct", "loss": "mse"},
}
COLUMNS = ("melt/mse", "solidify/mse", "melt/skill", "solidify/skill", "skill", "mse")


def fmt(metrics: dict, key: str) -> str:
    return f"{metrics[key]:>15.4g}" if key in metrics else f"{'-':>15}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, nargs="+", default=[3, 20])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--models", nargs="+", default=["cnn-lstm"])
    parser.add_argument("--candidates", nargs="+", default=list(CANDIDATES), choices=list(CANDIDATES))
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1: fastest at this size)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    flags, load_start = print_machine()
    rows, persistence = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cache = demo_cache(tmp)
        for epochs in args.epochs:
            for model in args.models:
                for seed in args.seeds:
                    for label in args.candidates:
                        settings = dict(DEMO_FIELD_TRAINING, cache=str(cache), runs_root=str(tmp / "runs"),
                                        model=model, epochs=epochs, seed=seed, accelerator="cpu", precision="32-true", progress_bar=False,
                                        **CANDIDATES[label])
                        start = time.perf_counter()
                        run = fit("fields", settings)
                        seconds = time.perf_counter() - start
                        results = json.loads((run / "test_results.json").read_text())
                        persistence = results["baselines"]["persistence"]
                        row = {"model": model, "candidate": label, "epochs": epochs, "seed": seed, "seconds": seconds,
                               "load_average": os.getloadavg()[0], "metrics": results["metrics"],
                               "band_K": results["details"]["solidification_band_K"] if "details" in results else None}
                        rows.append(row)
                        m = row["metrics"]
                        print(f"  {model} {label} {epochs} ep seed {seed}: {seconds:.1f} s, melt mse {m['melt/mse']:.4g}, "
                              f"solidify mse {m['solidify/mse']:.4g}, skill {m['skill']:.3f}", flush=True)
    load_end = os.getloadavg()
    print(f"\n{'model':<9}{'candidate':<15}{'epochs':>6}{'seed':>5}" + "".join(f"{k:>15}" for k in COLUMNS)
          + f"{'s':>7}{'load':>6}")
    print(f"{'persistence':<35}" + "".join(fmt(persistence, k) for k in COLUMNS))
    for row in rows:
        print(f"{row['model']:<9}{row['candidate']:<15}{row['epochs']:>6}{row['seed']:>5}"
              + "".join(fmt(row["metrics"], k) for k in COLUMNS) + f"{row['seconds']:>7.1f}{row['load_average']:>6.1f}")
    print(f"load average {load_start[0]:.2f} at start, {load_end[0]:.2f} at end; "
          f"{now()}")
    out = Path(__file__).parent / "results" / "fields_solidification.json"
    write_json_atomic(out, {"cpu": cpu_model(), "cpu_flags": flags, "torch": torch.__version__,
                            "threads": torch.get_num_threads(), "settings": DEMO_FIELD_TRAINING,
                            "load_average": {"start": load_start, "end": load_end},
                            "persistence": persistence, "rows": rows})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
