"""The demo's calibration: recover known parameters from a held-out synthetic drained curve.

The "observation" is :func:`simrnn.sequence.triaxial.triaxial_response` (the same constitutive
model as ``simrnn sequence synth``) at 0.2 MPa for contact parameters drawn, seeded, from the
middle 60 % of GrainLearning's ranges, so they are (almost surely) not among the training samples.
A short GrainLearning calibration with the trained surrogate then estimates them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from simrnn.files import write_text_atomic
from simrnn.sequence.calibration import calibrate
from simrnn.sequence.calibration_io import CURVES_FIGURE, POSTERIORS_FIGURE
from simrnn.sequence.predict import load_run

DEMO_PRESSURE_MPA = 0.2


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


def demo_calibration(run_path: str | Path, workdir: str | Path, seed: int = 0, samples: int = 30,
                     iterations: int = 4) -> dict[str, Any]:
    """Calibrate a run trained on synthetic data against a held-out synthetic curve (< 20 s).

    Args:
        run_path: a drained-capable run trained on ``simrnn sequence synth`` data.
        workdir: the observation file and ``calibration/<timestamp>/`` are written here.
        seed: draws the held-out parameters and seeds the resampling.

    Returns:
        ``truth``, ``most_probable``, ``posterior_mean``, ``posterior_std`` ({param: value}),
        ``errors`` ((most probable - truth) / truth), ``error_fraction_of_range`` ((most probable -
        truth) / range width), ``out_dir``, ``obs_file``, ``figures`` and ``timings``.
    """
    from simrnn.sequence.triaxial import CONTACT_PARAM_NAMES, PARAM_RANGES

    workdir = Path(workdir)
    rng = np.random.default_rng(seed)
    low, high = (np.array([PARAM_RANGES[n][i] for n in CONTACT_PARAM_NAMES]) for i in (0, 1))
    truth = low + (high - low) * rng.uniform(0.2, 0.8, size=len(low))
    obs_file = workdir / f"heldout_drained_{DEMO_PRESSURE_MPA}MPa.dat"
    e0 = write_heldout_curve(obs_file, truth)
    run_params = load_run(run_path).meta["param_names"]
    fixed = {k: v for k, v in {"pressure": DEMO_PRESSURE_MPA, "drained": 1.0, **e0}.items() if k in run_params}
    ranges = {n: tuple(PARAM_RANGES[n]) for n in CONTACT_PARAM_NAMES}
    truth_named = dict(zip(CONTACT_PARAM_NAMES, truth.tolist(), strict=True))
    result = calibrate(run_path, obs_file, param_ranges=ranges, obs_names=["e", "p", "q"], control="e_z",
                       fixed_params=fixed, samples=samples, iterations=iterations, seed=seed, gmm_n_init=1,
                       max_components=2, reference=truth_named, runs_root=workdir)
    return {
        "truth": truth_named,
        "most_probable": result.most_probable,
        "posterior_mean": result.mean,
        "posterior_std": result.std,
        "errors": {n: (result.most_probable[n] - truth_named[n]) / truth_named[n] for n in ranges},
        "error_fraction_of_range": {
            n: (result.most_probable[n] - truth_named[n]) / (ranges[n][1] - ranges[n][0]) for n in ranges
        },
        "out_dir": str(result.out_dir),
        "obs_file": str(obs_file),
        "figures": [str(result.out_dir / CURVES_FIGURE), str(result.out_dir / POSTERIORS_FIGURE)],
        "timings": result.timings,
    }
