import numpy as np
import pytest

from simrnn.errors import UserInputError
from simrnn.sequence.config import SequenceConfig
from simrnn.sequence.hdf5 import read_triaxial_hdf5
from simrnn.sequence.preprocess import make_windows, pad_start, param_names, prepare_sequences, split_indices


def test_windows_target_the_last_step_of_each_window():
    inputs = np.arange(2 * 6, dtype=np.float32).reshape(2, 6, 1)
    outputs = inputs * 10
    params = np.array([[1.0], [2.0]], np.float32)
    x, p, y = make_windows(inputs, params, outputs, window_size=3, window_step=1)
    assert x.shape == (2 * 4, 3, 1) and p.shape == (8, 1) and y.shape == (8, 1)
    np.testing.assert_array_equal(x[0, :, 0], [0, 1, 2])
    np.testing.assert_array_equal(x[5, :, 0], [7, 8, 9])  # sequence 1, window ending at step 3
    np.testing.assert_array_equal(y[:, 0], x[:, -1, 0] * 10)
    np.testing.assert_array_equal(p[:4, 0], 1.0)
    np.testing.assert_array_equal(p[4:, 0], 2.0)


def test_window_step_skips_windows():
    inputs = np.arange(10, dtype=np.float32).reshape(1, 10, 1)
    x, _, y = make_windows(inputs, np.zeros((1, 1), np.float32), inputs, window_size=4, window_step=3)
    np.testing.assert_array_equal(y[:, 0], [3, 6, 9])


def test_padding_with_window_minus_one_gives_one_window_per_step():
    inputs = np.arange(5, dtype=np.float32).reshape(1, 5, 1)
    padded = pad_start(inputs, 3)
    np.testing.assert_array_equal(padded[0, :, 0], [0, 0, 0, 0, 1, 2, 3, 4])
    _, _, y = make_windows(padded, np.zeros((1, 1), np.float32), padded, window_size=4)
    np.testing.assert_array_equal(y[:, 0], [0, 1, 2, 3, 4])  # every original step is a target once


def test_split_is_by_sequence_seeded_and_complete():
    a = split_indices(20, 0.7, 0.15, seed=3)
    b = split_indices(20, 0.7, 0.15, seed=3)
    assert [len(a[s]) for s in ("train", "val", "test")] == [14, 3, 3]
    assert all(np.array_equal(a[s], b[s]) for s in a)
    assert sorted(np.concatenate(list(a.values())).tolist()) == list(range(20))
    assert not np.array_equal(a["train"], split_indices(20, 0.7, 0.15, seed=4)["train"])


def test_split_too_small_is_a_clear_error():
    with pytest.raises(UserInputError, match="5 sequences split with train_frac=0.7, val_frac=0.1 give 3/0/2"):
        split_indices(5, 0.7, 0.1, seed=0)


def test_prepare_adds_parameter_columns_and_standardises_with_train_stats(tiny_h5):
    data = read_triaxial_hdf5(tiny_h5)
    cfg = SequenceConfig(raw_data=str(tiny_h5), add_pressure=True, add_experiment_type=True, add_e0=True, seed=1)
    prepared = prepare_sequences(cfg, data)
    assert prepared.meta["param_names"] == ["E", "v", "kr", "eta", "mu", "pressure", "drained", "e0"]
    params = prepared.arrays["train"]["params"]
    np.testing.assert_allclose(np.unique(params[:, 5]), [0.2, 0.5], rtol=1e-6)
    np.testing.assert_array_equal(params[:, 6], 1.0)
    train_idx = prepared.indices["train"]
    np.testing.assert_allclose(params[:, 7], data.outputs[train_idx, 0, 0])
    z = prepared.arrays["train"]["outputs"]
    np.testing.assert_allclose(z.mean(axis=(0, 1)), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=(0, 1)), 1, atol=1e-4)
    raw_test = prepared.arrays["test"]["outputs"] * prepared.meta["output_std"] + np.asarray(prepared.meta["output_mean"])
    np.testing.assert_allclose(raw_test, data.outputs[prepared.indices["test"]], rtol=1e-5, atol=1e-5)


def test_param_names_order_matches_grainlearning():
    assert param_names(["E"], True, False, True) == ["E", "pressure", "e0"]
