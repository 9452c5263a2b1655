"""GrainLearning's own TensorFlow prediction against ``simrnn.sequence.predict``, same model and inputs.

    .venv/bin/python benchmarks/grainlearning_tf.py [--rounds 5]

Not part of CI. On first use it builds a scratch virtual environment ``benchmarks/.venv-tf``
(git-ignored) with tensorflow-cpu 2.15.1, grainlearning 2.0.5 and its ``rnn`` extra's wandb 0.13
from the package index (about 600 MB), then starts a worker in it. The shipped drained model's ``train_stats.npy`` uses the old
key names ``num_load_features`` / ``num_contact_params``; the worker loads a copy renamed to
``num_input_features`` / ``num_params`` (tests/data/grainlearning/README.md), otherwise
GrainLearning 2.0.5 fails with KeyError.

For N = 50 and 500 sequences of 200 steps (the inputs of ``benchmarks/sequence.py``):
GrainLearning's ``predict_batch`` (one Keras call per window position, batch = all N sequences,
un-standardised) in the worker, and ``simrnn.sequence.predict`` here, alternating one call each
per round after a warm call; median and best. Both sides' predictions are compared (GrainLearning
predicts S - W steps, simrnn S - W + 1). Prints a table with CPU and load average and writes
``benchmarks/results/grainlearning_tf.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
VENV = HERE / ".venv-tf"
RESULTS = HERE / "results" / "grainlearning_tf.json"
PACKAGES = ("tensorflow-cpu==2.15.1", "grainlearning==2.0.5", "wandb>=0.13.4,<0.14", "h5py", "pyyaml")

#: Runs inside the TensorFlow venv: loads the model, then answers "N" lines with "seconds" lines.
WORKER = r'''
import sys, time
import numpy as np
import tensorflow as tf
from grainlearning.rnn.predict import get_pretrained_model, predict_batch

model, train_stats, config = get_pretrained_model(sys.argv[1])
batch = np.load(sys.argv[2])
print("ready", tf.__version__, flush=True)
for line in sys.stdin:
    n = int(line)
    x, p = batch[f"inputs_{n}"], batch[f"params_{n}"]
    start = time.perf_counter()
    data = tf.data.Dataset.from_tensor_slices(({"inputs": x, "params": p}, np.zeros((n, x.shape[1], 7), np.float32)))
    pred = predict_batch(model, data, train_stats, config, batch_size=n).numpy()
    seconds = time.perf_counter() - start
    np.save(sys.argv[3] + f"/tf_{n}.npy", pred)
    print(seconds, flush=True)
'''


def ensure_venv() -> Path:
    """The venv's python, building the venv first if it is missing."""
    python = VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    if subprocess.run([str(python), "-c", "import tensorflow, grainlearning.rnn.predict"], capture_output=True).returncode:
        print(f"installing {', '.join(PACKAGES)} into {VENV} ...", flush=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PACKAGES], check=True)
    return python


def renamed_model_folder(src: Path, dst: Path) -> Path:
    """A copy of a shipped model folder whose train_stats use GrainLearning 2.0.5's key names."""
    from simrnn.sequence.keras_import import load_pickled_dict

    dst.mkdir(parents=True)
    for name in ("config.yml", "model-best.h5"):
        shutil.copyfile(src / name, dst / name)
    stats = load_pickled_dict(src / "train_stats.npy")
    for old, new in (("num_load_features", "num_input_features"), ("num_contact_params", "num_params")):
        if old in stats:
            stats[new] = stats.pop(old)
    np.save(dst / "train_stats.npy", np.array(stats, dtype=object), allow_pickle=True)
    return dst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    import torch

    from simrnn.cpu import cpu_flags, cpu_model
    from simrnn.sequence import import_keras, load_run, predict

    sys.path.insert(0, str(HERE))
    from sequence import MODEL_DIR, drained_batch

    python = ensure_venv()
    sizes = (50, 500)
    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpu": cpu_model(), "flags": cpu_flags(),
              "torch_threads": torch.get_num_threads(), "load_average_at_start": list(os.getloadavg()),
              "packages": list(PACKAGES), "rows": []}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        batches = {n: drained_batch(n) for n in sizes}
        np.savez(tmp / "batch.npz", **{f"inputs_{n}": b[0] for n, b in batches.items()},
                 **{f"params_{n}": b[1] for n, b in batches.items()})
        worker = subprocess.Popen(
            [str(python), "-c", WORKER, str(renamed_model_folder(MODEL_DIR, tmp / "gl_model")), str(tmp / "batch.npz"),
             str(tmp)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "WANDB_MODE": "disabled"})
        try:
            result["tensorflow"] = worker.stdout.readline().split()[-1]

            def tf_seconds(n: int) -> float:
                worker.stdin.write(f"{n}\n")
                worker.stdin.flush()
                return float(worker.stdout.readline())

            run = load_run(import_keras(MODEL_DIR, out=tmp / "simrnn_drained"))
            for n in sizes:
                inputs, params = batches[n]
                tf_seconds(n)
                predict(run, inputs, params)  # warm calls
                times = {"GrainLearning 2.0.5 (TensorFlow)": [], "simrnn predict": []}
                for _ in range(args.rounds):
                    times["GrainLearning 2.0.5 (TensorFlow)"].append(tf_seconds(n))
                    start = time.perf_counter()
                    ours = predict(run, inputs, params)
                    times["simrnn predict"].append(time.perf_counter() - start)
                theirs = np.load(tmp / f"tf_{n}.npy")
                diff = np.abs(ours[:, : theirs.shape[1]] - theirs) / np.asarray(run.meta["output_std"], np.float32)
                row = {"n_sequences": n, "steps": inputs.shape[1], "max_diff_over_std": float(diff.max()),
                       "load_average": list(os.getloadavg())}
                for name, t in times.items():
                    row[name] = {"median_s": float(np.median(t)), "best_s": float(np.min(t))}
                row["speedup_median"] = (row["GrainLearning 2.0.5 (TensorFlow)"]["median_s"]
                                         / row["simrnn predict"]["median_s"])
                result["rows"].append(row)
        finally:
            worker.stdin.close()
            worker.wait(timeout=60)
    result["load_average_at_end"] = list(os.getloadavg())
    print(f"{result['date']}  CPU: {result['cpu']}, torch threads {result['torch_threads']}, "
          f"TensorFlow {result['tensorflow']}, load average at start "
          f"{' '.join(f'{v:.2f}' for v in result['load_average_at_start'])}")
    print(f"{'drained model, 200 steps':34s} {'N':>4s} {'median s':>9s} {'best s':>8s}")
    for row in result["rows"]:
        for name in ("GrainLearning 2.0.5 (TensorFlow)", "simrnn predict"):
            print(f"  {name:32s} {row['n_sequences']:4d} {row[name]['median_s']:9.3f} {row[name]['best_s']:8.3f}")
        print(f"  simrnn {row['speedup_median']:.1f}x faster (medians); predictions agree to "
              f"{row['max_diff_over_std']:.1e} x std; load average {row['load_average'][0]:.2f}")
    print(f"load average at end: {' '.join(f'{v:.2f}' for v in result['load_average_at_end'])}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written {RESULTS}")


if __name__ == "__main__":
    main()
