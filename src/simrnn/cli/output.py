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


def option_flag(key: str) -> str | None:
    """The flag of the running command's option whose parameter is ``key`` (``--max-axial-strain``).

    None when there is no such option, or when the value under ``key`` came from the ``--config``
    file the command was given (the user wrote the key there, so the key is what to name).
    """
    try:  # Typer >= 0.29 runs on its own copy of click
        from typer._click import globals as click_globals
    except ImportError:
        from click import globals as click_globals

    context = click_globals.get_current_context(silent=True)
    if context is None:
        return None
    for param in context.command.params:
        if param.name == key and getattr(param, "param_type_name", None) == "option":
            source = context.get_parameter_source(key)
            from_file = context.params.get("config") is not None and getattr(source, "name", "") != "COMMANDLINE"
            return None if from_file else max(param.opts, key=len)
    return None


def translated(exc: UserInputError) -> str:
    """The library's sentence with its setting's key written as the command's flag.

    The library names keys (``max_axial_strain 5: expected ...``); on the command line the user
    typed ``--max-axial-strain``, so the key's first mention (quoted, else bare) becomes that flag.
    A key that is no option of the running command (a key of a config or sweep file) stays as it is.
    """
    text = str(exc)
    flag = option_flag(exc.key) if exc.key else None
    if flag is None:
        return text
    for written in (repr(exc.key), f'"{exc.key}"'):
        if written in text:
            return text.replace(written, flag, 1)
    return re.sub(rf"(?<![\w-]){re.escape(exc.key)}(?![\w-])", flag, text, count=1)


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
        kept = str(exc) if isinstance(exc, Interrupted) and str(exc) else (
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
