"""Load a trained field run from its checkpoint and predict one sample of a split.

The checkpoint alone describes the model and how to feed it (``data_meta``: plane, split ratio,
sequence length, normalisation, image size); the cache defaults to the file the run trained on
(config.json's ``data.file``) and can be replaced by another cache of the same grid.

Example::

    run = load_fields_run("runs/fields/2026-01-01_12-00-00")
    dataset = run_dataset(run, "test")
    sample = predict_sample(run, dataset, sample_index(dataset, timestep=20, slice_index=40))
    sample["prediction"].shape   # (9, H, W)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from simrnn.errors import UserInputError
from simrnn.fields.cache import check_cache_unchanged
from simrnn.fields.dataset import FieldSequenceDataset
from simrnn.fields.metrics import FieldScores, add_skills, band_mask, persistence
from simrnn.fields.predict_settings import FieldPredictSettings
from simrnn.files import atomic_path, write_json_atomic
from simrnn.runs import Run


@dataclass
class FieldsRun:
    """A loaded field surrogate: the model (eval mode) and its checkpoint's ``data_meta``."""

    path: Path
    model: torch.nn.Module
    meta: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def band_K(self) -> tuple[float, float]:
        return tuple(self.meta["solidification_band_K"])


#: ``data_meta`` keys a fields run must have (checked by :meth:`simrnn.runs.Run.open`).
META_KEYS = ("plane", "split_ratio", "seq_length", "image_size", "solidification_band_K",
             "normalisation.t_ambient_K", "normalisation.t_max_train_K")


def load_fields_run(path: str | Path, which: str = "best") -> FieldsRun:
    """Open a fields run directory from its ``best`` (default) or ``last`` checkpoint.

    Validated by :meth:`simrnn.runs.Run.open` (a sequence run, a crafted checkpoint or an
    incomplete ``data_meta`` is refused in one sentence).
    """
    run = Run.open(path, "fields", which=which, meta_keys=META_KEYS)
    return FieldsRun(run.path, run.model, run.meta, run.config)


def run_dataset(run: FieldsRun, split: str = "test", cache: str | Path | None = None,
                preload: bool = True) -> FieldSequenceDataset:
    """The run's plane sequences of ``split`` (its own cache unless ``cache``), with its normalisation.

    The run's own cache must still be the file it trained on (SHA-256 in config.json); a cache
    replaced in place is refused (give it with ``cache`` to use it knowingly).
    """
    data = run.config.get("data") if isinstance(run.config.get("data"), dict) else {}
    if not cache:
        cache = data.get("file")
        if not cache:
            raise UserInputError(f"{run.path}: config.json names no data file; give cache (the run's field cache).",
                                 key="cache")
    if Path(cache) == Path(data.get("file", "")):
        check_cache_unchanged(cache, data.get("sha256"), run.path)
    m = run.meta
    dataset = FieldSequenceDataset(cache, plane=m["plane"], split=split, split_ratio=tuple(m["split_ratio"]),
                                   seq_length=m["seq_length"], preload=preload, normalisation=m["normalisation"])
    if list(dataset.image_size) != list(m["image_size"]):
        raise UserInputError(f"{cache}: {m['plane']} images are {list(dataset.image_size)} cells, but the run "
                             f"{run.path} was trained on {m['image_size']}.")
    return dataset


def require_microstructure(run: FieldsRun) -> None:
    """Refuse a temperature run where a microstructure run is needed (one sentence)."""
    if run.meta.get("target", "microstructure") != "microstructure":
        raise UserInputError(f"{run.path}: a temperature run (target 'temperature'); predict and rollout take a "
                             "microstructure run (a temperature run drives a microstructure run's rollout as its "
                             "temperature run).")


def target_steps(dataset: FieldSequenceDataset) -> list[int]:
    """The file step number ``k`` of every window's target in the dataset's split, in order."""
    return [int(dataset.cache.steps[w[-1]]) for w in dataset.windows[dataset.split]]


def sample_index(dataset: FieldSequenceDataset, timestep: int | None = None, slice_index: int | None = None) -> int:
    """Dataset index of the window whose target is step ``timestep`` (default: the first) at ``slice_index``
    (default: the middle slice)."""
    steps = target_steps(dataset)
    if timestep is None:
        window = 0
    elif timestep in steps:
        window = steps.index(timestep)
    else:
        raise UserInputError(f"timestep {timestep}: not a target step of the {dataset.split} split; "
                             f"expected one of {', '.join(map(str, steps))}.", key="timestep")
    s = dataset.n_slices // 2 if slice_index is None else slice_index
    if not 0 <= s < dataset.n_slices:
        raise UserInputError(f"slice_index {s}: the {dataset.plane} plane has slices 0..{dataset.n_slices - 1}.",
                             key="slice_index")
    return window * dataset.n_slices + s


def score_one(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, band: torch.Tensor,
              reference: torch.Tensor) -> dict[str, float]:
    """Masked metrics of one prediction ``[9, H, W]`` (mask, band ``[H, W]``; change categories from
    ``reference [9, H, W]``, the last context frame)."""
    scores = FieldScores()
    scores.update(pred[None], target[None], mask[None], band[None], reference[None])
    return scores.compute()


@torch.no_grad()
def predict_sample(run: FieldsRun, dataset: FieldSequenceDataset, index: int) -> dict[str, Any]:
    """Predict dataset item ``index``; numpy arrays and metrics of the model and the persistence baseline.

    Keys: ``context [L, 10, H, W]``, ``future_temp [H, W]`` (normalised), ``target``, ``prediction``,
    ``persistence [9, H, W]``, ``mask``, ``band [H, W]``, ``context_steps [L]``, ``target_step``,
    ``slice_index``, ``metrics``, ``persistence_metrics``.
    """
    item = dataset[index]
    context, future_temp = item["context"][None], item["future_temp"][None]
    pred = run.model(context, future_temp)[0].float()
    held = persistence(context)[0]
    band = band_mask(future_temp, run.meta["normalisation"], *run.band_K)[0]
    baseline = score_one(held, item["target"], item["mask"], band, held)
    metrics = add_skills(score_one(pred, item["target"], item["mask"], band, held), baseline)
    return {
        "context": item["context"].numpy(), "future_temp": item["future_temp"][0].numpy(),
        "target": item["target"].numpy(), "prediction": pred.numpy(), "persistence": held.numpy(),
        "mask": item["mask"].numpy(), "band": band.numpy(), "context_steps": item["context_steps"].numpy(),
        "target_step": item["target_step"], "slice_index": item["slice_index"],
        "metrics": metrics, "persistence_metrics": baseline,
    }


def predict_to_files(run: FieldsRun, split: str = FieldPredictSettings.split,
                     timestep: int | None = FieldPredictSettings.timestep,
                     slice_index: int | None = FieldPredictSettings.slice_index, cache: str | Path | None = None,
                     out: str | Path | None = None) -> dict[str, Any]:
    """Predict one sample; write ``prediction.png``, ``prediction.npz`` and ``metrics.json`` into
    ``out`` (default ``RUN/predictions/<timestamp>``); return a summary."""
    from simrnn.fields.prediction_figures import plot_prediction

    require_microstructure(run)
    dataset = run_dataset(run, split, cache, preload=False)
    sample = predict_sample(run, dataset, sample_index(dataset, timestep, slice_index))
    arrays = {k: v for k, v in sample.items() if isinstance(v, np.ndarray)}
    summary = {"run": str(run.path), "cache": str(dataset.cache.path), "split": split, "plane": dataset.plane,
               "target_step": sample["target_step"], "slice_index": sample["slice_index"],
               "context_steps": sample["context_steps"].tolist(), "metrics": sample["metrics"],
               "persistence": sample["persistence_metrics"]}
    with Run(run.path).output("predictions", out) as made:
        with atomic_path(made / "prediction.npz") as tmp, open(tmp, "wb") as handle:
            np.savez(handle, **arrays, target_step=sample["target_step"], slice_index=sample["slice_index"])
        write_json_atomic(made / "metrics.json", summary)
        figure = plot_prediction(sample, made / "prediction.png", plane=dataset.plane,
                                 model=run.config.get("model", {}).get("name", "model"))
    out_dir, figure = made.path, made.final(figure)
    return {**summary, "out_dir": out_dir, "figure": figure}
