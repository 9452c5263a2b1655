"""Plane sequences: slicing of all three planes, split boundaries, sample counts, preload == lazy."""

import numpy as np
import pytest
import torch
from fields_helpers import grid_fields

from simrnn.errors import UserInputError
from simrnn.fields.dataset import FieldSequenceDataset, split_blocks

X, Y, Z = 5, 4, 3


def expected_plane(plane: str, s: int, step: int, what: str) -> np.ndarray:
    """Hand-sliced ``[H, W]`` (or ``[9, H, W]``) of :func:`grid_fields` with LASERNet's orientation."""
    full = grid_fields((X, Y, Z), step)[what]
    if plane == "xz":  # fixed y, [H=Z, W=X]
        a = full[:, s, :]
        return np.moveaxis(a, -1, 0).transpose(0, 2, 1) if what == "ipf" else a.T
    if plane == "xy":  # fixed z, [H=Y, W=X]
        a = full[:, :, s]
        return np.moveaxis(a, -1, 0).transpose(0, 2, 1) if what == "ipf" else a.T
    a = full[s]  # yz: fixed x, [H=Y, W=Z]
    return np.moveaxis(a, -1, 0) if what == "ipf" else a


@pytest.mark.parametrize(
    ("plane", "n_slices", "hw"), [("xz", Y, (Z, X)), ("xy", Z, (Y, X)), ("yz", X, (Y, Z))]
)
def test_planes_match_hand_slicing(hand_cache, plane, n_slices, hw):
    ds = FieldSequenceDataset(hand_cache, plane=plane, split="val")
    assert ds.n_slices == n_slices and ds.image_size == hw
    norm = ds.normalisation
    scale = norm["t_max_train_K"] - norm["t_ambient_K"]
    for index in (0, n_slices - 1, len(ds) - 1):
        item = ds[index]
        s = index % n_slices
        assert item["slice_index"] == s
        steps = [*item["context_steps"].tolist(), item["target_step"]]
        assert steps == list(range(steps[0], steps[0] + 4))
        for c, step in enumerate(steps[:-1]):
            t = (expected_plane(plane, s, step, "T") - 300.0) / scale
            np.testing.assert_allclose(item["context"][c, 0].numpy(), t, rtol=1e-6)
            ipf = expected_plane(plane, s, step, "ipf").astype(np.float16).astype(np.float32)
            np.testing.assert_array_equal(item["context"][c, 1:].numpy(), ipf)
        target = expected_plane(plane, s, steps[-1], "ipf").astype(np.float16).astype(np.float32)
        np.testing.assert_array_equal(item["target"].numpy(), target)
        t_future = (expected_plane(plane, s, steps[-1], "T") - 300.0) / scale
        np.testing.assert_allclose(item["future_temp"][0].numpy(), t_future, rtol=1e-6)
        assert item["mask"].shape == hw and item["mask"].all()
        assert item["context"].shape == (3, 10, *hw) and item["future_temp"].shape == (1, *hw)


def test_split_blocks_and_lasernet_comparison(hand_cache):
    assert split_blocks(24) == {"train": range(0, 12), "val": range(12, 18), "test": range(18, 24)}
    counts = {}
    for split in ("train", "val", "test"):
        ds = FieldSequenceDataset(hand_cache, plane="xz", split=split)
        block = range(*{"train": (0, 12), "val": (12, 18), "test": (18, 24)}[split])
        for index in range(len(ds)):
            item = ds[index]
            assert all(int(t) in block for t in [*item["context_steps"], item["target_step"]])
            assert 0 not in item["context_steps"].tolist()  # the all-ambient step is skipped
        counts[split] = len(ds)
    # 8, 3 and 3 windows per slice; with LASERNet's 94 xz slices: 752 / 282 / 282 (LASERNet: 752 / 188 / 188)
    assert counts == {"train": 8 * Y, "val": 3 * Y, "test": 3 * Y}
    described = ds.describe()
    assert described["n_samples"] == counts and described["skipped_steps"] == [0]
    assert described["steps"]["val"] == list(range(12, 18))
    assert described["normalisation"]["t_ambient_K"] == 300.0
    assert described["normalisation"]["t_max_train_K"] == 300 + 400 + 30 + 2 + 11000
    kept = FieldSequenceDataset(hand_cache, plane="xz", split="train", skip_uniform_first=False)
    assert len(kept) == 9 * Y and kept[0]["context_steps"].tolist() == [0, 1, 2]


def test_normalisation_is_the_train_one_for_every_split_and_can_be_given(hand_cache):
    train = FieldSequenceDataset(hand_cache, split="train")
    test = FieldSequenceDataset(hand_cache, split="test")
    assert test.normalisation == train.normalisation
    given = {"t_ambient_K": 0.0, "t_max_train_K": 1000.0}
    ds = FieldSequenceDataset(hand_cache, split="test", normalisation=given)
    assert ds[0]["future_temp"][0, 0, 0].item() == pytest.approx(21.3)  # (300 + 21 * 1000) / 1000


@pytest.mark.parametrize("plane", ["xz", "xy", "yz"])
def test_preload_and_lazy_items_are_identical(hand_cache, plane):
    for split in ("train", "test"):
        eager = FieldSequenceDataset(hand_cache, plane=plane, split=split, seq_length=2)
        lazy = FieldSequenceDataset(hand_cache, plane=plane, split=split, seq_length=2, preload=False)
        assert len(eager) == len(lazy)
        for index in range(0, len(eager), 3):
            a, b = eager[index], lazy[index]
            assert a.keys() == b.keys()
            for key in a:
                assert torch.equal(a[key], b[key]) if torch.is_tensor(a[key]) else a[key] == b[key]


def test_bad_arguments_are_one_sentence(hand_cache):
    with pytest.raises(UserInputError, match="plane 'zx': expected one of xy, xz, yz"):
        FieldSequenceDataset(hand_cache, plane="zx")
    with pytest.raises(UserInputError, match="split 'dev'"):
        FieldSequenceDataset(hand_cache, split="dev")
    with pytest.raises(
        UserInputError, match="split 'val' .* has 6 usable time steps; seq_length 6 needs at least 7"
    ):
        FieldSequenceDataset(hand_cache, split="val", seq_length=6)
    with pytest.raises(UserInputError, match="split_ratio"):
        FieldSequenceDataset(hand_cache, split_ratio=(12, 0, 6))
    with pytest.raises(IndexError):
        FieldSequenceDataset(hand_cache, split="test")[10_000]
