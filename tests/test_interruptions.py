"""Interruptions and the console-script boundary: Ctrl-C keeps only what it says, one line, nothing half-written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hostile_setups import csv_dir
from typer.testing import CliRunner

from simrnn.cli import app


def test_sigint_during_convert_says_what_was_kept(tmp_path: Path, monkeypatch) -> None:
    """Ctrl-C after two steps: one line naming the kept steps and the partial file, exit 130, resume works."""
    from simrnn.fields import cache

    csv_dir(tmp_path / "csv", 4)
    real = cache._PartialCache.write
    calls = []

    def interrupted_write(self, step):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(step.index)
        real(self, step)

    monkeypatch.setattr(cache._PartialCache, "write", interrupted_write)
    result = CliRunner().invoke(app, ["fields", "convert", str(tmp_path / "csv"), str(tmp_path / "c.h5"), "--workers", "1"])
    assert result.exit_code == 130 and isinstance(result.exception, SystemExit)
    assert result.stderr.strip().splitlines() == [
        f"interrupted; 2 of 4 time steps are kept in {tmp_path / 'c.h5.partial'}; run the same command again to resume"
    ]
    monkeypatch.setattr(cache._PartialCache, "write", real)
    result = CliRunner().invoke(app, ["fields", "convert", str(tmp_path / "csv"), str(tmp_path / "c.h5")])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.h5", "csv"]


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, MemoryError])
def test_a_failed_or_interrupted_fields_synth_leaves_nothing(tmp_path: Path, monkeypatch, interrupt) -> None:
    from simrnn.fields import synthetic

    real, written = synthetic._write_csv, []

    def fail_on_third(path, coords, step):
        if len(written) == 2:
            raise interrupt
        written.append(path)
        real(path, coords, step)

    monkeypatch.setattr(synthetic, "_write_csv", fail_on_third)
    result = CliRunner().invoke(app, ["fields", "synth", str(tmp_path / "new" / "csv"), "--grid", "6x4x3", "--steps", "5"])
    assert list(tmp_path.iterdir()) == []  # neither the CSVs nor the folders made for them
    if interrupt is KeyboardInterrupt:
        assert result.exit_code == 130
        assert result.stderr.strip() == "interrupted; the 2 CSV files written so far were removed; nothing was kept"
    else:
        assert isinstance(result.exception, MemoryError)


def test_the_console_script_boundary_prints_one_line(tmp_path: Path, capsys) -> None:
    """``simrnn.cli.main`` (the console script) exits 2 with one line for a user error and a path error."""
    from simrnn.cli import main

    for args, fragment in ((["fields", "info", str(tmp_path / "none.h5")], "cache file not found"),
                           (["sequence", "synth", "/proc/simrnn_hostile.h5"], "/proc")):
        with pytest.raises(SystemExit) as exit_info:
            main(args)
        assert exit_info.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and fragment in err[0] and err[0].startswith("error: ")


def test_json_writer_refuses_nan(tmp_path: Path) -> None:
    from simrnn.errors import UserInputError
    from simrnn.files import write_json_atomic

    with pytest.raises(UserInputError, match=r"m.json: refusing to write the non-finite value nan at key 'metrics'\['mse'\]"):
        write_json_atomic(tmp_path / "m.json", {"metrics": {"mse": float("nan")}})
    assert list(tmp_path.iterdir()) == []
    write_json_atomic(tmp_path / "m.json", {"metrics": {"mse": 0.5}})
    assert json.loads((tmp_path / "m.json").read_text()) == {"metrics": {"mse": 0.5}}
