"""The ``simrnn`` command. Thin: parses arguments, calls library functions, prints.

Each family has its own sub-application module (``cli/sequence.py``, ``cli/fields.py``,
``cli/calibrate.py``); this module assembles them and turns user errors into one line + exit 2.
"""

from __future__ import annotations

import typer

from simrnn.cli.output import exit_on_user_error

app = typer.Typer(
    name="simrnn",
    help="Train, evaluate, calibrate with and deploy recurrent surrogates of materials simulations.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register_subcommands() -> None:
    from simrnn.cli import calibrate, demo, fields, runs, sequence

    app.add_typer(sequence.app, name="sequence")
    for module in (fields, calibrate, runs, demo):
        module.register(app)


_register_subcommands()


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Print warnings as one line (``warning: ...``) instead of Python's file/line format."""
    typer.secho(f"warning: {message}", err=True, fg=typer.colors.YELLOW)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``simrnn`` console script.

    Usage errors (click's) and :class:`UserInputError` print one line and exit with status 2.
    """
    import warnings

    warnings.showwarning = _show_warning
    with exit_on_user_error():
        app(args=argv, prog_name="simrnn")  # standalone: click prints usage errors, exits 2
