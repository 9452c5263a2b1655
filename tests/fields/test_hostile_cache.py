"""Hostile field caches: non-finite temperature or IPF, an empty mask, duplicated or reversed steps."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest
from field_training import tiny_cache

from simrnn.errors import UserInputError
from simrnn.fields.dataset import FieldSequenceDataset


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    return tiny_cache(tmp_path_factory.mktemp("hostile_cache"))


def edited(clean, tmp_path, edit):
    path = tmp_path / "edited.h5"
    shutil.copy(clean, path)
    with h5py.File(path, "r+") as h5:
        edit(h5)
    return path


def set_temperature(h5):
    h5["temperature"][5, 3, 4, 2] = np.nan


def set_ipf(h5):
    step = h5["ipf"][5]
    step[3, 4, 2, 7] = np.inf
    h5["ipf"][5] = step


@pytest.mark.parametrize("preload", [True, False])
@pytest.mark.parametrize(("edit", "message"), [
    (set_temperature, "dataset 'temperature' has a non-finite value (nan) at step index 5 (file step 5)"),
    (set_ipf, "dataset 'ipf' has a non-finite value (inf) at step index 5 (file step 5)"),
])
def test_non_finite_values_are_refused_naming_dataset_and_index(clean, tmp_path, edit, message, preload):
    path = edited(clean, tmp_path, edit)
    with pytest.raises(UserInputError) as err:
        dataset = FieldSequenceDataset(path, split="train", split_ratio=(2, 1, 1), seq_length=2, preload=preload)
        for i in range(len(dataset)):
            dataset[i]
    text = str(err.value)
    assert text.startswith(f"{path}: ") and message in text and text.count(". ") == 0
    assert ("node index [3, 4, 2" if preload else "xz slice 4, node index [3, 2") in text


def test_an_all_false_mask_is_refused(clean, tmp_path):
    def empty(h5):
        h5["mask"][...] = False

    path = edited(clean, tmp_path, empty)
    with pytest.raises(UserInputError, match=r"dataset 'mask' is all False at step index 1 \(file step 1\)"):
        FieldSequenceDataset(path, split="train", split_ratio=(2, 1, 1), seq_length=2, preload=False)


@pytest.mark.parametrize(("steps", "message"), [
    (lambda s: np.r_[s[:3], s[2], s[4:]], "index 3 is 2 after 2"),
    (lambda s: s[::-1], "index 1 is 14 after 15"),
])
def test_duplicated_or_reversed_steps_are_refused(clean, tmp_path, steps, message):
    def reorder(h5):
        h5["steps"][...] = steps(h5["steps"][()])

    path = edited(clean, tmp_path, reorder)
    with pytest.raises(UserInputError, match="dataset 'steps' must increase strictly, but " + message):
        FieldSequenceDataset(path, split="train", split_ratio=(2, 1, 1), seq_length=2)
