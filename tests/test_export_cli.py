"""simrnn export on the command line: success, and refusals that write nothing (exit 2, one sentence)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from export_helpers import FIELD_META, make_run, sequence_run
from typer.testing import CliRunner

from simrnn.cli import app

pytest.importorskip("onnxruntime")
runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, ["export", *map(str, args)], terminal_width=250)


def tree(root: Path) -> list[str]:
    """Every path under ``root`` (hidden ones included), to show that nothing was written."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_export_command_writes_model_and_manifest(tmp_path):
    run = sequence_run(tmp_path)
    result = invoke(run, "--format", "torchscript", "--out", tmp_path / "deploy" / "lstm")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "deploy" / "lstm").iterdir()) == ["manifest.json", "model.pt"]
    assert str(tmp_path / "deploy" / "lstm") in " ".join(result.output.split())
    default = invoke(run)  # onnx into RUN/exports/<time>
    assert default.exit_code == 0, default.output
    (folder,) = (run / "exports").iterdir()
    assert (folder / "model.onnx").is_file() and re.fullmatch(r"\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d", folder.name)
    assert json.loads((folder / "manifest.json").read_text())["source_run"]["path"] == str(run.resolve())


@pytest.mark.parametrize(("case", "expected"), [
    ("no best checkpoint", "best.ckpt: checkpoint not found"),
    ("unknown format", "--format 'tflite': unknown export format; expected one of onnx, torchscript."),
    ("existing output", "already exists; choose a new directory"),
    ("not a run", "not a simrnn run directory"),
])
def test_bad_input_is_one_sentence_exit_2_and_writes_nothing(tmp_path, case, expected):
    run = sequence_run(tmp_path)
    out, args = tmp_path / "out", []
    if case == "no best checkpoint":
        (run / "checkpoints" / "best.ckpt").rename(run / "checkpoints" / "last.ckpt")
    elif case == "unknown format":
        args = ["--format", "tflite"]
    elif case == "existing output":
        out.mkdir()
        (out / "keep.txt").write_text("mine")
    else:
        run = tmp_path / "sequence"
    before = tree(tmp_path)
    result = invoke(run, *args, "--out", out)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], result.output
    assert "Traceback" not in result.output
    assert tree(tmp_path) == before


def test_failed_export_removes_its_temporary_folder_and_new_parents(tmp_path, monkeypatch):
    import simrnn.export.bundle as bundle

    def broken(plan, predictor):
        raise RuntimeError("exported model differs from simrnn")

    run = sequence_run(tmp_path)
    monkeypatch.setattr(bundle, "verify", broken)
    before = tree(tmp_path)
    with pytest.raises(RuntimeError, match="differs"):
        bundle.export_run(run, "onnx", tmp_path / "new" / "deeper" / "out")
    assert tree(tmp_path) == before


def test_checkpoint_without_the_meta_the_export_needs_is_one_sentence(tmp_path):
    meta = {k: v for k, v in FIELD_META.items() if k != "normalisation"}
    run = make_run(tmp_path, "fields", "cnn-lstm", {"hidden_channels": 4, "n_layers": 1, "encoder_channels": [4]}, meta)
    before = tree(tmp_path)
    result = invoke(run, "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert result.output.strip() == (f"error: {run / 'checkpoints' / 'best.ckpt'}: hyper_parameters.data_meta has no "
                                     f"'normalisation'; cannot describe the model's inputs.")
    assert tree(tmp_path) == before


def test_a_model_without_exporter_is_named():
    from torch import nn

    from simrnn.errors import UserInputError
    from simrnn.export.adapters import adapter_for

    with pytest.raises(UserInputError, match=r"^ckpt: model 'Linear' has no exporter yet; exportable families: "
                                             r"FieldModel, fields-temperature task, sequence task\.$"):
        adapter_for(nn.Linear(2, 2), "ckpt")


def test_checkpoint_with_a_malformed_meta_value_is_one_sentence(tmp_path):
    run = make_run(tmp_path, "fields", "cnn-lstm", {"hidden_channels": 4, "n_layers": 1, "encoder_channels": [4]},
                   {**FIELD_META, "image_size": "large"})
    result = invoke(run, "--out", tmp_path / "out")
    assert result.exit_code == 2 and "data_meta holds a value of the wrong kind" in result.output
    assert not (tmp_path / "out").exists()
