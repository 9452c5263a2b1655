"""Masked field metrics against independent numpy formulas; SSIM/PSNR against torchmetrics; persistence, skill."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

from simrnn.fields.metrics import (
    FieldScores,
    band_mask,
    kelvin,
    persistence,
    score_batches,
    skill,
    ssim_sigma,
)
from simrnn.fields.pointcloud import IPF_COLUMNS

NORM = {"t_ambient_K": 300.0, "t_max_train_K": 2300.0}


def batch(seed: int = 0, shape=(3, 9, 8, 24)):
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(shape, generator=g)
    pred = (target + 0.2 * torch.randn(shape, generator=g)).clamp(0, 1)
    mask = torch.rand(shape[0], *shape[2:], generator=g) > 0.3
    band = torch.rand(shape[0], *shape[2:], generator=g) > 0.7
    return pred, target, mask, band


def test_errors_match_numpy_on_masked_cells_only():
    pred, target, mask, band = batch()
    scores = FieldScores()
    scores.update(pred, target, mask, band)
    got = scores.compute()
    p, t, m, b = (x.numpy().astype(np.float64) for x in (pred, target, mask, band))
    m, b = m.astype(bool), b.astype(bool)
    err = np.moveaxis(p - t, 1, -1)[m]  # [cells, 9]
    assert got["mse"] == pytest.approx(np.mean(err**2), rel=1e-12)
    assert got["mae"] == pytest.approx(np.mean(np.abs(err)), rel=1e-12)
    for c, name in enumerate(IPF_COLUMNS):
        assert got[f"mse/{name}"] == pytest.approx(np.mean(err[:, c] ** 2), rel=1e-12)
        assert got[f"mae/{name}"] == pytest.approx(np.mean(np.abs(err[:, c])), rel=1e-12)
    band_err = np.moveaxis(p - t, 1, -1)[m & b]
    assert got["band_mse"] == pytest.approx(np.mean(band_err**2), rel=1e-12)
    assert got["psnr"] == pytest.approx(10 * np.log10(1 / np.mean(err**2)), rel=1e-5)
    # values outside the mask do not count
    changed = torch.where(mask[:, None], pred, 1 - pred)
    other = FieldScores()
    other.update(changed, target, mask, band)
    moved = other.compute()
    for key in ("mse", "mae", "psnr", "band_mse"):
        assert moved[key] == pytest.approx(got[key], rel=1e-6)


def test_batches_accumulate_like_one_batch():
    pred, target, mask, band = batch(seed=3, shape=(4, 9, 8, 24))
    whole, parts = FieldScores(), FieldScores()
    whole.update(pred, target, mask, band)
    parts.update(pred[:1], target[:1], mask[:1], band[:1])
    parts.update(pred[1:], target[1:], mask[1:], band[1:])
    a, b = whole.compute(), parts.compute()
    assert a.keys() == b.keys()
    for key in a:
        assert b[key] == pytest.approx(a[key], rel=1e-6)


def test_ssim_and_psnr_agree_with_torchmetrics_on_a_full_mask():
    pred, target, _, band = batch(seed=1)
    full = torch.ones(pred.shape[0], *pred.shape[2:], dtype=torch.bool)
    scores = FieldScores()
    scores.update(pred, target, full, band)
    got = scores.compute()
    pd, td = pred.double(), target.double()
    assert got["ssim"] == pytest.approx(float(structural_similarity_index_measure(pd, td, data_range=1.0)), rel=1e-5)
    assert got["psnr"] == pytest.approx(float(peak_signal_noise_ratio(pd, td, data_range=1.0)), rel=1e-6)
    perfect = FieldScores()
    perfect.update(target, target, full, band)
    assert perfect.compute()["ssim"] == pytest.approx(1.0)
    assert 0 < got["ssim"] < 0.9


def test_ssim_window_shrinks_for_small_images_only():
    assert ssim_sigma(47, 465) == ssim_sigma(6, 24) == 1.5 and ssim_sigma(5, 9) == 4 / 3.5
    pred, target, mask, band = batch(shape=(2, 9, 3, 6))
    scores = FieldScores()
    scores.update(pred, target, mask, band)
    assert 0 < scores.compute()["ssim"] < 1


def test_no_band_cell_leaves_band_mse_out():
    pred, target, mask, band = batch()
    scores = FieldScores()
    scores.update(pred, target, mask, torch.zeros_like(band))
    assert "band_mse" not in scores.compute() and scores.band_cells == 0


def test_band_is_the_target_temperature_in_kelvin():
    t_norm = torch.tensor([[[[0.5, 0.55, 0.6, 0.0]]]])  # 1300, 1400, 1500, 300 K
    assert kelvin(t_norm, NORM).tolist() == [[[[1300.0, 1400.0, 1500.0, 300.0]]]]
    assert band_mask(t_norm, NORM, 1400.0, 1500.0).tolist() == [[[False, True, True, False]]]


def test_persistence_is_the_last_context_frame_and_skill_compares_with_it():
    context = torch.rand(2, 3, 10, 4, 5)
    assert torch.equal(persistence(context), context[:, 2, 1:])
    assert skill(0.25, 1.0) == 0.75 and skill(2.0, 1.0) == -1.0 and skill(0.0, 0.0) is None


def test_scoring_a_model_that_repeats_the_last_frame_gives_zero_skill():
    class Repeat(torch.nn.Module):
        def forward(self, context, future_temp):
            return context[:, -1, 1:]

    g = torch.Generator().manual_seed(2)
    items = [{"context": torch.rand(2, 3, 10, 8, 12, generator=g), "future_temp": torch.rand(2, 1, 8, 12, generator=g),
              "target": torch.rand(2, 9, 8, 12, generator=g), "mask": torch.rand(2, 8, 12, generator=g) > 0.2}
             for _ in range(2)]
    out = score_batches(Repeat(), items, NORM, (1400.0, 1500.0))
    assert out["metrics"]["skill"] == 0.0
    assert {k: v for k, v in out["metrics"].items() if k != "skill"} == out["persistence"]
    assert out["cells"] == sum(int(i["mask"].sum()) for i in items)


def test_shape_errors_name_the_expected_layout():
    pred, target, mask, band = batch()
    with pytest.raises(ValueError, match=r"\[batch, 9, height, width\]"):
        FieldScores().update(pred[:, :3], target[:, :3], mask, band)
    with pytest.raises(ValueError, match=r"\[batch, height, width\]"):
        FieldScores().update(pred, target, mask[0], band)
    with pytest.raises(ValueError, match="no masked cells"):
        empty = FieldScores()
        empty.update(pred, target, torch.zeros_like(mask), band)
        empty.compute()
