"""Calibrate a held-out synthetic curve twice: with the surrogate and with the simulator itself.

The "observation" is :func:`simrnn.sequence.triaxial.triaxial_response` (the same constitutive
model as ``simrnn sequence synth``) at 0.2 MPa for contact parameters drawn, seeded, from the
middle 60 % of GrainLearning's ranges, so they are (almost surely) not among the training samples.
The same GrainLearning calibration runs once with the trained surrogate as the model and once with
the synthetic model itself (:class:`~.callbacks.SimulatorCallback`, no model error). The second
separates what one drained curve can identify from what the surrogate gets wrong: a parameter is
*identifiable* when its simulator-based posterior std is below :data:`IDENTIFIABLE_STD_FRACTION`
of its range.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from simrnn.files import write_text_atomic
from simrnn.sequence.calibration.artefacts import CURVES_FIGURE, POSTERIORS_FIGURE
from simrnn.sequence.calibration.callbacks import simulator_callback
from simrnn.sequence.calibration.driver import calibrate
from simrnn.sequence.predict import load_run

DEMO_PRESSURE_MPA = 0.2
#: A parameter is identifiable when the simulator-based posterior std is below this fraction of its range.
IDENTIFIABLE_STD_FRACTION = 0.1
#: The demo's GrainLearning settings (both calibrations).
DEMO_SETTINGS = {"samples": 200, "iterations": 30, "gmm_n_init": 1, "max_components": 3}


def heldout_truth(seed: int) -> dict[str, float]:
    """Contact parameters drawn (seeded) from the middle 60 % of GrainLearning's ranges."""
    from simrnn.sequence.triaxial import CONTACT_PARAM_NAMES, PARAM_RANGES

    rng = np.random.default_rng(seed)
    low, high = (np.array([PARAM_RANGES[n][i] for n in CONTACT_PARAM_NAMES]) for i in (0, 1))
    return dict(zip(CONTACT_PARAM_NAMES, (low + (high - low) * rng.uniform(0.2, 0.8, size=len(low))).tolist(),
                    strict=True))


def write_heldout_curve(path: str | Path, contact_params: np.ndarray, sequence_length: int = 200,
                        max_axial_strain: float = 0.2) -> dict[str, float]:
    """Write the drained response of ``contact_params [5]`` at 0.2 MPa as an observation table.

    The table has columns ``e_z e p q`` over ``e_z = k * max_axial_strain / sequence_length``.
    Returns the initial void ratio as ``{"e0": value}`` (a parameter column of ``add_e0`` runs).
    """
    from simrnn.sequence.triaxial import OUTPUT_NAMES, triaxial_response

    strain = np.arange(sequence_length) * (max_axial_strain / sequence_length)
    _, outputs = triaxial_response(np.asarray(contact_params)[None], DEMO_PRESSURE_MPA, "drained", strain)
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
    surrogate = calibrate(run_path, obs_file, obs_names=["e", "p", "q"], control="e_z", fixed_params=fixed,
                          **common)
    simulator = calibrate(simulator_callback(["e", "p", "q"], "e_z", {"pressure": DEMO_PRESSURE_MPA}), obs_file,
                          **common)
    identifiable = {n: simulator.posterior[n]["std_fraction_of_range"] < IDENTIFIABLE_STD_FRACTION for n in ranges}
    return {
        "truth": truth,
        "surrogate": surrogate.posterior,
        "simulator": simulator.posterior,
        "identifiable": identifiable,
        "stop_reason": {"surrogate": surrogate.stop_reason, "simulator": simulator.stop_reason},
        "notes": {"surrogate": surrogate.notes, "simulator": simulator.notes},
        "out_dir": {"surrogate": str(surrogate.out_dir), "simulator": str(simulator.out_dir)},
        "obs_file": str(obs_file),
        "figures": [str(r.out_dir / f) for r in (surrogate, simulator) for f in (CURVES_FIGURE, POSTERIORS_FIGURE)
                    if common.get("figures", True)],
        "timings": {"surrogate": surrogate.timings, "simulator": simulator.timings},
    }
