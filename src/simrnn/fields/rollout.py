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

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import default_collate

from simrnn.errors import UserInputError
from simrnn.fields.dataset import FieldSequenceDataset
from simrnn.fields.metrics import FieldScores, add_skills, band_mask, kelvin
from simrnn.fields.predict import FieldsRun, require_microstructure, run_dataset
from simrnn.fields.predict_settings import RolloutSettings
from simrnn.fields.temperature import TemperatureScores
from simrnn.files import write_json_atomic
from simrnn.runs import Run


def max_horizon(dataset: FieldSequenceDataset, start: int = 0) -> int:
    """Longest rollout from window ``start``: the split's windows from there on."""
    return len(dataset.windows[dataset.split]) - start


def _items(dataset: FieldSequenceDataset, window: int, slices: range) -> dict[str, torch.Tensor]:
    return default_collate([dataset[window * dataset.n_slices + s] for s in slices])


def check_cascade(run: FieldsRun, temperature: FieldsRun) -> None:
    """Refuse a temperature run that cannot drive ``run``: wrong target, plane, grid or a longer context."""
    if temperature.meta.get("target") != "temperature":
        raise UserInputError(f"temperature {temperature.path}: not a temperature run (a fields run trained with "
                             "target temperature).", key="temperature")
    require_microstructure(run)
    for key in ("plane", "image_size"):
        if temperature.meta[key] != run.meta[key]:
            raise UserInputError(f"temperature {temperature.path}: its {key} is {temperature.meta[key]}, but "
                                 f"{run.path} has {run.meta[key]}.", key="temperature")
    if temperature.meta["seq_length"] > run.meta["seq_length"]:
        raise UserInputError(f"temperature {temperature.path}: it reads {temperature.meta['seq_length']} context "
                             f"frames, more than the {run.meta['seq_length']} of {run.path}.", key="temperature")


def renormalise(temp: torch.Tensor, source: dict[str, Any], target: dict[str, Any]) -> torch.Tensor:
    """Normalised temperature under ``source``'s constants -> under ``target``'s (unchanged if they are equal)."""
    if source == target:
        return temp
    kelvin_ = kelvin(temp, source)
    return (kelvin_ - target["t_ambient_K"]) / (target["t_max_train_K"] - target["t_ambient_K"])


def check_start(dataset: FieldSequenceDataset, horizon: int, start: int) -> None:
    """Refuse a start window or horizon that the split does not have, with one sentence."""
    if not 0 <= start < len(dataset.windows[dataset.split]):
        raise UserInputError(f"start {start}: the {dataset.split} split has windows "
                             f"0..{len(dataset.windows[dataset.split]) - 1}.", key="start")
    available = max_horizon(dataset, start)
    if not 1 <= horizon <= available:
        raise UserInputError(f"horizon {horizon}: the {dataset.split} split allows 1..{available} rollout steps "
                             f"from window {start}.", key="horizon")


@torch.no_grad()
def roll(run: FieldsRun, dataset: FieldSequenceDataset, horizon: int, start: int, slices: range,
         temperature: FieldsRun | None = None) -> Iterator[dict[str, Any]]:
    """The rollout of ``slices`` step by step: for horizon step k, ``items`` (the dataset's true batch of
    window ``start + k``), ``pred [B, 9, H, W]``, ``held [B, 9, H, W]`` (the last true context frame),
    ``future_temp [B, 1, H, W]`` (the temperature the model was given: true, or the cascade's) and
    ``held_temp`` (the last true context temperature)."""
    if temperature is not None:
        check_cascade(run, temperature)
    check_start(dataset, horizon, start)
    norm = run.meta["normalisation"]
    start_items = _items(dataset, start, slices)
    ipf = list(start_items["context"][:, :, 1:].unbind(1))  # L frames [B, 9, H, W], then predictions
    temps = list(start_items["context"][:, :, :1].unbind(1))  # L frames [B, 1, H, W], then (cascade) predictions
    held, held_temp = ipf[-1], temps[-1]
    for k in range(horizon):
        items = start_items if k == 0 else _items(dataset, start + k, slices)
        if temperature is None:
            context_temp, future_temp = items["context"][:, :, :1], items["future_temp"]
        else:
            future_temp = _predict_temperature(temperature, temps, norm)
            context_temp = torch.stack(temps[k:k + dataset.seq_length], 1)
            temps.append(future_temp)
        context = torch.cat([context_temp, torch.stack(ipf[k:k + dataset.seq_length], 1)], 2)
        pred = run.model(context, future_temp).float()
        ipf.append(pred)
        yield {"items": items, "pred": pred, "held": held, "future_temp": future_temp, "held_temp": held_temp}


def rollout_frames(run: FieldsRun, dataset: FieldSequenceDataset, horizon: int, start: int = 0,
                   slice_index: int | None = None, temperature: FieldsRun | None = None) -> dict[str, Any]:
    """The frames of one slice's rollout (default: the middle slice), numpy, for figures.

    Keys: ``target``, ``pred``, ``held`` ``[horizon, 9, H, W]``; ``temp_K`` (true), ``temp_given_K``
    (what the model read) ``[horizon, H, W]``; ``mask [horizon, H, W]``; ``target_steps``; ``slice_index``;
    ``extent_m`` (``[left, right, bottom, top]`` of the image in metres) and ``axes`` (names of W and H).
    """
    from simrnn.fields.dataset import _LAYOUT

    fixed, perm = _LAYOUT[dataset.plane]
    grid = dataset.cache.grid
    coords = [np.asarray(a) for a in (grid.x, grid.y, grid.z)]
    s = dataset.n_slices // 2 if slice_index is None else slice_index
    steps = list(roll(run, dataset, horizon, start, range(s, s + 1), temperature))
    norm = run.meta["normalisation"]
    windows = dataset.windows[dataset.split]
    return {
        "target": torch.cat([st["items"]["target"] for st in steps]).numpy(),
        "pred": torch.cat([st["pred"] for st in steps]).numpy(),
        "held": torch.cat([st["held"] for st in steps]).numpy(),
        "temp_K": torch.cat([kelvin(st["items"]["future_temp"][:, 0], norm) for st in steps]).numpy(),
        "temp_given_K": torch.cat([kelvin(st["future_temp"][:, 0], norm) for st in steps]).numpy(),
        "mask": torch.cat([st["items"]["mask"] for st in steps]).numpy(),
        "target_steps": [int(dataset.cache.steps[windows[start + k][-1]]) for k in range(horizon)],
        "slice_index": s,
        "extent_m": [float(coords[perm[2]][0]), float(coords[perm[2]][-1]), float(coords[perm[1]][0]),
                     float(coords[perm[1]][-1])],
        "axes": ["xyz"[perm[2]], "xyz"[perm[1]]],
    }


@torch.no_grad()
def rollout(run: FieldsRun, dataset: FieldSequenceDataset, horizon: int, start: int = 0,
            batch_size: int = 16, temperature: FieldsRun | None = None) -> list[dict[str, Any]]:
    """Roll ``run``'s model out ``horizon`` steps from window ``start`` on every slice of ``dataset``.

    With ``temperature`` (a temperature run, :mod:`simrnn.fields.temperature`) the cascade runs ahead
    of the simulation: the temperature model predicts T of every horizon step from its own earlier
    predictions (the start window's true temperatures first), and the microstructure model reads
    those predicted temperatures, in its context and as the next temperature.

    Returns one record per horizon step: ``horizon``, ``target_step``, the model's masked metrics
    (``mse``, ``mae``, ``ssim``, ``psnr``, ``band_mse``, the change categories' ...), ``skill`` and
    ``persistence`` (the same metrics of the held last true frame); with ``temperature`` also
    ``temperature`` = ``{"mae_K", "persistence_mae_K"}`` (the predicted and the held last true
    temperature against the truth, masked cells).
    """
    if temperature is not None:
        check_cascade(run, temperature)
    check_start(dataset, horizon, start)
    model_scores = [FieldScores() for _ in range(horizon)]
    held_scores = [FieldScores() for _ in range(horizon)]
    temp_scores = [TemperatureScores() for _ in range(horizon)]
    held_temp_scores = [TemperatureScores() for _ in range(horizon)]
    norm, band_K = run.meta["normalisation"], run.band_K
    for first in range(0, dataset.n_slices, batch_size):
        slices = range(first, min(first + batch_size, dataset.n_slices))
        for k, step in enumerate(roll(run, dataset, horizon, start, slices, temperature)):
            items = step["items"]
            if temperature is not None:
                true_K, unused = kelvin(items["future_temp"][:, 0], norm), torch.zeros_like(items["mask"])
                temp_scores[k].update(kelvin(step["future_temp"][:, 0], norm), true_K, items["mask"], unused, unused)
                held_temp_scores[k].update(kelvin(step["held_temp"][:, 0], norm), true_K, items["mask"], unused, unused)
            band = band_mask(items["future_temp"], norm, *band_K)
            model_scores[k].update(step["pred"], items["target"], items["mask"], band, step["held"])
            held_scores[k].update(step["held"], items["target"], items["mask"], band, step["held"])
    steps = [int(dataset.cache.steps[w[-1]]) for w in dataset.windows[dataset.split]]
    records = []
    for k in range(horizon):
        baseline = held_scores[k].compute()
        metrics = add_skills(model_scores[k].compute(), baseline)
        records.append({"horizon": k + 1, "target_step": steps[start + k], **metrics, "persistence": baseline})
        if temperature is not None:
            records[-1]["temperature"] = {"mae_K": temp_scores[k].compute()["mae_K"],
                                          "persistence_mae_K": held_temp_scores[k].compute()["mae_K"]}
    return records


def _predict_temperature(temperature: FieldsRun, temps: list[torch.Tensor], norm: dict[str, Any]) -> torch.Tensor:
    """The temperature run's next frame ``[B, 1, H, W]`` from the last of ``temps`` (normalised with ``norm``)."""
    own = temperature.meta["normalisation"]
    context = torch.stack([renormalise(t, norm, own) for t in temps[-temperature.meta["seq_length"]:]], 1)
    return renormalise(temperature.model(context).float(), own, norm)


def cascade_penalty(true_T: list[dict[str, Any]], cascade: list[dict[str, Any]]) -> list[float]:
    """Per horizon step, how much larger the microstructure MSE is with predicted than with true T, in %."""
    return [100.0 * (c["mse"] - t["mse"]) / t["mse"] for t, c in zip(true_T, cascade, strict=True)]


def rollout_to_files(run: FieldsRun, horizon: int = RolloutSettings.horizon, split: str = RolloutSettings.split,
                     start: int = RolloutSettings.start,
                     cache: str | Path | None = None, out: str | Path | None = None,
                     temperature: FieldsRun | None = None) -> dict[str, Any]:
    """Roll out and write ``rollout.json`` and ``rollout.png`` into ``out`` (default ``RUN/rollouts/<timestamp>``).

    With ``temperature`` the summary also holds ``cascade`` (the records with predicted temperatures)
    and ``cascade_penalty_percent`` per horizon step.
    """
    from simrnn.fields.prediction_figures import plot_rollout, plot_rollout_frames

    require_microstructure(run)
    if temperature is not None:
        check_cascade(run, temperature)
    dataset = run_dataset(run, split, cache, preload=True)
    records = rollout(run, dataset, horizon, start)
    summary = {"run": str(run.path), "cache": str(dataset.cache.path), "split": split, "plane": dataset.plane,
               "start_window": start, "n_slices": dataset.n_slices, "steps": records}
    if temperature is not None:
        cascade = rollout(run, dataset, horizon, start, temperature=temperature)
        summary.update(temperature_run=str(temperature.path), cascade=cascade,
                       cascade_penalty_percent=cascade_penalty(records, cascade))
    name = run.config.get("model", {}).get("name", "model")
    frames = rollout_frames(run, dataset, horizon, start)
    cascade_frames = rollout_frames(run, dataset, horizon, start, temperature=temperature) if temperature else None
    with Run(run.path).output("rollouts", out) as made:  # all or nothing
        write_json_atomic(made / "rollout.json", summary)
        figure = plot_rollout(records, made / "rollout.png", title=f"{name} rollout, {split} split")
        frames_figure = plot_rollout_frames(frames, made / "rollout_frames.png", cascade_frames,
                                            title=f"{name} rollout, {split} split, {dataset.plane} slice "
                                                  f"{frames['slice_index']}")
    return {**summary, "out_dir": made.path, "figure": made.final(figure), "frames_figure": made.final(frames_figure)}
