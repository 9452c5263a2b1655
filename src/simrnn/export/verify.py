"""Check an exported file against the module it came from, on fresh random inputs of other sizes."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from simrnn.export.formats import Predictor
from simrnn.export.plan import ExportPlan

#: the largest difference between the file and simrnn, relative to the largest output, that is accepted.
TOLERANCE = 1e-5
#: how much each dynamic axis grows against the traced example (the file must not depend on it).
GROWTH = 3


def random_inputs(plan: ExportPlan, growth: int = GROWTH, seed: int = 1) -> list[np.ndarray]:
    """Random inputs with every dynamic axis ``growth`` longer than the example's, values in the
    example's range per tensor: ``[*spec.dims with dynamic axes resized]`` float32 each."""
    sizes: dict[str, int] = {}
    for spec, example in zip(plan.inputs, plan.example, strict=True):
        for axis, name in spec.dynamic_axes().items():
            sizes.setdefault(name, example.shape[axis] + growth)
    generator = torch.Generator().manual_seed(seed)
    arrays = []
    for spec, example in zip(plan.inputs, plan.example, strict=True):
        shape = [sizes[d] if isinstance(d, str) else d for d in spec.dims]
        lo, hi = example.min(), example.max()
        arrays.append((lo + (hi - lo) * torch.rand(shape, generator=generator)).numpy())
    return arrays


def relative_difference(got: list[np.ndarray], want: list[np.ndarray]) -> float:
    """``max |got - want| / max |want|`` over all outputs (0 when both are all zero)."""
    diff = max(float(np.abs(g - w).max()) for g, w in zip(got, want, strict=True))
    scale = max(float(np.abs(w).max()) for w in want)
    return diff / scale if scale > 0 else diff


def verify(plan: ExportPlan, predictor: Predictor) -> dict[str, Any]:
    """Run the file and the module on the same random inputs (other sizes than traced).

    Returns the manifest's ``verification`` entry; raises ``RuntimeError`` (a bug in an adapter or
    in the exporter, not a user error) when they differ by more than :data:`TOLERANCE`.
    """
    inputs = random_inputs(plan)
    with torch.no_grad():
        want = plan.module(*(torch.from_numpy(a) for a in inputs))
    want = [t.numpy() for t in (want if isinstance(want, tuple | list) else (want,))]
    got = predictor(*inputs)
    if [g.shape for g in got] != [w.shape for w in want]:
        raise RuntimeError(f"exported model gives shapes {[g.shape for g in got]}, simrnn {[w.shape for w in want]}")
    rel = relative_difference(got, want)
    if not rel <= TOLERANCE:
        raise RuntimeError(f"exported model differs from simrnn by {rel:.3g} (relative), more than {TOLERANCE}")
    return {"input_shapes": {s.name: list(a.shape) for s, a in zip(plan.inputs, inputs, strict=True)},
            "max_relative_difference": rel, "tolerance": TOLERANCE}
