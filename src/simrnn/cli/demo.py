"""``simrnn demo``: the main job on built-in synthetic data."""

from __future__ import annotations

from pathlib import Path

import typer

from simrnn.cli.options import settings_command
from simrnn.cli.output import console, exit_on_user_error, key_aliases
from simrnn.demo_settings import DemoSettings


@key_aliases(walkers="calibration_walkers", max_steps="calibration_steps")
@settings_command(DemoSettings)
def demo(*, settings: DemoSettings) -> None:
    """Synthesise data, train and evaluate a sequence surrogate, calibrate it, then train field models."""
    from simrnn.demo import run_demo

    with exit_on_user_error():
        s = run_demo(Path(settings.workdir), samples_per_group=settings.samples_per_group, epochs=settings.epochs,
                     field_epochs=settings.field_epochs, log=console.print, calibration=settings.calibration())
    m = s["prediction"]["metrics"]
    console.rule("simrnn demo: summary")
    console.print(f"data:        {s['data_file']}")
    console.print(f"run:         {s['run_dir']}")
    console.print(f"test MSE:    {m['mse']:.4g} (standardised; predicting the training mean gives {m['baseline_mse']:.4g})")
    console.print("test RMSE:   " + ", ".join(f"{k} {v:.3g}" for k, v in m["rmse_per_label"].items()))
    console.print("figures:")
    for path in (Path(s["run_dir"]) / "training_losses.png", s["prediction"]["figure"],
                 *s["calibration"].get("figures", []), s["fields"].get("figure", "")):
        if path:
            console.print(f"  {path}", soft_wrap=True)
    print_calibration(s["calibration"])
    fields = s["fields"]
    counts = fields["n_samples"]
    console.print(f"fields:      grid {'x'.join(map(str, fields['grid']))}, {fields['n_files']} time steps -> "
                  f"{fields['cache']}; xz plane sequences train/val/test = "
                  f"{counts['train']}/{counts['val']}/{counts['test']}")
    console.print("field models (test split; skill = 1 - MSE / MSE of persistence):")
    for line in s["field_models"]["table"].splitlines():
        console.print(f"  {line}")
    console.print("step times:  " + ", ".join(f"{k} {v:.1f} s" for k, v in s["step_seconds"].items()))
    console.print(f"total time:  {s['seconds']:.1f} s")


def print_calibration(cal: dict) -> None:
    """The demo's calibration: per parameter, the truth, both posteriors and the verdicts."""
    console.print("calibration (posterior mean +- std [90 % interval]; identifiable: simulator std < 10 % of range):")
    for name, truth in cal["truth"].items():
        sur, sim = cal["surrogate"][name], cal["simulator"][name]
        console.print(
            f"  {name:<4} true {truth:<7.4g} surrogate {sur['mean']:.4g} +- {sur['std']:.2g} "
            f"[{sur['ci90'][0]:.4g}, {sur['ci90'][1]:.4g}] {'inside' if sur['truth_inside_ci90'] else 'OUTSIDE'}"
            f" | simulator {sim['mean']:.4g} +- {sim['std']:.2g} [{sim['ci90'][0]:.4g}, {sim['ci90'][1]:.4g}] "
            f"{'inside' if sim['truth_inside_ci90'] else 'OUTSIDE'}, "
            f"{'identifiable' if cal['identifiable'][name] else 'not identifiable'}"
        )
    converged = cal.get("converged", {})
    console.print("  MCMC converged: " + ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in converged.items()))
    for model, notes in cal["notes"].items():
        for note in notes:
            console.print(f"  note ({model}): {note}")


def register(app: typer.Typer) -> None:
    """Add ``demo`` to the top-level command."""
    app.command(name="demo")(demo)
