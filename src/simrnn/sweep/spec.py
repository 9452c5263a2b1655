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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from simrnn.errors import UserInputError
from simrnn.sweep.parameters import (
    MAX_GRID_POINTS,
    PARAM_KEYS,
    Parameter,
    finite_number,
    inferred_distribution,
    parse_parameter,
)

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
_HYPERBAND_KEYS = frozenset({"type", "min_iter", "max_iter", "s", "eta", "strict"})
#: seeds are offset by trial counts and handed to NumPy / Optuna, which take 32-bit seeds.
MAX_SEED = 2**31 - 1
#: the longest heartbeat interval or grace period accepted, in seconds (one day).
MAX_HEARTBEAT_S = 86_400


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
    #: the sweep file it was read from (None for a dict): names the default study.
    file: str | None = None

    def names(self) -> list[str]:
        """Every setting the sweep gives a run: searched and fixed."""
        return [p.name for p in self.parameters] + list(self.fixed)

    def grid_size(self) -> int:
        """Number of grid points (product of the parameters' value counts; counted, never listed)."""
        return math.prod(p.value_count() or 0 for p in self.parameters)

    def grid_space(self) -> dict[str, list[Any]]:
        """The search space of Optuna's GridSampler (encoded choices per parameter)."""
        return {p.name: p.encoded_choices() for p in self.parameters}

    def sample(self, trial) -> dict[str, Any]:
        """The settings of one trial: the fixed ones plus one value per searched parameter."""
        values = dict(self.fixed)
        for p in self.parameters:
            values[p.name] = p.suggest(trial, grid=self.method == "grid")
        return values

    def settings_to_check(self) -> list[dict[str, Any]]:
        """Fixed settings with every searched parameter at each end of its range (every choice of a
        categorical), the others at their first end: what a task validates before a study exists."""
        base = {**self.fixed, **{p.name: p.extremes()[0] for p in self.parameters}}
        return [base] + [{**base, p.name: v} for p in self.parameters for v in p.extremes()[1:]]

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
    """Read a W&B sweep file (YAML or JSON, :func:`simrnn.mappings.read_mapping`) or dict into a :class:`SweepSpec`."""
    if isinstance(source, Mapping):
        return parse_sweep(source, "sweep")
    from simrnn.mappings import read_mapping

    spec = parse_sweep(read_mapping(source, "sweep file"), str(source))
    return dataclasses.replace(spec, file=str(source))


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
            if p.value_count() is None:
                raise UserInputError(f"{source}: grid sweeps need discrete parameters (values, int_uniform or "
                                     f"q_uniform); {p.name!r} has distribution {p.distribution}.")
        size = math.prod(p.value_count() for p in parameters)
        if size > MAX_GRID_POINTS:
            raise UserInputError(f"{source}: the grid has {size:.3g} points; at most {MAX_GRID_POINTS} are "
                                 "accepted (use method: random or bayes, or fewer values).")
    ignored = [k for k in IGNORED_KEYS if k in raw]
    notes = (f"ignoring the W&B key(s) {', '.join(ignored)}: simrnn runs every trial itself, offline.",) if ignored else ()
    run_cap = raw.get("run_cap")
    if run_cap is not None and (isinstance(run_cap, bool) or not isinstance(run_cap, int) or run_cap < 1):
        raise UserInputError(f"{source}: 'run_cap' should be a positive integer, got {run_cap!r}.")
    return SweepSpec(
        method=method, metric=metric, parameters=parameters, fixed=fixed,
        pruner=_pruner(raw.get("early_terminate"), extras.get("pruner"), source),
        name=None if raw.get("name") is None else str(raw["name"]), run_cap=run_cap,
        seed=_positive_int(extras.get("seed", 0), f"{source}: simrnn.seed", minimum=0, maximum=MAX_SEED),
        heartbeat_interval=_positive_int(extras.get("heartbeat_interval", 60), f"{source}: simrnn.heartbeat_interval",
                                         maximum=MAX_HEARTBEAT_S),
        grace_period=None if extras.get("grace_period") is None
        else _positive_int(extras["grace_period"], f"{source}: simrnn.grace_period", maximum=MAX_HEARTBEAT_S),
        notes=notes, raw=json.loads(json.dumps(dict(raw))),
    )


def _positive_int(value: Any, where: str, minimum: int = 1, maximum: int = 10**9) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise UserInputError(f"{where} should be an integer from {minimum} to {maximum}, got {value!r}.")
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
    return MetricSpec(raw["name"], goal, None if target is None else float(finite_number(target, f"{source}: metric.target")))


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
        unknown = sorted(set(entry) - PARAM_KEYS)
        if unknown:
            raise UserInputError(f"{where}: unknown key {unknown[0]!r}; expected some of {', '.join(sorted(PARAM_KEYS))}.")
        distribution = entry.get("distribution") or inferred_distribution(entry, where)
        if distribution not in DISTRIBUTIONS:
            raise UserInputError(f"{where}: distribution {distribution!r} is not one of {', '.join(DISTRIBUTIONS)}.")
        if distribution == "constant":
            if "value" not in entry:
                raise UserInputError(f"{where}: a constant needs 'value'.")
            fixed[str(name)] = entry["value"]
            continue
        searched.append(parse_parameter(str(name), distribution, entry, where))
    return tuple(searched), fixed


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
    eta = finite_number(raw.get("eta", 3), f"{where}: eta")
    if not 2 <= eta <= 100 or float(eta) != int(eta):
        raise UserInputError(f"{where}: eta should be an integer from 2 to 100 for Optuna's hyperband, got {eta!r}.")
    eta = int(eta)
    options: dict[str, Any] = {"reduction_factor": eta}
    if "min_iter" in raw:
        options["min_resource"] = _positive_int(raw["min_iter"], f"{where}: min_iter")
        if "max_iter" in raw:
            options["max_resource"] = _positive_int(raw["max_iter"], f"{where}: max_iter")
    elif "max_iter" in raw:
        max_iter = _positive_int(raw["max_iter"], f"{where}: max_iter")
        s = _positive_int(raw.get("s", 1), f"{where}: s", maximum=64)
        options.update(min_resource=max(1, int(max_iter / eta**s)), max_resource=max_iter)
    else:
        raise UserInputError(f"{where}: hyperband needs min_iter or max_iter.")
    return PrunerSpec("hyperband", options)
