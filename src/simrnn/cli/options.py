"""Command-line options generated from a settings dataclass: one mechanism for every command.

A command's settings live in a dataclass whose fields are written with :func:`simrnn.config.setting`
(default and help, written once). Each field becomes ``--field-name VALUE`` with its help text and
default; values arrive as text and are coerced and validated by :func:`simrnn.config.build_config`
(one sentence naming the key, which the error boundary shows as the flag), exactly as values from a
config file. ``simrnn <task> train`` and the commands decorated with :func:`settings_command` share
this code.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import types
import typing
from collections.abc import Callable
from typing import Annotated, Any

import typer

_METAVARS = {int: "INT", float: "FLOAT", str: "TEXT"}


def field_option(field: dataclasses.Field, hint: Any, choices: list[str] | None = None,
                 panel: str | None = None) -> Any:
    """``Annotated[str | None, typer.Option(...)]`` for one settings field (None = not given).

    Booleans are flag pairs, ``--skip/--no-skip`` (LASERNet's ``--no-preload`` style); ``panel``
    groups the option under that heading in ``--help``.
    """
    optional = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and len(optional) == 1:
        hint = optional[0]  # ``int | None``: an INT that may be left out
    origin = typing.get_origin(hint)
    if choices:
        metavar = "[" + "|".join(choices) + "]"
    elif hint is bool:
        flag = field.name.replace("_", "-")
        return Annotated[bool | None, typer.Option(f"--{flag}/--no-{flag}", help=field_help(field), show_default=False,
                                                           rich_help_panel=panel)]
    elif origin is typing.Literal:
        metavar = "[" + "|".join(map(str, typing.get_args(hint))) + "]"
    elif origin in (list, tuple):
        items = [a for a in typing.get_args(hint) if a is not Ellipsis] or [str]
        metavar = ",".join(_METAVARS.get(a, "TEXT") for a in items) + ("..." if origin is list else "")
    else:
        metavar = _METAVARS.get(hint, "TEXT")
    flags = field.metadata.get("flags", ())  # e.g. ("--t-solidus", "--T-solidus"): the flag and its aliases
    return Annotated[str | None, typer.Option(*flags, help=field_help(field), metavar=metavar, show_default=False,
                                                rich_help_panel=panel)]


def field_help(field: dataclasses.Field) -> str:
    """The field's help text with its default (escaped for rich markup)."""
    default = field.default if field.default is not dataclasses.MISSING else field.default_factory()
    shown = ",".join(map(str, default)) if isinstance(default, (list, tuple)) else default
    suffix = "" if default is None else f" (default: {shown!s})"
    return f"{field.metadata.get('help', '')}{suffix}".replace("[", r"\[")


def settings_command(settings_class: type) -> Callable[[Callable], Callable]:
    """Decorate ``command(..., settings)``: its ``settings`` parameter becomes one option per field.

    The decorated function keeps its other parameters (arguments, flags that are not settings)
    and receives ``settings``, an instance of ``settings_class`` built from the options given
    (the others keep the dataclass defaults) and validated by its ``validate(source)``.
    """
    hints = typing.get_type_hints(settings_class)
    fields = dataclasses.fields(settings_class)

    def decorate(command: Callable) -> Callable:
        resolved = typing.get_type_hints(command, include_extras=True)  # the command's string annotations
        own = [p.replace(annotation=resolved[name]) for name, p in inspect.signature(command).parameters.items()
               if name != "settings"]
        generated = [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=None,
                                       annotation=field_option(f, hints[f.name])) for f in fields]

        @functools.wraps(command)
        def run(**kwargs: Any) -> Any:
            from simrnn.config import COMMAND_LINE, build_config

            given = {f.name: kwargs.pop(f.name) for f in fields}
            settings = build_config(settings_class, {k: v for k, v in given.items() if v is not None},
                                    source=COMMAND_LINE)
            return command(**kwargs, settings=settings)

        parameters = own + generated
        run.__signature__ = inspect.Signature(parameters)
        run.__annotations__ = {p.name: p.annotation for p in parameters}
        del run.__wrapped__  # Typer must read the generated signature, not the original one
        return run

    return decorate
