"""`simrnn sequence synth` and `simrnn sequence from-yade` through the real command line."""

from __future__ import annotations

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

import simrnn.cli
from simrnn.cli import sequence_data
from simrnn.sequence.hdf5 import read_triaxial_hdf5, validate_triaxial_hdf5

runner = CliRunner()


def _app() -> typer.Typer:
    """The real `simrnn` app if the sequence sub-app registers these commands, else a local one."""
    names = {c.name for group in simrnn.cli.app.registered_groups if group.name == "sequence"
             for c in group.typer_instance.registered_commands}
    if {"synth", "from-yade"} <= names:
        return simrnn.cli.app
    app = typer.Typer()
    sequence = typer.Typer()
    sequence_data.register(sequence)
    app.add_typer(sequence, name="sequence")
    return app


def test_synth_writes_a_valid_file_and_refuses_to_overwrite(tmp_path):
    out = tmp_path / "s.h5"
    args = ["sequence", "synth", str(out), "--samples-per-group", "3", "--sequence-length", "15", "--seed", "4",
            "--pressures", "0.2e6, 1.0e6", "--experiment-types", "undrained"]
    result = runner.invoke(_app(), args)
    assert result.exit_code == 0, result.output
    assert "2 groups x 3 sequences x 15 steps" in result.output
    validate_triaxial_hdf5(out)
    data = read_triaxial_hdf5(out)
    assert data.inputs.shape == (6, 15, 3) and sorted(set(data.pressure)) == [2e5, 1e6]

    result = runner.invoke(_app(), args)
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)  # the CLI's error boundary
    assert result.stderr.strip() == f"error: {out}: already exists; pass --force to replace it."
    assert runner.invoke(_app(), [*args, "--force", "--seed", "5"]).exit_code == 0
    assert not np.array_equal(read_triaxial_hdf5(out).contact_params, data.contact_params)


def test_synth_rejects_bad_lists(tmp_path):
    result = runner.invoke(_app(), ["sequence", "synth", str(tmp_path / "s.h5"), "--experiment-types", "drained,cyclic"])
    assert result.stderr.strip() == ("error: command line: --experiment-types 'drained,cyclic' must list drained "
                                     "and/or undrained.")
    result = runner.invoke(_app(), ["sequence", "synth", str(tmp_path / "s.h5"), "--pressures", "0.2e6,high"])
    assert result.stderr.strip() == ("error: command line: --pressures '0.2e6,high': each item should be a number, "
                                     "got 'high'.")
    result = runner.invoke(_app(), ["sequence", "synth", str(tmp_path / "s.h5"), "--max-axial-strain", "5"])
    assert result.stderr.strip() == ("error: command line: --max-axial-strain 5.0: expected a strain above 0 and "
                                     "at most 1.")
    assert not (tmp_path / "s.h5").exists()


def test_from_yade_prints_summary_with_dropped_files(tmp_path):
    src = tmp_path / "yade" / "0.5e6" / "drained"
    src.mkdir(parents=True)
    keys = ["e_x", "e_y", "e_z", "e", "p", "q", "f0", "a_c", "a_n", "a_t"]
    params = {"E": 8.0, "v": 0.3, "kr": 0.5, "eta": 0.2, "mu": 30.0, "conf": np.log10(5e5), "mode": "drained", "num": 10}
    for name, steps in (("long.npy", 9), ("short.npy", 4)):
        features = {key: list(np.linspace(0, 1, steps)) for key in keys}
        np.save(src / name, np.array((params, features), dtype=object), allow_pickle=True)
    out = tmp_path / "y.h5"
    result = runner.invoke(_app(), ["sequence", "from-yade", str(tmp_path / "yade"), str(out), "--sequence-length", "6"])
    assert result.exit_code == 0, result.output
    assert "0.5e6/drained: 1 sequences converted, 1 dropped" in result.output
    assert "dropped 0.5e6/drained/short.npy (4 < 6 steps)" in result.output
    assert read_triaxial_hdf5(out).outputs.shape == (1, 6, 7)


def test_user_errors_exit_with_status_2_and_one_line(tmp_path, capsys):
    if _app() is not simrnn.cli.app:
        pytest.skip("the sequence sub-app does not register the data commands yet")
    with pytest.raises(SystemExit) as exit_info:
        simrnn.cli.main(["sequence", "from-yade", str(tmp_path), str(tmp_path / "o.h5")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.strip().endswith("no .npy files, neither directly inside nor in <pressure>/<experiment_type>/ subfolders.")
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
