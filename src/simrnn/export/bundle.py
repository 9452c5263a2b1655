"""``export_run``: a trained run -> a folder with the model file and its ``manifest.json``.

All or nothing (:meth:`simrnn.runs.Run.output`): everything is written into a hidden temporary
folder next to the destination and renamed into place at the end; a refused or failed export
leaves no trace.
"""

from __future__ import annotations

from pathlib import Path

from simrnn.errors import UserInputError
from simrnn.export.adapters import build_plan
from simrnn.export.formats import FORMATS, ONNX_OPSET
from simrnn.export.manifest import build_manifest
from simrnn.export.source import open_source
from simrnn.export.verify import verify
from simrnn.files import write_json_atomic

MANIFEST_FILE = "manifest.json"
#: default destination inside the run: ``RUN/exports/<timestamp>``.
EXPORTS_DIR = "exports"


def check_format(fmt: str) -> str:
    """``fmt`` if it is a known format, else one sentence naming the choices."""
    if fmt not in FORMATS:
        raise UserInputError(f"fmt {fmt!r}: unknown export format; expected one of {', '.join(FORMATS)}.",
                             key="fmt")
    return fmt


def export_run(run: str | Path, fmt: str = "onnx", out: str | Path | None = None) -> Path:
    """Export run directory ``run`` (its best checkpoint) as ``fmt``; return the new folder.

    The folder holds ``model.onnx`` or ``model.pt`` and ``manifest.json``
    (:mod:`simrnn.export.manifest`). The file is checked against simrnn on random inputs of other
    sizes than traced before anything is kept (:func:`simrnn.export.verify.verify`).

    Raises:
        UserInputError: unknown format, not a run, no best checkpoint, a model without exporter,
            an existing ``out``.
    """
    check_format(fmt)
    source = open_source(run)
    try:
        plan = build_plan(source.model, source.meta, str(source.checkpoint))
    except KeyError as exc:
        raise UserInputError(f"{source.checkpoint}: hyper_parameters.data_meta has no {exc.args[0]!r}; "
                             f"cannot describe the model's inputs.") from None
    except (TypeError, ValueError) as exc:
        raise UserInputError(f"{source.checkpoint}: hyper_parameters.data_meta holds a value of the wrong kind "
                             f"({exc}); cannot describe the model's inputs.") from None
    file_name, writer = FORMATS[fmt]
    with source.run.output(EXPORTS_DIR, out) as folder:
        checked = verify(plan, writer(plan, folder / file_name))
        versions = {"onnx_opset": ONNX_OPSET} if fmt == "onnx" else {}
        write_json_atomic(folder / MANIFEST_FILE, build_manifest(fmt, file_name, plan, source, checked, versions))
    return folder.path
