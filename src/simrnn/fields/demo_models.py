"""The field-model part of ``simrnn demo``: train CNN-LSTM and PredRNN briefly, report them next to persistence.

Both models train through the engine (:func:`simrnn.engine.fit`) on the demo's synthetic cache
with small widths and a few epochs (about 8 s per model on 2 idle CPU cores for the 96 x 24 x 16,
24-step demo cache); their BEST checkpoints are scored on the test split, overall and on the cells
that melt and that solidify (:func:`simrnn.fields.metrics.change_categories`). Three epochs are far
from converged: the default gated output with the change-weighted loss has learnt melting by then
(CNN-LSTM melt skill 0.92-0.99, overall 0.13-0.23 over two seeds) but not yet solidification,
which it learns by 20 epochs (skill 0.68; ``benchmarks/fields_solidification.py``, docs/fields.md).

Threads: one PyTorch thread (reproducible numbers; at these sizes 1 thread on a busy 2-core machine
trained 16-22x faster than 2).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

#: the demo's training settings (small and short; everything else is FieldsConfig's default).
DEMO_FIELD_TRAINING = {
    "seq_length": 2,
    "hidden_channels": 8,
    "rnn_layers": 1,
    "encoder_channels": [8, 8, 16],
    "skip": True,
    "batch_size": 32,
    "lr": 0.01,
    "epochs": 3,
    "seed": 0,
    "threads": "1",  # reproducible numbers whatever the load (see simrnn.demo.DEMO_TRAINING)
}
DEMO_FIELD_MODELS = ("cnn-lstm", "predrnn")
#: the temperature surrogate of the cascade (its core; the rest as DEMO_FIELD_TRAINING) and the horizon.
DEMO_TEMPERATURE_MODEL = "cnn-lstm"
DEMO_CASCADE_STEPS = 3
#: the table's columns: overall errors, then the skill on cells that melt, that solidify, and overall.
_SHOWN = ("mse", "ssim", "band_mse", "melt/skill", "solidify/skill", "skill")


def train_field_models(cache: str | Path, runs_root: str | Path, *, epochs: int | None = None,
                       progress_bar: bool = False, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train every demo field model on ``cache`` into ``runs_root/fields/<timestamp>/``; log their test metrics.

    Then trains the temperature surrogate (``--target temperature``) and rolls the CNN-LSTM out
    ``DEMO_CASCADE_STEPS`` steps with the true and with the predicted temperatures (the cascade), and
    logs that table too.

    Returns ``{"runs": {model: run_dir}, "metrics": {model: {...}}, "persistence": {...}, "table": str,
    "temperature_run": run_dir, "cascade": rollout summary, "cascade_table": str}``.
    """
    from simrnn.engine import fit
    from simrnn.runs import TEST_RESULTS_FILE, Run

    settings = dict(DEMO_FIELD_TRAINING, cache=str(cache), runs_root=str(runs_root), progress_bar=progress_bar)
    if epochs is not None:
        settings["epochs"] = epochs
    runs, metrics, baseline = {}, {}, {}
    for model in DEMO_FIELD_MODELS:
        runs[model] = fit("fields", dict(settings, model=model), source="demo settings")
        results = Run(runs[model]).read(TEST_RESULTS_FILE)
        metrics[model] = results["metrics"]
        baseline = results["baselines"]["persistence"]
    rows = [("persistence", baseline), *metrics.items()]
    header = f"{'test split':<12}" + "".join(f"{k:>15}" for k in _SHOWN)
    lines = [header] + [f"{name:<12}" + "".join(f"{m[k]:>15.4g}" if k in m else f"{'-':>15}" for k in _SHOWN)
                        for name, m in rows]
    table = "\n".join(lines)
    log(table)
    temperature_run = fit("fields", dict(settings, model=DEMO_TEMPERATURE_MODEL, target="temperature"),
                          source="demo settings")
    cascade = cascade_summary(runs[DEMO_FIELD_MODELS[0]], temperature_run)
    cascade_table = format_cascade(cascade)
    log(cascade_table)
    return {"runs": runs, "metrics": metrics, "persistence": baseline, "table": table,
            "temperature_run": temperature_run, "cascade": cascade, "cascade_table": cascade_table}


def cascade_summary(run_dir: Path, temperature_dir: Path, steps: int = DEMO_CASCADE_STEPS) -> dict[str, Any]:
    """Roll ``run_dir`` out ``steps`` test steps (at most the split's) with true and with ``temperature_dir``'s
    predicted temperatures."""
    from simrnn.fields.predict import load_fields_run, run_dataset
    from simrnn.fields.rollout import cascade_penalty, max_horizon, rollout

    run, temperature = load_fields_run(run_dir), load_fields_run(temperature_dir)
    dataset = run_dataset(run, "test")
    steps = min(steps, max_horizon(dataset))
    true_T = rollout(run, dataset, steps)
    cascade = rollout(run, dataset, steps, temperature=temperature)
    return {"steps": true_T, "cascade": cascade, "cascade_penalty_percent": cascade_penalty(true_T, cascade)}


def format_cascade(summary: dict[str, Any]) -> str:
    """The cascade as a text table: per horizon, temperature MAE, skills with true and predicted T, penalty."""
    names = ("T MAE K", "held T MAE", "skill true T", "skill pred T", "solid. true T", "solid. pred T", "penalty")
    header = f"{'horizon':<8}" + "".join(f"{n:>14}" for n in names)
    lines = ["cascade (test split; true T vs temperatures predicted by the temperature surrogate):", header]
    for t, c, penalty in zip(summary["steps"], summary["cascade"], summary["cascade_penalty_percent"], strict=True):
        cells = [t.get("skill"), c.get("skill"), t.get("solidify/skill"), c.get("solidify/skill")]
        f = [f"{v:.3f}" if v is not None else "-" for v in cells]
        temperature = [f"{c['temperature']['mae_K']:.1f}", f"{c['temperature']['persistence_mae_K']:.1f}"]
        lines.append(f"{t['horizon']:<8}" + "".join(f"{v:>14}" for v in (*temperature, *f, f"{penalty:+.1f} %")))
    return "\n".join(lines)
