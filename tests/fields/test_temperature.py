"""Temperature models (shapes, gradients, persistence start, checkpoints) and their kelvin scores."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from single_thread import one_thread  # noqa: F401  (autouse fixture)

import simrnn.fields  # noqa: F401  (registers the field models)
from simrnn.checkpoints import model_from_checkpoint, read_checkpoint, write_checkpoint
from simrnn.fields.temperature import TemperatureScores, score_temperature
from simrnn.registry import build_model, model_names

NAMES = model_names("fields-temperature")
TINY = {"hidden_channels": 4, "n_layers": 2, "encoder_channels": [4, 6, 8]}
NORM = {"t_ambient_K": 300.0, "t_max_train_K": 2300.0}


def tiny(name, **overrides):
    torch.manual_seed(0)
    return build_model(name, **{**TINY, **overrides})


def test_both_cores_have_a_temperature_model():
    assert NAMES == ["temperature-cnn-lstm", "temperature-predrnn"]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("skip", [True, False])
def test_shape_gradients_and_persistence_start(name, skip):
    model = tiny(name, skip=skip)
    context = torch.rand(2, 3, 1, 19, 45, generator=torch.Generator().manual_seed(1))
    pred, aux = model.forward_with_aux(context)
    assert pred.shape == (2, 1, 19, 45)
    assert 0 < (pred - context[:, -1]).abs().max() < 0.05  # the small head: nearly persistence
    (pred.square().mean() + sum(aux.values())).backward()
    dead = [n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert dead == []
    with pytest.raises(ValueError, match=r"context must be \[batch, length, 1 channel"):
        model(torch.rand(2, 3, 10, 19, 45))


@pytest.mark.parametrize("name", NAMES)
def test_checkpoint_round_trip(name, tmp_path):
    model = tiny(name).eval()
    path = write_checkpoint(tmp_path / "t.ckpt", model, {"model_name": name, "model_args": model.model_args})
    loaded = model_from_checkpoint(read_checkpoint(path))
    context = torch.rand(1, 2, 1, 16, 24)
    with torch.no_grad():
        assert torch.equal(loaded(context), model(context))


def test_kelvin_scores_against_numpy():
    g = torch.Generator().manual_seed(3)
    pred, target = 300 + 2000 * torch.rand(2, 5, 7, generator=g), 300 + 2000 * torch.rand(2, 5, 7, generator=g)
    mask, pool, band = (torch.rand(2, 5, 7, generator=g) > q for q in (0.2, 0.7, 0.8))
    scores = TemperatureScores()
    scores.update(pred, target, mask, pool, band)
    got = scores.compute()
    err = (pred - target).double().numpy()
    m, p, b = mask.numpy(), pool.numpy() & mask.numpy(), band.numpy() & mask.numpy()
    assert got["mse_K2"] == pytest.approx(np.mean(err[m] ** 2)) and got["mae_K"] == pytest.approx(np.mean(abs(err[m])))
    assert got["pool_mae_K"] == pytest.approx(np.mean(abs(err[p]))) and got["band_mae_K"] == pytest.approx(np.mean(abs(err[b])))


def test_a_model_that_repeats_the_last_temperature_has_zero_skill_and_pool_cells_are_liquid_targets():
    class Repeat(torch.nn.Module):
        def forward(self, context):
            return context[:, -1]

    g = torch.Generator().manual_seed(4)
    target = torch.zeros(2, 9, 4, 6)
    target[:, :, :, 3:] = 1.0  # columns 0-2 molten (black), 3-5 solid
    batch = {"context": torch.rand(2, 2, 10, 4, 6, generator=g), "future_temp": torch.rand(2, 1, 4, 6, generator=g),
             "target": target, "mask": torch.ones(2, 4, 6, dtype=torch.bool)}
    out = score_temperature(Repeat(), [batch], NORM, (1400.0, 1500.0))
    assert out["metrics"]["skill"] == 0.0 and out["cells"]["pool"] == 2 * 4 * 3
    err_K = 2000 * (batch["context"][:, -1, 0] - batch["future_temp"][:, 0]).abs()
    assert out["metrics"]["pool_mae_K"] == pytest.approx(float(err_K[:, :, :3].mean()), rel=1e-5)
