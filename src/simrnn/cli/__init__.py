"""The ``simrnn`` command. Thin: parses arguments, calls library functions, prints.

Each family has its own sub-application module (``cli/sequence.py``, ``cli/fields.py``,
``cli/calibrate.py``); this module assembles them and runs every command inside the one error boundary
(:func:`simrnn.cli.output.exit_on_user_error`): user errors are one line + exit 2.
"""

from __future__ import annotations

import typer

from simrnn.cli.output import exit_on_user_error, guard_command

app = typer.Typer(
    name="simrnn",
    help="Train, evaluate, calibrate with and deploy recurrent surrogates of materials simulations.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register_subcommands() -> None:
    from simrnn.cli import calibrate, demo, fields, hpc, runs, sequence, sweep

    app.add_typer(sequence.app, name="sequence")
    for module in (fields, calibrate, runs, sweep, hpc, demo):
        module.register(app)


def _guard_every_command(group: typer.Typer) -> None:
    """Run every command of ``group`` and its sub-groups inside the one error boundary."""
    for command in group.registered_commands:
        command.callback = guard_command(command.callback)
    for sub in group.registered_groups:
        _guard_every_command(sub.typer_instance)


_register_subcommands()
_guard_every_command(app)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Print warnings as one line (``warning: ...``) instead of Python's file/line format."""
    typer.secho(f"warning: {message}", err=True, fg=typer.colors.YELLOW)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``simrnn`` console script.

    Usage errors (click's), :class:`UserInputError` and path errors print one line and exit with
    status 2; Ctrl-C prints one line and exits 130 (see :func:`simrnn.cli.output.exit_on_user_error`,
    which also guards every command under ``CliRunner``).
    """
    import warnings

    warnings.showwarning = _show_warning
    with exit_on_user_error():
        app(args=argv, prog_name="simrnn")  # standalone: click prints usage errors, exits 2
