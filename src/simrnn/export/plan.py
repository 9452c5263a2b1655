"""What an exporter needs from a model family: a physical-units module and its tensor specs.

An :class:`ExportPlan` is built by a family's adapter (:mod:`simrnn.export.adapters`) and consumed
by the format writers (:mod:`simrnn.export.formats`) and the manifest (:mod:`simrnn.export.manifest`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of an exported model.

    Args:
        name: the tensor's name in the ONNX graph (and the manifest).
        dims: one entry per axis: a string names a dynamic axis (``"batch"``, ``"steps"``), an int
            is a fixed size.
        description: what the tensor holds, with units.
        labels: names along the last listed axis that has them (``label_axis``), e.g. output labels.
        label_axis: the axis ``labels`` run along (default: the last).
        units: one unit per label (same length as ``labels``), or one for the whole tensor.
    """

    name: str
    dims: list[str | int]
    description: str
    labels: list[str] | None = None
    label_axis: int = -1
    units: list[str] | None = None

    def dynamic_axes(self) -> dict[int, str]:
        """``{axis: name}`` of the dynamic axes, as the ONNX exporter takes them."""
        return {i: d for i, d in enumerate(self.dims) if isinstance(d, str)}


@dataclass
class ExportPlan:
    """A model ready to export: ``module(*example)`` maps physical-unit inputs to physical-unit outputs.

    Attributes:
        module: eval-mode ``nn.Module`` including every normalisation step.
        example: example inputs for tracing, one tensor per entry of ``inputs``.
        inputs, outputs: the tensors' specs, in call / return order.
        family: ``"sequence"`` or ``"fields"`` (what the manifest reader should expect).
        details: family-specific manifest entries (time alignment, normalisation constants ...).
    """

    module: torch.nn.Module
    example: tuple[torch.Tensor, ...]
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    family: str
    details: dict[str, Any] = field(default_factory=dict)
