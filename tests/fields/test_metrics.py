"""Masked field metrics against independent numpy formulas; SSIM/PSNR against torchmetrics; persistence, skill."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

from simrnn.fields.metrics import (
    CATEGORIES,
    FieldScores,
    add_skills,
    band_mask,
    change_categories,
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
    assert {k: v for k, v in out["metrics"].items() if not k.endswith("skill")} == out["persistence"]
    assert all(v == 0.0 for k, v in out["metrics"].items() if k.endswith("skill"))
    assert sum(out["category_cells"].values()) == out["cells"]
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


def hand_made_4x4():
    """Reference (last context frame) and target IPF ``[1, 9, 4, 4]``, mask ``[1, 4, 4]`` and the categories
    worked out by hand: M melt, S solidify, R recolour, . unchanged, x outside the mask.

        reference          target             category
        r r r r            r 0 0 b            . M M R
        0 0 0 0            0 r b 0            . S S .
        r r b b            r b b r            . R . R
        0 r 0 r            0 r' r 0           . . S x      (r' = r + 0.01: within the tolerance)
    """
    r, b, z = [1.0, 0.0, 0.0] * 3, [0.0, 0.0, 1.0] * 3, [0.0] * 9
    r2 = [min(1.0, v + 0.01) if v == 0 else v for v in r]  # 0.01 added to the zero channels
    ref = [[r, r, r, r], [z, z, z, z], [r, r, b, b], [z, r, z, r]]
    tgt = [[r, z, z, b], [z, r, b, z], [r, b, b, r], [z, r2, r, z]]
    as_tensor = lambda rows: torch.tensor(rows).permute(2, 0, 1)[None]  # noqa: E731  [1, 9, 4, 4]
    mask = torch.ones(1, 4, 4, dtype=torch.bool)
    mask[0, 3, 3] = False
    expected = [[0, 1, 1, 3], [0, 2, 2, 0], [0, 3, 0, 3], [0, 0, 2, 1]]
    return as_tensor(ref), as_tensor(tgt), mask, torch.tensor([expected])


def test_change_categories_of_a_hand_made_4x4_example():
    ref, tgt, _, expected = hand_made_4x4()
    assert CATEGORIES == ("unchanged", "melt", "solidify", "recolour")
    assert torch.equal(change_categories(ref, tgt), expected)
    assert torch.equal(change_categories(tgt, tgt), torch.zeros_like(expected))
    with pytest.raises(ValueError, match=r"\[batch, 9, height, width\]"):
        change_categories(ref[0], tgt[0])


def test_errors_and_skill_per_change_category_of_the_4x4_example():
    """Persistence: a melting or solidifying cell is wrong in 3 of 9 channels by 1 (MSE 1/3), a recoloured
    one red -> blue in 6 (2/3), the r' cell by 0.01 in 6 channels. A model that is exact on the
    solidifying cells and persistence elsewhere has solidify skill 1, melt skill 0 and overall skill
    = (3 cells x 3) / (total squared error of persistence)."""
    ref, tgt, mask, expected = hand_made_4x4()
    band = torch.zeros_like(mask)
    held = FieldScores()
    held.update(ref, tgt, mask, band, ref)
    base = held.compute()
    assert held.category_cells.tolist() == [7, 2, 3, 3]
    assert base["melt/mse"] == pytest.approx(1 / 3) and base["solidify/mse"] == pytest.approx(1 / 3)
    assert base["recolour/mse"] == pytest.approx(2 / 3) and base["melt/mae"] == pytest.approx(1 / 3)
    assert base["unchanged/mse"] == pytest.approx(6 * 0.01**2 / (9 * 7), rel=1e-2)
    pred = torch.where((expected == 2)[:, None], tgt, ref)
    model = FieldScores()
    model.update(pred, tgt, mask, band, ref)
    got = add_skills(model.compute(), base)
    assert got["solidify/mse"] == 0 and got["solidify/skill"] == 1.0
    assert got["melt/skill"] == 0.0 and got["recolour/skill"] == 0.0 and "unchanged/skill" not in got
    total = 2 * 3 + 3 * 3 + 3 * 6 + 6 * 0.01**2
    assert got["skill"] == pytest.approx(9 / total, rel=1e-4)
    assert got["mse"] == pytest.approx((total - 9) / (15 * 9), rel=1e-4)


def test_categories_are_left_out_without_a_reference_frame():
    pred, target, mask, band = batch()
    scores = FieldScores()
    scores.update(pred, target, mask, band)
    assert not any("/" in k and k.split("/")[0] in CATEGORIES for k in scores.compute())
