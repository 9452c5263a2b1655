"""YADE .npy -> HDF5: restricted unpickling, dropping/trimming, unit conversion, grouping."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from simrnn.errors import UserInputError
from simrnn.sequence.hdf5 import read_triaxial_hdf5
from simrnn.sequence.yade import convert_yade, load_simulation

SEQUENCE_KEYS = ["e_x", "e_y", "e_z", "e", "p", "q", "f0", "a_c", "a_n", "a_t", "dt", "numIter", "K", "A"]


def _simulation(steps: int, mode: str = "drained", conf: float = np.log10(2e5), seed: int = 0) -> tuple[dict, dict]:
    rng = np.random.default_rng(seed)
    params = {"E": 8.0 + seed, "v": 0.3, "kr": 0.5, "eta": 0.2, "mu": 30.0, "conf": conf, "mode": mode, "num": 1000}
    features = {key: [np.float64(x) for x in rng.uniform(size=steps)] for key in SEQUENCE_KEYS}
    features["p"] = list(2e5 + 1e5 * np.arange(steps))  # Pa
    features["q"] = np.arange(steps) * 3e5  # an ndarray works too
    return params, features


def _save(path, sim) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.array(sim, dtype=object), allow_pickle=True)


def test_subfolders_drop_short_trim_long_and_convert_units(tmp_path):
    src = tmp_path / "yade"
    long_drained, long_undrained = _simulation(12, seed=1), _simulation(15, "undrained", seed=2)
    _save(src / "0.2e6" / "drained" / "a.npy", long_drained)
    _save(src / "0.2e6" / "drained" / "b.npy", _simulation(5, seed=3))
    _save(src / "0.2e6" / "undrained" / "c.npy", long_undrained)
    summary = convert_yade(src, tmp_path / "out.h5", sequence_length=10)
    assert summary["groups"] == {"0.2e6/drained": {"converted": 1, "dropped": 1},
                                 "0.2e6/undrained": {"converted": 1, "dropped": 0}}
    assert summary["dropped_files"] == [{"file": "0.2e6/drained/b.npy", "group": "0.2e6/drained", "length": 5}]

    drained = read_triaxial_hdf5(tmp_path / "out.h5", experiment_type="drained")
    assert drained.inputs.shape == (1, 10, 1) and drained.outputs.shape == (1, 10, 7)
    np.testing.assert_allclose(drained.inputs[0, :, 0], long_drained[1]["e_z"][:10], rtol=1e-6)
    np.testing.assert_allclose(drained.outputs[0, :, 1], 0.2 + 0.1 * np.arange(10), rtol=1e-6)  # p in MPa
    np.testing.assert_allclose(drained.outputs[0, :, 2], 0.3 * np.arange(10), rtol=1e-6)  # q in MPa
    np.testing.assert_allclose(drained.outputs[0, :, 0], long_drained[1]["e"][:10], rtol=1e-6)
    np.testing.assert_allclose(drained.contact_params[0], [9.0, 0.3, 0.5, 0.2, 30.0], rtol=1e-6)

    undrained = read_triaxial_hdf5(tmp_path / "out.h5", experiment_type="undrained")
    assert undrained.input_names == ["e_x", "e_y", "e_z"] and undrained.inputs.shape == (1, 10, 3)
    np.testing.assert_allclose(undrained.inputs[0, :, 1], long_undrained[1]["e_y"][:10], rtol=1e-6)


def test_flat_folder_groups_by_conf_and_mode(tmp_path):
    src = tmp_path / "flat"
    _save(src / "s1.npy", _simulation(8, conf=np.log10(5e5), seed=0))
    _save(src / "s2.npy", _simulation(8, "undrained", conf=np.log10(1e6), seed=1))
    _save(src / "s3.npy", _simulation(9, conf=np.log10(5e5), seed=2))
    summary = convert_yade(src, tmp_path / "out.h5", sequence_length=8)
    assert summary["groups"] == {"0.5e6/drained": {"converted": 2, "dropped": 0},
                                 "1.0e6/undrained": {"converted": 1, "dropped": 0}}
    data = read_triaxial_hdf5(tmp_path / "out.h5", pressure="0.5e6")
    assert data.pressure.tolist() == [5e5, 5e5]


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_restricted_unpickler_rejects_code(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.npy"
    np.save(path, np.array([_Exploit(marker), {}], dtype=object), allow_pickle=True)
    with pytest.raises(UserInputError, match=r"evil.npy: not a safely readable pickle \(UnpicklingError: global '(posix|nt).system' is not allowed\)"):
        load_simulation(path)
    assert not marker.exists()
    bare = tmp_path / "evil.pkl"
    bare.write_bytes(pickle.dumps((_Exploit(marker), {})))
    with pytest.raises(UserInputError, match="is not allowed"):
        load_simulation(bare)
    assert not marker.exists()


class _Call:
    """A pickle that calls ``func(*args)`` when loaded (``__reduce__``)."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _array_claiming(shape, dtype, data):
    """A pickled ndarray whose state claims ``shape`` but carries only ``data``."""
    reconstruct, args, _ = np.zeros(1).__reduce__()
    return _Call(reconstruct, *args), (1, shape, np.dtype(dtype), False, data)


class _ArrayWithState:
    def __init__(self, shape, dtype, data):
        self.parts = _array_claiming(shape, dtype, data)

    def __reduce__(self):
        call, state = self.parts
        return call.func, call.args, state


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (_Call(bytes, 10**15), r"bytes\(\) is allowed only of an already built string"),
        (_Call(bytearray, 10**15), r"bytearray\(\) is allowed only of an already built string"),
        (_Call(list, (1, 2)), "global 'builtins.list' is not allowed"),
        (_Call(dict, ()), "global 'builtins.dict' is not allowed"),
        (_ArrayWithState((10**12,), "f8", b"\0" * 8), "array of 1000000000000 x float64 carries 8 bytes"),
        (_ArrayWithState((10**12,), "O", [1]), "object array of 1000000000000 elements carries 1 items"),
        (_Call(np.ndarray, (10**12,)), "is not callable|not allowed"),
    ],
)
def test_restricted_unpickler_refuses_attacker_sized_allocations(tmp_path, payload, message):
    for protocol in (2, 4):
        path = tmp_path / f"alloc{protocol}.pkl"
        path.write_bytes(pickle.dumps(payload, protocol=protocol))
        with pytest.raises(UserInputError, match=message):
            load_simulation(path)


@pytest.mark.parametrize(
    "raw",
    [b"\x80\x02\x8b\xff\xff\xff\x7f", b"\x80\x04\x8d" + (10**15).to_bytes(8, "little"), b"(" * 10000 + b"."],
    ids=["LONG4 of 2 GB", "BINUNICODE8 of 1 PB", "10000 MARKs"],
)
def test_opcodes_declaring_huge_lengths_are_refused_without_allocating(tmp_path, raw):
    (tmp_path / "x.pkl").write_bytes(raw)
    with pytest.raises(UserInputError, match="x.pkl: not a safely readable pickle"):
        load_simulation(tmp_path / "x.pkl")


def test_bare_pickles_and_numpy_scalars_are_accepted(tmp_path):
    params, features = _simulation(4)
    path = tmp_path / "sim.pkl"
    path.write_bytes(pickle.dumps((params, features), protocol=2))
    loaded_params, loaded_features = load_simulation(path)
    assert loaded_params == params
    np.testing.assert_array_equal(loaded_features["q"], features["q"])
    for protocol in (0, 3, 5):  # every protocol NumPy and Python write
        path.write_bytes(pickle.dumps((params, features), protocol=protocol))
        assert load_simulation(path)[0] == params


def test_malformed_simulations(tmp_path):
    np.save(tmp_path / "plain.npy", np.zeros(3))
    with pytest.raises(UserInputError, match=r"plain.npy: not a safely readable pickle \(ValueError: it holds a plain float64 array"):
        load_simulation(tmp_path / "plain.npy")
    np.save(tmp_path / "single.npy", np.array([{"E": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(UserInputError, match=r"single.npy: expected a pickled \(params dict, features dict\) pair"):
        load_simulation(tmp_path / "single.npy")

    src = tmp_path / "missing"
    params, features = _simulation(6)
    del features["a_n"]
    _save(src / "0.2e6" / "drained" / "x.npy", (params, features))
    with pytest.raises(UserInputError, match=r"x.npy: the features dict has no key 'a_n'"):
        convert_yade(src, tmp_path / "out.h5", sequence_length=4)


def test_conversion_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserInputError, match="empty: no .npy files"):
        convert_yade(tmp_path / "empty", tmp_path / "out.h5")
    _save(tmp_path / "short" / "a.npy", _simulation(5))
    with pytest.raises(UserInputError, match=r"none of the 1 simulations has 200 steps \(longest: 5\)"):
        convert_yade(tmp_path / "short", tmp_path / "out.h5")
    assert not (tmp_path / "out.h5").exists()
    _save(tmp_path / "mode" / "a.npy", _simulation(5, mode="cyclic"))
    with pytest.raises(UserInputError, match="a.npy: experiment type 'cyclic' is unknown"):
        convert_yade(tmp_path / "mode", tmp_path / "out.h5", sequence_length=5)
    bad = _simulation(6)
    bad[1]["q"] = [1e300] * 6
    _save(tmp_path / "huge" / "a.npy", bad)
    with pytest.raises(UserInputError, match=r"a.npy: features\['q'\] at step 0 is 1e\+294, not a finite number"):
        convert_yade(tmp_path / "huge", tmp_path / "out.h5", sequence_length=5)
    bad = _simulation(6, conf=1e10)
    _save(tmp_path / "conf" / "a.npy", bad)
    with pytest.raises(UserInputError, match=r"a.npy: params\['conf'\] = 1e\+10 is not log10 of a plausible pressure"):
        convert_yade(tmp_path / "conf", tmp_path / "out.h5", sequence_length=5)
    _save(tmp_path / "nanfolder" / "nan" / "drained" / "a.npy", _simulation(6))
    with pytest.raises(UserInputError, match="folder 'nan' is not a plausible pressure"):
        convert_yade(tmp_path / "nanfolder", tmp_path / "out.h5", sequence_length=5)
    (tmp_path / "out.h5").write_text("keep")
    with pytest.raises(UserInputError, match="out.h5: already exists"):
        convert_yade(tmp_path / "short", tmp_path / "out.h5", sequence_length=5)
    assert (tmp_path / "out.h5").read_text() == "keep"
