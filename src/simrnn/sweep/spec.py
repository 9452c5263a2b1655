"""Weights & Biases sweep files -> a validated search space for Optuna.

A W&B sweep (YAML file or dict) is read unchanged::

    method: bayes                 # bayes | random | grid
    metric: {name: val_loss, goal: minimize}
    parameters:
      raw_data: {value: data/triaxial.h5}                 # fixed
      batch_size: {values: [16, 32, 64]}                  # categorical (types kept)
      learning_rate: {distribution: log_uniform_values, min: 1.0e-4, max: 1.0e-2}
    early_terminate: {type: hyperband, min_iter: 3, eta: 3}
    simrnn:                       # optional: what W&B cannot say
      settings: {epochs: 50}      # fixed settings of every trial
      pruner: median              # median | hyperband | none, or {type: median, n_startup_trials: 5, ...}

``program``, ``project``, ``entity`` and ``command`` are accepted and ignored (simrnn runs the
trials itself, offline); any other key simrnn does not know is one :class:`UserInputError`.
Parameter names are checked against the task's config dataclass, so the sweep code never
knows a task's keys.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from simrnn.errors import UserInputError

METHODS = ("bayes", "random", "grid")
GOALS = ("minimize", "maximize")
PRUNERS = ("median", "hyperband", "none")
#: W&B keys that only matter to W&B's own agent; accepted and ignored with one note.
IGNORED_KEYS = ("program", "project", "entity", "command")
TOP_LEVEL_KEYS = frozenset({"method", "metric", "parameters", "early_terminate", "name", "description",
                            "run_cap", "simrnn", *IGNORED_KEYS})
SIMRNN_KEYS = frozenset({"settings", "pruner", "seed", "heartbeat_interval", "grace_period"})
DISTRIBUTIONS = ("constant", "categorical", "int_uniform", "uniform", "q_uniform", "log_uniform",
                 "log_uniform_values", "q_log_uniform", "q_log_uniform_values", "normal", "q_normal",
                 "log_normal", "q_log_normal")
_PARAM_KEYS = frozenset({"value", "values", "distribution", "min", "max", "q", "mu", "sigma"})
_HYPERBAND_KEYS = frozenset({"type", "min_iter", "max_iter", "s", "eta", "strict"})
#: a uniform draw in (0, 1) is kept this far from 0 and 1 before the normal quantile is taken.
_QUANTILE_EPS = 1e-6


class _Yaml12Loader(yaml.SafeLoader):
    """PyYAML's safe loader that also reads ``1e-3`` as a float (YAML 1.2), as W&B users write it."""


_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                   |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                   |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
                   |[-+]?\.(?:inf|Inf|INF)
                   |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."),
)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def _number(value: Any, where: str) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UserInputError(f"{where} should be a number, got {value!r}.")
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

    def encoded_choices(self) -> list[Any]:
        """Choices as Optuna stores them: scalars as they are, anything else (lists ...) as JSON text."""
        values = self.grid_values()
        return values if all(_is_scalar(v) for v in values) else [json.dumps(v) for v in values]

    def decode(self, choice: Any) -> Any:
        """The value of an encoded choice, with its original type."""
        values = self.grid_values()
        encoded = self.encoded_choices()
        return values[encoded.index(choice)]

    def grid_values(self) -> list[Any]:
        """Every value of a discrete parameter (categorical, int_uniform, q_uniform), in order."""
        if self.distribution == "categorical":
            return list(self.choices)
        if self.distribution == "int_uniform":
            return list(range(int(self.low), int(self.high) + 1))
        if self.distribution == "q_uniform":
            n = int(math.floor((self.high - self.low) / self.q + 1e-9))
            values = [self.low + k * self.q for k in range(n + 1)]
            return [int(v) for v in values] if self.integer else [_clean(v) for v in values]
        raise UserInputError(
            f"grid sweeps need discrete parameters (values, int_uniform or q_uniform); "
            f"{self.name!r} has distribution {self.distribution}."
        )

    def example(self) -> Any:
        """One value this parameter can take (the first choice, or the lower bound), for checking settings."""
        if self.distribution in ("categorical", "int_uniform", "q_uniform"):
            return self.grid_values()[0]
        if self.distribution in ("log_uniform", "q_log_uniform"):
            return math.exp(self.low)
        if self.distribution.endswith("normal"):
            return math.exp(self.mu) if "log" in self.distribution else self.mu
        return int(self.low) if self.integer else self.low

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

        u = trial.suggest_float(f"{self.name}:quantile", _QUANTILE_EPS, 1 - _QUANTILE_EPS)
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


@dataclasses.dataclass(frozen=True)
class MetricSpec:
    """The sweep objective: a metric name (``val_loss``, a test metric ...) and its direction."""

    name: str
    goal: str = "minimize"
    target: float | None = None


@dataclasses.dataclass(frozen=True)
class PrunerSpec:
    """Which Optuna pruner stops bad trials early, with its keyword arguments."""

    type: str = "median"
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class SweepSpec:
    """A parsed sweep: searched parameters, fixed settings, objective, pruner and worker settings."""

    method: str
    metric: MetricSpec
    parameters: tuple[Parameter, ...]
    fixed: Mapping[str, Any]
    pruner: PrunerSpec
    name: str | None = None
    run_cap: int | None = None
    seed: int = 0
    heartbeat_interval: int = 60
    grace_period: int | None = None
    notes: tuple[str, ...] = ()
    raw: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def names(self) -> list[str]:
        """Every setting the sweep gives a run: searched and fixed."""
        return [p.name for p in self.parameters] + list(self.fixed)

    def grid_size(self) -> int:
        """Number of grid points (product of the parameters' value counts)."""
        return math.prod(len(p.grid_values()) for p in self.parameters)

    def grid_space(self) -> dict[str, list[Any]]:
        """The search space of Optuna's GridSampler (encoded choices per parameter)."""
        return {p.name: p.encoded_choices() for p in self.parameters}

    def sample(self, trial) -> dict[str, Any]:
        """The settings of one trial: the fixed ones plus one value per searched parameter."""
        values = dict(self.fixed)
        for p in self.parameters:
            values[p.name] = p.suggest(trial, grid=self.method == "grid")
        return values

    def example_settings(self) -> dict[str, Any]:
        """Fixed settings plus one example value per searched parameter (see :meth:`Parameter.example`)."""
        return {**self.fixed, **{p.name: p.example() for p in self.parameters}}

    def check_settings(self, config_class: type, task: str, ignored: frozenset[str] = frozenset()) -> None:
        """Raise one :class:`UserInputError` if a setting is not a field of the task's config dataclass.

        ``ignored``: keys the task accepts for compatibility and ignores (GrainLearning's ``save_weights_only``).
        """
        known = {f.name for f in dataclasses.fields(config_class)}
        unknown = [n for n in self.names() if n not in known | ignored]
        if unknown:
            raise UserInputError(
                f"sweep parameter {unknown[0]!r} is not a setting of task {task!r}; "
                f"expected one of {', '.join(sorted(known))}."
            )


def load_sweep(source: str | Path | Mapping[str, Any]) -> SweepSpec:
    """Read a W&B sweep file (YAML or JSON) or dict into a :class:`SweepSpec`."""
    if isinstance(source, Mapping):
        return parse_sweep(source, "sweep")
    path = Path(source)
    if not path.is_file():
        raise UserInputError(f"{path}: sweep file not found.")
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_Yaml12Loader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise UserInputError(f"{path}: cannot parse the sweep file ({str(exc).splitlines()[0]}).") from None
    if not isinstance(raw, Mapping):
        raise UserInputError(f"{path}: expected a mapping (method, metric, parameters) at the top level.")
    return parse_sweep(raw, str(path))


def parse_sweep(raw: Mapping[str, Any], source: str = "sweep") -> SweepSpec:
    """Validate a W&B sweep dict; every problem is one sentence naming ``source`` and the key."""
    unknown = sorted(set(raw) - TOP_LEVEL_KEYS)
    if unknown:
        raise UserInputError(f"{source}: unknown sweep key {unknown[0]!r}; expected one of "
                             f"{', '.join(sorted(TOP_LEVEL_KEYS))}.")
    method = raw.get("method")
    if method not in METHODS:
        raise UserInputError(f"{source}: 'method' is {method!r}; expected one of {', '.join(METHODS)}.")
    metric = _metric(raw.get("metric"), source)
    extras = raw.get("simrnn") or {}
    if not isinstance(extras, Mapping) or set(extras) - SIMRNN_KEYS:
        bad = sorted(set(extras) - SIMRNN_KEYS) if isinstance(extras, Mapping) else [extras]
        raise UserInputError(f"{source}: unknown key {bad[0]!r} in the simrnn block; expected one of "
                             f"{', '.join(sorted(SIMRNN_KEYS))}.")
    settings = extras.get("settings") or {}
    if not isinstance(settings, Mapping):
        raise UserInputError(f"{source}: simrnn.settings should be a mapping of settings, got {settings!r}.")
    parameters, fixed = _parameters(raw.get("parameters"), source)
    fixed = {**settings, **fixed}
    if method == "grid":
        for p in parameters:
            try:
                p.grid_values()
            except UserInputError as exc:  # a continuous distribution
                raise UserInputError(f"{source}: {exc}") from None
    ignored = [k for k in IGNORED_KEYS if k in raw]
    notes = (f"ignoring the W&B key(s) {', '.join(ignored)}: simrnn runs every trial itself, offline.",) if ignored else ()
    run_cap = raw.get("run_cap")
    if run_cap is not None and (isinstance(run_cap, bool) or not isinstance(run_cap, int) or run_cap < 1):
        raise UserInputError(f"{source}: 'run_cap' should be a positive integer, got {run_cap!r}.")
    return SweepSpec(
        method=method, metric=metric, parameters=parameters, fixed=fixed,
        pruner=_pruner(raw.get("early_terminate"), extras.get("pruner"), source),
        name=None if raw.get("name") is None else str(raw["name"]), run_cap=run_cap,
        seed=_positive_int(extras.get("seed", 0), f"{source}: simrnn.seed", minimum=0),
        heartbeat_interval=_positive_int(extras.get("heartbeat_interval", 60), f"{source}: simrnn.heartbeat_interval"),
        grace_period=None if extras.get("grace_period") is None
        else _positive_int(extras["grace_period"], f"{source}: simrnn.grace_period"),
        notes=notes, raw=json.loads(json.dumps(dict(raw))),
    )


def _positive_int(value: Any, where: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UserInputError(f"{where} should be an integer of at least {minimum}, got {value!r}.")
    return value


def _metric(raw: Any, source: str) -> MetricSpec:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("name"), str):
        raise UserInputError(f"{source}: 'metric' needs a name, e.g. metric: {{name: val_loss, goal: minimize}}.")
    unknown = sorted(set(raw) - {"name", "goal", "target"})
    if unknown:
        raise UserInputError(f"{source}: unknown key {unknown[0]!r} in 'metric'; expected name, goal, target.")
    goal = raw.get("goal", "minimize")
    if goal not in GOALS:
        raise UserInputError(f"{source}: metric goal is {goal!r}; expected minimize or maximize.")
    target = raw.get("target")
    return MetricSpec(raw["name"], goal, None if target is None else float(_number(target, f"{source}: metric.target")))


def _parameters(raw: Any, source: str) -> tuple[tuple[Parameter, ...], dict[str, Any]]:
    if not isinstance(raw, Mapping) or not raw:
        raise UserInputError(f"{source}: 'parameters' should map setting names to {{value}}, {{values}} or "
                             "{min, max, distribution}.")
    searched, fixed = [], {}
    for name, entry in raw.items():
        where = f"{source}: parameter {name!r}"
        if not isinstance(entry, Mapping):
            raise UserInputError(f"{where} should be a mapping such as {{values: [...]}}, got {entry!r}.")
        if "parameters" in entry:
            raise UserInputError(f"{where} has nested parameters; simrnn settings are flat, name each setting.")
        unknown = sorted(set(entry) - _PARAM_KEYS)
        if unknown:
            raise UserInputError(f"{where}: unknown key {unknown[0]!r}; expected some of {', '.join(sorted(_PARAM_KEYS))}.")
        distribution = entry.get("distribution") or _inferred(entry, where)
        if distribution not in DISTRIBUTIONS:
            raise UserInputError(f"{where}: distribution {distribution!r} is not one of {', '.join(DISTRIBUTIONS)}.")
        if distribution == "constant":
            if "value" not in entry:
                raise UserInputError(f"{where}: a constant needs 'value'.")
            fixed[str(name)] = entry["value"]
            continue
        searched.append(_parameter(str(name), distribution, entry, where))
    return tuple(searched), fixed


def _inferred(entry: Mapping[str, Any], where: str) -> str:
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


def _parameter(name: str, distribution: str, entry: Mapping[str, Any], where: str) -> Parameter:
    if distribution == "categorical":
        values = entry.get("values")
        if not isinstance(values, list) or not values:
            raise UserInputError(f"{where}: 'values' should be a non-empty list, got {values!r}.")
        keys = [json.dumps(v, sort_keys=True) for v in values]
        if len(set(keys)) != len(keys):
            raise UserInputError(f"{where}: 'values' lists a value twice ({values!r}).")
        return Parameter(name, distribution, choices=tuple(values))
    q = entry.get("q", 1) if distribution.startswith("q_") else None
    if q is not None and not _number(q, f"{where}: q") > 0:
        raise UserInputError(f"{where}: q should be positive, got {q!r}.")
    if distribution.endswith("normal"):
        mu = float(_number(entry.get("mu", 0.0), f"{where}: mu"))
        sigma = float(_number(entry.get("sigma", 1.0), f"{where}: sigma"))
        if sigma <= 0:
            raise UserInputError(f"{where}: sigma should be positive, got {sigma}.")
        return Parameter(name, distribution, q=q, mu=mu, sigma=sigma)
    if "min" not in entry or "max" not in entry:
        raise UserInputError(f"{where}: distribution {distribution} needs min and max.")
    low, high = _number(entry["min"], f"{where}: min"), _number(entry["max"], f"{where}: max")
    if not low < high:
        raise UserInputError(f"{where}: min ({low}) should be below max ({high}).")
    if distribution == "int_uniform" and not all(isinstance(v, int) for v in (low, high)):
        raise UserInputError(f"{where}: int_uniform needs integer min and max, got {low!r} and {high!r}.")
    if distribution.endswith("_values") and low <= 0:
        raise UserInputError(f"{where}: {distribution} needs a positive min (log scale), got {low!r}.")
    return Parameter(name, distribution, low=low, high=high, q=q)


def _pruner(early_terminate: Any, choice: Any, source: str) -> PrunerSpec:
    """``simrnn.pruner`` wins; otherwise W&B's ``early_terminate`` hyperband; otherwise median."""
    if choice is not None:
        options = dict(choice) if isinstance(choice, Mapping) else {"type": choice}
        kind = options.pop("type", None)
        if kind not in PRUNERS:
            raise UserInputError(f"{source}: simrnn.pruner is {kind!r}; expected one of {', '.join(PRUNERS)}.")
        if kind == "hyperband" and not options and isinstance(early_terminate, Mapping):
            return _hyperband(early_terminate, source)
        return PrunerSpec(kind, options)
    if early_terminate is None:
        return PrunerSpec("median")
    return _hyperband(early_terminate, source)


def _hyperband(raw: Any, source: str) -> PrunerSpec:
    """W&B's hyperband keys -> Optuna's HyperbandPruner.

    W&B brackets are ``min_iter * eta**k``, or ``max_iter / eta**k`` for k = 1..s; Optuna's rungs are
    ``min_resource * eta**k`` up to ``max_resource``, so ``max_iter`` and ``s`` give
    ``min_resource = max_iter / eta**s``.
    """
    where = f"{source}: early_terminate"
    if not isinstance(raw, Mapping) or raw.get("type") != "hyperband":
        raise UserInputError(f"{where} should be {{type: hyperband, min_iter or max_iter, eta, s}}.")
    unknown = sorted(set(raw) - _HYPERBAND_KEYS)
    if unknown:
        raise UserInputError(f"{where}: unknown key {unknown[0]!r}; expected some of {', '.join(sorted(_HYPERBAND_KEYS))}.")
    eta = _number(raw.get("eta", 3), f"{where}: eta")
    if eta < 2 or float(eta) != int(eta):
        raise UserInputError(f"{where}: eta should be an integer of at least 2 for Optuna's hyperband, got {eta!r}.")
    eta = int(eta)
    options: dict[str, Any] = {"reduction_factor": eta}
    if "min_iter" in raw:
        options["min_resource"] = _positive_int(raw["min_iter"], f"{where}: min_iter")
        if "max_iter" in raw:
            options["max_resource"] = _positive_int(raw["max_iter"], f"{where}: max_iter")
    elif "max_iter" in raw:
        max_iter = _positive_int(raw["max_iter"], f"{where}: max_iter")
        s = _positive_int(raw.get("s", 1), f"{where}: s")
        options.update(min_resource=max(1, int(max_iter / eta**s)), max_resource=max_iter)
    else:
        raise UserInputError(f"{where}: hyperband needs min_iter or max_iter.")
    return PrunerSpec("hyperband", options)
