"""Calibrate a held-out synthetic curve twice: with the surrogate and with the simulator itself.

The "observation" is :func:`simrnn.sequence.triaxial.triaxial_response` (the same constitutive
model as ``simrnn sequence synth``) at 0.2 MPa for contact parameters drawn, seeded, from the
middle 60 % of GrainLearning's ranges, so they are (almost surely) not among the training samples.
The same ensemble-MCMC calibration (:mod:`.mcmc_driver`) runs once with the trained surrogate as the
model and once with the synthetic model itself (no model error). The
surrogate's model error is its RMSE against the simulator on fresh tests at the same conditions
(:func:`surrogate_error`). The second
separates what one drained curve can identify from what the surrogate gets wrong: a parameter is
*identifiable* when its simulator-based posterior std is below :data:`IDENTIFIABLE_STD_FRACTION`
of its range.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from simrnn.files import write_text_atomic
from simrnn.sequence.calibration.artefacts import CORNER_FIGURE, CURVES_FIGURE
from simrnn.sequence.calibration.driver import calibrate
from simrnn.sequence.calibration.mcmc import McmcSettings
from simrnn.sequence.predict import load_run

DEMO_PRESSURE_MPA = 0.2
#: A parameter is identifiable when the simulator-based posterior std is below this fraction of its range.
IDENTIFIABLE_STD_FRACTION = 0.1
#: The demo's MCMC settings (both calibrations): sized for a demo of about 90 s, so the chains are
#: usually shorter than the convergence criteria ask (the output says so).
DEMO_SETTINGS = {"walkers": 64, "steps": 300}
#: Fresh synthetic tests (seeded, independent of the truths) that measure the surrogate's error.
ERROR_SAMPLES, ERROR_SEED = 64, 12345


def check_demo_settings(**settings: Any) -> None:
    """One-sentence errors for bad overrides of :data:`DEMO_SETTINGS`, before any work is done."""
    merged = dict(DEMO_SETTINGS, **settings)
    McmcSettings(walkers=merged["walkers"], max_steps=merged["steps"]).validate(num_params=5)


def surrogate_error(run_path: str | Path, fixed: dict[str, float], strain: np.ndarray,
                    obs_names: list[str]) -> dict[str, float]:
    """RMSE per observed label of the surrogate against the simulator at the calibration's own
    conditions: :data:`ERROR_SAMPLES` fresh drained tests at the demo pressure, parameters drawn
    uniformly over GrainLearning's ranges (seeded; none of them is the held-out truth).

    Args:
        fixed: the run's fixed parameters except ``e0`` (taken from each test's own curve).
        strain: the observation's axial strain ``[T]``.
    """
    from simrnn.sequence.calibration.callbacks import surrogate_callback
    from simrnn.sequence.triaxial import CONTACT_PARAM_NAMES, OUTPUT_NAMES, PARAM_RANGES, triaxial_response

    rng = np.random.default_rng(ERROR_SEED)
    params = np.column_stack([rng.uniform(*PARAM_RANGES[n], ERROR_SAMPLES) for n in CONTACT_PARAM_NAMES])
    _, outputs = triaxial_response(params, DEMO_PRESSURE_MPA, "drained", strain)  # [N, T, 7]
    truth = outputs[:, :, [OUTPUT_NAMES.index(n) for n in obs_names]].transpose(0, 2, 1)  # [N, num_obs, T]
    callback = surrogate_callback(run_path, obs_names, "e_z", fixed)
    start = callback.init_inference_step
    names = list(CONTACT_PARAM_NAMES)
    if "e0" in callback.param_names:  # an add_e0 run: each test's own initial void ratio
        params, names = np.column_stack([params, outputs[:, 0, OUTPUT_NAMES.index("e")]]), [*names, "e0"]
    sim = callback.simulate(params, names, strain, truth[0])  # [N, num_obs, T]
    rmse = np.sqrt(np.mean((sim[:, :, start:] - truth[:, :, start:]) ** 2, axis=(0, 2)))
    return dict(zip(obs_names, rmse.tolist(), strict=True))


def heldout_truth(seed: int) -> dict[str, float]:
    """Contact parameters drawn (seeded) from the middle 60 % of GrainLearning's ranges."""
    from simrnn.sequence.triaxial import CONTACT_PARAM_NAMES, PARAM_RANGES

    rng = np.random.default_rng(seed)
    low, high = (np.array([PARAM_RANGES[n][i] for n in CONTACT_PARAM_NAMES]) for i in (0, 1))
    return dict(zip(CONTACT_PARAM_NAMES, (low + (high - low) * rng.uniform(0.2, 0.8, size=len(low))).tolist(),
                    strict=True))


def write_heldout_curve(path: str | Path, contact_params: np.ndarray, sequence_length: int = 200,
                        max_axial_strain: float = 0.2, pressure: float = DEMO_PRESSURE_MPA) -> dict[str, float]:
    """Write the drained response of ``contact_params [5]`` at ``pressure`` (MPa) as an observation table.

    The table has columns ``e_z e p q`` over ``e_z = k * max_axial_strain / sequence_length``.
    Returns the initial void ratio as ``{"e0": value}`` (a parameter column of ``add_e0`` runs).
    """
    from simrnn.sequence.triaxial import OUTPUT_NAMES, triaxial_response

    strain = np.arange(sequence_length) * (max_axial_strain / sequence_length)
    _, outputs = triaxial_response(np.asarray(contact_params)[None], pressure, "drained", strain)
    columns = [strain] + [outputs[0, :, OUTPUT_NAMES.index(n)] for n in ("e", "p", "q")]
    rows = "\n".join(" ".join(f"{v:.10e}" for v in row) for row in np.stack(columns, axis=1))
    write_text_atomic(path, "# e_z e p q\n" + rows + "\n")
    return {"e0": float(outputs[0, 0, OUTPUT_NAMES.index("e")])}


def demo_calibration(run_path: str | Path, workdir: str | Path, seed: int = 0, **settings: Any) -> dict[str, Any]:
    """Calibrate a run trained on synthetic data against a held-out synthetic curve, and the simulator too.

    Args:
        run_path: a drained-capable run trained on ``simrnn sequence synth`` data.
        workdir: the observation file and ``calibration/<timestamp>/`` (two of them) are written here.
        seed: draws the held-out parameters and seeds the resampling.
        settings: :func:`calibrate` keywords overriding :data:`DEMO_SETTINGS`.

    Returns:
        ``truth`` {param: value}; ``surrogate`` and ``simulator``: :attr:`CalibrationResult.posterior`
        per parameter (mean, std, ci90, truth_inside_ci90, ...); ``identifiable`` {param: bool};
        ``stop_reason``/``notes`` of both; ``out_dir``, ``obs_file``, ``figures``, ``timings``.
    """
    from simrnn.sequence.triaxial import CONTACT_PARAM_NAMES, PARAM_RANGES

    workdir = Path(workdir)
    truth = heldout_truth(seed)
    obs_file = workdir / f"heldout_drained_{DEMO_PRESSURE_MPA}MPa_seed{seed}.dat"
    e0 = write_heldout_curve(obs_file, np.array(list(truth.values())))
    run_params = load_run(run_path).meta["param_names"]
    fixed = {k: v for k, v in {"pressure": DEMO_PRESSURE_MPA, "drained": 1.0, **e0}.items() if k in run_params}
    ranges = {n: tuple(PARAM_RANGES[n]) for n in CONTACT_PARAM_NAMES}
    common = dict(DEMO_SETTINGS, **settings, param_ranges=ranges, reference=truth, seed=seed, runs_root=workdir)
    strain = np.loadtxt(obs_file, comments="#")[:, 0]
    model_error = surrogate_error(run_path, {k: v for k, v in fixed.items() if k != "e0"}, strain, ["e", "p", "q"])
    surrogate = calibrate(run_path, obs_file, obs_names=["e", "p", "q"], control="e_z", fixed_params=fixed,
                          model_error=model_error, **common)
    simulator = calibrate("simulator", obs_file, obs_names=["e", "p", "q"], control="e_z",
                          fixed_params={"pressure": DEMO_PRESSURE_MPA}, **common)
    identifiable = {n: simulator.posterior[n]["std_fraction_of_range"] < IDENTIFIABLE_STD_FRACTION for n in ranges}
    return {
        "truth": truth,
        "surrogate": surrogate.posterior,
        "simulator": simulator.posterior,
        "identifiable": identifiable,
        "surrogate_error": model_error,
        "fit": {"surrogate": surrogate.fit, "simulator": simulator.fit},
        "stop_reason": {"surrogate": surrogate.stop_reason, "simulator": simulator.stop_reason},
        "notes": {"surrogate": surrogate.notes, "simulator": simulator.notes},
        "out_dir": {"surrogate": str(surrogate.out_dir), "simulator": str(simulator.out_dir)},
        "obs_file": str(obs_file),
        "figures": [str(r.out_dir / f) for r in (surrogate, simulator) for f in (CURVES_FIGURE, CORNER_FIGURE)
                    if common.get("figures", True)],
        "converged": {"surrogate": surrogate.converged, "simulator": simulator.converged},
        "timings": {"surrogate": surrogate.timings, "simulator": simulator.timings},
    }
