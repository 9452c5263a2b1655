"""The export formats: ONNX (run with onnxruntime) and TorchScript (run with ``torch.jit.load``).

Both trace :attr:`ExportPlan.module` once with its example inputs; the dynamic axes of the specs
(batch, steps, height, width) stay dynamic because the modules compute every size from their
inputs' shapes. ONNX uses PyTorch's TorchScript-based exporter: the torch.export-based one (torch
2.13) also gives correct files but is many times slower for the field models, needs
``optimize=False`` for their time-major split and warns about ``nn.LSTM``'s weights.

Each writer returns a loaded predictor ``f(*numpy arrays) -> list of numpy arrays`` of the file it
wrote, so the caller can check the file against simrnn before keeping it.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch

from simrnn.errors import UserInputError
from simrnn.export.plan import ExportPlan

#: the ONNX operator set written (onnxruntime >= 1.14 runs it).
ONNX_OPSET = 17

Predictor = Callable[..., list[np.ndarray]]


@contextlib.contextmanager
def tracing_warnings_silenced() -> Iterator[None]:
    """Silence the warnings tracing always gives for simrnn's modules, and only those.

    * PyTorch 2.9+ deprecates ``torch.jit.trace`` and the TorchScript-based ONNX exporter: the
      TorchScript format IS that tracer, and the ONNX one is the exporter that handles our dynamic
      shapes quickly (see the module docstring);
    * ``TracerWarning: Converting a tensor to a Python boolean``: the models' input-shape checks,
      which hold for the example and are recorded as constants;
    * the LSTM batch-size warning: our initial states are computed inside the graph from ``params``,
      so every batch size works (the tests run other sizes than the traced one).
    """
    with warnings.catch_warnings():
        for message in (r"You are using the legacy TorchScript-based ONNX export",
                        r"The feature will be removed",
                        r"`torch\.jit\.trace(_method)?` is deprecated"):
            warnings.filterwarnings("ignore", message=message, category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=r"Converting a tensor to a Python boolean",
                                category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=r"Exporting a model to ONNX with a batch_size other than 1",
                                category=UserWarning)
        yield


def onnxruntime_session(path: Path):
    """An onnxruntime CPU session of ``path``; one sentence if onnxruntime is not installed."""
    try:
        import onnxruntime
    except ImportError:
        raise UserInputError("the onnx format needs onnx and onnxruntime: pip install 'simrnn[export]'.") from None
    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def write_onnx(plan: ExportPlan, path: Path) -> Predictor:
    """Write ``plan`` as an ONNX model at ``path``; return its onnxruntime predictor."""
    try:
        import onnx  # noqa: F401  (the exporter needs it; say so in one sentence)
    except ImportError:
        raise UserInputError("the onnx format needs onnx and onnxruntime: pip install 'simrnn[export]'.") from None
    dynamic = {spec.name: spec.dynamic_axes() for spec in plan.inputs + plan.outputs}
    with tracing_warnings_silenced(), torch.no_grad():
        torch.onnx.export(plan.module, plan.example, str(path), dynamo=False, opset_version=ONNX_OPSET,
                          input_names=[s.name for s in plan.inputs], output_names=[s.name for s in plan.outputs],
                          dynamic_axes=dynamic)
    session = onnxruntime_session(path)
    names = [s.name for s in plan.inputs]

    def predict(*arrays: np.ndarray) -> list[np.ndarray]:
        return session.run(None, {n: np.asarray(a, np.float32) for n, a in zip(names, arrays, strict=True)})

    return predict


def load_torchscript(path: Path) -> torch.jit.ScriptModule:
    """``torch.jit.load`` of an exported file, on the CPU."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.load` is deprecated", category=DeprecationWarning)
        return torch.jit.load(str(path), map_location="cpu")


def write_torchscript(plan: ExportPlan, path: Path) -> Predictor:
    """Write ``plan`` as a traced TorchScript module at ``path``; return its predictor (re-loaded)."""
    with tracing_warnings_silenced(), torch.no_grad():
        traced = torch.jit.trace(plan.module, plan.example, check_trace=False)
    traced.save(str(path))
    loaded = load_torchscript(path)

    def predict(*arrays: np.ndarray) -> list[np.ndarray]:
        with torch.no_grad(), torch.jit.optimized_execution(False):  # one call: no profiling runs
            out = loaded(*(torch.as_tensor(np.asarray(a, np.float32)) for a in arrays))
        return [t.numpy() for t in (out if isinstance(out, tuple | list) else (out,))]

    return predict


#: format name -> (file name, writer).
FORMATS: dict[str, tuple[str, Callable[[ExportPlan, Path], Predictor]]] = {
    "onnx": ("model.onnx", write_onnx),
    "torchscript": ("model.pt", write_torchscript),
}
