"""The ``simrnn`` command. Thin: parses arguments, calls library functions, prints.

Each family has its own sub-application module (``cli/sequence.py``, ``cli/fields.py``,
``cli/calibrate.py``); this module assembles them and runs every command inside the one error boundary
(:func:`simrnn.cli.output.exit_on_user_error`): user errors are one line + exit 2.
"""

from __future__ import annotations

from typing import Annotated

import typer

from simrnn.cli.output import exit_on_user_error, guard_command


def _build_app() -> typer.Typer:
    """The ``simrnn`` application with every sub-command, each inside the one error boundary."""
    from simrnn.cli import calibrate, demo, export, fields, hpc, runs, sequence, sweep

    root = typer.Typer(
        name="simrnn",
        help="Train, evaluate, calibrate with and deploy recurrent surrogates of materials simulations.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    root.add_typer(sequence.app, name="sequence")
    for module in (fields, calibrate, runs, sweep, hpc, demo, export):
        module.register(root)
    _guard_every_command(root)
    _add_version_and_short_help(root)
    return root


def _guard_every_command(group: typer.Typer) -> None:
    """Run every command of ``group`` and its sub-groups inside the one error boundary."""
    for command in group.registered_commands:
        command.callback = guard_command(command.callback)
    for sub in group.registered_groups:
        _guard_every_command(sub.typer_instance)


def _print_version(value: bool) -> None:
    if value:
        from simrnn import __version__

        typer.echo(f"simrnn {__version__}")
        raise typer.Exit()


def _add_version_and_short_help(root: typer.Typer) -> None:
    """``simrnn --version`` (``-V``), and ``-h`` besides ``--help`` on every command (sub-commands inherit it)."""
    root.info.context_settings = {**(root.info.context_settings or {}), "help_option_names": ["-h", "--help"]}

    def options(version: Annotated[bool, typer.Option("--version", "-V", callback=_print_version, is_eager=True,
                                                      help="Print simrnn's version and exit.")] = False) -> None:
        """Train, evaluate, calibrate with and deploy recurrent surrogates of materials simulations."""

    root.callback()(options)


_APP: list[typer.Typer] = []


def __getattr__(name: str):
    """``simrnn.cli.app`` is built on first use: ``import simrnn.cli`` alone loads no sub-command."""
    if name == "app":
        if not _APP:
            _APP.append(_build_app())
        return _APP[0]
    raise AttributeError(f"module 'simrnn.cli' has no attribute {name!r}")


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Print warnings as one line (``warning: ...``) instead of Python's file/line format."""
    typer.secho(f"warning: {message}", err=True, fg=typer.colors.YELLOW)


def _usage_error_types() -> tuple[type, type | None]:
    """Click's ``UsageError`` and ``NoArgsIsHelpError``: Typer >= 0.29 bundles its own click."""
    try:
        from typer._click import exceptions
    except ImportError:  # older Typer runs on the click package
        from click import exceptions
    return exceptions.UsageError, getattr(exceptions, "NoArgsIsHelpError", None)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``simrnn`` console script.

    Usage errors (click's: an unknown option, a missing argument) print ONE line naming the
    command and its ``--help``; :class:`UserInputError` and path errors print one line and exit
    with status 2; Ctrl-C prints one line and exits 130 (see
    :func:`simrnn.cli.output.exit_on_user_error`, which also guards every command under ``CliRunner``).
    """
    import sys
    import warnings

    warnings.showwarning = _show_warning
    usage_error, no_args_is_help = _usage_error_types()
    command = typer.main.get_command(__getattr__("app"))
    try:
        with exit_on_user_error():
            code = command.main(args=argv, prog_name="simrnn", standalone_mode=False)
    except usage_error as exc:
        if no_args_is_help is not None and isinstance(exc, no_args_is_help):
            exc.show()
        else:
            where = exc.ctx.command_path if exc.ctx is not None else "simrnn"
            typer.secho(f"error: {exc.format_message()} (see '{where} --help').", err=True, fg=typer.colors.RED)
        sys.exit(exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)
