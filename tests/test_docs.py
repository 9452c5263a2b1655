"""The documentation runs as written: every shell and Python block of the user docs.

Which blocks: every fenced ``bash``/``sh``/``shell``/``console`` and ``python`` block of README.md,
examples/README.md and docs/*.md, and every ``yaml`` block that is a sweep file. A block right after
a line ``<!-- not run: REASON -->`` is skipped (cluster-only commands, templates, synopses); nothing
else is.

How (the commands are never edited):

- each document is one test with one fresh workspace in which its blocks run in order; it
  holds links to the repository's ``examples/`` and ``tests/data/`` so relative paths resolve;
- shell lines are joined at ``\\``, comments dropped, ``NAME=$(ls -d GLOB | tail -1)`` assigns the
  last match of GLOB and ``$NAME`` expands; every other line must be a ``simrnn`` command, run
  in-process (typer's CliRunner) and exit 0;
- Python blocks are executed in the workspace, one namespace per document;
- sweep YAML blocks are parsed and checked against the task's settings (no training).

Scale (the :func:`docs_scale` fixture, documented in README "The docs are tested"): training runs
1 epoch (2 when more than 50 are asked for, so that a resume continues) with at most 16 LSTM/dense
units and 8 field channels; synthetic triaxial files hold at most 10 sequences per group; sweeps
run at most 2 trials; calibrations at most 3 iterations of 32 samples. Everything else (data
layout, splits, options, outputs) is as documented.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shlex
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", REPO / "examples" / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SHELL = {"bash", "sh", "shell", "console"}
NOT_RUN = re.compile(r"<!--\s*not run:\s*(.+?)\s*-->")
ASSIGN_LAST = re.compile(r"^(\w+)=\$\(ls -d (\S+) \| tail -1\)$")

#: the scale-down of every run made by a documented command (see the module docstring).
EPOCHS_OF_ONE = 50   # settings of up to 50 epochs train 1 epoch, more train 2 (so that resuming continues)
MAX_UNITS = 16
MAX_FIELD_CHANNELS = 8
MAX_SYNTH_SEQUENCES = 10
MAX_SWEEP_TRIALS = 2
MAX_CALIBRATION_SAMPLES = 32
MAX_CALIBRATION_ITERATIONS = 3


@dataclass
class Block:
    doc: Path
    line: int
    lang: str
    text: str
    not_run: str | None

    @property
    def id(self) -> str:
        return f"{self.doc.relative_to(REPO)}:{self.line}"


def doc_blocks(path: Path) -> list[Block]:
    """Fenced blocks of ``path`` with their language, first line number and not-run reason."""
    blocks, lines = [], path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        fence = re.match(r"^```(\w*)\s*$", lines[i])
        if not fence:
            i += 1
            continue
        start, body = i, []
        i += 1
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        previous = next((lines[k] for k in range(start - 1, -1, -1) if lines[k].strip()), "")
        reason = NOT_RUN.search(previous)
        blocks.append(Block(path, start + 1, fence.group(1).lower(), "\n".join(body) + "\n",
                            reason.group(1) if reason else None))
        i += 1
    return blocks


def runnable(block: Block) -> bool:
    if block.lang in SHELL or block.lang == "python":
        return True
    return block.lang == "yaml" and "parameters:" in block.text


ALL_BLOCKS = [b for doc in DOCS for b in doc_blocks(doc) if runnable(b)]
DOCS_WITH_BLOCKS = [doc for doc in DOCS if any(b.doc == doc and not b.not_run for b in ALL_BLOCKS)]


def shell_commands(text: str) -> list[str]:
    """The block's lines, ``\\``-continuations joined, comments and blank lines dropped."""
    joined = re.sub(r"\\\n\s*", " ", text)
    words = (shlex.split(line, comments=True) for line in joined.splitlines())
    return [shlex.join(w) for w in words if w]


@pytest.fixture(scope="module")
def docs_scale():
    """Shrink every run a documented command makes (see the module docstring); commands stay as written."""
    import simrnn.cli.calibrate as calibrate_command
    import simrnn.engine.lifecycle as lifecycle
    import simrnn.sequence.calibration as calibration_package
    import simrnn.sequence.calibration.driver as driver
    import simrnn.sequence.triaxial as triaxial
    import simrnn.sweep as sweep

    calibrate = driver.calibrate
    task_config, write_synth, run_sweep = lifecycle.task_config, triaxial.write_synthetic_triaxial, sweep.run_sweep

    def small_task_config(*args, **kwargs):
        cfg = task_config(*args, **kwargs)
        cfg.epochs = 1 if cfg.epochs <= EPOCHS_OF_ONE else 2
        for key, cap in (("lstm_units", MAX_UNITS), ("dense_units", MAX_UNITS),
                         ("hidden_channels", MAX_FIELD_CHANNELS)):
            if hasattr(cfg, key):
                setattr(cfg, key, min(getattr(cfg, key), cap))
        return cfg

    def small_synth(path, n_samples_per_group=100, *args, **kwargs):
        return write_synth(path, min(n_samples_per_group, MAX_SYNTH_SEQUENCES), *args, **kwargs)

    def small_sweep(*args, trials=None, **kwargs):
        return run_sweep(*args, trials=min(trials or MAX_SWEEP_TRIALS, MAX_SWEEP_TRIALS), **kwargs)

    def small_calibration(*args, samples=MAX_CALIBRATION_SAMPLES, iterations=MAX_CALIBRATION_ITERATIONS, **kwargs):
        return calibrate(*args, samples=min(samples, MAX_CALIBRATION_SAMPLES),
                         iterations=min(iterations, MAX_CALIBRATION_ITERATIONS), **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        for module in (driver, calibration_package, calibrate_command):  # every name bound to calibrate()
            for name, value in list(vars(module).items()):
                if value is calibrate:
                    mp.setattr(module, name, small_calibration)
        mp.setattr(lifecycle, "task_config", small_task_config)
        mp.setattr(triaxial, "write_synthetic_triaxial", small_synth)
        mp.setattr(sweep, "run_sweep", small_sweep)
        yield


@contextlib.contextmanager
def working_directory(path: Path):
    old = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def run_shell(block: Block, space: dict) -> None:
    from typer.testing import CliRunner

    from simrnn.cli import app

    runner = CliRunner()
    for command in shell_commands(block.text):
        assigned = ASSIGN_LAST.match(" ".join(shlex.split(command)))
        if assigned:
            matches = sorted(glob.glob(assigned.group(2)))
            assert matches, f"{block.id}: {command!r} matches nothing"
            space["env"][assigned.group(1)] = matches[-1]
            continue
        words = [re.sub(r"\$(\w+)", lambda m: space["env"][m.group(1)], w) for w in shlex.split(command, comments=True)]
        assert words[0] == "simrnn", (f"{block.id}: {command!r} is not a simrnn command; "
                                      "mark the block <!-- not run: REASON --> or make it one")
        started = time.perf_counter()
        result = runner.invoke(app, words[1:], terminal_width=100)
        print(f"{time.perf_counter() - started:5.1f} s  {command}")  # shown with pytest -s
        assert result.exit_code == 0, f"{block.id}: {command!r} exited {result.exit_code}:\n{result.output}"


def run_yaml_sweep(block: Block) -> None:
    """Parse the sweep file and check it against the sequence task as ``simrnn sweep run`` does (no training)."""
    from simrnn.sweep.spec import load_sweep
    from simrnn.sweep.worker import check_sweep

    path = Path(f"sweep_{block.line}.yaml")
    path.write_text(block.text, encoding="utf-8")
    check_sweep(load_sweep(path), "sequence")


def workspace(root: Path) -> dict:
    """A fresh folder with links to examples/ and tests/data/, shell variables and a Python namespace."""
    (root / "examples").symlink_to(REPO / "examples")
    (root / "tests").mkdir()
    (root / "tests" / "data").symlink_to(REPO / "tests" / "data")
    return {"root": root, "env": {}, "namespace": {"__name__": "__docs__"}}


@pytest.mark.parametrize("doc", DOCS_WITH_BLOCKS, ids=[str(d.relative_to(REPO)) for d in DOCS_WITH_BLOCKS])
def test_doc_runs_as_written(doc, tmp_path, docs_scale):
    """Every block of ``doc`` in order, in one workspace (one test per document, so that test
    distribution over processes never separates a document's blocks)."""
    space = workspace(tmp_path)
    with working_directory(space["root"]):
        for block in (b for b in ALL_BLOCKS if b.doc == doc and not b.not_run):
            if block.lang in SHELL:
                run_shell(block, space)
            elif block.lang == "python":
                exec(compile(block.text, block.id, "exec"), space["namespace"])
            else:
                run_yaml_sweep(block)


def test_not_run_marks_give_a_reason_and_every_runnable_block_is_found():
    blocks = doc_blocks(REPO / "README.md")
    assert [b.lang for b in blocks if runnable(b)][:2] == ["bash", "bash"]
    assert all(b.not_run for b in blocks if "from-yade" in b.text)
    assert all(b.not_run.strip() for b in ALL_BLOCKS if b.not_run is not None)
    assert shell_commands("a \\\n  'b c' # d\n# e\n\nRUN=x\n") == ["a 'b c'", "RUN=x"]
