"""Typed configurations: load JSON/YAML (incl. Weights & Biases ``{desc, value}`` files), coerce
values (text from the command line or YAML scalars), validate with one-sentence errors, save.

A config class is a dataclass; its field defaults are the single place where defaults live.
Values are coerced to the field's declared type, so ``--epochs 5`` from the command line and
``epochs: 5`` from YAML give the same config.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
import warnings
from pathlib import Path
from typing import Any, TypeVar

from simrnn.errors import UserInputError

C = TypeVar("C")


class UnknownConfigKeyWarning(UserWarning):
    """Config keys that simrnn does not use (named in the message); they are ignored."""


#: The ``source`` of values typed as options of the running command.
COMMAND_LINE = "command line"


def setting(default: Any, help: str) -> Any:
    """A config dataclass field: its default (written once, here) and its ``--help`` text.

    Example::

        @dataclass
        class MyConfig(TrainSettings):
            hidden_channels: int = setting(64, "Channels of the recurrent core.")
    """
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata={"help": help})
    return dataclasses.field(default=default, metadata={"help": help})


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML or JSON mapping (:func:`simrnn.mappings.read_mapping`); unwrap W&B-style
    ``{desc, value}`` entries and drop ``_wandb``."""
    from simrnn.mappings import read_mapping

    return unwrap_wandb(read_mapping(path, "config"))


def unwrap_wandb(raw: dict[str, Any]) -> dict[str, Any]:
    """Turn ``{key: {desc: ..., value: v}}`` (W&B config.yaml) into ``{key: v}``; drop W&B internals."""
    out = {}
    for key, value in raw.items():
        if key in ("wandb_version", "_wandb"):
            continue
        if isinstance(value, dict) and "value" in value and set(value) <= {"desc", "value"}:
            value = value["value"]
        out[key] = value
    return out


def _coerce(value: Any, annotation: Any, key: str, source: str) -> Any:
    """``value`` as ``annotation``; errors carry ``key`` for flag translation only when typed on the command line."""
    return _coerce_as(value, annotation, key, source, key if source == COMMAND_LINE else None)


def _coerce_as(value: Any, annotation: Any, key: str, source: str, flag_key: str | None) -> Any:
    origin = typing.get_origin(annotation)
    original = value
    if value is None and not (origin in (typing.Union, types.UnionType) and type(None) in typing.get_args(annotation)):
        raise UserInputError(f"{source}: {key!r} has no value (null); give one or leave the key out for its default.", key=flag_key)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, key, source)
            except UserInputError as exc:
                errors.append(str(exc))
        raise UserInputError(errors[0] if errors else f"{source}: invalid value for {key!r}.", key=flag_key)
    if origin is typing.Literal:
        allowed = typing.get_args(annotation)
        if value not in allowed:
            raise UserInputError(
                f"{source}: {key!r} is {value!r}; expected one of {', '.join(map(repr, allowed))}.", key=flag_key
            )
        return value
    if origin in (list, tuple):
        (item_type, *_) = typing.get_args(annotation) or (Any,)
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise UserInputError(f"{source}: {key!r} should be a list, got {value!r}.", key=flag_key)
        try:
            items = [_coerce(v, item_type, key, source) for v in value]
        except UserInputError as exc:  # name the whole list as the user wrote it, then the item
            item = str(exc).split(f"{key!r} ", 1)[-1]
            raise UserInputError(f"{source}: {key!r} {original!r}: each item {item}", key=flag_key) from None
        return tuple(items) if origin is tuple else items
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise UserInputError(f"{source}: {key!r} should be true or false, got {value!r}.", key=flag_key)
    if annotation is int:
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())):
            try:
                if isinstance(value, str) and float(value).is_integer():
                    return int(float(value))
            except ValueError:
                pass
            raise UserInputError(f"{source}: {key!r} should be an integer, got {value!r}.", key=flag_key)
        return int(value)
    if annotation is float:
        try:
            if isinstance(value, bool):
                raise ValueError
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            raise UserInputError(f"{source}: {key!r} should be a number, got {value!r}.", key=flag_key) from None
        if not math.isfinite(number):
            raise UserInputError(f"{source}: {key!r} should be a finite number, got {value!r}.", key=flag_key)
        return number
    if annotation is str:
        if isinstance(value, (dict, list)):
            raise UserInputError(f"{source}: {key!r} should be text, got {value!r}.", key=flag_key)
        return str(value)
    return value


def build_config(cls: type[C], values: dict[str, Any], *, source: str = "config",
                 ignored: frozenset[str] = frozenset()) -> C:
    """Build dataclass ``cls`` from ``values``: coerce types, warn once about unknown keys.

    ``ignored`` names keys accepted for compatibility (e.g. GrainLearning's) without a warning.
    """
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names - ignored)
    if unknown:
        warnings.warn(
            f"{source}: ignoring unknown config keys {', '.join(unknown)}.", UnknownConfigKeyWarning, stacklevel=3
        )
    kwargs = {k: _coerce(v, hints[k], k, source) for k, v in values.items() if k in names}
    try:
        config = cls(**kwargs)
    except TypeError as exc:
        raise UserInputError(f"{source}: {exc}.") from None
    validate = getattr(config, "validate", None)
    if validate is not None:
        validate(source)
    return config


def config_to_dict(config: Any) -> dict[str, Any]:
    """A dataclass config as a plain JSON-ready dict."""
    return dataclasses.asdict(config)
