"""``simrnn fields train | predict | rollout``: train a field surrogate and use a trained run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from simrnn.cli.options import settings_command
from simrnn.cli.output import console
from simrnn.cli.training import add_train_command
from simrnn.fields.predict_settings import FieldPredictSettings, RolloutSettings

_CACHE = typer.Option(help="Field cache to read instead of the run's own (same grid).")


def register(fields_app: typer.Typer) -> None:
    """Add ``train``, ``predict`` and ``rollout`` to the ``simrnn fields`` group."""
    add_train_command(fields_app, "fields", """Train a field surrogate (CNN-LSTM or PredRNN) into runs/fields/<timestamp>/.

    LASERNet's flags keep their meaning (--epochs --batch-size --lr --seq-length --plane --rnn-layers
    --split-ratio --no-preload); every setting can also come from --config. The BEST checkpoint is
    scored on the test split against the persistence baseline (test_results.json).
    """, data_argument="cache")
    fields_app.command("predict")(predict)
    fields_app.command("rollout")(rollout)


@settings_command(FieldPredictSettings)
def predict(
    run: Annotated[Path, typer.Argument(help="A fields run directory.")],
    cache: Annotated[Path | None, _CACHE] = None,
    out: Annotated[Path | None, typer.Option(help="Output directory (default RUN/predictions/<timestamp>).")] = None,
    *, settings: FieldPredictSettings,
) -> None:
    """Predict one sample with RUN's best checkpoint; write a figure, the arrays (.npz) and metrics.json."""
    from simrnn.fields.predict import load_fields_run, predict_to_files

    s = settings
    summary = predict_to_files(load_fields_run(run), s.split, s.timestep, s.slice_index, cache, out)
    m, p = summary["metrics"], summary["persistence"]
    console.print(f"predicted step {summary['target_step']} ({summary['split']}, {summary['plane']} slice "
                  f"{summary['slice_index']}) from steps {', '.join(map(str, summary['context_steps']))}")
    console.print(f"model: MSE {m['mse']:.4g}, SSIM {m['ssim']:.3f}, PSNR {m['psnr']:.1f} dB; "
                  f"persistence: MSE {p['mse']:.4g}, SSIM {p['ssim']:.3f}, PSNR {p['psnr']:.1f} dB")
    console.print("skill (1 - MSE / MSE of persistence): " + ", ".join(
        f"{name} {m[key]:.3f}" for name, key in (("overall", "skill"), ("melting cells", "melt/skill"),
                                                 ("solidifying cells", "solidify/skill")) if key in m))
    console.print(f"written to {summary['out_dir']} (figure: {summary['figure']})")


def cascade_table(summary: dict):
    """Per horizon: temperature MAE, microstructure MSE/skill with predicted vs true T, and the penalty."""
    from rich.table import Table

    table = Table("horizon", "T MAE (K)", "persistence T MAE", "MSE, true T", "MSE, predicted T", "penalty",
                  "skill, true T", "skill, predicted T", "solidify skill, predicted T")
    for true_T, cascade, penalty in zip(summary["steps"], summary["cascade"], summary["cascade_penalty_percent"],
                                        strict=True):
        fmt = lambda r, k: f"{r[k]:.3f}" if k in r else "-"  # noqa: E731
        table.add_row(str(true_T["horizon"]), f"{cascade['temperature']['mae_K']:.1f}",
                      f"{cascade['temperature']['persistence_mae_K']:.1f}", f"{true_T['mse']:.4g}",
                      f"{cascade['mse']:.4g}", f"{penalty:+.1f} %", fmt(true_T, "skill"), fmt(cascade, "skill"),
                      fmt(cascade, "solidify/skill"))
    return table


@settings_command(RolloutSettings)
def rollout(
    run: Annotated[Path, typer.Argument(help="A fields run directory.")],
    cache: Annotated[Path | None, _CACHE] = None,
    out: Annotated[Path | None, typer.Option(help="Output directory (default RUN/rollouts/<timestamp>).")] = None,
    temperature: Annotated[Path | None, typer.Option(
        help="A temperature run (--target temperature): also roll out with its predicted temperatures.")] = None,
    *, settings: RolloutSettings,
) -> None:
    """Autoregressive rollout over every slice with the true temperatures; error per horizon step.

    With --temperature TEMP_RUN the cascade runs too: TEMP_RUN predicts the temperatures from its own
    earlier predictions and RUN reads them; the table then compares predicted with true temperatures.
    """
    from rich.table import Table

    from simrnn.fields.predict import load_fields_run
    from simrnn.fields.rollout import rollout_to_files

    temperature_run = load_fields_run(temperature) if temperature is not None else None
    s = settings
    summary = rollout_to_files(load_fields_run(run), s.horizon, s.split, s.start, cache, out, temperature_run)
    table = Table("horizon", "step", "MSE", "persistence MSE", "skill", "melt skill", "solidify skill", "SSIM",
                  "persistence SSIM")
    for r in summary["steps"]:
        skills = [f"{r[k]:.3f}" if k in r else "-" for k in ("skill", "melt/skill", "solidify/skill")]
        table.add_row(str(r["horizon"]), str(r["target_step"]), f"{r['mse']:.4g}", f"{r['persistence']['mse']:.4g}",
                      *skills, f"{r['ssim']:.3f}", f"{r['persistence']['ssim']:.3f}")
    console.print(f"rollout of {summary['run']} ({summary['split']}, {summary['n_slices']} {summary['plane']} slices):")
    console.print(table)
    if "cascade" in summary:
        console.print(f"cascade with the temperatures of {summary['temperature_run']}:")
        console.print(cascade_table(summary))
    console.print(f"written to {summary['out_dir']} (figures: {summary['figure']}, {summary['frames_figure']})")
