"""One searched setting of a W&B sweep: its distribution, bounds, values and how Optuna samples it.

Every bound is checked when the sweep is read, so nothing overflows or runs out of memory later:
bounds are finite numbers; ``log_uniform`` bounds are natural logs whose exponentials are finite
and positive; a ``log_normal`` reaches only finite values over the searched quantiles; discrete
parameters are COUNTED, never listed, until a grid needs their values (at most
:data:`MAX_GRID_POINTS` of them).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from typing import Any

from simrnn.errors import UserInputError

#: a uniform draw in (0, 1) is kept this far from 0 and 1 before the normal quantile is taken.
QUANTILE_EPS = 1e-6
#: |normal quantile| at QUANTILE_EPS: the searched normal values lie within mu +- this * sigma.
_QUANTILE_REACH = 4.76
#: natural logs beyond this overflow (exp(709.8) is the largest double) or vanish to 0.
_MAX_LOG = 700.0
#: the most points a grid sweep (all parameters together) may have.
MAX_GRID_POINTS = 100_000
#: the keys a W&B parameter entry may have.
PARAM_KEYS = frozenset({"value", "values", "distribution", "min", "max", "q", "mu", "sigma"})


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def finite_number(value: Any, where: str) -> float | int:
    """``value`` if it is a finite int or float (not a bool), else one sentence naming ``where``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise UserInputError(f"{where} should be a finite number, got {value!r}.")
    return value


@dataclasses.dataclass(frozen=True)
class Parameter:
    """One searched setting: its W&B distribution and bounds, and how Optuna samples it.

    ``choices`` (categorical) keep their YAML types: ints stay ints, lists stay lists.
    """

    name: str
    distribution: str
    choices: tuple[Any, ...] = ()
    low: float | int | None = None
    high: float | int | None = None
    q: float | int | None = None
    mu: float = 0.0
    sigma: float = 1.0

    @property
    def integer(self) -> bool:
        """Whether sampled values are ints (``int_uniform``, or q-distributions with int bounds and q)."""
        if self.distribution == "int_uniform":
            return True
        if self.distribution in ("q_uniform", "q_log_uniform_values"):
            return all(isinstance(v, int) and not isinstance(v, bool) for v in (self.low, self.high, self.q))
        return False

    def value_count(self) -> int | None:
        """How many values a discrete parameter has (counted, not listed); None for continuous ones."""
        if self.distribution == "categorical":
            return len(self.choices)
        if self.distribution == "int_uniform":
            return int(self.high) - int(self.low) + 1
        if self.distribution == "q_uniform":
            return int(math.floor((self.high - self.low) / self.q + 1e-9)) + 1
        return None

    def encoded_choices(self) -> list[Any]:
        """Choices as Optuna stores them: scalars as they are, anything else (lists ...) as JSON text."""
        values = self.grid_values()
        return values if all(_is_scalar(v) for v in values) else [json.dumps(v) for v in values]

    def decode(self, choice: Any) -> Any:
        """The value of an encoded choice, with its original type."""
        return self.grid_values()[self.encoded_choices().index(choice)]

    def grid_values(self) -> list[Any]:
        """Every value of a discrete parameter (categorical, int_uniform, q_uniform), in order.

        Refused (one sentence) for a continuous distribution or more than :data:`MAX_GRID_POINTS` values.
        """
        count = self.value_count()
        if count is None:
            raise UserInputError(
                f"grid sweeps need discrete parameters (values, int_uniform or q_uniform); "
                f"{self.name!r} has distribution {self.distribution}."
            )
        if count > MAX_GRID_POINTS:
            raise UserInputError(f"parameter {self.name!r} has {count:.3g} values; a grid takes at most "
                                 f"{MAX_GRID_POINTS} points (use method: random or bayes, or a coarser q).")
        if self.distribution == "categorical":
            return list(self.choices)
        if self.distribution == "int_uniform":
            return list(range(int(self.low), int(self.high) + 1))
        values = [self.low + k * self.q for k in range(count)]
        return [int(v) for v in values] if self.integer else [_clean(v) for v in values]

    def extremes(self) -> list[Any]:
        """The values at the ends of the searched range (every choice of a categorical), for checking settings."""
        d = self.distribution
        if d == "categorical":
            return list(self.choices)
        if d in ("int_uniform", "q_uniform"):
            ends = [self.low, _top(self.low, self.high, self.q or 1)]
            return [int(v) for v in ends] if self.integer else ends
        if d in ("log_uniform", "q_log_uniform"):
            return [self._quantise(math.exp(self.low)), self._quantise(math.exp(self.high))]
        if d.endswith("normal"):
            ends = [self.mu - _QUANTILE_REACH * self.sigma, self.mu + _QUANTILE_REACH * self.sigma]
            return [self._quantise(math.exp(v) if "log" in d else v) for v in ends]
        return [self._quantise(self.low), self._quantise(self.high)]

    def suggest(self, trial, grid: bool = False) -> Any:
        """Sample this parameter on an Optuna trial; return the value a run receives."""
        d = self.distribution
        if grid or d == "categorical":
            return self.decode(trial.suggest_categorical(self.name, self.encoded_choices()))
        if d == "int_uniform":
            return trial.suggest_int(self.name, int(self.low), int(self.high))
        if d == "uniform":
            return trial.suggest_float(self.name, float(self.low), float(self.high))
        if d == "q_uniform":
            if self.integer:
                return trial.suggest_int(self.name, self.low, _top(self.low, self.high, self.q), step=self.q)
            top = _top(self.low, self.high, self.q)
            return _clean(trial.suggest_float(self.name, float(self.low), float(top), step=float(self.q)))
        if d in ("log_uniform_values", "q_log_uniform_values"):
            value = trial.suggest_float(self.name, float(self.low), float(self.high), log=True)
            return self._quantise(value)
        if d in ("log_uniform", "q_log_uniform"):  # W&B: bounds are natural logs of the values
            value = trial.suggest_float(self.name, math.exp(self.low), math.exp(self.high), log=True)
            return self._quantise(value)
        # normal family: Optuna has no unbounded normal, so a uniform quantile is searched instead
        from scipy.special import ndtri

        u = trial.suggest_float(f"{self.name}:quantile", QUANTILE_EPS, 1 - QUANTILE_EPS)
        value = self.mu + self.sigma * float(ndtri(u))
        return self._quantise(math.exp(value) if "log" in d else value)

    def _quantise(self, value: float) -> float | int:
        if self.q is None:
            return value
        value = round(value / self.q) * self.q
        return int(round(value)) if self.integer else _clean(value)


def _top(low, high, q):
    """The largest ``low + k q`` not above ``high`` (Optuna's stepped ranges must end on a step)."""
    top = low + math.floor((high - low) / q + 1e-9) * q
    return int(top) if all(isinstance(v, int) for v in (low, high, q)) else _clean(top)


def _clean(value: float) -> float:
    """``0.30000000000000004`` -> ``0.3``: drop binary noise left by multiplying steps."""
    return float(f"{value:.12g}")


def inferred_distribution(entry: Mapping[str, Any], where: str) -> str:
    """W&B's rule when no distribution is given: value -> constant, values -> categorical,
    int bounds -> int_uniform, other bounds -> uniform."""
    if "value" in entry:
        return "constant"
    if "values" in entry:
        return "categorical"
    if "min" in entry and "max" in entry:
        ints = all(isinstance(entry[k], int) and not isinstance(entry[k], bool) for k in ("min", "max"))
        return "int_uniform" if ints else "uniform"
    raise UserInputError(f"{where} needs value, values, or min and max.")


def parse_parameter(name: str, distribution: str, entry: Mapping[str, Any], where: str) -> Parameter:
    """A :class:`Parameter` from its W&B entry; every bound checked (see the module docstring)."""
    if distribution == "categorical":
        values = entry.get("values")
        if not isinstance(values, list) or not values:
            raise UserInputError(f"{where}: 'values' should be a non-empty list, got {values!r}.")
        keys = [json.dumps(v, sort_keys=True) for v in values]
        if len(set(keys)) != len(keys):
            raise UserInputError(f"{where}: 'values' lists a value twice ({values!r}).")
        return Parameter(name, distribution, choices=tuple(values))
    q = entry.get("q", 1) if distribution.startswith("q_") else None
    if q is not None and not finite_number(q, f"{where}: q") > 0:
        raise UserInputError(f"{where}: q should be positive, got {q!r}.")
    if distribution.endswith("normal"):
        mu = float(finite_number(entry.get("mu", 0.0), f"{where}: mu"))
        sigma = float(finite_number(entry.get("sigma", 1.0), f"{where}: sigma"))
        if sigma <= 0:
            raise UserInputError(f"{where}: sigma should be positive, got {sigma}.")
        reach = abs(mu) + _QUANTILE_REACH * sigma
        if "log" in distribution and reach > _MAX_LOG:
            raise UserInputError(f"{where}: {distribution} with mu {mu:g} and sigma {sigma:g} reaches exp({reach:.4g}), "
                                 f"beyond floating point; keep |mu| + {_QUANTILE_REACH} sigma at most {_MAX_LOG:g}.")
        return Parameter(name, distribution, q=q, mu=mu, sigma=sigma)
    if "min" not in entry or "max" not in entry:
        raise UserInputError(f"{where}: distribution {distribution} needs min and max.")
    low, high = finite_number(entry["min"], f"{where}: min"), finite_number(entry["max"], f"{where}: max")
    if not low < high:
        raise UserInputError(f"{where}: min ({low}) should be below max ({high}).")
    if distribution == "int_uniform" and not all(isinstance(v, int) for v in (low, high)):
        raise UserInputError(f"{where}: int_uniform needs integer min and max, got {low!r} and {high!r}.")
    if distribution.endswith("_values") and low <= 0:
        raise UserInputError(f"{where}: {distribution} needs a positive min (log scale), got {low!r}.")
    if distribution in ("log_uniform", "q_log_uniform") and max(abs(low), abs(high)) > _MAX_LOG:
        raise UserInputError(f"{where}: {distribution} takes natural logs as min and max (values exp(min) to "
                             f"exp(max)); {low:g} to {high:g} is beyond floating point, keep them within "
                             f"+-{_MAX_LOG:g} (or use log_uniform_values with the values themselves).")
    return Parameter(name, distribution, low=low, high=high, q=q)
