"""Affine-invariant ensemble MCMC (emcee) over a box prior, with convergence diagnostics.

The sampler is emcee's ``EnsembleSampler`` (Foreman-Mackey et al. 2013; Goodman & Weare 2010)
with its default stretch move; the log-probability is evaluated for all walkers at once
(``vectorize=True``), so every step is one batched model call ``[W, P] -> [W]``. The prior is
uniform on the parameter box (log-probability -inf outside it).

Start (:func:`initial_ensemble`): a Sobol sample of the box, then a few rounds of batched adaptive
importance sampling, each one model call, give a Gaussian approximation of the posterior from which
the walkers start (a start from the best prior draws alone is far wider than the posterior and
contracted for hundreds of steps on the triaxial problem).

Burn-in (:func:`burn_in`): the first step at which the walkers' median log-probability comes within
half a standard deviation of the median log-probability of the chain's second half (the
contraction is over: the walkers are in the typical set), and at least ``2 tau``; never more than half of the chain (a chain still contracting
at its middle is not converged). The diagnostics are computed on the steps after the burn-in:

- ``tau``: integrated autocorrelation time per parameter, emcee's estimator
  (``emcee.autocorr.integrated_time``, Sokal's automatic window, c = 5) on the walker-averaged chain;
- ``ess``: effective sample size ``steps * walkers / tau`` per parameter;
- ``rhat``: split R-hat (Gelman et al. 2013, BDA3 11.4; our own lines in :func:`split_rhat`, not
  arviz): the walkers are split into ``groups`` fixed groups, each group's chain is cut into two
  halves, and R-hat compares the variance between those ``2 groups`` pooled sequences with the
  variance within them. Walkers of one ensemble are not independent chains, so this detects groups
  stuck in different regions (modes, a burn-in not yet forgotten) rather than certifying
  independence.

Converged means: kept steps ``>= min_tau_multiple * max(tau)``, the typical set reached before the
middle of the chain, every ESS ``>= target_ess`` and every
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


#: rounds of adaptive importance sampling before the walkers start, and the proposal's inflation.
INIT_ROUNDS = 10
INIT_INFLATION = 2.0

#: the most walker positions (walkers x steps) a chain may hold.
MAX_DRAWS = 50_000_000


@dataclass(frozen=True)
class McmcSettings:
    """``walkers`` (even, >= 2 P), at most ``max_steps`` steps, checked every ``check_every``
    steps against the convergence criteria (see the module docstring); ``init_factor * walkers``
    points per batch of the starting stage (:func:`initial_ensemble`)."""

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


def _integrated_time(x: np.ndarray) -> np.ndarray:
    """emcee's integrated autocorrelation time ``[P]`` of ``x [S, W, P]`` (a walker that never moved: S)."""
    import emcee

    if len(x) < 2:
        return np.full(x.shape[2], float(max(len(x), 1)))
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = emcee.autocorr.integrated_time(x, c=5, tol=0, quiet=True)
    return np.clip(np.nan_to_num(tau, nan=len(x)), 1.0, None)


def burn_in(chain: np.ndarray, log_prob: np.ndarray) -> tuple[int, bool]:
    """Steps to discard from ``chain [S, W, P]`` with ``log_prob [S, W]``, and whether the typical set
    was reached by the middle of the chain (see the module docstring)."""
    steps = len(chain)
    half = steps // 2
    if steps < 4:
        return half, False
    median = np.median(log_prob, axis=1)  # [S]
    target = np.median(log_prob[half:]) - 0.5 * np.std(log_prob[half:])  # the median's own scatter allowed
    reached = np.flatnonzero(median >= target)
    typical = int(reached[0]) if len(reached) else steps
    if typical > half:
        return half, False
    tau = _integrated_time(chain[typical:]).max()
    return int(min(half, max(typical, np.ceil(2 * tau)))), True


def diagnostics(chain: np.ndarray, settings: McmcSettings, log_prob: np.ndarray) -> dict:
    """``tau``, ``ess``, ``rhat`` ``[P]`` lists, ``burn_in``, ``steps``, ``converged`` and ``failed``
    (the criteria not met) of ``chain [S, W, P]`` with ``log_prob [S, W]``."""
    steps = chain.shape[0]
    burn, typical = burn_in(chain, log_prob)
    kept = chain[burn:]
    tau = _integrated_time(kept)
    ess = kept.shape[0] * kept.shape[1] / tau
    rhat = split_rhat(kept, settings.groups)
    failed = []
    if not typical:
        failed.append("the walkers' log-probability is still rising at the middle of the chain (burn-in not over)")
    if len(kept) < settings.min_tau_multiple * tau.max():
        failed.append(f"the chain after burn-in ({len(kept)} steps) is shorter than {settings.min_tau_multiple:g} "
                      f"autocorrelation times ({settings.min_tau_multiple * tau.max():.0f} steps)")
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
        """Posterior draws after the burn-in (:func:`burn_in`), walkers pooled: ``[(S - burn) * W, P]``."""
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


def _tempered_fit(x: np.ndarray, lp: np.ndarray, log_q: np.ndarray, target_ess: float
                  ) -> tuple[float, np.ndarray, np.ndarray]:
    """The largest ``beta`` in [0, 1] whose importance weights ``exp(beta lp - log_q)`` over ``x [N, P]``
    keep an effective sample size >= ``target_ess``, and the weighted mean ``[P]`` and covariance
    ``[P, P]`` of ``x`` under those weights (the tempered posterior's Gaussian approximation)."""

    def weights(beta: float) -> np.ndarray:
        logw = np.where(np.isfinite(lp), beta * np.where(np.isfinite(lp), lp, 0.0) - log_q, -np.inf)
        w = np.exp(logw - logw.max())
        return w / w.sum()

    def ess(beta: float) -> float:
        return 1.0 / np.sum(weights(beta) ** 2)

    beta = 1.0
    if ess(1.0) < target_ess:
        low, high = 0.0, 1.0
        for _ in range(40):
            mid = 0.5 * (low + high)
            low, high = (mid, high) if ess(mid) >= target_ess else (low, mid)
        beta = low
    w = weights(beta)
    mean = w @ x
    cov = (x - mean).T @ ((x - mean) * w[:, None]) / (1.0 - np.sum(w**2))
    return beta, mean, cov


def initial_ensemble(log_prob: Callable[[np.ndarray], np.ndarray], bounds: np.ndarray,
                     settings: McmcSettings) -> tuple[np.ndarray, int]:
    """A starting ensemble ``[W, P]`` near the posterior, found in a few batched calls; also returns the
    number of points evaluated.

    A scrambled Sobol sample of the box (``init_factor * walkers`` points rounded up to a power of 2)
    is followed by up to :data:`INIT_ROUNDS` rounds of adaptive importance sampling: a Gaussian fitted
    to the weighted points so far (weights: the tempered posterior over the density of the mixture
    they were drawn from, tempered just enough to keep ``walkers`` effective points), inflated by
    :data:`INIT_INFLATION`, proposes as many new points in the box. Once no tempering is needed
    (beta = 1), or after the last round, the walkers are drawn from the Gaussian fit with its covariance
    scaled by beta (tempering a Gaussian by beta divides its covariance by beta).
    """
    from scipy.special import logsumexp
    from scipy.stats import multivariate_normal, qmc

    rng = np.random.default_rng(settings.seed)
    low, width = bounds[:, 0], bounds[:, 1] - bounds[:, 0]
    n = 2 ** int(np.ceil(np.log2(settings.init_factor * settings.walkers)))
    x = low + width * qmc.Sobol(len(bounds), scramble=True, seed=settings.seed).random_base2(int(np.log2(n)))
    lp = np.asarray(log_prob(x), dtype=np.float64)
    if not np.isfinite(lp).any():
        raise UserInputError("the model's log-likelihood is -inf or NaN at every starting draw; check the "
                             "observations, fixed values and ranges.", key="fixed")
    components = [(len(x), None, None, 1.0)]  # (points, mean, cov, fraction inside the box); None: uniform

    def draw(mean: np.ndarray, cov: np.ndarray, count: int) -> tuple[np.ndarray, float]:
        """``count`` draws inside the box from N(mean, cov), and the fraction of draws inside."""
        got, tried = [], 0
        while sum(len(g) for g in got) < count and tried < 100 * count:
            y = rng.multivariate_normal(mean, cov, size=count)
            tried += count
            got.append(y[np.all((y >= bounds[:, 0]) & (y <= bounds[:, 1]), axis=1)])
        inside = np.concatenate(got)
        if len(inside) < count:  # a Gaussian almost entirely outside the box: fall back to the best points
            return x[np.argsort(-np.where(np.isfinite(lp), lp, -np.inf))[:count]], 0.0
        return inside[:count], len(inside) / tried

    def log_mixture(y: np.ndarray) -> np.ndarray:
        total = sum(c[0] for c in components)
        parts = [np.log(c[0] / total) + (np.full(len(y), -np.sum(np.log(width))) if c[1] is None else
                                         multivariate_normal.logpdf(y, c[1], c[2], allow_singular=True) - np.log(c[3]))
                 for c in components if c[3] > 0]
        return logsumexp(np.stack(parts), axis=0)

    jitter = np.diag((1e-9 * width) ** 2)
    for _ in range(INIT_ROUNDS):
        beta, mean, cov = _tempered_fit(x, lp, log_mixture(x), settings.walkers)
        if beta >= 1.0:
            break
        proposal = INIT_INFLATION * cov + jitter
        new, fraction = draw(mean, proposal, n)
        x, lp = np.concatenate([x, new]), np.concatenate([lp, np.asarray(log_prob(new), dtype=np.float64)])
        components.append((len(new), mean, proposal, max(fraction, 1e-12)))
    beta, mean, cov = _tempered_fit(x, lp, log_mixture(x), settings.walkers)
    start, _ = draw(mean, beta * cov + jitter, settings.walkers)  # a Gaussian tempered by beta: cov / beta
    return start, len(x)


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
        diag = diagnostics(chain, settings, lp)
        if progress is not None:
            progress(diag, chain[diag["burn_in"]:].reshape(-1, len(bounds)))
        if diag["converged"]:
            break
    chain, lp = whole()
    if not diag:
        diag = diagnostics(chain, settings, lp)
    return McmcRun(chain, lp, diag, settings, time.perf_counter() - start, evaluations, resumed)


def settings_dict(settings: McmcSettings) -> dict:
    """The sampler settings as written into calibration.json."""
    return {"sampler": "emcee", **asdict(settings)}
