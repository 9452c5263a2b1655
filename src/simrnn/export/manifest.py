"""The manifest written next to an exported model (``manifest.json``).

Keys: ``format``, ``file``, ``family``, ``inputs`` / ``outputs`` (name, shape with dynamic axes
named, dtype, description, labels, units), family details (``time_alignment`` for sequences,
``normalisation`` for fields), ``verification``, ``model`` (registry name and constructor
arguments), ``source_run`` (run directory, checkpoint and its SHA-256), ``simrnn_version``,
``versions`` (torch, onnx opset) and ``created`` (UTC).
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

import torch

from simrnn.export.plan import ExportPlan, TensorSpec
from simrnn.export.source import ExportSource
from simrnn.files import sha256_file


def describe_tensor(spec: TensorSpec) -> dict[str, Any]:
    """One input/output entry of the manifest."""
    entry: dict[str, Any] = {"name": spec.name, "shape": list(spec.dims), "dtype": "float32",
                             "description": spec.description}
    if spec.labels is not None:
        entry["labels"] = list(spec.labels)
        entry["label_axis"] = spec.label_axis % len(spec.dims)
    if spec.units is not None:
        entry["units"] = list(spec.units)
    return entry


def build_manifest(fmt: str, file_name: str, plan: ExportPlan, source: ExportSource,
                   verification: dict[str, Any], extra_versions: dict[str, Any]) -> dict[str, Any]:
    """The manifest dict of one export (see the module docstring)."""
    from simrnn import __version__

    return {
        "format": fmt,
        "file": file_name,
        "family": plan.family,
        "inputs": [describe_tensor(s) for s in plan.inputs],
        "outputs": [describe_tensor(s) for s in plan.outputs],
        **plan.details,
        "verification": verification,
        "model": {"name": source.model_name, "args": source.model_args},
        "source_run": {"path": str(source.path.resolve()), "task": source.task,
                       "checkpoint": str(source.checkpoint.relative_to(source.path)),
                       "checkpoint_sha256": sha256_file(source.checkpoint)},
        "simrnn_version": __version__,
        "versions": {"torch": torch.__version__, **extra_versions},
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
