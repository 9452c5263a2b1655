"""Console output shared by the commands (rich), and the one error boundary of every command."""

from __future__ import annotations

import contextlib
import functools
import re
import sys
from collections.abc import Callable, Iterator

import typer
from rich.console import Console

from simrnn.environment import environment
from simrnn.errors import Interrupted, UserInputError

console = Console(highlight=False, soft_wrap=True)

#: exit status of a user error (bad file, key or value), as for click's usage errors.
USER_ERROR_STATUS = 2
#: exit status after Ctrl-C (128 + SIGINT), the shell convention.
INTERRUPTED_STATUS = 130


def _error_line(text: str) -> None:
    typer.secho(f"error: {' '.join(text.split())}", err=True, fg=typer.colors.RED)


ALIASES_ATTRIBUTE = "__simrnn_key_aliases__"


def key_aliases(**aliases: str) -> Callable[[Callable], Callable]:
    """Mark a command whose options stand for library keys under another name.

    ``@key_aliases(walkers="calibration_walkers")`` on ``simrnn demo`` makes a library sentence about
    ``walkers`` name ``--calibration-walkers`` (the option whose parameter is ``calibration_walkers``).
    Typer and :func:`guard_command` copy the mark onto their wrappers (``functools.wraps``).
    """

    def mark(callback: Callable) -> Callable:
        setattr(callback, ALIASES_ATTRIBUTE, {**getattr(callback, ALIASES_ATTRIBUTE, {}), **aliases})
        return callback

    return mark


def option_flag(key: str) -> str | None:
    """The flag of the running command's option for the library key ``key`` (``--max-axial-strain``).

    The option is the one whose parameter is ``key``, or the parameter the command maps ``key`` to with
    :func:`key_aliases`. None when there is no such option, or when the value under ``key`` came from
    the ``--config`` file the command was given (the user wrote the key there, so the key is what to name).
    """
    try:  # Typer >= 0.29 runs on its own copy of click
        from typer._click import globals as click_globals
    except ImportError:
        from click import globals as click_globals

    context = click_globals.get_current_context(silent=True)
    if context is None:
        return None
    name = getattr(context.command.callback, ALIASES_ATTRIBUTE, {}).get(key, key)
    for param in context.command.params:
        if param.name == name and getattr(param, "param_type_name", None) == "option":
            source = context.get_parameter_source(name)
            from_file = context.params.get("config") is not None and getattr(source, "name", "") != "COMMANDLINE"
            return None if from_file else max(param.opts, key=len)
    return None


def translated(exc: UserInputError | Interrupted) -> str:
    """The library's sentence with each of its settings' keys written as the command's flag.

    The library names keys (``max_axial_strain 5: expected ...``); on the command line the user
    typed ``--max-axial-strain``, so each key's first mention (quoted, else bare) becomes that flag.
    A key that is no option of the running command (a key of a config or sweep file) stays as it is.
    """
    text = str(exc)
    for key in exc.keys:
        flag = option_flag(key)
        if flag is None:
            continue
        for written in (repr(key), f'"{key}"'):
            if written in text:
                text = text.replace(written, flag, 1)
                break
        else:
            text = re.sub(rf"(?<![\w./-]){re.escape(key)}(?![\w/-]|\.\w)", flag, text, count=1)  # not in a path
    return text


@contextlib.contextmanager
def exit_on_user_error() -> Iterator[None]:
    """The CLI's error boundary: one line on stderr and an exit status, never a traceback for user errors.

    * :class:`UserInputError` -> ``error: <its sentence>`` with its key written as the flag
      (:func:`translated`), exit 2;
    * an ``OSError`` naming a path (permission denied, read-only file system, not a directory, no
      space left, ...) -> ``error: <path>: <reason>.``, exit 2;
    * Ctrl-C -> ``interrupted; <what was kept>``, exit 130 (:class:`~simrnn.errors.Interrupted`
      carries the command's own account of what it kept).

    Every registered command runs inside it (:func:`guard_command`), under ``simrnn.cli.main`` and
    ``CliRunner`` alike. Other exceptions are bugs and keep their traceback.
    """
    from simrnn.files import describe_os_error

    try:
        yield
    except UserInputError as exc:
        _error_line(translated(exc))
        sys.exit(USER_ERROR_STATUS)
    except OSError as exc:
        sentence = describe_os_error(exc)
        if sentence is None:
            raise
        _error_line(sentence)
        sys.exit(USER_ERROR_STATUS)
    except KeyboardInterrupt as exc:
        kept = translated(exc) if isinstance(exc, Interrupted) and str(exc) else (
            "outputs completed before the interruption were kept; none is half-written"
        )
        typer.secho(f"interrupted; {kept}", err=True, fg=typer.colors.YELLOW)
        sys.exit(INTERRUPTED_STATUS)


def guard_command(callback: Callable) -> Callable:
    """``callback`` running inside :func:`exit_on_user_error` (signature kept for Typer)."""
    if getattr(callback, "__simrnn_guarded__", False):
        return callback

    @functools.wraps(callback)
    def guarded(*args, **kwargs):
        with exit_on_user_error():
            environment()  # read once, at the entry point: a bad variable is one sentence before any work
            return callback(*args, **kwargs)

    guarded.__simrnn_guarded__ = True
    return guarded
