"""PredRNN-V2's curriculum for the field models: rollout skill per horizon with and without it.

Trains the demo's models (``simrnn.fields.demo_models`` settings, the default output and loss) on
the demo's synthetic melt pool (96 x 24 x 16 nodes, 24 steps, xz plane) for each curriculum
variant (training horizon x scheduled sampling, ``simrnn.fields.curriculum``) and seed, variants
alternating, then rolls each BEST checkpoint out ``--horizon`` steps from the first test window with
the true temperatures and prints the skill (overall, melting and solidifying cells) per horizon
step. Accuracy is deterministic (seeded, 1 thread); times depend on the load. Writes
``benchmarks/results/fields_curriculum.json``.

    .venv/bin/python benchmarks/fields_curriculum.py [--epochs 20] [--seeds 0 1] [--models cnn-lstm]
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
from simrnn.fields.predict import load_fields_run, run_dataset
from simrnn.fields.rollout import rollout
from simrnn.files import write_json_atomic

#: label -> curriculum settings; the first is the plain many-to-one training.
VARIANTS = {
    "1 frame": {"train_horizon": 1, "sampling": "off"},
    "3 frames, off": {"train_horizon": 3, "sampling": "off"},
    "3 frames, plain": {"train_horizon": 3, "sampling": "plain"},
    "3 frames, reverse": {"train_horizon": 3, "sampling": "reverse"},
}



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--models", nargs="+", default=["cnn-lstm"])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--horizon", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1: fastest at this size)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    flags, load_start = print_machine()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cache = demo_cache(tmp)
        for model in args.models:
            for seed in args.seeds:
                for label in args.variants:
                    settings = dict(DEMO_FIELD_TRAINING, cache=str(cache), runs_root=str(tmp / "runs"), model=model,
                                    epochs=args.epochs, seed=seed, accelerator="cpu", precision="32-true", progress_bar=False,
                                    **VARIANTS[label])
                    start = time.perf_counter()
                    run_dir = fit("fields", settings)
                    seconds = time.perf_counter() - start
                    run = load_fields_run(run_dir)
                    steps = rollout(run, run_dataset(run, "test"), args.horizon)
                    test = json.loads((run_dir / "test_results.json").read_text())["metrics"]
                    rows.append({"model": model, "variant": label, "seed": seed, "seconds": seconds,
                                 "load_average": os.getloadavg()[0], "test": test, "rollout": steps})
                    print(f"  {model} {label} seed {seed}: {seconds:.1f} s, rollout skill "
                          + " / ".join(f"{s['skill']:.3f}" for s in steps), flush=True)
    load_end = os.getloadavg()
    head = f"{'model':<9}{'variant':<19}{'seed':>5}"
    print(f"\n{head}" + "".join(f"{'h' + str(k + 1) + ' ' + name:>16}" for k in range(args.horizon)
                              for name in ("skill", "melt", "solidify")) + f"{'s':>7}{'load':>6}")
    for r in rows:
        cells = [f"{s.get(key, float('nan')):>16.3f}" for s in r["rollout"]
                 for key in ("skill", "melt/skill", "solidify/skill")]
        print(f"{r['model']:<9}{r['variant']:<19}{r['seed']:>5}" + "".join(cells)
              + f"{r['seconds']:>7.1f}{r['load_average']:>6.1f}")
    print(f"load average {load_start[0]:.2f} at start, {load_end[0]:.2f} at end; {now()}")
    out = Path(__file__).parent / "results" / "fields_curriculum.json"
    write_json_atomic(out, {"cpu": cpu_model(), "cpu_flags": flags, "torch": torch.__version__,
                            "threads": torch.get_num_threads(), "settings": DEMO_FIELD_TRAINING,
                            "epochs": args.epochs, "load_average": {"start": load_start, "end": load_end},
                            "rows": rows})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
