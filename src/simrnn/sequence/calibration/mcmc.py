"""Affine-invariant ensemble MCMC (emcee) over a box prior, with convergence diagnostics.

The sampler is emcee's ``EnsembleSampler`` (Foreman-Mackey et al. 2013; Goodman & Weare 2010)
with its default stretch move; the log-probability is evaluated for all walkers at once
(``vectorize=True``), so every step is one batched model call ``[W, P] -> [W]``. The prior is
uniform on the parameter box (log-probability -inf outside it).

Diagnostics, computed on the second half of the chain (the first half is discarded as burn-in: a
start from the best prior draws contracts over tens of steps, which an autocorrelation-based
burn-in of ``2 tau`` measured on that same transient underestimates):

- ``tau``: integrated autocorrelation time per parameter, emcee's estimator
  (``emcee.autocorr.integrated_time``, Sokal's automatic window, c = 5) on the walker-averaged chain;
- ``ess``: effective sample size ``steps * walkers / tau`` per parameter;
- ``rhat``: split R-hat (Gelman et al. 2013, BDA3 11.4; our own lines in :func:`split_rhat`, not
  arviz): the walkers are split into ``groups`` fixed groups, each group's chain is cut into two
  halves, and R-hat compares the variance between those ``2 groups`` pooled sequences with the
  variance within them. Walkers of one ensemble are not independent chains, so this detects groups
  stuck in different regions (modes, a burn-in not yet forgotten) rather than certifying
  independence.

Converged means: ``steps >= min_tau_multiple * max(tau)``, every ESS ``>= target_ess`` and every
R-hat ``<= max_rhat``. Otherwise the result says which criterion failed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from simrnn.errors import UserInputError

CHAIN_FILE = "chain.npz"


#: the most walker positions (walkers x steps) a chain may hold.
MAX_DRAWS = 50_000_000


@dataclass(frozen=True)
class McmcSettings:
    """``walkers`` (even, >= 2 P), at most ``max_steps`` steps, checked every ``check_every``
    steps against the convergence criteria (see the module docstring); ``init_factor * walkers``
    prior draws are screened for the starting ensemble (the best ``walkers`` of them)."""

    walkers: int = 128
    max_steps: int = 2000
    check_every: int = 100
    min_tau_multiple: float = 10.0
    target_ess: float = 1000.0
    max_rhat: float = 1.05
    groups: int = 4
    init_factor: int = 8
    move: str = "de"
    seed: int = 0

    def validate(self, num_params: int) -> None:
        if self.walkers < 2 * num_params or self.walkers % 2:
            raise UserInputError(f"walkers must be even and at least twice the number of calibrated parameters "
                                 f"({2 * num_params}), got {self.walkers}.", key="walkers")
        if self.max_steps < 1 or self.check_every < 1:
            raise UserInputError(f"max_steps ({self.max_steps}) and the check interval ({self.check_every}) must be "
                                 "at least 1.", key="max_steps")
        if self.move not in ("de", "stretch"):
            raise UserInputError(f"move must be 'stretch' or 'de', got {self.move!r}.", key="move")
        if self.walkers < 2 * self.groups:
            raise UserInputError(f"walkers ({self.walkers}) must be at least twice the R-hat groups ({self.groups}).",
                                 key="walkers")
        if self.walkers * self.max_steps > MAX_DRAWS:  # the chain [steps, walkers, P] is kept in memory
            raise UserInputError(f"walkers x max_steps is {self.walkers} x {self.max_steps}; at most {MAX_DRAWS:.0e} "
                                 "draws are kept (fewer walkers or steps).", key=("walkers", "max_steps"))
        if not 0 <= self.seed < 2**32:
            raise UserInputError(f"seed must be from 0 to {2**32 - 1}, got {self.seed}.", key="seed")


def split_rhat(chain: np.ndarray, groups: int) -> np.ndarray:
    """Split R-hat per parameter of ``chain [S, W, P]`` over ``groups`` walker groups (-> ``2 groups``
    sequences of ``S // 2`` steps, each pooling its group's walkers). Returns ``[P]``."""
    steps = chain.shape[0] // 2
    parts = [part for g in np.array_split(np.arange(chain.shape[1]), groups)
             for part in (chain[:steps, g], chain[steps:2 * steps, g])]  # each [steps, w_g, P]
    seqs = [p.reshape(-1, chain.shape[2]) for p in parts]
    n = min(len(s) for s in seqs)
    seqs = np.stack([s[:n] for s in seqs])  # [2G, n, P]
    within = seqs.var(axis=1, ddof=1).mean(axis=0)
    between = n * seqs.mean(axis=1).var(axis=0, ddof=1)
    pooled = (n - 1) / n * within + between / n
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt(pooled / within)


def diagnostics(chain: np.ndarray, settings: McmcSettings) -> dict:
    """``tau``, ``ess``, ``rhat`` ``[P]`` lists, ``burn_in``, ``steps``, ``converged`` and ``failed``
    (the criteria not met) of ``chain [S, W, P]``."""
    import emcee

    def integrated_time(x: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):  # a walker that never moved: tau = steps
            tau = emcee.autocorr.integrated_time(x, c=5, tol=0, quiet=True)
        return np.clip(np.nan_to_num(tau, nan=len(x)), 1.0, None)

    steps = chain.shape[0]
    burn = steps // 2
    kept = chain[burn:]
    tau = integrated_time(kept) if len(kept) > 1 else np.full(chain.shape[2], float(steps))
    ess = kept.shape[0] * kept.shape[1] / tau
    rhat = split_rhat(kept, settings.groups)
    failed = []
    if steps < settings.min_tau_multiple * tau.max():
        failed.append(f"the chain ({steps} steps) is shorter than {settings.min_tau_multiple:g} autocorrelation "
                      f"times ({settings.min_tau_multiple * tau.max():.0f} steps)")
    if ess.min() < settings.target_ess:
        failed.append(f"effective sample size {ess.min():.0f} < {settings.target_ess:g}")
    if not rhat.max() <= settings.max_rhat:
        failed.append(f"split R-hat {np.nanmax(rhat):.3f} > {settings.max_rhat:g}")
    return {"steps": steps, "burn_in": burn, "tau": tau.tolist(), "ess": ess.tolist(), "rhat": rhat.tolist(),
            "converged": not failed, "failed": failed}


@dataclass
class McmcRun:
    """A finished run: ``chain [S, W, P]`` and ``log_prob [S, W]``, the diagnostics of the last
    check, the wall time of this session and the number of model evaluations (walkers x steps)."""

    chain: np.ndarray
    log_prob: np.ndarray
    diagnostics: dict
    settings: McmcSettings
    wall_seconds: float
    evaluations: int
    resumed_steps: int

    @property
    def samples(self) -> np.ndarray:
        """Posterior draws after the burn-in (the first half), walkers pooled: ``[(S - burn) * W, P]``."""
        return self.chain[self.diagnostics["burn_in"]:].reshape(-1, self.chain.shape[2])


def _moves(name: str):
    """emcee's proposal moves: ``"stretch"`` (its default) or ``"de"`` (differential evolution 80 %
    + DE snooker 20 %, emcee's recommendation for correlated, curved posteriors)."""
    import emcee

    if name == "stretch":
        return emcee.moves.StretchMove()
    if name == "de":
        return [(emcee.moves.DEMove(), 0.8), (emcee.moves.DESnookerMove(), 0.2)]
    raise UserInputError(f"move must be 'stretch' or 'de', got {name!r}.", key="move")


def initial_ensemble(log_prob: Callable[[np.ndarray], np.ndarray], bounds: np.ndarray,
                     settings: McmcSettings) -> tuple[np.ndarray, int]:
    """The ``walkers`` best of ``init_factor * walkers`` uniform prior draws ``[W, P]`` (seeded)."""
    rng = np.random.default_rng(settings.seed)
    draws = bounds[:, 0] + (bounds[:, 1] - bounds[:, 0]) * rng.random((settings.init_factor * settings.walkers,
                                                                        len(bounds)))
    lp = log_prob(draws)
    if not np.isfinite(lp).any():
        raise UserInputError("the model's log-likelihood is -inf or NaN at every starting draw; check the "
                             "observations, fixed values and ranges.", key="fixed")
    best = np.argsort(-np.where(np.isfinite(lp), lp, -np.inf), kind="stable")[:settings.walkers]
    return draws[best], len(draws)


def save_chain(path: Path, chain: np.ndarray, log_prob: np.ndarray) -> None:
    """Write ``chain [S, W, P]`` and ``log_prob [S, W]`` atomically (the resumable state)."""
    from simrnn.files import atomic_path

    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, chain=chain, log_prob=log_prob)


def load_chain(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``chain [S, W, P]``, ``log_prob [S, W]`` of a chain file written by :func:`save_chain`."""
    with np.load(path, allow_pickle=False) as data:
        return data["chain"], data["log_prob"]


def run_mcmc(log_prob: Callable[[np.ndarray], np.ndarray], bounds: np.ndarray, settings: McmcSettings,
             chain_file: Path | None = None, resume_from: Path | None = None,
             progress: Callable[[dict, np.ndarray], None] | None = None) -> McmcRun:
    """Sample ``log_prob(theta [W, P]) -> [W]`` (uniform prior on ``bounds [P, 2]`` added here).

    Args:
        chain_file: where the chain is saved (atomically) at every check, resumable; None: memory only.
        resume_from: a previous chain file to extend from its last walker positions; its steps count
            towards ``max_steps`` and the diagnostics.
        progress: called after every check with the diagnostics and the current ``samples [M, P]``.
    """
    import emcee

    settings.validate(len(bounds))
    evaluations = 0

    def log_posterior(theta: np.ndarray) -> np.ndarray:
        nonlocal evaluations
        inside = np.all((theta >= bounds[:, 0]) & (theta <= bounds[:, 1]), axis=1)
        out = np.full(len(theta), -np.inf)
        if inside.any():
            lp = np.asarray(log_prob(theta[inside]), dtype=np.float64)
            out[inside] = np.where(np.isfinite(lp), lp, -np.inf)
            evaluations += int(inside.sum())
        return out

    old_chain = np.zeros((0, settings.walkers, len(bounds)))
    old_lp = np.zeros((0, settings.walkers))
    if resume_from is not None:
        old_chain, old_lp = load_chain(resume_from)
        if old_chain.shape[1:] != (settings.walkers, len(bounds)):
            raise UserInputError(f"{resume_from}: the chain has {old_chain.shape[1]} walkers and {old_chain.shape[2]} "
                                 f"parameters; this calibration has {settings.walkers} and {len(bounds)}.")
    resumed = len(old_chain)
    start = time.perf_counter()
    sampler = emcee.EnsembleSampler(settings.walkers, len(bounds), log_posterior, vectorize=True,
                                    moves=_moves(settings.move))
    sampler.random_state = np.random.RandomState(settings.seed + resumed).get_state()
    if resumed:
        state = emcee.State(old_chain[-1], log_prob=old_lp[-1])
    else:
        state, _ = initial_ensemble(log_posterior, bounds, settings)

    def whole() -> tuple[np.ndarray, np.ndarray]:
        if sampler.iteration == 0:
            return old_chain, old_lp
        return (np.concatenate([old_chain, sampler.get_chain()]),
                np.concatenate([old_lp, sampler.get_log_prob()]))

    diag: dict = {}
    while (todo := min(settings.check_every, settings.max_steps - resumed - sampler.iteration)) > 0:
        state = sampler.run_mcmc(state, todo, progress=False)
        chain, lp = whole()
        if chain_file is not None:
            save_chain(chain_file, chain, lp)
        diag = diagnostics(chain, settings)
        if progress is not None:
            progress(diag, chain[diag["burn_in"]:].reshape(-1, len(bounds)))
        if diag["converged"]:
            break
    chain, lp = whole()
    if not diag:
        diag = diagnostics(chain, settings)
    return McmcRun(chain, lp, diag, settings, time.perf_counter() - start, evaluations, resumed)


def settings_dict(settings: McmcSettings) -> dict:
    """The sampler settings as written into calibration.json."""
    return {"sampler": "emcee", **asdict(settings)}
