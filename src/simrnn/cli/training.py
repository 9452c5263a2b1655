"""``simrnn <task> train``: one command per task, its options generated from the task's config dataclass.

Every field of the config class (engine settings included) becomes ``--field-name VALUE`` with its
type, its help text and its default, so ``--help`` lists every key. Values given on the command line
override those of ``--config FILE`` (YAML/JSON, GrainLearning and W&B files accepted).
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from pathlib import Path
from typing import Annotated, Any

import typer

from simrnn.cli.options import field_option
from simrnn.cli.output import console


def add_train_command(app: typer.Typer, task_name: str, help_text: str, data_argument: str | None = None) -> None:
    """Add ``train`` to ``app`` for the registered task ``task_name``.

    ``data_argument`` names the config field that may also be given as the one positional argument
    (``simrnn fields train CACHE.h5`` as well as ``--cache CACHE.h5``).
    """
    from simrnn.registry import config_class, model_names

    settings_class = config_class(task_name)
    hints = typing.get_type_hints(settings_class)
    config_fields = dataclasses.fields(settings_class)

    reserved = {f.name for f in config_fields} & {"config", "resume", "positional_data"}
    if reserved:
        raise TypeError(f"{settings_class.__name__}: the setting name(s) {', '.join(sorted(reserved))} are "
                        "taken by `train` itself; rename them")

    def train(positional_data: str | None = None, config: Path | None = None, resume: Path | None = None,
              **given: Any) -> None:
        from simrnn.config import load_config_file
        from simrnn.engine import fit, get_task, global_rank
        from simrnn.errors import UserInputError

        values = load_config_file(config) if config else {}
        ignored = sorted(set(values) & getattr(get_task(task_name), "ignored_keys", frozenset()))
        if ignored and global_rank() == 0:
            console.print(f"note: ignoring {', '.join(ignored)} from {config}: no meaning in simrnn (every run keeps "
                          "full, self-describing checkpoints).")
        explicit = {k: v for k, v in given.items() if v is not None}
        if positional_data is not None:
            option = f"--{data_argument.replace('_', '-')}"
            if explicit.get(data_argument, positional_data) != positional_data:
                raise UserInputError(f"the data file is given twice, as {positional_data!r} and as {option} "
                                     f"{explicit[data_argument]!r}; give it once.")
            explicit[data_argument] = positional_data
        values.update(explicit)
        from simrnn.config import COMMAND_LINE

        source = f"{config}" if config else COMMAND_LINE
        run_dir = fit(task_name, values, resume=resume, source=source)
        if global_rank() == 0:
            print_run_summary(run_dir)

    positional = ([inspect.Parameter("positional_data", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=Annotated[
        str | None, typer.Argument(metavar=data_argument.upper(), show_default=False,
                                   help=f"Same as --{data_argument.replace('_', '-')}.")])] if data_argument else [])
    parameters = positional + [
        inspect.Parameter("config", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[
            Path | None, typer.Option("--config", "-c", help="YAML/JSON config file; options given here override it.")]),
        inspect.Parameter("resume", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[
            Path | None, typer.Option(help="Continue RUN_DIR from checkpoints/last.ckpt (e.g. with more --epochs).")]),
    ]
    from simrnn.engine.settings import TrainSettings

    engine_keys = {f.name for f in dataclasses.fields(TrainSettings)}
    panels = {True: "Engine settings (every task)", False: f"{task_name.capitalize()} settings"}
    parameters += [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=None,
                                     annotation=field_option(f, hints[f.name], model_names(task_name) if f.name == "model" else None,
                                                             panel=panels[f.name in engine_keys]))
                   for f in config_fields]
    train.__signature__ = inspect.Signature(parameters)
    train.__annotations__ = {p.name: p.annotation for p in parameters}
    train.__doc__ = help_text
    app.command("train")(train)


def print_run_summary(run_dir: Path) -> None:
    """Print where a finished run is, its test metrics next to its baselines, and its best epoch."""
    from simrnn.runs import CONFIG_FILE, LOSS_FIGURE, TEST_RESULTS_FILE, Run

    results = Run(Path(run_dir)).read(TEST_RESULTS_FILE)
    console.print(f"run: {run_dir}")
    def shown(values: dict) -> str:  # per-channel metrics ("mse/ipf_x:0") stay in test_results.json; the
        # skills of the fields' change categories ("solidify/skill") are headline figures
        return ", ".join(f"{k} {v:.4g}" for k, v in values.items() if "/" not in k or k.endswith("/skill"))

    per_channel = any("/" in k for k in results["metrics"])
    console.print(f"test ({results['checkpoint']}, best epoch {results['best_epoch'] + 1} of "
                  f"{results['epochs_trained']}): {shown(results['metrics'])}")
    for name, values in results.get("baselines", {}).items():
        console.print(f"baseline {name.replace('_', ' ')}: {shown(values)}")
    if per_channel:
        console.print(f"per-channel metrics: {Path(run_dir) / TEST_RESULTS_FILE}")
    console.print(f"learning curves: {Path(run_dir) / LOSS_FIGURE}")
    config = Run(Path(run_dir)).read(CONFIG_FILE)
    loggers = (config.get("resumed") or [config])[-1].get("loggers", {})  # this fit's loggers
    if loggers:
        console.print("logs: " + ", ".join(f"{name} {Path(run_dir) / path}" for name, path in loggers.items()))
