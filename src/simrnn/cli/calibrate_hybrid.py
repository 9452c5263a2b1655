"""``simrnn calibrate --simulator NAME --surrogate SURROGATE``: the hybrid loop (:mod:`~.calibration.hybrid`)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from simrnn.cli.output import console
from simrnn.errors import UserInputError

#: the synthetic triaxial simulator's name on the command line (standing in for DEM).
TRIAXIAL = "triaxial"


def load_callable(name: str) -> Callable[[np.ndarray], np.ndarray]:
    """``"package.module:function"`` -> that function ``run(params [N, P]) -> curves [N, T, O]``."""
    module, sep, attr = name.partition(":")
    if not sep or not module or not attr:
        raise UserInputError(f"--simulator {name!r}: expected 'triaxial' or a Python callable as MODULE:FUNCTION.")
    try:
        fn = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise UserInputError(f"--simulator {name!r}: cannot import it ({exc}).") from None
    if not callable(fn):
        raise UserInputError(f"--simulator {name!r} is not callable.")
    return fn


def run_surrogate(run: Path, param_names: list[str], obs_names: list[str], control_names: list[str],
                  control: np.ndarray, observed: np.ndarray, fixed: Mapping[str, float], work_dir: Path):
    """The trained sequence ``run`` as the loop's :class:`~.hybrid_run_surrogate.RunSurrogate`, fine-tuned
    into ``work_dir``; a run with a drained column gets drained = 1 unless ``fixed`` gives it."""
    from simrnn.sequence.calibration.hybrid_run_surrogate import RunSurrogate
    from simrnn.sequence.predict import load_run

    columns = load_run(run).meta["param_names"]
    fixed = {**({"drained": 1.0} if "drained" in columns else {}), **fixed}
    return RunSurrogate(run, param_names, obs_names, control_names, control, observed, fixed, work_dir)


def run_hybrid(simulator: str, surrogate: str, obs: Path, fixed: Mapping[str, float],
               ranges: Mapping[str, tuple[float, float]], obs_names: list[str] | None, control: list[str] | None,
               rounds: int | None, batch: int | None, seed: int, out: Path | None, runs_root: Path) -> None:
    """Build the cached simulator for the observation table ``obs`` and run the loop into ``out``."""
    import torch

    from simrnn.files import new_timestamped_directory
    from simrnn.sequence.calibration.hybrid import (
        ROUND_FILE,
        HybridSettings,
        hybrid_calibrate,
        hybrid_simulator,
    )
    from simrnn.sequence.calibration.observations import read_observation_table

    torch.set_num_threads(1)  # the MLP surrogate is tiny: one thread is the fastest
    table = read_observation_table(obs)
    control = control or table.names[:1]
    names = obs_names or [n for n in table.names if n not in control]
    observed = table.stack(names)
    ctrl = table.stack(control)
    if simulator == TRIAXIAL:
        from simrnn.sequence.calibration.simulator import triaxial_run
        from simrnn.sequence.triaxial import CONTACT_PARAM_NAMES, PARAM_RANGES

        if "pressure" not in fixed:
            raise UserInputError("--simulator triaxial needs the confining pressure: --fixed pressure=VALUE (MPa).")
        ranges = dict(ranges) or {n: PARAM_RANGES[n] for n in CONTACT_PARAM_NAMES if n not in fixed}
        kind = "drained" if fixed.get("drained", 1.0) else "undrained"
        fixed_values = {k: v for k, v in fixed.items() if k != "drained"}
        run = triaxial_run(names, ctrl[-1], fixed_values, list(ranges), kind)
    else:
        if not ranges:
            raise UserInputError("a Python --simulator needs the calibrated parameters: --param NAME=LOW:HIGH.")
        run = load_callable(simulator)
    is_run = (Path(surrogate) / "config.json").is_file()
    if surrogate != "mlp" and not Path(surrogate).is_file() and not is_run:
        raise UserInputError(f"--surrogate {surrogate!r}: expected 'mlp' (a new MLP surrogate), the surrogate.pt "
                             "of an earlier hybrid calibration, or a trained sequence run directory.")
    given = {"max_rounds": rounds, "batch": batch}
    settings = HybridSettings(seed=seed, **{k: v for k, v in given.items() if v is not None})
    settings.validate(len(ranges))
    model = None if surrogate == "mlp" else surrogate
    if is_run:  # built (and checked) before the output directory exists; it fine-tunes into OUT/surrogate
        model = run_surrogate(Path(surrogate), list(ranges), names, control, ctrl, observed, fixed, Path("."))
    if out is None:
        with new_timestamped_directory(Path(runs_root) / "calibration") as created:
            out = created
    elif out.exists() and any(out.iterdir()) and not (out / "round_0" / ROUND_FILE).is_file():
        raise UserInputError(f"--out {out}: exists and is not a hybrid calibration to resume; give a new directory.")
    sim = hybrid_simulator(run, list(ranges), names, ctrl[-1], out, control[-1])

    def report(record: dict) -> None:
        if record["round"] == 0:
            console.print(f"round 0: {record['simulations']} simulations (initial design), surrogate trained")
            return
        values = ", ".join(f"{n} {m:.4g}+-{s:.2g}" for n, m, s in zip(record["param_names"], record["mean"],
                                                                          record["std"], strict=True))
        noise = np.asarray(record["noise_std"], dtype=float)
        error = np.maximum(record["model_error"], record["batch_error"]) / noise
        worst = float(np.nanmax(error)) if np.isfinite(error).any() else float("nan")
        console.print(f"round {record['round']}: {values}; surrogate error {worst:.2g} noise std; "
                      f"{record['simulations']} simulations so far")

    if is_run:
        model.work_dir = out / "surrogate"
    result = hybrid_calibrate(sim, observed, ranges, out, settings, surrogate=model, progress=report)
    console.print(f"{'converged' if result.converged else 'NOT converged'} after {len(result.rounds)} rounds; "
                  f"{result.simulations_this_call} simulations in this call, {result.simulations_total} in all")
    for note in result.notes:
        console.print(f"note: {note}")
    console.print(f"written to {out}")
