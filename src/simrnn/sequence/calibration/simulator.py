"""Slow simulators behind the model protocol: a cache file of every simulation, failed samples skipped.

A simulator is a callable ``run(params [N, P]) -> curves [N, T, O]`` that may be slow (a DEM code)
and may fail for some samples. :func:`cached_simulator` turns it into a
:class:`~.protocol.CurveModel` that

- looks every parameter row up in a cache file first (``.npz``: ``params [M, P]``, ``curves
  [M, T, O]``, ``failed [K, P]``; exact match of the float64 values) and simulates only the misses,
  in one call;
- isolates failures: if that call raises, each missing sample is simulated alone; a sample that
  raises or returns NaN/inf is reported (a :class:`SimulationFailed` warning naming it), recorded in
  the cache (never re-run) and returned as NaN curves, which the likelihood turns into probability 0;
- writes the cache atomically after a batch (at most every :data:`SAVE_INTERVAL_S` seconds, so
  every batch of a slow simulator; :meth:`CachedSimulator.flush` at the end, which
  :func:`~.mcmc_driver.calibrate_mcmc` calls), so a killed calibration loses at most those seconds
  and a later run with the same cache file repeats no saved simulation.

Example (the synthetic triaxial model standing in for DEM)::

    sim = cached_simulator(triaxial_run(["e", "q"], strain, {"pressure": 0.2}), ["E", "v", "kr", "eta", "mu"],
                           ["e", "q"], strain, cache="sims.npz", control_name="e_z")
    curves = sim(params)           # [N, T, 2]; sim.simulations, sim.cache_hits, sim.failures

A YADE driver follows the same contract: :class:`~.yade_driver.YadeBatch` (one ``yade-batch`` run per
call, NaN rows for crashed samples; docs/calibration.md, "A YADE driver")::

    run = YadeBatch("examples/yade/triax_template.py", ["E", "v", "kr", "eta", "mu"], ["e", "q"], strain,
                    "yade_runs", fixed={"conf": 2e5})
    sim = cached_simulator(run, ["E", "v", "kr", "eta", "mu"], ["e", "q"], strain, cache="yade_sims.npz")
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simrnn.errors import UserInputError
from simrnn.sequence.calibration.protocol import FunctionModel, unit_of

#: The cache file is rewritten after a batch at most this often (every batch of a slow simulator);
#: :meth:`CachedSimulator.flush` writes the rest. A kill loses at most this many seconds of simulations.
SAVE_INTERVAL_S = 2.0


class SimulationFailed(UserWarning):
    """A simulator sample raised or returned NaN/inf; it is skipped (probability 0) and cached as failed."""


class SimulationCache:
    """Simulations by parameter row: ``params [M, P]`` -> ``curves [M, T, O]``, plus failed rows ``[K, P]``."""

    def __init__(self, path: str | Path | None, num_params: int, shape: tuple[int, int]):
        self.path = Path(path) if path is not None else None
        self.params = np.zeros((0, num_params))
        self.curves = np.zeros((0, *shape))
        self.failed = np.zeros((0, num_params))
        if self.path is not None and self.path.is_file():
            with np.load(self.path, allow_pickle=False) as data:
                params, curves, failed = data["params"], data["curves"], data["failed"]
            if params.shape[1:] != (num_params,) or curves.shape[1:] != shape:
                raise UserInputError(f"{self.path}: the cache holds params {list(params.shape)} and curves "
                                     f"{list(curves.shape)}; this simulator has {num_params} parameters and curves "
                                     f"[T, O] = {list(shape)}. Use another cache file.")
            self.params, self.curves, self.failed = params, curves, failed
        self._index = {row.tobytes(): i for i, row in enumerate(self.params)}
        self._failed = {row.tobytes() for row in self.failed}
        self._saved = -np.inf

    def lookup(self, params: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``params [N, P]`` -> (index into the cache or -1 ``[N]``, known failed ``[N]``, curves found)."""
        index = np.array([self._index.get(row.tobytes(), -1) for row in params], dtype=int)
        bad = np.array([row.tobytes() in self._failed for row in params], dtype=bool)
        return index, bad, self.curves[np.maximum(index, 0)] if len(self.curves) else None

    def add(self, params: np.ndarray, curves: np.ndarray, failed: np.ndarray) -> None:
        """Append successful rows ``params [n, P]``, ``curves [n, T, O]`` and failed rows, then save."""
        self._index.update({row.tobytes(): len(self.params) + i for i, row in enumerate(params)})
        self._failed.update(row.tobytes() for row in failed)
        self.params = np.concatenate([self.params, params])
        self.curves = np.concatenate([self.curves, curves])
        self.failed = np.concatenate([self.failed, failed])
        if time.monotonic() - self._saved >= SAVE_INTERVAL_S:
            self.save()

    def save(self) -> None:
        """Write the cache file atomically (a no-op without a path)."""
        if self.path is not None:
            from simrnn.files import atomic_path

            with atomic_path(self.path) as tmp, open(tmp, "wb") as handle:
                np.savez(handle, params=self.params, curves=self.curves, failed=self.failed)
        self._saved = time.monotonic()


@dataclass
class CachedSimulator(FunctionModel):
    """A :class:`~.protocol.FunctionModel` whose ``fn`` is a cached, failure-tolerant simulator.

    ``simulations`` counts the samples actually simulated, ``cache_hits`` those found in the cache,
    ``failures`` the samples that failed (now or in an earlier run); ``cache`` is the store.
    """

    simulations: int = 0
    cache_hits: int = 0
    failures: int = 0
    cache: SimulationCache | None = None

    def flush(self) -> None:
        """Write every simulation so far to the cache file."""
        self.cache.save()


def _simulate_missing(run: Callable[[np.ndarray], np.ndarray], params: np.ndarray,
                      shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Curves ``[n, T, O]`` (NaN where failed) and a failed mask ``[n]``; one call, or one per sample if it raises."""
    def check(curves) -> np.ndarray:
        curves = np.asarray(curves, dtype=np.float64)
        if curves.shape[1:] != shape:
            raise UserInputError(f"the simulator returned curves {list(curves.shape)}; expected [N, T, O] with "
                                 f"[T, O] = {list(shape)}.")
        return curves

    try:
        curves = check(run(params))
    except UserInputError:
        raise
    except Exception:
        curves = np.full((len(params), *shape), np.nan)
        for i in range(len(params)):
            try:
                curves[i] = check(run(params[i:i + 1]))[0]
            except UserInputError:
                raise
            except Exception as exc:
                warnings.warn(SimulationFailed(f"simulation of {params[i].tolist()} failed: {exc}"), stacklevel=3)
                curves[i] = np.inf  # reported here; not again as NaN below
    failed = ~np.isfinite(curves).all(axis=(1, 2))
    for row in params[failed & ~np.isinf(curves).all(axis=(1, 2))]:
        warnings.warn(SimulationFailed(f"simulation of {row.tolist()} returned NaN or inf; skipped."), stacklevel=3)
    curves[failed] = np.nan
    return curves, failed


def cached_simulator(run: Callable[[np.ndarray], np.ndarray], param_names: Sequence[str], obs_names: Sequence[str],
                     control: np.ndarray, cache: str | Path | None = None, control_name: str = "step",
                     bounds: Mapping[str, tuple[float, float]] | None = None) -> CachedSimulator:
    """``run(params [N, P]) -> curves [N, T, O]`` as a cached, failure-tolerant :class:`CachedSimulator`."""
    control = np.asarray(control, dtype=np.float64)
    shape = (len(control), len(obs_names))
    store = SimulationCache(cache, len(param_names), shape)

    def simulate(params: np.ndarray) -> np.ndarray:
        params = np.ascontiguousarray(params, dtype=np.float64)
        index, known_failed, found = store.lookup(params)
        curves = np.full((len(params), *shape), np.nan)
        hit = index >= 0
        if hit.any():
            curves[hit] = found[hit]
        model.cache_hits += int(hit.sum() + known_failed.sum())
        model.failures += int(known_failed.sum())
        missing = np.flatnonzero(~hit & ~known_failed)
        unique, inverse = np.unique(params[missing], axis=0, return_inverse=True) if len(missing) else (
            params[missing], np.zeros(0, dtype=int))
        if len(unique):
            new, failed = _simulate_missing(run, unique, shape)
            model.simulations += len(unique)
            model.failures += int(failed.sum())
            store.add(unique[~failed], new[~failed], unique[failed])
            curves[missing] = new[np.ravel(inverse)]
        return curves

    model = CachedSimulator(simulate, list(param_names), list(obs_names), control, control_name,
                            {n: unit_of(n) for n in param_names}, {n: unit_of(n) for n in obs_names},
                            dict(bounds) if bounds else None, cache=store)
    return model


def triaxial_run(obs_names: Sequence[str], axial_strain: np.ndarray, fixed: Mapping[str, float],
                 param_names: Sequence[str] = ("E", "v", "kr", "eta", "mu"),
                 experiment_type: str = "drained") -> Callable[[np.ndarray], np.ndarray]:
    """The synthetic triaxial model (standing in for DEM) as ``run(params [N, P]) -> [N, T, O]``:
    ``params`` columns named ``param_names``, the other contact parameters and ``pressure`` (MPa) fixed."""
    from simrnn.sequence.triaxial import CONTACT_PARAM_NAMES, OUTPUT_NAMES, triaxial_response

    fixed = dict(fixed)
    pressure = fixed.pop("pressure")
    names = list(param_names)
    outputs = [OUTPUT_NAMES.index(n) for n in obs_names]

    def run(params: np.ndarray) -> np.ndarray:
        contact = np.column_stack([params[:, names.index(n)] if n in names else np.full(len(params), fixed[n])
                                   for n in CONTACT_PARAM_NAMES])
        _, out = triaxial_response(contact, pressure, experiment_type, axial_strain)
        return out[:, :, outputs].astype(np.float64)

    return run
