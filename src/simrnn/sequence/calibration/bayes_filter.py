"""GrainLearning's iterative Bayesian filter with the error model's likelihood, computed stably.

Imported only when grainlearning is installed. Three small subclasses, each keeping GrainLearning's
algorithm (sigma search for the target ESS, Gaussian-mixture resampling, stopping rule) intact:

- :class:`ErrorModelSMC`: covariance ``sigma * diag(T' s_o^2)`` (see :mod:`.likelihood`) and
  likelihoods/posteriors in log space. GrainLearning normalises ``multivariate_normal.pdf`` step
  by step; once every sample's pdf underflows to 0 at one step its posterior becomes 0/0 = NaN,
  ``floor(NaN)`` casts to a negative count and resampling crashes with "repeats may not contain
  negative values" (a briefly trained surrogate, issue 11). In log space nothing underflows.
- :class:`ProposalCorrectedFilter`: divides the weights by the density of the mixture the
  samples were drawn from (importance sampling), so that the final weighted ensemble is the
  posterior of the error model rather than that posterior times the previous proposals (GrainLearning
  passes no proposal unless one is read from a file, which narrows the ensemble every iteration).
- :class:`CheckedMixture`: refuses to fit a mixture to weights that sit on fewer than two distinct
  samples (GrainLearning would divide by a zero range) by raising :class:`DegenerateWeights`, and
  draws :data:`DEFENSIVE_FRACTION` of each new ensemble from the prior.
"""

from __future__ import annotations

import numpy as np
from grainlearning import SMC, GaussianMixtureModel, IterativeBayesianFilter
from scipy.special import logsumexp

#: Fraction of every new ensemble drawn from the uniform prior instead of the mixture (defensive
#: importance sampling, Hesterberg 1995): bounds the weights by 1/fraction and keeps exploring the
#: whole range, so a mode the mixture lost can be found again.
DEFENSIVE_FRACTION = 0.1
#: Factor on the mixture's covariances before drawing: GrainLearning's fit is narrower than the weighted
#: ensemble (its own FIXME in ``GaussianMixtureModel.train``); a wider proposal is safe under importance weights.
PROPOSAL_INFLATION = 2.0


class DegenerateWeights(RuntimeError):
    """The posterior weights sit on too few distinct samples to fit the next proposal."""


def _normalise_rows(log_w: np.ndarray) -> np.ndarray:
    """Rows of log-weights ``[T, N]`` -> log of weights summing to 1 per row (-inf stays -inf)."""
    total = logsumexp(log_w, axis=1, keepdims=True)
    if not np.all(np.isfinite(total)):
        raise DegenerateWeights("every sample's simulation is NaN or inf, or infinitely far from the observation")
    return log_w - total


class ErrorModelSMC(SMC):
    """GrainLearning's SMC with per-curve variances ``variances [num_obs]`` at sigma = 1, in log space."""

    def __init__(self, variances: np.ndarray, ess_target: float, init_inference_step: int):
        super().__init__(ess_target=ess_target, scale_cov_with_max=False, init_inference_step=init_inference_step)
        self.variances = np.asarray(variances, dtype=np.float64)
        self.log_proposal: np.ndarray | None = None
        self._log_likelihoods: np.ndarray | None = None

    def get_covariance_matrices(self, sigma: float, system) -> np.ndarray:
        """``[T, num_obs, num_obs]``: ``sigma * diag(variances)`` at every step."""
        return np.broadcast_to(np.diag(sigma * self.variances), (system.num_steps, *self.variances.shape * 2)).copy()

    def get_likelihoods(self, system, cov_matrices: np.ndarray) -> np.ndarray:
        """Per-step likelihoods ``[T, N]`` (each row sums to 1), from Gaussian log-densities."""
        var = np.diagonal(cov_matrices, axis1=1, axis2=2)  # [T, num_obs]
        with np.errstate(over="ignore", invalid="ignore"):
            residual = np.asarray(system.sim_data, np.float64) - np.asarray(system.obs_data, np.float64)[None]
            log_l = -0.5 * np.sum(residual**2 / var.T[None], axis=1).T  # [T, N]
        log_l = np.where(np.isfinite(log_l), log_l, -np.inf)
        log_l[: self.init_inference_step] = 0.0
        self._log_likelihoods = _normalise_rows(log_l)
        return np.exp(self._log_likelihoods)

    def get_posteriors(self, system, likelihoods: np.ndarray, proposal: np.ndarray | None = None) -> np.ndarray:
        """Posteriors ``[T, N]``: cumulative product of the likelihoods over steps, divided by the proposal."""
        log_post = np.cumsum(self._log_likelihoods, axis=0)
        if self.log_proposal is not None:
            log_post = log_post - self.log_proposal[None]
        return np.exp(_normalise_rows(log_post))


class CheckedMixture(GaussianMixtureModel):
    """GrainLearning's Gaussian mixture, refusing degenerate weights, mixing in prior draws and
    recording the density of the samples it draws (``log_density [N]``, up to a constant) for the
    proposal correction."""

    log_density: np.ndarray | None = None

    def train(self, weight: np.ndarray, system) -> None:
        """GrainLearning's fit, then every covariance widened by :data:`PROPOSAL_INFLATION`."""
        super().train(weight, system)
        gmm = self.gmm
        gmm.covariances_ = gmm.covariances_ * PROPOSAL_INFLATION
        gmm.precisions_cholesky_ = gmm.precisions_cholesky_ / np.sqrt(PROPOSAL_INFLATION)
        gmm.precisions_ = gmm.precisions_ / PROPOSAL_INFLATION

    def regenerate_params(self, weight: np.ndarray, system) -> np.ndarray:
        copies = np.floor(self.expand_factor * system.num_samples * np.asarray(weight))
        kept = np.asarray(system.param_data)[copies >= 1]
        if not np.all(np.isfinite(weight)) or len(kept) < 2 or np.any(np.ptp(kept, axis=0) == 0):
            raise DegenerateWeights(f"the posterior weights sit on {len(np.unique(kept, axis=0))} distinct sample(s)")
        try:
            samples = super().regenerate_params(weight, system)
        except ValueError as exc:  # scikit-learn refuses a mixture over too few distinct samples
            raise DegenerateWeights(f"GrainLearning's resampling failed on {len(kept)} kept sample(s) "
                                    f"({' '.join(str(exc).split())})") from None
        rng = np.random.default_rng([self.random_state or 0, system.curr_iter])
        low, high = np.asarray(system.param_min, np.float64), np.asarray(system.param_max, np.float64)
        prior = rng.uniform(size=len(samples)) < DEFENSIVE_FRACTION
        samples = samples.copy()
        samples[prior] = low + (high - low) * rng.uniform(size=(int(prior.sum()), len(low)))
        # density of (1 - a) q_gmm + a uniform, both in the mixture's normalised coordinates
        log_uniform = -np.sum(np.log((high - low) / (self.max_params - self.min_params)))
        self.log_density = np.logaddexp(np.log1p(-DEFENSIVE_FRACTION) + self.gmm.score_samples(self.normalize(samples)),
                                        np.log(DEFENSIVE_FRACTION) + log_uniform)
        return samples


class ProposalCorrectedFilter(IterativeBayesianFilter):
    """GrainLearning's iterative filter whose weights divide by the density of the current proposal."""

    def run_inference(self, system) -> None:
        self.Bayes_filter.log_proposal = self.sampling.log_density
        super().run_inference(system)
