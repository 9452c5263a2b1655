"""The YADE driver against a fake ``yade-batch`` (tests/sequence/fake_yade_batch.py): the synthetic model per row."""

from __future__ import annotations

import json
import os
import stat
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from simrnn.errors import UserInputError
from simrnn.sequence.calibration.simulator import SimulationFailed, cached_simulator
from simrnn.sequence.calibration.yade_driver import YadeBatch
from simrnn.sequence.triaxial import triaxial_response

FAKE = Path(__file__).with_name("fake_yade_batch.py")
TEMPLATE = Path(__file__).resolve().parents[2] / "examples" / "yade" / "triax_template.py"
NAMES = ["E", "v", "kr", "eta", "mu"]
GRID = np.arange(201) * 0.0005  # the fake's axial strain steps
CONTROL = GRID[::4]  # 51 of them: the interpolation is exact there
# in increasing order, as the cached simulator passes them on: sample_<i> is PARAMS[i]
PARAMS = np.array([[7.5, 0.4, 0.9, 0.1, 45.0], [8.0, 0.3, 0.5, 0.3, 30.0], [8.5, 0.2, 0.4, 0.4, 35.0],
                   [9.0, 0.1, 0.2, 0.6, 20.0]])


@pytest.fixture
def fake(tmp_path, monkeypatch) -> str:
    """The fake as an executable with this interpreter (the package on its PYTHONPATH); FAKE_YADE cleared."""
    exe = tmp_path / "bin" / "yade-batch"
    exe.parent.mkdir()
    exe.write_text(f"#!{sys.executable}\nimport runpy, sys\nsys.argv[0] = {str(FAKE)!r}\n"
                   f"runpy.run_path({str(FAKE)!r}, run_name='__main__')\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(sys.path))
    monkeypatch.delenv("FAKE_YADE", raising=False)
    return str(exe)


def driver(tmp_path, executable, **kwargs) -> YadeBatch:
    return YadeBatch(TEMPLATE, NAMES, ["e", "p", "q"], CONTROL, tmp_path / "runs", fixed={"conf": 2e5},
                     executable=executable, jobs=2, **kwargs)


def test_curves_table_and_a_failed_sample_through_the_cached_simulator(tmp_path, fake, monkeypatch):
    monkeypatch.setenv("FAKE_YADE", json.dumps({"sample_2": "missing"}))
    run = driver(tmp_path, fake)
    sim = cached_simulator(run, NAMES, ["e", "p", "q"], CONTROL, cache=tmp_path / "sims.npz")
    with pytest.warns(SimulationFailed) as caught:
        curves = sim(PARAMS)
    messages = [str(w.message) for w in caught]
    assert any("sample_2.npy: no output" in m for m in messages) and all("[8.5, 0.2, 0.4, 0.4, 35.0]" in m for m in messages)
    _, model = triaxial_response(PARAMS, 0.2, "drained", GRID)
    ok = [0, 1, 3]
    np.testing.assert_allclose(curves[ok], model[ok][:, ::4, :3], rtol=1e-6, atol=1e-9)  # p, q back in MPa
    assert np.isnan(curves[2]).all() and sim.failures == 1 and sim.simulations == 4

    batch = tmp_path / "runs" / "batch_0000"
    lines = (batch / "samples.txt").read_text().splitlines()
    assert lines[0].split() == ["!OMP_NUM_THREADS", "description", "key", *NAMES, "conf"]
    rows = [line.split() for line in lines[1:]]
    assert [r[:3] for r in rows] == [["1", f"sample_{i}", str(i)] for i in range(4)]
    np.testing.assert_array_equal(np.array([r[3:] for r in rows], dtype=float),  # float64 round trip
                                  np.column_stack([PARAMS, np.full(4, 2e5)]))
    assert "4 jobs" in (batch / "yade-batch.log").read_text() and (batch / "sample_3.log").is_file()

    # the next batch: a new folder; cached and failed samples are not run again
    again = np.vstack([PARAMS, PARAMS[:1] + [0.1, 0, 0, 0, 0]])
    curves2 = sim(again)
    assert sorted(p.name for p in (tmp_path / "runs").glob("batch_*")) == ["batch_0000", "batch_0001"]
    assert len((tmp_path / "runs" / "batch_0001" / "samples.txt").read_text().splitlines()) == 2
    np.testing.assert_array_equal(curves2[:4], curves)
    assert sim.simulations == 5 and sim.cache_hits == 4


def test_linear_interpolation_between_steps(tmp_path, fake):
    middle = (GRID[:-1] + GRID[1:])[::8] / 2
    run = YadeBatch(TEMPLATE, NAMES, ["q"], middle, tmp_path / "runs", fixed={"conf": 2e5}, executable=fake)
    curves = run(PARAMS[:2])
    _, model = triaxial_response(PARAMS[:2], 0.2, "drained", GRID)
    q = model[:, :, 2]
    np.testing.assert_allclose(curves[..., 0], ((q[:, :-1] + q[:, 1:]) / 2)[:, ::8], rtol=1e-6)


def test_short_and_unreadable_outputs_are_failed_samples_with_the_reason(tmp_path, fake, monkeypatch):
    monkeypatch.setenv("FAKE_YADE", json.dumps({"sample_0": "short", "sample_1": "garbage"}))
    with pytest.warns(SimulationFailed) as caught:
        curves = driver(tmp_path, fake)(PARAMS[:3])
    first, second = (str(w.message) for w in caught)
    assert "sample_0.npy: e_z covers [0, 0.0495], not the calibration's [0, 0.1]" in first
    assert "sample_1.npy" in second and np.isnan(curves[:2]).all() and np.isfinite(curves[2]).all()


def test_a_batch_that_cannot_run_raises_and_records_nothing_as_failed(tmp_path, fake, monkeypatch):
    sim = cached_simulator(driver(tmp_path, fake), NAMES, ["e", "p", "q"], CONTROL, cache=tmp_path / "sims.npz")
    monkeypatch.setenv("FAKE_YADE", json.dumps({"exit": 3}))
    with pytest.raises(UserInputError, match=r"exited with status 3 in .*batch_0000; see .*yade-batch.log"):
        sim(PARAMS[:2])
    monkeypatch.setenv("FAKE_YADE", json.dumps({"sample_0": "missing", "sample_1": "missing"}))
    with pytest.raises(UserInputError, match=r"every sample of .*batch_0001 failed \(first: .*sample_0.npy: no output"):
        sim(PARAMS[:2])
    assert len(sim.cache.failed) == 0 and sim.failures == 0  # fixed later, they run again
    with pytest.raises(UserInputError, match="'no-such-yade-batch': not found"):
        driver(tmp_path, "no-such-yade-batch")(PARAMS[:1])
    with pytest.raises(UserInputError, match="the YADE script does not exist"):
        YadeBatch(tmp_path / "none.py", NAMES, ["e"], CONTROL, tmp_path)
    with pytest.raises(UserInputError, match="distinct Python names"):
        YadeBatch(TEMPLATE, NAMES, ["e"], CONTROL, tmp_path, fixed={"mu": 30.0})
    with pytest.raises(UserInputError, match=r"fixed values \{'conf': 'high'\}: expected numbers"):
        YadeBatch(TEMPLATE, NAMES, ["e"], CONTROL, tmp_path, fixed={"conf": "high"})
    with pytest.raises(UserInputError, match=r"params \[2, 4\]: expected \[N, 5\]"):
        driver(tmp_path, fake)(PARAMS[:2, :4])
    assert driver(tmp_path, fake)(PARAMS[:0]).shape == (0, len(CONTROL), 3)
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["batch_0000", "batch_0001"]  # no new one


def test_timeout_stops_the_batch_and_its_jobs(tmp_path, fake, monkeypatch):
    monkeypatch.setenv("FAKE_YADE", json.dumps({"hang": True}))
    start = time.monotonic()
    with pytest.warns(SimulationFailed, match=r"sample_1.npy: no output .*\(the batch was stopped after 1.5 s\)"):
        curves = driver(tmp_path, fake, timeout=1.5)(PARAMS[:2])
    assert time.monotonic() - start < 10
    assert np.isfinite(curves[0]).all() and np.isnan(curves[1]).all()
    child = int((tmp_path / "runs" / "batch_0000" / "hang.pid").read_text())
    for _ in range(50):  # the killed child is reaped by init shortly after
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"the fake's child {child} survived the timeout")


def test_a_module_naming_the_driver_is_a_cli_simulator(tmp_path, fake, monkeypatch):
    from simrnn.cli.calibrate_hybrid import load_callable

    (tmp_path / "obs.dat").write_text("# e_z q\n" + "".join(f"{x} 0.1\n" for x in CONTROL))
    (tmp_path / "my_yade.py").write_text(
        "from simrnn.sequence.calibration.observations import read_observation_table\n"
        "from simrnn.sequence.calibration.yade_driver import YadeBatch\n\n"
        "strain = read_observation_table('obs.dat').columns['e_z']\n"
        f"run = YadeBatch({str(TEMPLATE)!r}, ['E', 'v', 'kr', 'eta', 'mu'], ['q'], strain, 'yade_runs',\n"
        f"                fixed={{'conf': 2e5}}, executable={fake!r})\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    run = load_callable("my_yade:run")
    sys.modules.pop("my_yade", None)
    curves = run(PARAMS[:1])
    _, model = triaxial_response(PARAMS[:1], 0.2, "drained", GRID)
    np.testing.assert_allclose(curves[0, :, 0], model[0, ::4, 2], rtol=1e-6)
    assert (tmp_path / "yade_runs" / "batch_0000" / "sample_0.npy").is_file()


def test_once_a_sample_worked_a_batch_of_failures_is_skipped_not_raised(tmp_path, fake, monkeypatch):
    sim = cached_simulator(driver(tmp_path, fake), NAMES, ["e", "p", "q"], CONTROL, cache=tmp_path / "sims.npz")
    assert np.isfinite(sim(PARAMS[:1])).all()  # the setup works
    monkeypatch.setenv("FAKE_YADE", json.dumps({"sample_0": "missing", "sample_1": "missing"}))
    with pytest.warns(SimulationFailed) as caught:
        curves = sim(PARAMS[1:3])  # a hybrid round whose whole batch lands where the samples fail
    assert any("sample_1.npy: no output" in str(w.message) for w in caught)
    assert np.isnan(curves).all() and sim.failures == 2 and len(sim.cache.failed) == 2
    # a new driver on the same workdir (a resumed loop) remembers that the setup worked
    again = cached_simulator(driver(tmp_path, fake), NAMES, ["e", "p", "q"], CONTROL)
    with pytest.warns(SimulationFailed):
        assert np.isnan(again(PARAMS[2:4])).all()
