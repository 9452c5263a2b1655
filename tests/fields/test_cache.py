"""The HDF5 cache: round trip, provenance, resume after an interruption, refusals."""

import json

import h5py
import numpy as np
import pytest
from fields_helpers import grid_fields, write_step_csv, write_steps

from simrnn import __version__
from simrnn.errors import UserInputError
from simrnn.fields.cache import convert, open_cache
from simrnn.files import sha256_file

SHAPE = (5, 4, 3)


def test_round_trip_equals_the_csv_values(tmp_path):
    write_steps(tmp_path / "csv", SHAPE, 4, order="shuffled")
    cache = open_cache(convert(tmp_path / "csv", tmp_path / "c.h5"))
    assert cache.shape == (4, *SHAPE) and list(cache.steps) == [0, 1, 2, 3]
    with cache.open() as h5:
        for t in range(4):
            expected = grid_fields(SHAPE, t)
            np.testing.assert_array_equal(h5["temperature"][t], expected["T"].astype(np.float32))
            np.testing.assert_array_equal(h5["ori_inds"][t], expected["ori"])
            assert h5["ipf"].dtype == np.float16
            np.testing.assert_array_equal(h5["ipf"][t], expected["ipf"].astype(np.float16))
            assert h5["mask"][t].all()
        np.testing.assert_allclose(h5["z"][()], np.arange(3) * 1e-6)
    np.testing.assert_array_equal(cache.t_min, [300, 1300, 2300, 3300])
    np.testing.assert_array_equal(cache.t_max, [300, 1300 + 400 + 30 + 2, 2732, 3732])
    assert cache.attrs["simrnn_version"] == __version__
    sources = cache.sources
    assert [s["name"] for s in sources] == [f"Alldata_withpoints_{k}.csv" for k in range(4)]
    csv = tmp_path / "csv" / "Alldata_withpoints_2.csv"
    assert sources[2]["sha256"] == sha256_file(csv) and sources[2]["size_bytes"] == csv.stat().st_size


def test_resume_skips_finished_steps(tmp_path):
    write_steps(tmp_path / "csv", SHAPE, 6)
    seen = []

    def interrupt_after_three(source):
        seen.append(source["step"])
        if len(seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        convert(tmp_path / "csv", tmp_path / "c.h5", workers=1, on_step=interrupt_after_three)
    partial = tmp_path / "c.h5.partial"
    assert not (tmp_path / "c.h5").exists()
    with h5py.File(partial, "r") as h5:
        assert list(h5["step_complete"][()]) == [True, True, True, False, False, False]
    with pytest.raises(UserInputError, match="interrupted conversion: run the conversion again"):
        open_cache(tmp_path / "c.h5")
    resumed = []
    convert(tmp_path / "csv", tmp_path / "c.h5", workers=1, on_step=lambda s: resumed.append(s["step"]))
    assert sorted(resumed) == [3, 4, 5] and not partial.exists()
    cache = open_cache(tmp_path / "c.h5")
    with cache.open() as h5:
        for t in range(6):
            np.testing.assert_array_equal(h5["temperature"][t], grid_fields(SHAPE, t)["T"].astype(np.float32))
    assert all("sha256" in s for s in cache.sources)


def test_resume_refuses_a_partial_file_of_other_settings(tmp_path):
    write_steps(tmp_path / "csv", SHAPE, 3)

    def stop(source):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        convert(tmp_path / "csv", tmp_path / "c.h5", workers=1, on_step=stop)
    with pytest.raises(UserInputError, match="different files or settings; delete it"):
        convert(tmp_path / "csv", tmp_path / "c.h5", downsample=2)


def test_grids_differing_between_steps_are_refused(tmp_path):
    write_steps(tmp_path / "csv", SHAPE, 2)
    write_step_csv(tmp_path / "csv" / "Alldata_withpoints_2.csv", (5, 4, 4), 2)
    with pytest.raises(UserInputError, match=r"grids differ between time steps: .* has 5x4x4 nodes"):
        convert(tmp_path / "csv", tmp_path / "c.h5", workers=1)
    assert not (tmp_path / "c.h5").exists()


def test_existing_output_is_never_overwritten(tmp_path):
    write_steps(tmp_path / "csv", SHAPE, 2)
    (tmp_path / "c.h5").write_text("keep me")
    with pytest.raises(UserInputError, match="already exists"):
        convert(tmp_path / "csv", tmp_path / "c.h5")
    assert (tmp_path / "c.h5").read_text() == "keep me"


def test_open_cache_rejects_foreign_files(tmp_path):
    with h5py.File(tmp_path / "other.h5", "w") as h5:
        h5["x"] = np.zeros(3)
    with pytest.raises(UserInputError, match="not a simrnn field cache"):
        open_cache(tmp_path / "other.h5")
    (tmp_path / "text.h5").write_text("no")
    with pytest.raises(UserInputError, match="not an HDF5 file"):
        open_cache(tmp_path / "text.h5")


def test_sources_attribute_is_json(hand_cache):
    with h5py.File(hand_cache, "r") as h5:
        assert len(json.loads(h5.attrs["sources"])) == 24 and h5.attrs["downsample"] == 1
