"""docs/export.md: its onnxruntime example runs without simrnn or torch and prints simrnn's numbers."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from simrnn.cli import app
from simrnn.sequence import load_run, predict

pytest.importorskip("onnxruntime")
ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "grainlearning" / "rnn_triaxial_drained"
#: run the example with simrnn and torch made unimportable: it must need neither.
PRELUDE = "import sys; sys.modules['simrnn'] = None; sys.modules['torch'] = None; "


def example_script() -> str:
    """The ```python block that follows the mention of predict_onnx.py in docs/export.md."""
    text = (ROOT / "docs" / "export.md").read_text()
    return re.search(r"`python predict_onnx\.py`.*?```python\n(.*?)```", text, re.S).group(1)


def test_docs_example_is_short_and_predicts_what_simrnn_predicts(tmp_path):
    script = example_script()
    assert len(script.strip().splitlines()) <= 25
    (tmp_path / "predict_onnx.py").write_text(script)
    runner = CliRunner()
    for args in (["sequence", "import-keras", DATA, "--out", tmp_path / "runs" / "gl_drained"],
                 ["export", tmp_path / "runs" / "gl_drained", "--format", "onnx", "--out",
                  tmp_path / "exported" / "gl_drained"]):
        result = runner.invoke(app, [str(a) for a in args])
        assert result.exit_code == 0, result.output
    done = subprocess.run([sys.executable, "-c", PRELUDE + "exec(open('predict_onnx.py').read())"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    run = load_run(tmp_path / "runs" / "gl_drained")
    strain = np.linspace(0, 0.199, 200, dtype=np.float32)[None, :, None]
    params = np.array([[7.58, 0.44, 0.48, 0.22, 56.1, 0.2]], np.float32)
    want = predict(run, strain, params)[0]
    first = run.first_predicted_step()
    lines = done.stdout.strip().splitlines()
    assert [line.split(" (")[0] for line in lines] == [f"step {first}", "step 199"]
    for line, k in zip(lines, (0, len(want) - 1), strict=True):
        printed = [float(v) for v in re.findall(r"=(\S+) ", line + " ")]
        np.testing.assert_allclose(printed, want[k], rtol=1e-3)  # printed with 4 significant digits
    assert "q=" in lines[0] and "MPa" in lines[0]
