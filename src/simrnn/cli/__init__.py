"""The ``simrnn`` command. Thin: parses arguments, calls library functions, prints.

Each task has its own command group (``cli/sequence.py``, ``cli/fields.py``, or a plugin's
``commands`` module, found by :func:`simrnn.registry.task_packages`); this module assembles them
with the shared commands (``runs``, ``sweep``, ``hpc``, ``demo``, ``export``, ``calibrate``) and runs every
command inside the one error boundary
(:func:`simrnn.cli.output.exit_on_user_error`): user errors are one line + exit 2.
"""

from __future__ import annotations

from typing import Annotated

import typer

from simrnn.cli.output import exit_on_user_error, guard_command


def build_app() -> typer.Typer:
    """The ``simrnn`` command: one group per task (from the registry), then the shared commands.

    A task's group is its own Typer ``app`` (:class:`simrnn.registry.TaskPackage` ``commands``)
    or, for a task without commands of its own, a new group; either gets ``train``, generated
    from the task's settings class, if it has none. ``simrnn sequence calibrate`` is the sequence
    task's; ``simrnn calibrate`` is kept as its alias. Every command runs inside the one error
    boundary. Build it again after adding a task at run time (:func:`simrnn.registry.rediscover`).
    """
    import importlib

    from simrnn.cli import calibrate, demo, export, hpc, runs, sweep
    from simrnn.cli.training import add_train_command
    from simrnn.registry import task_packages

    root = typer.Typer(
        name="simrnn",
        help="Train, evaluate, calibrate with and deploy recurrent surrogates of materials simulations.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    for entry in task_packages().values():
        if entry.commands:
            group = importlib.import_module(entry.commands).app
        else:
            group = typer.Typer(help=f"The {entry.name} task (simrnn.tasks plugin {entry.package}).",
                                no_args_is_help=True)
        if not _has_command(group, "train"):
            add_train_command(group, entry.name, f"Train a {entry.name} model into runs/{entry.name}/<timestamp>/.")
        if entry.name == "sequence" and not _has_command(group, "calibrate"):
            calibrate.register(group)
        root.add_typer(group, name=entry.name)
    for module in (calibrate, runs, sweep, hpc, demo, export):
        module.register(root)
    _guard_every_command(root)
    _add_version_and_short_help(root)
    return root


def _has_command(group: typer.Typer, name: str) -> bool:
    return any((c.name or c.callback.__name__.replace("_", "-")) == name for c in group.registered_commands)


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
            _APP.append(build_app())
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
