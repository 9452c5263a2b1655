"""``simrnn export``: a trained run as a self-contained ONNX or TorchScript model (+ manifest.json)."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated

import typer

from simrnn.cli.output import console
from simrnn.export.bundle import export_run

#: the library's default format (written once, in ``export_run``'s signature).
_DEFAULT_FORMAT = inspect.signature(export_run).parameters["fmt"].default


def export(
    run: Annotated[Path, typer.Argument(help="Run directory with checkpoints/best.ckpt (any task).")],
    fmt: Annotated[str, typer.Option("--format", help="onnx (run with onnxruntime) or torchscript "
                                     "(run with torch.jit.load).")] = _DEFAULT_FORMAT,
    out: Annotated[Path | None, typer.Option(help="New folder to write; default RUN/exports/<format>-<time>.")] = None,
) -> None:
    """Export a trained surrogate for use without simrnn: physical units in and out, dynamic batch
    (and sequence length / grid size), plus manifest.json describing inputs, outputs and units.

    The file is checked against simrnn on random inputs before it is kept. See docs/export.md.
    """
    folder = export_run(run, fmt, out)
    manifest = (folder / "manifest.json")
    console.print(f"exported {run} as {fmt}: {folder}/ (model file + {manifest.name})")


def register(app: typer.Typer) -> None:
    """Add ``simrnn export`` to the top-level command."""
    app.command("export")(export)
