"""`simrnn fields synth | convert | info` through the real command line."""

from typer.testing import CliRunner

from simrnn.cli import app
from simrnn.fields.dataset import FieldSequenceDataset

runner = CliRunner()


def test_synth_convert_info(tmp_path):
    csv_dir, cache = tmp_path / "csv", tmp_path / "cache.h5"
    result = runner.invoke(
        app, ["fields", "synth", str(csv_dir), "--grid", "24x8x6", "--steps", "6", "--seed", "2"]
    )
    assert result.exit_code == 0, result.output
    assert "wrote 6 CSV files of 1152 points" in result.output
    result = runner.invoke(app, ["fields", "convert", str(csv_dir), str(cache), "--downsample", "2"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["fields", "info", str(cache)])
    assert result.exit_code == 0 and "6 steps (0..5) on 12x4x3 nodes" in result.output
    assert (
        len(FieldSequenceDataset(cache, plane="xz", split="train", split_ratio=(4, 1, 1), seq_length=2)) == 4
    )


def test_bad_input_exits_2_with_one_sentence(tmp_path):
    result = runner.invoke(app, ["fields", "synth", str(tmp_path / "s"), "--grid", "24x8"])
    assert result.exit_code == 2
    assert "--grid '24x8': expected three sizes of at least 2 like 96x24x16." in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(app, ["fields", "convert", str(tmp_path), str(tmp_path / "c.h5")])
    assert result.exit_code == 2 and "no CSV found matching Alldata_withpoints_*.csv" in result.output
    (tmp_path / "c.h5").write_text("")
    result = runner.invoke(app, ["fields", "convert", str(tmp_path), str(tmp_path / "c.h5")])
    assert result.exit_code == 2 and "c.h5: already exists" in result.output
