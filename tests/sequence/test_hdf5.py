"""GrainLearning HDF5 layout: round trips, selections and one-sentence validation errors."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from simrnn.errors import UserInputError
from simrnn.sequence.hdf5 import (
    pressure_group_name,
    read_triaxial_hdf5,
    validate_triaxial_hdf5,
    write_triaxial_hdf5,
)

OUTPUTS = ["e", "p", "q", "f0", "a_c", "a_n", "a_t"]
CONTACTS = ["E", "v", "kr", "eta", "mu"]
INPUTS = {"drained": ["e_z"], "undrained": ["e_x", "e_y", "e_z"]}


def _group(n: int, steps: int, features: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "contact_params": rng.uniform(size=(n, 5)).astype(np.float32),
        "inputs": rng.uniform(size=(n, steps, features)).astype(np.float32),
        "outputs": rng.uniform(size=(n, steps, 7)).astype(np.float32),
    }


def _groups(steps: int = 6) -> dict:
    return {
        ("0.2e6", "drained"): _group(3, steps, 1, 0),
        ("0.2e6", "undrained"): _group(2, steps, 3, 1),
        ("0.5e6", "drained"): _group(4, steps, 1, 2),
    }


def _write(path, groups=None, **kwargs):
    return write_triaxial_hdf5(path, groups or _groups(), input_names=INPUTS, contact_param_names=CONTACTS,
                               output_names=OUTPUTS, **kwargs)


def test_round_trip_all_drained(tmp_path):
    groups = _groups()
    path = _write(tmp_path / "d.h5", groups)
    data = read_triaxial_hdf5(path, experiment_type="drained")
    np.testing.assert_array_equal(
        data.inputs, np.concatenate([groups[("0.2e6", "drained")]["inputs"], groups[("0.5e6", "drained")]["inputs"]]))
    np.testing.assert_array_equal(
        data.outputs, np.concatenate([groups[("0.2e6", "drained")]["outputs"], groups[("0.5e6", "drained")]["outputs"]]))
    np.testing.assert_array_equal(data.pressure, [2e5] * 3 + [5e5] * 4)
    assert data.pressure.dtype == np.float64 and data.inputs.dtype == np.float32
    assert list(data.experiment_type) == ["drained"] * 7
    assert (data.input_names, data.contact_param_names, data.output_names) == (["e_z"], CONTACTS, OUTPUTS)
    assert data.source == str(path)


def test_select_one_group_and_root_attributes(tmp_path):
    groups = _groups()
    path = _write(tmp_path / "d.h5", groups, attrs={"unused_keys_constant": ["conf", "mode"]})
    data = read_triaxial_hdf5(path, pressure="0.2e6", experiment_type="undrained")
    np.testing.assert_array_equal(data.contact_params, groups[("0.2e6", "undrained")]["contact_params"])
    assert data.input_names == ["e_x", "e_y", "e_z"]
    with h5py.File(path) as f:
        assert list(f.attrs["unused_keys_constant"]) == ["conf", "mode"]
        assert len(f.attrs["unused_keys_sequence"]) == 0
        assert list(f.attrs["inputs_drained"]) == ["e_z"]


def test_reads_a_file_written_like_grainlearning(tmp_path):
    path = tmp_path / "gl.h5"
    arrays = _group(2, 5, 1, 3)
    with h5py.File(path, "w") as f:
        f.attrs["inputs"] = ["e_z"]
        f.attrs["outputs"] = OUTPUTS
        f.attrs["contact_params"] = CONTACTS
        for name, value in arrays.items():
            f[f"1.0e6/drained/{name}"] = value.astype(np.float64)
    data = read_triaxial_hdf5(path)
    np.testing.assert_array_equal(data.outputs, arrays["outputs"])
    assert data.pressure.tolist() == [1e6, 1e6] and data.input_names == ["e_z"]


def test_pressure_group_name():
    assert [pressure_group_name(p) for p in (2e5, 10 ** np.log10(5e5), 1e6, 2.5e5)] == ["0.2e6", "0.5e6", "1.0e6", "0.25e6"]


def test_mixed_feature_counts_are_an_error(tmp_path):
    path = _write(tmp_path / "d.h5")
    with pytest.raises(UserInputError, match=r"differ in input features F of 'inputs' \(0.2e6/drained: 1, 0.2e6/undrained: 3"):
        read_triaxial_hdf5(path)


def test_empty_selection_lists_available_groups(tmp_path):
    path = _write(tmp_path / "d.h5")
    with pytest.raises(UserInputError) as err:
        read_triaxial_hdf5(path, pressure="0.3e6")
    assert str(err.value) == (
        f"{path}: the selection pressure='0.3e6', experiment_type='All' holds no sequences; "
        "available groups: 0.2e6/drained, 0.2e6/undrained, 0.5e6/drained."
    )


def test_missing_file_and_not_hdf5(tmp_path):
    with pytest.raises(UserInputError, match="nope.h5: file not found"):
        read_triaxial_hdf5(tmp_path / "nope.h5")
    (tmp_path / "text.h5").write_text("hello")
    with pytest.raises(UserInputError, match="text.h5: not a readable HDF5 file"):
        validate_triaxial_hdf5(tmp_path / "text.h5")


def _edit(path, action):
    with h5py.File(path, "a") as f:
        action(f)


@pytest.mark.parametrize(("action", "message"), [
    (lambda f: f.attrs.__delitem__("outputs"), r"missing root attribute 'outputs'"),
    (lambda f: [f.attrs.__delitem__(k) for k in ("inputs_drained", "inputs_undrained")],
     r"missing root attribute 'inputs' \(or 'inputs_<experiment_type>'\)"),
    (lambda f: f["0.5e6/drained"].__delitem__("outputs"), r"group '0.5e6/drained' has no dataset 'outputs'"),
    (lambda f: f.create_group("extra"), r"top-level entry 'extra' is not a pressure group"),
    (lambda f: f["0.2e6/drained/inputs"].__setitem__((1, 2, 0), np.nan),
     r"dataset '0.2e6/drained/inputs' holds 1 NaN/inf values \(first at index \(1, 2, 0\)\)"),
    (lambda f: f["0.2e6/drained/outputs"].__setitem__((0, 0, 3), np.inf), r"'0.2e6/drained/outputs' holds 1 NaN/inf"),
])
def test_validation_errors(tmp_path, action, message):
    path = _write(tmp_path / "d.h5")
    _edit(path, action)
    with pytest.raises(UserInputError, match=message):
        validate_triaxial_hdf5(path)


def _replace(name, value):
    def action(f):
        del f[name]
        f[name] = value
    return action


@pytest.mark.parametrize(("name", "value", "message"), [
    ("0.2e6/drained/contact_params", np.zeros((2, 5)),
     r"group '0.2e6/drained' has different numbers of sequences per dataset: \{'contact_params': 2, 'inputs': 3, 'outputs': 3\}"),
    ("0.2e6/drained/outputs", np.zeros((3, 5, 7)), r"group '0.2e6/drained' has inputs of length 6 but outputs of length 5"),
    ("0.2e6/drained/outputs", np.zeros((3, 6, 6)), r"'0.2e6/drained/outputs' has 6 columns but root attribute 'outputs' names 7"),
    ("0.2e6/drained/inputs", np.zeros((3, 6)), r"'0.2e6/drained/inputs' has shape \(3, 6\), expected 3 dimensions"),
])
def test_shape_errors(tmp_path, name, value, message):
    path = _write(tmp_path / "d.h5")
    _edit(path, _replace(name, value))
    with pytest.raises(UserInputError, match=message):
        validate_triaxial_hdf5(path)


def test_sequence_length_must_agree_across_groups(tmp_path):
    groups = _groups()
    groups[("0.5e6", "drained")] = _group(4, 7, 1, 5)
    with pytest.raises(UserInputError, match=r"differ in sequence length S of 'inputs' \(0.2e6/drained: 6, 0.2e6/undrained: 6, 0.5e6/drained: 7\)"):
        _write(tmp_path / "d.h5", groups)


def test_write_is_atomic_and_never_overwrites(tmp_path):
    path = _write(tmp_path / "d.h5")
    before = path.read_bytes()
    with pytest.raises(UserInputError, match="d.h5: already exists"):
        _write(path)
    bad = _groups()
    bad[("0.2e6", "drained")]["outputs"][0, 0, 0] = np.nan
    with pytest.raises(UserInputError, match=r"d.h5: dataset '0.2e6/drained/outputs' holds 1 NaN/inf"):
        _write(path, bad, overwrite=True)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.h5"]
    _write(path, _groups(steps=4), overwrite=True)
    assert read_triaxial_hdf5(path, experiment_type="drained").outputs.shape == (7, 4, 7)


# ------------------------------------------------------------------ the checked reader (simrnn.hdf5_read)

def _dataset_file(path, **create):
    with h5py.File(path, "w") as f:
        f.create_dataset("d", **create)
    return path


@pytest.mark.parametrize(
    ("create", "message"),
    [
        ({"shape": (10**9, 5), "dtype": "f4", "chunks": (1000, 5)}, r"declares shape \(1000000000, 5\) but none of its data"),
        ({"shape": (100, 5), "dtype": "f8"}, "none of its data was ever written"),  # contiguous, never allocated
        ({"data": np.ones((2, 2), complex)}, "holds complex numbers; expected real numbers"),
        ({"data": np.array([b"a", b"b"])}, "holds strings"),
        ({"data": np.zeros(3, dtype=[("a", "f4"), ("b", "i4")])}, "holds a compound or opaque type"),
        ({"data": np.array([1.0, 3e38], np.float32)}, r"holds 3e\+38 at index \(1,\), beyond the plausible magnitude 1e\+15"),
        ({"data": np.array([1.0, np.inf])}, r"holds 1 NaN/inf values \(first at index \(1,\)\)"),
    ],
    ids=["never-written-chunked", "never-written-contiguous", "complex", "strings", "compound", "3e38", "inf"],
)
def test_reader_refuses_before_reading(tmp_path, create, message):
    from simrnn.hdf5_read import read_dataset

    path = _dataset_file(tmp_path / "d.h5", **create)
    with h5py.File(path, "r") as f, pytest.raises(UserInputError, match=message):
        read_dataset(f, "d", path, max_abs=1e15)


def test_reader_refuses_partly_written_chunks_but_reads_compressed_data(tmp_path):
    from simrnn.hdf5_read import read_dataset

    path = tmp_path / "d.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("partly", shape=(100, 4), dtype="f4", chunks=(10, 4))[:10] = 1.0
        f.create_dataset("zipped", data=np.zeros((1000, 50), np.float32), compression="gzip", chunks=(100, 50))
    with h5py.File(path, "r") as f:
        with pytest.raises(UserInputError, match=r"stores only 160 bytes; parts of it were never written"):
            read_dataset(f, "partly", path)
        np.testing.assert_array_equal(read_dataset(f, "zipped", path), np.zeros((1000, 50), np.float32))


def test_links_out_of_the_file_and_dangling_links_are_named(tmp_path):
    from simrnn.hdf5_read import read_dataset

    path = tmp_path / "d.h5"
    with h5py.File(path, "w") as f:
        f["soft"] = h5py.SoftLink("/nowhere")
        f["external"] = h5py.ExternalLink("other.h5", "/x")
    with h5py.File(path, "r") as f:
        with pytest.raises(UserInputError, match="'soft' is a link to '/nowhere', which does not exist"):
            read_dataset(f, "soft", path)
        with pytest.raises(UserInputError, match="'external' is an external link to other.h5:/x"):
            read_dataset(f, "external", path)


def test_group_names_and_zero_sizes_that_would_train_on_nonsense(tmp_path):
    for name in ("nan", "inf", "-2e5", "1e300"):
        path = _write(tmp_path / f"{name}.h5")
        with h5py.File(path, "a") as f:
            f.move("0.2e6", name)
        with pytest.raises(UserInputError, match=f"top-level group '{name}' is not a plausible confining pressure"):
            read_triaxial_hdf5(path)
    path = _write(tmp_path / "zero.h5")
    with h5py.File(path, "a") as f:
        del f["0.5e6/drained/inputs"]
        f["0.5e6/drained/inputs"] = np.zeros((4, 6, 0), np.float32)
    with pytest.raises(UserInputError, match=r"'0.5e6/drained/inputs' has shape \(4, 6, 0\); .*zero features"):
        read_triaxial_hdf5(path, experiment_type="drained")
    with pytest.raises(UserInputError, match="the key raw_data is missing or null"):
        read_triaxial_hdf5(None)
