"""Export a trained surrogate for use without simrnn: ONNX (onnxruntime) or TorchScript.

One call per run, for every model family (sequence LSTM, CNN-LSTM, PredRNN; a new family adds an
adapter, :mod:`simrnn.export.adapters`)::

    from simrnn.export import export_run
    folder = export_run("runs/sequence/2026-01-01_12-00-00", "onnx")   # model.onnx + manifest.json

The exported model takes and returns physical units (normalisation inside), has a dynamic batch
and, where the model allows, a dynamic sequence length or grid size. See docs/export.md.
"""

from simrnn.export.bundle import MANIFEST_FILE, export_run
from simrnn.export.formats import FORMATS

__all__ = ["FORMATS", "MANIFEST_FILE", "export_run"]
