"""Autoregressive rollout of a field surrogate: predictions fed back as context for several steps.

Starting from the ``L`` true context frames of window ``start`` of a split, horizon step ``k``
(1-based) predicts frame ``start + L + k - 1`` from the ``L`` most recent frames, whose IPF are the
model's own earlier predictions once ``k > 1``; temperatures, the next one included, are always
the true (simulated) ones, as in a coupled thermal-microstructure run. Every slice of the plane
is rolled out; the error of each horizon step is pooled over the slices (masked, see
:mod:`simrnn.fields.metrics`) and compared with persistence from the same start (the last true
context frame held for the whole horizon). The change categories (melt, solidify, ...) of horizon
step k compare that held frame with the target, i.e. they count everything that changed since the
start.

Example::

    run = load_fields_run(run_dir)
    steps = rollout(run, run_dataset(run, "test"), horizon=3)
    [s["mse"] for s in steps]      # error growing with the horizon
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch.utils.data import default_collate

from simrnn.errors import UserInputError
from simrnn.fields.dataset import FieldSequenceDataset
from simrnn.fields.metrics import FieldScores, add_skills, band_mask
from simrnn.fields.predict import FieldsRun, run_dataset
from simrnn.runs import new_output_dir, write_artifact


def max_horizon(dataset: FieldSequenceDataset, start: int = 0) -> int:
    """Longest rollout from window ``start``: the split's windows from there on."""
    return len(dataset.windows[dataset.split]) - start


def _items(dataset: FieldSequenceDataset, window: int, slices: range) -> dict[str, torch.Tensor]:
    return default_collate([dataset[window * dataset.n_slices + s] for s in slices])


@torch.no_grad()
def rollout(run: FieldsRun, dataset: FieldSequenceDataset, horizon: int, start: int = 0,
            batch_size: int = 16) -> list[dict[str, Any]]:
    """Roll ``run``'s model out ``horizon`` steps from window ``start`` on every slice of ``dataset``.

    Returns one record per horizon step: ``horizon``, ``target_step``, the model's masked metrics
    (``mse``, ``mae``, ``ssim``, ``psnr``, ``band_mse`` ...), ``skill`` and ``persistence``
    (the same metrics of the held last true frame).
    """
    available = max_horizon(dataset, start)
    if not 0 <= start < len(dataset.windows[dataset.split]):
        raise UserInputError(f"--start {start}: the {dataset.split} split has windows "
                             f"0..{len(dataset.windows[dataset.split]) - 1}.")
    if not 1 <= horizon <= available:
        raise UserInputError(f"--steps {horizon}: the {dataset.split} split allows 1..{available} rollout steps "
                             f"from window {start}.")
    model_scores = [FieldScores() for _ in range(horizon)]
    held_scores = [FieldScores() for _ in range(horizon)]
    norm, band_K = run.meta["normalisation"], run.band_K
    for first in range(0, dataset.n_slices, batch_size):
        slices = range(first, min(first + batch_size, dataset.n_slices))
        start_items = _items(dataset, start, slices)
        ipf = list(start_items["context"][:, :, 1:].unbind(1))  # L frames [B, 9, H, W], then predictions
        held = ipf[-1]
        for k in range(horizon):
            items = start_items if k == 0 else _items(dataset, start + k, slices)
            context = torch.cat([items["context"][:, :, :1], torch.stack(ipf[k:k + dataset.seq_length], 1)], 2)
            pred = run.model(context, items["future_temp"]).float()
            ipf.append(pred)
            band = band_mask(items["future_temp"], norm, *band_K)
            model_scores[k].update(pred, items["target"], items["mask"], band, held)
            held_scores[k].update(held, items["target"], items["mask"], band, held)
    steps = [int(dataset.cache.steps[w[-1]]) for w in dataset.windows[dataset.split]]
    records = []
    for k in range(horizon):
        baseline = held_scores[k].compute()
        metrics = add_skills(model_scores[k].compute(), baseline)
        records.append({"horizon": k + 1, "target_step": steps[start + k], **metrics, "persistence": baseline})
    return records


def rollout_to_files(run: FieldsRun, horizon: int, split: str = "test", start: int = 0,
                     cache: str | Path | None = None, out: str | Path | None = None) -> dict[str, Any]:
    """Roll out and write ``rollout.json`` and ``rollout.png`` into ``out`` (default ``RUN/rollouts/<timestamp>``)."""
    from simrnn.fields.prediction_figures import plot_rollout

    dataset = run_dataset(run, split, cache, preload=True)
    records = rollout(run, dataset, horizon, start)
    out_dir = new_output_dir(out, run.path / "rollouts")
    summary = {"run": str(run.path), "cache": str(dataset.cache.path), "split": split, "plane": dataset.plane,
               "start_window": start, "n_slices": dataset.n_slices, "steps": records}
    write_artifact(out_dir, "rollout.json", summary)
    figure = plot_rollout(records, out_dir / "rollout.png",
                          title=f"{run.config.get('model', {}).get('name', 'model')} rollout, {split} split")
    return {**summary, "out_dir": out_dir, "figure": figure}
