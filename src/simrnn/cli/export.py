"""``simrnn export``: a trained run as a self-contained ONNX or TorchScript model (+ manifest.json).

Imports the exporter (and torch) only when the command runs, so ``simrnn --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from simrnn.cli.output import console


def export(
    run: Annotated[Path, typer.Argument(help="Run directory with checkpoints/best.ckpt (any task).")],
    fmt: Annotated[str | None, typer.Option("--format", help="onnx (run with onnxruntime; the default) or "
                                            "torchscript (run with torch.jit.load).")] = None,
    out: Annotated[Path | None, typer.Option(help="New folder to write; default RUN/exports/<time>.")] = None,
) -> None:
    """Export a trained surrogate for use without simrnn: physical units in and out, dynamic batch
    (and sequence length / grid size), plus manifest.json describing inputs, outputs and units.

    The file is checked against simrnn on random inputs before it is kept. See docs/export.md.
    """
    from simrnn.export import MANIFEST_FILE, export_run

    folder = export_run(run, out=out, **({"fmt": fmt} if fmt is not None else {}))
    (model_file,) = [p for p in folder.iterdir() if p.name != MANIFEST_FILE]
    console.print(f"exported {run}: {model_file} and {folder / MANIFEST_FILE}")


def register(app: typer.Typer) -> None:
    """Add ``simrnn export`` to the top-level command."""
    app.command("export")(export)
