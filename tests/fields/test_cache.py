"""The HDF5 cache: round trip, provenance, resume after an interruption, refusals."""

import json

import h5py
import numpy as np
import pytest
from fields_helpers import grid_fields, write_step_csv, write_steps

from simrnn import __version__
from simrnn.errors import Interrupted, UserInputError
from simrnn.fields.cache import convert, open_cache
from simrnn.fields.pointcloud import read_point_cloud
from simrnn.files import exclusive_lock, sha256_file

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


def _interrupt_after(n: int):
    seen = []

    def on_step(source):
        seen.append(source["step"])
        if len(seen) == n:
            raise KeyboardInterrupt

    return on_step


def test_interruption_says_what_is_kept(tmp_path):
    write_steps(tmp_path / "csv", SHAPE, 4)
    with pytest.raises(Interrupted, match=r"^2 of 4 time steps are kept in .*c.h5.partial; run the same command"):
        convert(tmp_path / "csv", tmp_path / "c.h5", workers=1, on_step=_interrupt_after(2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.h5.partial", "csv"]  # the lock is gone


def test_resume_notices_a_converted_csv_that_changed_with_the_same_size(tmp_path):
    write_steps(tmp_path / "csv", SHAPE, 4)
    with pytest.raises(Interrupted):
        convert(tmp_path / "csv", tmp_path / "c.h5", workers=1, on_step=_interrupt_after(2))
    with h5py.File(tmp_path / "c.h5.partial", "r") as h5:
        done = [json.loads(h5.attrs["sources"])[i]["name"] for i in np.flatnonzero(h5["step_complete"][()])]
    edited = tmp_path / "csv" / done[0]
    text = edited.read_text()
    size = edited.stat().st_size
    edited.write_text(text.replace("0.01", "0.02", 1))  # same size, different value
    assert edited.stat().st_size == size and edited.read_text() != text
    with pytest.raises(UserInputError, match=rf"{done[0]}: changed since it was converted into c.h5.partial"):
        convert(tmp_path / "csv", tmp_path / "c.h5")
    assert not (tmp_path / "c.h5").exists()


def test_a_second_writer_is_refused_before_touching_the_partial_file(tmp_path):
    write_steps(tmp_path / "csv", SHAPE, 3)
    with pytest.raises(Interrupted):
        convert(tmp_path / "csv", tmp_path / "c.h5", workers=1, on_step=_interrupt_after(1))
    partial = tmp_path / "c.h5.partial"
    before = partial.read_bytes()
    with (exclusive_lock(tmp_path / "c.h5"),  # another conversion is running
          pytest.raises(UserInputError, match="c.h5: another process is writing it right now")):
        convert(tmp_path / "csv", tmp_path / "c.h5")
    assert partial.read_bytes() == before and not (tmp_path / "c.h5").exists()


def _convert_in_child(csv, cache, queue):
    try:
        convert(csv, cache, workers=1)
        queue.put("ok")
    except UserInputError as exc:
        queue.put(f"refused: {exc}")


def test_two_simultaneous_conversions_leave_one_readable_cache(tmp_path):
    """The race of the issue: two converts to one target; one wins, the other is refused, never both 'wrote'."""
    import multiprocessing

    write_steps(tmp_path / "csv", SHAPE, 12)
    context = multiprocessing.get_context("fork")
    for attempt in range(3):
        target = tmp_path / f"c{attempt}.h5"
        queue = context.Queue()
        children = [context.Process(target=_convert_in_child, args=(tmp_path / "csv", target, queue)) for _ in range(2)]
        for child in children:
            child.start()
        for child in children:
            child.join(60)
        outcomes = sorted(queue.get(timeout=5) for _ in children)
        assert all(child.exitcode == 0 for child in children)
        assert outcomes[0] == "ok" and outcomes[1].startswith("refused: ")
        assert "another process is writing it" in outcomes[1] or "already exists" in outcomes[1]
        assert open_cache(target).shape == (12, *SHAPE)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c0.h5", "c1.h5", "c2.h5", "csv"]


def test_out_of_range_values_name_file_line_and_column(tmp_path):
    path = write_step_csv(tmp_path / "a_1.csv", SHAPE, 1)
    lines = path.read_text().splitlines()
    for column, value, message in (
        (4, "70000", r"line 3: out-of-range IPF value 70000 \(expected -65504 to 65504\) in column 'ipf_x:0'"),
        (13, "2147483648", r"line 3: out-of-range grain label 2.14748e\+09 .* in column 'ori_inds'"),
        (3, "1e40", r"line 3: out-of-range temperature 1e\+40 \(expected 0 to 1e\+06\) in column 'T'"),
    ):
        fields = lines[2].split(",")
        fields[column] = value
        path.write_text("\n".join([*lines[:2], ",".join(fields), *lines[3:]]) + "\n")
        with pytest.raises(UserInputError, match=message):
            read_point_cloud(path)
