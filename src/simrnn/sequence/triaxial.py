r"""Synthetic triaxial compression: a small critical-state model in place of DEM simulations.

The model turns GrainLearning's five contact parameters into the seven macroscopic responses of a
YADE triaxial test, smoothly and identifiably, so that surrogates and calibrations can be built and
tested without DEM code. It is a state-parameter sand model in the spirit of Li & Dafalias (2000)
and Manzari & Dafalias (1997), integrated along a strain-controlled path.

**Contact parameters -> material constants** (columns of ``contact_params [N, 5]``):

- ``E`` log10 of the contact Young's modulus :math:`E_c` [Pa] (7-10); ``v`` the contact stiffness
  ratio :math:`\alpha = k_s/k_n` (0-0.5); ``kr`` rolling stiffness (0-1); ``eta`` rolling friction
  (0-1); ``mu`` sliding friction angle in degrees (0-60), :math:`\mu_c = \tan(\mu)`.
- Mobilised rolling resistance :math:`m_r = \eta\,(1 - e^{-k_r/0.2})` (no rolling stiffness, no
  rolling resistance); friction saturation :math:`f_\mu = 1 - e^{-\mu_c/0.3}`.
- Critical-state friction angle (frictionless spheres ~6 deg, Peyneau & Roux 2008; rolling resistance
  raises it, Estrada et al. 2008): :math:`\sin\phi_{cs} = \sin 6^\circ + (\sin(26^\circ + 20^\circ m_r) -
  \sin 6^\circ) f_\mu`, :math:`M = 6\sin\phi_{cs} / (3 - \sin\phi_{cs})`.
- Elasticity (Hertzian effective medium, Goddard 1990; Poisson ratio from :math:`\alpha`, Bathurst &
  Rothenburg 1988): :math:`G = \frac{2 + 3\alpha}{2.9}(1 + 0.3 k_r) E_c^{2/3} p^{1/3}`,
  :math:`\nu = (1 - \alpha)/(4 + \alpha)`, :math:`K = 2G(1+\nu)/(3(1-2\nu))`.
- Critical state line (Li & Wang 1998, plus contact compliance):
  :math:`e_{cs}(p) = e_\Gamma - 0.01 (p/p_a)^{0.7} - 0.4 (1+e_\Gamma)(p/E_c)^{2/3}`, with
  :math:`e_\Gamma = 0.64 + 0.30 f_\mu + 0.08 m_r`, :math:`p_a = 101.325` kPa.
- Initial void ratio after isotropic compression to :math:`p_0`:
  :math:`e_0 = e_p - 0.25 (1+e_p)(p_0/E_c)^{2/3}`, :math:`e_p = 0.66 + 0.14 f_\mu + 0.03 m_r`; so
  frictional samples start dense of critical (:math:`\psi_0 < 0`: peak and dilation) and nearly
  frictionless, soft or highly confined ones start loose (:math:`\psi_0 > 0`: contraction).

**Constitutive law** with stress ratio :math:`\eta = q/p`, state parameter
:math:`\psi = e - e_{cs}(p)` (Been & Jefferies 1985):

- peak and dilatancy stress ratios :math:`M_b = \min(M e^{-2\psi}, 2.4)`, :math:`M_d = M e^{2\psi}`
  (:math:`\psi` clipped to +-0.5);
- Rowe/Nova-type stress-dilatancy :math:`d\varepsilon_v^p = D\, d\varepsilon_q^p`,
  :math:`D = 0.8 (M_d - \eta)` (positive: contraction);
- hyperbolic hardening :math:`d\eta = h (M_b - \eta)/\eta \; d\varepsilon_q^p` with
  :math:`h = 3 (1 + 1.5 k_r) \sqrt{G/p}`, at most half the elastic stiffness (plastic flow
  vanishes at :math:`\eta = 0` and ends at the peak; as :math:`\psi \to 0` the peak falls to
  :math:`M` and the sample softens to critical state);
- shear strain :math:`d\varepsilon_q = a\, d\eta + d\varepsilon_q^p` with the elastic compliance
  :math:`a = dq/d\eta / (3G)`; each step solves this implicitly (backward Euler gives a quadratic
  whose positive root is the new :math:`\eta`, stable for any stiffness).

**Paths** (strains are fractions, compression positive; :math:`\varepsilon_q = \frac23(\varepsilon_z -
\varepsilon_x)`, :math:`\varepsilon_v = \varepsilon_z + 2\varepsilon_x`):

- drained: confining stress constant, so :math:`p = 3p_0/(3 - \eta)`;
  :math:`d\varepsilon_v = dp/K + D\, d\varepsilon_q^p`, :math:`de = -(1+e)\, d\varepsilon_v`,
  :math:`d\varepsilon_z = d\varepsilon_q + d\varepsilon_v/3`; input ``[e_z]``.
- undrained (constant volume): :math:`e_x = e_y = -e_z/2`, :math:`\varepsilon_q = \varepsilon_z`,
  :math:`e = e_0`; the elastic volume change cancels the plastic one:
  :math:`dp = -K D\, d\varepsilon_q^p` (stepped implicitly in :math:`\ln p`; a liquefied sample keeps
  1 kPa); inputs ``[e_x, e_y, e_z]``.

**Outputs** ``[e, p, q, f0, a_c, a_n, a_t]``: void ratio; p, q in MPa; mean normal contact force
:math:`f_0 = \pi p d^2 (1+e)/Z` [N] (Rothenburg & Bathurst 1989) with grain diameter
:math:`d = 3` mm and coordination :math:`Z = \mathrm{clip}(4 + 5(0.9 - e), 3.5, 7)`; the
anisotropies obey the stress-force-fabric relation :math:`q/p = \frac25(a_c + a_n + \frac32 a_t)`
(Ouadfel & Rothenburg 2001): the tangential share :math:`a_t = \frac{2.5}{1.5} w_t \eta` with
:math:`w_t = 0.08 + 0.22\,\mu_c/(1+\mu_c)` follows the stress at once, the fabric
:math:`a_c` relaxes towards :math:`2.5 (0.3 + 0.1 m_r)\eta` over a shear strain of 0.02 (fabric lags
forces), and :math:`a_n` carries the rest.

Example::

    data = generate_triaxial(100, seed=0)          # {("0.2e6", "drained"): {...}, ...}
    inputs, outputs = triaxial_response(np.array([[8.0, 0.3, 0.5, 0.3, 30.0]]), 0.2, "drained",
                                        np.arange(200) * 0.001)
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

from simrnn.config import setting
from simrnn.errors import UserInputError
from simrnn.sequence.hdf5 import MAX_ABS_VALUE, check_new_file, pressure_group_name, write_triaxial_hdf5

CONTACT_PARAM_NAMES = ["E", "v", "kr", "eta", "mu"]
PARAM_RANGES = {"E": (7.0, 10.0), "v": (0.0, 0.5), "kr": (0.0, 1.0), "eta": (0.0, 1.0), "mu": (0.0, 60.0)}
"""GrainLearning's ranges of the contact parameters (E in log10 Pa, mu in degrees)."""
INPUT_NAMES = {"drained": ["e_z"], "undrained": ["e_x", "e_y", "e_z"]}
OUTPUT_NAMES = ["e", "p", "q", "f0", "a_c", "a_n", "a_t"]

_P_ATM = 101_325.0
_N_PEAK, _N_DILATANCY, _A_DILATANCY = 2.0, 2.0, 0.8
_MAX_STRESS_RATIO = 2.4
_MIN_PRESSURE = 1e3  # Pa: a liquefied sample keeps a trace of effective stress
_GRAIN_DIAMETER = 3e-3
#: most sequences per group, and most steps per sequence, one call may generate.
MAX_SAMPLES = 1_000_000


def triaxial_response(contact_params: np.ndarray, pressure_mpa: float, experiment_type: str,
                      axial_strain: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Response of N samples to a monotonic axial-strain path (see the module docstring).

    Args:
        contact_params: ``[N, 5]`` E (log10 Pa), v, kr, eta, mu (degrees), within :data:`PARAM_RANGES`.
        pressure_mpa: confining pressure in MPa (the initial isotropic stress).
        experiment_type: ``'drained'`` or ``'undrained'``.
        axial_strain: ``[S]`` axial strain e_z (fraction, compression positive), non-decreasing.

    Returns:
        ``inputs [N, S, F]`` float32 (drained ``[e_z]``, undrained ``[e_x, e_y, e_z]``) and
        ``outputs [N, S, 7]`` float32 ``[e, p (MPa), q (MPa), f0 (N), a_c, a_n, a_t]``.
    """
    params = _check_params(contact_params)
    if experiment_type not in INPUT_NAMES:
        raise UserInputError(f"experiment_type '{experiment_type}' is unknown; expected 'drained' or 'undrained'.")
    if not pressure_mpa > 0:
        raise UserInputError(f"pressure_mpa={pressure_mpa} must be positive (confining pressure in MPa).")
    strain = np.asarray(axial_strain, dtype=np.float64)
    if strain.ndim != 1 or strain.size == 0 or np.any(np.diff(strain) < 0):
        raise UserInputError("axial_strain must be a non-empty, non-decreasing 1-D array [S].")
    outputs = _integrate(_material(params, pressure_mpa * 1e6), pressure_mpa * 1e6,
                         experiment_type == "drained", strain)
    n = params.shape[0]
    e_z = np.broadcast_to(strain, (n, strain.size))
    columns = [e_z] if experiment_type == "drained" else [-e_z / 2, -e_z / 2, e_z]
    return np.stack(columns, axis=-1).astype(np.float32), outputs.astype(np.float32)


@dataclasses.dataclass(frozen=True)
class SynthSettings:
    """A synthetic data set's settings (defaults written once, here; ``simrnn sequence synth`` options)."""

    samples_per_group: int = setting(100, "Sequences per (pressure, experiment type) group.")
    sequence_length: int = setting(200, "Steps per sequence.")
    pressures: tuple[float, ...] = setting((0.2e6, 0.5e6, 1.0e6), "Confining pressures in Pa.")
    experiment_types: tuple[str, ...] = setting(("drained", "undrained"), "Any of drained, undrained.")
    seed: int = setting(0, "Seed of the contact-parameter draws.")
    max_axial_strain: float = setting(0.2, "Axial strain range of the load path, in (0, 1].")

    def validate(self, source: str = "synth") -> None:
        """One :class:`UserInputError` naming the first impossible setting (its key in ``.key``)."""
        for key, low, high in (("samples_per_group", 1, MAX_SAMPLES), ("sequence_length", 2, MAX_SAMPLES)):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise UserInputError(f"{source}: {key} {value!r}: expected an integer from {low} to {high}.", key=key)
        pressures = tuple(self.pressures)
        if not pressures or not all(isinstance(p, (int, float)) and 0 < p <= MAX_ABS_VALUE for p in pressures):
            raise UserInputError(f"{source}: pressures {_listed(pressures)} must be positive numbers in Pa (at most "
                                 f"{MAX_ABS_VALUE:g}), e.g. 0.2e6,0.5e6.", key="pressures")
        kinds = tuple(self.experiment_types)
        if not kinds or any(k not in INPUT_NAMES for k in kinds):
            raise UserInputError(f"{source}: experiment_types {_listed(kinds)} must list drained and/or undrained.",
                                 key="experiment_types")
        strain = self.max_axial_strain
        if isinstance(strain, bool) or not isinstance(strain, (int, float)) or not 0 < strain <= 1:
            raise UserInputError(f"{source}: max_axial_strain {strain!r}: expected a strain above 0 and at most 1.",
                                 key="max_axial_strain")


def _listed(values: tuple) -> str:
    return repr(",".join(map(str, values)))


def generate_triaxial(n_samples: int, **settings) -> dict[tuple[str, str], dict[str, np.ndarray]]:
    """Simulate ``n_samples`` triaxial tests per (pressure, experiment type) group.

    Contact parameters are drawn uniformly within :data:`PARAM_RANGES` (independently per group,
    from one seeded generator); the axial strain is ``e_z = k * max_axial_strain / sequence_length``
    for ``k = 0 .. S-1`` (GrainLearning's 0, 0.001, ..., 0.199 by default).

    Args:
        n_samples: sequences per group (N).
        settings: any other field of :class:`SynthSettings` (their defaults otherwise):
            ``sequence_length`` (S), ``pressures`` (Pa; group names follow
            :func:`pressure_group_name`), ``experiment_types``, ``seed`` (of the parameter draws;
            the model itself is deterministic), ``max_axial_strain`` (reached one step after the last).

    Returns:
        ``{(pressure_name, experiment_type): {"contact_params" [N,5], "inputs" [N,S,F],
        "outputs" [N,S,7]}}`` (float32).
    """
    cfg = SynthSettings(samples_per_group=n_samples, **settings)
    cfg.validate("generate_triaxial")
    rng = np.random.default_rng(cfg.seed)
    low, high = (np.array([PARAM_RANGES[k][i] for k in CONTACT_PARAM_NAMES]) for i in (0, 1))
    strain = np.arange(cfg.sequence_length) * (cfg.max_axial_strain / cfg.sequence_length)
    groups = {}
    for pressure in cfg.pressures:
        for kind in cfg.experiment_types:
            params = rng.uniform(low, high, size=(n_samples, len(CONTACT_PARAM_NAMES)))
            inputs, outputs = triaxial_response(params, pressure / 1e6, kind, strain)
            groups[(pressure_group_name(pressure), kind)] = {
                "contact_params": params.astype(np.float32), "inputs": inputs, "outputs": outputs,
            }
    return groups


def write_synthetic_triaxial(out_h5: str | os.PathLike, n_samples_per_group: int = SynthSettings.samples_per_group,
                             *, overwrite: bool = False, **settings) -> Path:
    """Generate with :func:`generate_triaxial` and write GrainLearning's HDF5 layout atomically.

    Every setting and the output location are checked BEFORE the simulation runs: an existing
    ``out_h5`` is refused unless ``overwrite``; a location that cannot be created is one sentence.

    Returns:
        ``out_h5``. Root attributes also record ``generator``, ``seed`` and ``max_axial_strain``.
    """
    cfg = SynthSettings(samples_per_group=n_samples_per_group, **settings)
    cfg.validate("write_synthetic_triaxial")
    check_new_file(out_h5, overwrite)
    options = {k: v for k, v in dataclasses.asdict(cfg).items() if k != "samples_per_group"}
    groups = generate_triaxial(n_samples_per_group, **options)
    return write_triaxial_hdf5(
        out_h5, groups,
        input_names={kind: INPUT_NAMES[kind] for kind in cfg.experiment_types},
        contact_param_names=CONTACT_PARAM_NAMES, output_names=OUTPUT_NAMES,
        attrs={"unused_keys_constant": ["conf", "mode"], "generator": "simrnn.sequence.triaxial",
               "seed": cfg.seed, "max_axial_strain": cfg.max_axial_strain},
        overwrite=overwrite,
    )


def _check_params(contact_params: np.ndarray) -> np.ndarray:
    params = np.asarray(contact_params, dtype=np.float64)
    if params.ndim != 2 or params.shape[1] != len(CONTACT_PARAM_NAMES):
        raise UserInputError(f"contact_params has shape {params.shape}, expected [N, 5] (E, v, kr, eta, mu).")
    for column, name in enumerate(CONTACT_PARAM_NAMES):
        low, high = PARAM_RANGES[name]
        outside = ~((params[:, column] >= low) & (params[:, column] <= high))
        if outside.any():
            raise UserInputError(
                f"contact_params column '{name}' holds {params[outside, column][0]} (row "
                f"{int(np.argmax(outside))}), outside the model's range [{low}, {high}]."
            )
    return params


def _material(params: np.ndarray, p0: float) -> dict[str, np.ndarray]:
    """Material constants ``[N]`` from contact parameters ``[N, 5]`` and confinement ``p0`` [Pa]."""
    log_e, alpha, kr, eta, mu = params.T
    e_c = 10.0 ** log_e
    mu_c = np.tan(np.radians(mu))
    m_r = eta * (1 - np.exp(-kr / 0.2))
    f_mu = 1 - np.exp(-mu_c / 0.3)
    s0 = np.sin(np.radians(6.0))
    sin_cs = s0 + (np.sin(np.radians(26.0 + 20.0 * m_r)) - s0) * f_mu
    nu = (1 - alpha) / (4 + alpha)
    e_gamma = 0.64 + 0.30 * f_mu + 0.08 * m_r
    e_prep = 0.66 + 0.14 * f_mu + 0.03 * m_r
    return {
        "M": 6 * sin_cs / (3 - sin_cs),
        "g_coef": (2 + 3 * alpha) / 2.9 * (1 + 0.3 * kr) * e_c ** (2 / 3),
        "k_over_g": 2 * (1 + nu) / (3 * (1 - 2 * nu)),
        "h_coef": 3.0 * (1 + 1.5 * kr),
        "e_c": e_c,
        "e_gamma": e_gamma,
        "e0": e_prep - 0.25 * (1 + e_prep) * (p0 / e_c) ** (2 / 3),
        "w_t": 0.08 + 0.22 * mu_c / (1 + mu_c),
        "w_c": 0.30 + 0.10 * m_r,
    }


def _critical_void_ratio(mat: dict, p: np.ndarray) -> np.ndarray:
    return mat["e_gamma"] - 0.01 * (p / _P_ATM) ** 0.7 - 0.4 * (1 + mat["e_gamma"]) * (p / mat["e_c"]) ** (2 / 3)


def _integrate(mat: dict, p0: float, drained: bool, strain: np.ndarray) -> np.ndarray:
    """Step the model along ``strain [S]``; returns ``outputs [N, S, 7]`` (p, q in MPa)."""
    n, steps = mat["M"].size, strain.size
    e = mat["e0"].copy()
    p = np.full(n, p0)
    eta = np.zeros(n)
    a_c = np.zeros(n)
    d_vol = np.zeros(n)  # previous volumetric increment: first guess for the drained split
    history = np.empty((steps, 4, n))  # e, p, eta, a_c
    history[0] = e, p, eta, a_c
    for k in range(1, steps):
        d_axial = strain[k] - strain[k - 1]
        g = mat["g_coef"] * np.cbrt(p)
        bulk = mat["k_over_g"] * g
        psi = np.clip(e - _critical_void_ratio(mat, p), -0.5, 0.5)
        m_b = np.minimum(mat["M"] * np.exp(-_N_PEAK * psi), _MAX_STRESS_RATIO)
        m_d = mat["M"] * np.exp(_N_DILATANCY * psi)
        dilatancy = _A_DILATANCY * (m_d - eta)
        compliance = p / (3 * g) * (3 / (3 - eta) if drained else 1.0)
        h = np.minimum(mat["h_coef"] * np.sqrt(g / p), 0.5 / compliance)
        for _ in range(2 if drained else 1):
            d_shear = d_axial - d_vol / 3 if drained else d_axial
            eta_new = _implicit_eta(eta, m_b, h, compliance, d_shear)
            plastic = d_shear - compliance * (eta_new - eta)
            if drained:
                p_new = 3 * p0 / (3 - eta_new)
                d_vol = (p_new - p) / bulk + dilatancy * plastic
            else:
                p_new = _undrained_pressure(mat, p, psi, m_d, dilatancy, bulk, plastic)
        if drained:
            e = e - (1 + e) * d_vol
        a_c_target = 2.5 * mat["w_c"] * eta_new
        a_c = a_c_target + (a_c - a_c_target) * np.exp(-d_shear / 0.02)
        eta, p = eta_new, p_new
        history[k] = e, p, eta, a_c
    e, p, eta, a_c = history.transpose(1, 2, 0)  # each [N, S]
    a_t = 2.5 * mat["w_t"][:, None] * eta / 1.5
    coordination = np.clip(4 + 5 * (0.9 - e), 3.5, 7.0)
    f0 = np.pi * p * _GRAIN_DIAMETER**2 * (1 + e) / coordination
    return np.stack([e, p / 1e6, eta * p / 1e6, f0, a_c, 2.5 * eta - a_c - 1.5 * a_t, a_t], axis=-1)


def _undrained_pressure(mat: dict, p: np.ndarray, psi: np.ndarray, m_d: np.ndarray, dilatancy: np.ndarray,
                        bulk: np.ndarray, plastic: np.ndarray) -> np.ndarray:
    """Constant-volume step ``dp = -K D d eps_q^p`` in ``x = ln p``, linearly implicit (Rosenbrock).

    ``D`` grows with ``x`` through the state parameter and ``K/p`` falls as ``p^(-2/3)``; treating
    both implicitly keeps the stiff step stable, and ``p`` never drops below :data:`_MIN_PRESSURE`.
    """
    rate = -bulk / p * dilatancy * plastic
    dpsi_dx = 0.007 * (p / _P_ATM) ** 0.7 + 0.8 * (1 + mat["e_gamma"]) / 3 * (p / mat["e_c"]) ** (2 / 3)
    d_rate = bulk / p * plastic * (2 / 3 * dilatancy - _A_DILATANCY * _N_DILATANCY * m_d * dpsi_dx)
    x_new = np.log(p) + rate / np.maximum(1 - d_rate, 1.0)
    return np.maximum(np.exp(x_new), _MIN_PRESSURE)


def _implicit_eta(eta: np.ndarray, m_b: np.ndarray, h: np.ndarray, a: np.ndarray, d_shear: np.ndarray) -> np.ndarray:
    """Backward-Euler step of ``d eps_q = a d eta + eta/(h (M_b - eta)) d eta`` for the new ``eta``.

    Multiplying out gives ``c x^2 + b x - r = 0`` with ``c = 1 - a h > 0`` and ``r > 0``; its
    positive root lies between ``eta`` and ``M_b`` (hardening below the peak, softening above).
    """
    c = 1 - a * h
    b = a * h * m_b - c * eta + h * d_shear
    r = eta * a * h * m_b + h * d_shear * m_b
    return (-b + np.sqrt(b * b + 4 * c * r)) / (2 * c)
