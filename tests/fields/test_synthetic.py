"""The synthetic melt-pool generator: physical sanity, colours, reproducibility, CSV format."""

import numpy as np
import pytest

from simrnn.errors import UserInputError
from simrnn.fields.cache import convert, open_cache
from simrnn.fields.pointcloud import REQUIRED_COLUMNS, read_header
from simrnn.fields.synthetic import MeltPoolModel, parse_grid, simulate, synthesise

GRID = (48, 12, 8)
MODEL = MeltPoolModel()


@pytest.fixture(scope="module")
def steps():
    return list(simulate(GRID, steps=8, seed=3))


def test_first_step_is_ambient_and_later_steps_have_a_black_melt_pool(steps):
    assert np.all(steps[0].temperature == MODEL.t_ambient_k) and steps[0].ori_inds.min() >= 1
    for step in steps[1:]:
        molten = step.temperature > MODEL.t_melt_k
        assert molten.any() and step.temperature.max() <= MODEL.t_max_k
        np.testing.assert_array_equal(molten, step.ori_inds == 0)
        assert np.all(step.ipf[molten] == 0)
        assert np.all(step.ipf[~molten].max(axis=-1) > 0)
        assert step.ipf.min() >= 0 and step.ipf.max() <= 1


def test_pool_moves_along_plus_x_and_leaves_a_hot_trail(steps):
    hottest_x = [np.unravel_index(np.argmax(s.temperature), GRID)[0] for s in steps[1:]]
    assert hottest_x == sorted(hottest_x) and hottest_x[-1] > hottest_x[0]
    last = steps[-1].temperature
    behind, ahead = last[: hottest_x[-1] - 5].mean(), last[hottest_x[-1] + 5 :].mean()
    assert behind > ahead + 50


def test_resolidified_cells_grow_epitaxially_from_existing_grains(steps):
    base = steps[0].ori_inds
    last = steps[-1].ori_inds
    changed = (last != base) & (last > 0)
    assert changed.any()  # the track re-solidified with other grains than the base metal
    assert set(np.unique(last[changed])) <= set(np.unique(base))  # no new orientations: epitaxy


def test_ipf_colours_come_from_the_orientation_of_each_grain(steps):
    step = steps[-1]
    for label in np.unique(step.ori_inds)[:20]:
        colours = step.ipf[step.ori_inds == label]
        assert np.all(colours == colours[0])


def test_seeded_reproducibility(tmp_path):
    a = synthesise(tmp_path / "a", grid=(16, 6, 4), steps=3, seed=5)
    b = synthesise(tmp_path / "b", grid=(16, 6, 4), steps=3, seed=5)
    c = synthesise(tmp_path / "c", grid=(16, 6, 4), steps=3, seed=6)
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
    assert a[2].read_bytes() != c[2].read_bytes()
    assert read_header(a[0]) == list(REQUIRED_COLUMNS)


def test_written_csvs_convert_to_the_simulated_fields(tmp_path, steps):
    synthesise(tmp_path / "csv", grid=GRID, steps=8, seed=3)
    cache = open_cache(convert(tmp_path / "csv", tmp_path / "c.h5"))
    assert cache.shape == (8, *GRID)
    np.testing.assert_allclose(cache.grid.x[-1], MODEL.length_m, rtol=1e-6)
    with cache.open() as h5:
        np.testing.assert_array_equal(h5["ori_inds"][5], steps[5].ori_inds)
        np.testing.assert_array_equal(h5["temperature"][5], steps[5].temperature)
        np.testing.assert_allclose(h5["ipf"][5], steps[5].ipf, atol=5e-4)
    with pytest.raises(UserInputError, match="already contains"):
        synthesise(tmp_path / "csv", grid=GRID, steps=2)


def test_grid_parsing():
    assert parse_grid("930x188x94") == (930, 188, 94)
    for bad in ("96x24", "96xax16", "1x4x4"):
        with pytest.raises(UserInputError, match="expected three sizes of at least 2"):
            parse_grid(bad)
