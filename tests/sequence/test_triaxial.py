"""Synthetic triaxial model: shapes, paths, critical state, dilatancy, parameter sensitivity, seeding."""

from __future__ import annotations

import re

import numpy as np
import pytest

from simrnn.errors import UserInputError
from simrnn.sequence.hdf5 import read_triaxial_hdf5
from simrnn.sequence.triaxial import (
    OUTPUT_NAMES,
    PARAM_RANGES,
    _material,
    generate_triaxial,
    triaxial_response,
    write_synthetic_triaxial,
)

STRAIN = np.arange(200) * 0.001
DENSE_STIFF = [10.0, 0.3, 0.5, 0.5, 30.0]
LOOSE = [7.5, 0.3, 0.5, 0.2, 3.0]
E, P, Q = (OUTPUT_NAMES.index(k) for k in ("e", "p", "q"))


def _response(params, pressure, kind, strain=STRAIN):
    return triaxial_response(np.array([params], dtype=float), pressure, kind, strain)


def _critical_ratio(params, pressure):
    return _material(np.array([params], dtype=float), pressure * 1e6)["M"][0]


def test_shapes_inputs_and_finiteness():
    params = np.array([DENSE_STIFF, LOOSE])
    inputs, outputs = triaxial_response(params, 0.2, "drained", STRAIN)
    assert inputs.shape == (2, 200, 1) and outputs.shape == (2, 200, 7) and outputs.dtype == np.float32
    np.testing.assert_allclose(inputs[1, :, 0], STRAIN, rtol=1e-6)
    inputs, outputs = triaxial_response(params, 0.5, "undrained", STRAIN)
    assert inputs.shape == (2, 200, 3) and np.isfinite(outputs).all()
    np.testing.assert_allclose(inputs[..., 0], -inputs[..., 2] / 2)
    np.testing.assert_allclose(inputs[..., 1], -inputs[..., 2] / 2)
    np.testing.assert_allclose(outputs[:, 0, P], 0.5, rtol=1e-6)  # starts at the confining pressure
    np.testing.assert_allclose(outputs[:, 0, Q], 0.0, atol=1e-7)


def test_dense_sample_peaks_dilates_and_softens_to_critical_state():
    strain = np.arange(600) * 0.001  # long enough to reach the critical state
    _, out = _response(DENSE_STIFF, 0.2, "drained", strain)
    ratio = out[0, :, Q] / out[0, :, P]
    peak = int(np.argmax(out[0, :, Q]))
    assert 5 < peak < 100  # q rises to a peak within a few per cent of strain ...
    assert out[0, -1, Q] < 0.95 * out[0, peak, Q]  # ... then softens
    assert ratio[-1] == pytest.approx(_critical_ratio(DENSE_STIFF, 0.2), rel=0.02)  # q/p -> M(mu, rolling)
    assert out[0, -1, E] > out[0, 0, E] + 0.05  # dilates
    np.testing.assert_allclose(out[0, :, P], 0.2 + out[0, :, Q] / 3, rtol=1e-4)  # drained: dp = dq/3


def test_loose_sample_contracts_and_hardens_monotonically():
    _, out = _response(LOOSE, 1.0, "drained", STRAIN)
    assert np.all(np.diff(out[0, :, E]) <= 1e-7) and out[0, -1, E] < out[0, 0, E] - 0.02
    assert np.all(np.diff(out[0, :, Q]) >= 0)
    assert out[0, -1, Q] / out[0, -1, P] == pytest.approx(_critical_ratio(LOOSE, 1.0), rel=0.1)


def test_undrained_keeps_volume_and_reaches_critical_state():
    inputs, out = _response(DENSE_STIFF, 0.5, "undrained")
    np.testing.assert_allclose(inputs[0].sum(axis=-1), 0.0, atol=1e-7)  # e_x + e_y + e_z = 0
    np.testing.assert_allclose(out[0, :, E], out[0, 0, E])  # constant void ratio
    assert out[0, -1, Q] / out[0, -1, P] == pytest.approx(_critical_ratio(DENSE_STIFF, 0.5), rel=0.01)
    assert out[0, -1, P] > 0.5  # dense: dilatant tendency raises the effective pressure
    _, loose = _response(LOOSE, 1.0, "undrained")
    assert loose[0, -1, P] < 0.9  # loose: contractant tendency lowers it


def test_stress_force_fabric_relation_and_positive_anisotropies():
    params = next(iter(generate_triaxial(50, pressures=(0.5e6,), experiment_types=("drained",), seed=3).values()))
    out = params["outputs"].astype(np.float64)
    a_c, a_n, a_t = (out[..., OUTPUT_NAMES.index(k)] for k in ("a_c", "a_n", "a_t"))
    np.testing.assert_allclose(0.4 * (a_c + a_n + 1.5 * a_t), out[..., Q] / out[..., P], atol=1e-5)
    assert (a_c >= 0).all() and (a_n >= -1e-6).all() and (a_t >= 0).all() and (out[..., 3] > 0).all()


@pytest.mark.parametrize("column", range(5))
def test_each_parameter_changes_the_curves_smoothly(column):
    names = list(PARAM_RANGES)
    base = np.array([8.5, 0.25, 0.5, 0.5, 30.0])
    span = PARAM_RANGES[names[column]][1] - PARAM_RANGES[names[column]][0]
    changes = []
    for fraction in (0.1, 0.2, 0.4):
        moved = base.copy()
        moved[column] += fraction * span
        for kind in ("drained", "undrained"):
            _, ref = _response(base, 0.5, kind)
            _, out = _response(moved, 0.5, kind)
            changes.append(np.sqrt(np.mean((out[0, :, Q] - ref[0, :, Q]) ** 2)) / np.mean(np.abs(ref[0, :, Q])))
    small_d, small_u, mid_d, mid_u, large_d, large_u = changes
    assert max(large_d, large_u) > 0.02  # measurable
    assert 1.3 < large_d / mid_d < 2.7 and 1.3 < mid_d / small_d < 2.7  # smooth: roughly proportional


def test_generation_is_seeded_and_covers_groups():
    kwargs = {"sequence_length": 20, "pressures": (0.2e6, 1.0e6)}
    first, again, other = generate_triaxial(4, seed=1, **kwargs), generate_triaxial(4, seed=1, **kwargs), generate_triaxial(4, seed=2, **kwargs)
    assert list(first) == [("0.2e6", "drained"), ("0.2e6", "undrained"), ("1.0e6", "drained"), ("1.0e6", "undrained")]
    for key in first:
        for name in ("contact_params", "inputs", "outputs"):
            np.testing.assert_array_equal(first[key][name], again[key][name])
        assert not np.allclose(first[key]["contact_params"], other[key]["contact_params"])
    params = np.concatenate([g["contact_params"] for g in first.values()])
    for column, (low, high) in enumerate(PARAM_RANGES.values()):
        assert low <= params[:, column].min() and params[:, column].max() <= high
    np.testing.assert_allclose(first[("0.2e6", "drained")]["inputs"][0, :, 0], np.arange(20) * 0.01, rtol=1e-6)


def test_write_synthetic_round_trip(tmp_path):
    path = write_synthetic_triaxial(tmp_path / "s.h5", 3, sequence_length=12, pressures=(0.2e6,), seed=5)
    data = read_triaxial_hdf5(path, experiment_type="undrained")
    expected = generate_triaxial(3, sequence_length=12, pressures=(0.2e6,), seed=5)[("0.2e6", "undrained")]
    np.testing.assert_array_equal(data.outputs, expected["outputs"])
    assert data.input_names == ["e_x", "e_y", "e_z"] and data.output_names == OUTPUT_NAMES


def test_invalid_arguments():
    with pytest.raises(UserInputError, match=r"contact_params column 'mu' holds 75.0 \(row 1\), outside the model's range \[0.0, 60.0\]"):
        triaxial_response(np.array([DENSE_STIFF, [8, 0.3, 0.5, 0.5, 75.0]]), 0.2, "drained", STRAIN)
    with pytest.raises(UserInputError, match=r"contact_params has shape \(1, 4\), expected \[N, 5\]"):
        triaxial_response(np.zeros((1, 4)), 0.2, "drained", STRAIN)
    with pytest.raises(UserInputError, match="experiment_type 'cyclic' is unknown"):
        triaxial_response(np.array([DENSE_STIFF]), 0.2, "cyclic", STRAIN)
    with pytest.raises(UserInputError, match="axial_strain must be a non-empty, non-decreasing"):
        triaxial_response(np.array([DENSE_STIFF]), 0.2, "drained", STRAIN[::-1])


@pytest.mark.parametrize(("settings", "key", "message"), [
    ({"max_axial_strain": 5}, "max_axial_strain", "max_axial_strain 5: expected a strain above 0 and at most 1."),
    ({"max_axial_strain": float("nan")}, "max_axial_strain", "max_axial_strain nan: expected a strain above 0"),
    ({"pressures": (-1e5,)}, "pressures", "pressures '-100000.0' must be positive numbers in Pa"),
    ({"pressures": (1e300,)}, "pressures", "pressures '1e+300' must be positive numbers in Pa"),
    ({"experiment_types": ("cyclic",)}, "experiment_types", "experiment_types 'cyclic' must list drained"),
    ({"sequence_length": 1}, "sequence_length", "sequence_length 1: expected an integer from 2 to 1000000."),
])
def test_library_refuses_impossible_settings_naming_the_key(settings, key, message):
    """The library itself validates (not only the CLI); the error carries the setting's key."""
    with pytest.raises(UserInputError, match=re.escape(message)) as info:
        generate_triaxial(2, **settings)
    assert info.value.key == key


def test_existing_output_is_refused_before_the_simulation(tmp_path, monkeypatch):
    from simrnn.sequence import triaxial

    out = tmp_path / "taken.h5"
    out.write_bytes(b"keep")
    monkeypatch.setattr(triaxial, "generate_triaxial", lambda *a, **k: pytest.fail("simulated before checking"))
    with pytest.raises(UserInputError, match="already exists; pass overwrite to replace it") as info:
        write_synthetic_triaxial(out, 2)
    assert info.value.key == "overwrite" and out.read_bytes() == b"keep"
