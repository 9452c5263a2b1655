"""``simrnn calibrate``: Bayesian calibration of a surrogate's parameters with GrainLearning."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated

import typer

from simrnn.cli.output import console, exit_on_user_error, key_aliases
from simrnn.errors import UserInputError
from simrnn.sequence.calibration.driver import calibrate as _calibrate_function

#: the library's defaults (written once, in ``calibrate``'s signature), shown and used by the command.
_DEFAULT = {name: p.default for name, p in inspect.signature(_calibrate_function).parameters.items()}


def _split_names(text: str | None) -> list[str] | None:
    return [n.strip() for n in text.split(",") if n.strip()] if text else None


def _number(text: str, option: str, item: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise UserInputError(f"{option} {item!r}: {text!r} is not a number.") from None


def parse_assignments(items: list[str], option: str) -> dict[str, float]:
    """``["pressure=0.2", ...]`` -> ``{"pressure": 0.2}``; one-line errors naming the option."""
    values = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UserInputError(f"{option} {item!r}: expected NAME=VALUE, e.g. pressure=0.2.")
        values[name.strip()] = _number(value, option, item)
    return values


def parse_ranges(items: list[str]) -> dict[str, tuple[float, float]]:
    """``["E=7:10", ...]`` -> ``{"E": (7.0, 10.0)}``; one-line errors naming the bad item."""
    ranges = {}
    for item in items:
        name, sep, bounds = item.partition("=")
        low, colon, high = bounds.partition(":")
        if not sep or not colon or not name.strip():
            raise UserInputError(f"--param {item!r}: expected NAME=LOW:HIGH, e.g. E=7:10.")
        ranges[name.strip()] = (_number(low, "--param", item), _number(high, "--param", item))
    return ranges


def parse_observations(items: list[str]) -> list[tuple[Path, dict[str, float]]]:
    """``["a.dat@pressure=0.2,drained=1", "b.dat"]`` -> ``[(Path("a.dat"), {"pressure": 0.2, ...}), ...]``."""
    observations = []
    for item in items:
        path, sep, conditions = item.rpartition("@") if "@" in item else (item, "", "")
        fixed = parse_assignments([c for c in conditions.split(",") if c.strip()], f"--obs {item}") if sep else {}
        if sep and not fixed:
            raise UserInputError(f"--obs {item!r}: expected FILE@NAME=VALUE[,NAME=VALUE...] after the '@'.")
        observations.append((Path(path), fixed))
    return observations


def print_posterior(posterior: dict[str, dict]) -> None:
    """One line per parameter: posterior mean +- std, 90 % interval, most probable, truth if known."""
    console.print("parameter: posterior mean +- std [90 % credible interval] (most probable)")
    for name, p in posterior.items():
        truth = ""
        if "truth" in p:
            truth = f"; truth {p['truth']:.5g} {'inside' if p['truth_inside_ci90'] else 'OUTSIDE'}"
        console.print(f"  {name}: {p['mean']:.5g} +- {p['std']:.2g} [{p['ci90'][0]:.5g}, {p['ci90'][1]:.5g}] "
                      f"({p['most_probable']:.5g}){truth}")


def _report_iteration(stats) -> None:
    values = ", ".join(f"{n} {m:.4g}+-{s:.2g}" for n, m, s in zip(stats.param_names, stats.mean, stats.std,
                                                                      strict=True))
    console.print(f"iteration {stats.iteration}: sigma {stats.sigma:.3g}, ESS {stats.ess:.2f}; {values}")


def _report_mcmc(diag: dict, samples) -> None:
    values = ", ".join(f"{n} {m:.4g}+-{s:.2g}" for n, m, s in zip(diag["param_names"], samples.mean(0),
                                                                      samples.std(0), strict=True))
    console.print(f"step {diag['steps']}: {values}; tau max {max(diag['tau']):.0f}, ESS min {min(diag['ess']):.0f}, "
                  f"R-hat max {max(diag['rhat']):.3f}")


@key_aliases(max_steps="steps", ess_target="ess", fixed_params="fixed", param_ranges="param", max_rounds="rounds")
def calibrate(
    run: Annotated[str | None, typer.Argument(help=(
        "A sequence run directory (trained or imported), or 'simulator'; not with --simulator."))] = None,
    obs: Annotated[list[str] | None, typer.Option("--obs", help=(
        "Observation table ('# name ...' header, one row per step), optionally FILE@NAME=VALUE,... with that "
        "curve's own fixed conditions, e.g. drained_05.dat@pressure=0.5 (repeat: one joint posterior). Required."))] = None,
    param: Annotated[list[str] | None, typer.Option("--param", help=(
        "NAME=LOW:HIGH to calibrate (repeat); default: GrainLearning's ranges E=7:10 v=0:0.5 kr=0:1 "
        "eta=0:1 mu=0:60 for the run's contact parameters that are not --fixed."))] = None,
    sampler: Annotated[str, typer.Option(help="emcee (ensemble MCMC) or grainlearning (iterative filter, one --obs).")]
    = _DEFAULT["sampler"],
    obs_names: Annotated[str | None, typer.Option(
        "--obs-names", help="Comma-separated observed columns to fit (default: all but the control).")] = None,
    control: Annotated[str | None, typer.Option(
        help="Comma-separated control column(s), one per model input (default: the first column).")] = None,
    fixed: Annotated[list[str] | None, typer.Option(
        "--fixed", help="NAME=VALUE for a parameter that is not calibrated, for every --obs (repeat).")] = None,
    walkers: Annotated[int | None, typer.Option(help="MCMC walkers (default 128).")] = None,
    steps: Annotated[int | None, typer.Option(help="MCMC maximum steps, stops earlier once converged (default 2000).")]
    = None,
    move: Annotated[str | None, typer.Option(help="MCMC proposal: de (differential evolution, default) or stretch.")]
    = None,
    points_per_curve: Annotated[float | None, typer.Option(help=(
        "Effective number of independent points per observed curve (AR(1) residual correlation; default 10)."))]
    = None,
    resume: Annotated[Path | None, typer.Option(help="A previous MCMC calibration directory whose chain to extend.")]
    = None,
    samples: Annotated[int, typer.Option(help="GrainLearning: samples per iteration.")] = _DEFAULT["samples"],
    iterations: Annotated[int, typer.Option(help=(
        "GrainLearning: maximum iterations until sigma reaches 1 (then 3 more at sigma = 1)."))] = _DEFAULT["iterations"],
    ess: Annotated[float, typer.Option(help="GrainLearning: target effective sample size (fraction).")]
    = _DEFAULT["ess_target"],
    seed: Annotated[int, typer.Option(help="Random seed of the sampler.")] = _DEFAULT["seed"],
    gmm_n_init: Annotated[int, typer.Option(help="GrainLearning: mixture fits per iteration, best kept.")]
    = _DEFAULT["gmm_n_init"],
    max_components: Annotated[int, typer.Option(help="GrainLearning: maximum Gaussian-mixture components.")]
    = _DEFAULT["max_components"],
    prior_weight: Annotated[float | None, typer.Option(
        help="GrainLearning: Dirichlet weight-concentration prior (default: 1/max-components).")] = None,
    noise: Annotated[float | None, typer.Option(help=(
        "Observation noise std as a fraction of each observed curve's range (default 0.01)."))] = None,
    model_error: Annotated[list[str] | None, typer.Option("--model-error", help=(
        "LABEL=RMSE error of the model for an observed curve, physical units (repeat; default: the "
        "run's test RMSE from test_results.json)."))] = None,
    precision: Annotated[str, typer.Option(help="Surrogate prediction precision: fp32 (exact) or bf16.")] = _DEFAULT["precision"],
    reference: Annotated[list[str] | None, typer.Option(
        help="NAME=VALUE known parameter value (synthetic tests), compared in the outputs (repeat).")] = None,
    figures: Annotated[bool, typer.Option(help="Draw the figures (corner.png, curves.png).")] = _DEFAULT["figures"],
    out: Annotated[Path | None, typer.Option(help="New output directory (default: runs/calibration/<timestamp>).")] = None,
    runs_root: Annotated[Path, typer.Option(help="Where runs/calibration/<timestamp> is created.")] = Path("runs"),
    simulator: Annotated[str | None, typer.Option(help=(
        "Hybrid mode: the simulator in the loop, 'triaxial' (synthetic) or a Python MODULE:FUNCTION "
        "run(params [N, P]) -> curves [N, T, O]; --out of an unfinished loop resumes it."))] = None,
    surrogate: Annotated[str, typer.Option(help=(
        "Hybrid mode: 'mlp' (a new MLP surrogate), an earlier loop's surrogate.pt to warm-start, or a "
        "trained sequence RUN directory to fine-tune round after round."))] = "mlp",
    rounds: Annotated[int | None, typer.Option(help="Hybrid mode: maximum rounds (default 10).")] = None,
    batch: Annotated[int | None, typer.Option(help="Hybrid mode: simulations per round (default 4).")] = None,
) -> None:
    """Calibrate a model's parameters against observed curves: ensemble MCMC (emcee) or GrainLearning's filter.

    Example (GrainLearning's tutorial, then two confining pressures with the synthetic simulator):
    simrnn calibrate RUN --obs experimental_test_drained_s3=0.2.dat --fixed pressure=0.2;
    simrnn calibrate simulator --obs a.dat@pressure=0.2 --obs b.dat@pressure=0.5 --control e_z
    """
    from simrnn.sequence.calibration import calibrate as run_calibration

    with exit_on_user_error():  # exits 2 under simrnn.cli.main and CliRunner alike
        if not obs:
            raise UserInputError("give at least one observation file: --obs FILE.")
        if simulator is not None or run is None:
            from simrnn.cli.calibrate_hybrid import run_hybrid

            if simulator is None or run is not None or len(obs) != 1:
                raise UserInputError("give a RUN, or --simulator NAME (hybrid mode, one --obs FILE) without a RUN.")
            return run_hybrid(simulator, surrogate, Path(obs[0]), parse_assignments(fixed or [], "--fixed"),
                              parse_ranges(param or []), _split_names(obs_names), _split_names(control), rounds,
                              batch, seed, out, runs_root)
        errors = parse_assignments(model_error or [], "--model-error")
        observations = parse_observations(obs)
        ranges = parse_ranges(param or [])
        if sampler == "grainlearning":
            if len(observations) != 1 or observations[0][1]:
                raise UserInputError("--sampler grainlearning calibrates against one --obs FILE (fixed values with "
                                     "--fixed); several curves need --sampler emcee.")
            obs_arg, report = observations[0][0], _report_iteration
        else:
            obs_arg, report = observations, _report_mcmc
        result = run_calibration(
            run, obs_arg, sampler=sampler, param_ranges=ranges, obs_names=_split_names(obs_names),
            control=_split_names(control), fixed_params=parse_assignments(fixed or [], "--fixed"),
            samples=samples, iterations=iterations, ess_target=ess, seed=seed, gmm_n_init=gmm_n_init,
            max_components=max_components, prior_weight=prior_weight, noise=noise,
            model_error=errors if model_error else None, precision=precision,
            reference=parse_assignments(reference or [], "--reference"), out_dir=out, runs_root=runs_root,
            figures=figures, progress=report, walkers=walkers, steps=steps, move=move,
            points_per_curve=points_per_curve, resume=resume,
        )
    print_posterior(result.posterior)
    for note in result.notes:
        console.print(f"note: {note}")
    t = result.timings
    if sampler == "grainlearning":
        console.print(
            f"{len(result.iterations)} iterations in {t['wall_seconds']:.1f} s: surrogate {t['surrogate_seconds']:.2f} s "
            f"({100 * t['surrogate_fraction']:.1f} %), GrainLearning {t['grainlearning_seconds']:.1f} s"
        )
    else:
        d = result.diagnostics
        console.print(f"{d['steps']} steps x {result.samples.shape[0] // max(d['steps'] - d['burn_in'], 1)} walkers "
                      f"({t['evaluations']} model evaluations) in {t['wall_seconds']:.1f} s, model "
                      f"{100 * t['model_fraction']:.0f} %; converged: {'yes' if result.converged else 'NO'}")
    console.print(f"written to {result.out_dir}")


def register(app: typer.Typer) -> None:
    """Add ``simrnn calibrate`` to the top-level command."""
    app.command("calibrate")(calibrate)
