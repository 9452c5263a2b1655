"""The hostile-input contract shared by every command: case rows, the check, and the generated rows.

A :class:`Case` is a command line (``{tmp}``: the case's own folder, ``{w}``: the folder of valid
inputs), an optional ``setup(tmp, w)`` writing the hostile input, and a regular expression the
error must match. :func:`check_case` asserts exit status 2 through the CLI's error boundary, at
most three lines on stderr, no traceback, nothing new left under ``tmp`` and ``w`` unchanged.

Rows generated from the registry (so a new task is covered by construction):

* :func:`task_cases` — ``simrnn <task> train`` of every task: engine settings, config files,
  resuming a missing, foreign, locked or crafted run;
* :func:`checkpoint_cases` — crafted checkpoints for every checkpoint reader (sequence predict,
  fields predict / rollout, resume, calibrate).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from typer.testing import CliRunner


@dataclass(frozen=True)
class Case:
    """One hostile invocation: ``args`` with ``{tmp}``/``{w}`` placeholders, a setup, the expected message."""

    id: str
    args: list[str]
    expect: str
    setup: Callable[[Path, Path], None] | None = None
    owner: str | None = None  # set when the fix belongs to another module (the row is xfail until fixed)
    keep: tuple[str, ...] = ()  # paths (relative to tmp) a failure may legitimately keep


def case(id, args, expect, setup=None, owner=None, keep=()) -> Case:
    return Case(id, args.split() if isinstance(args, str) else args, expect, setup, owner, tuple(keep))


#: file descriptors of locks a setup holds for the duration of one case.
HELD: list[int] = []
_BOX = "╭╮╰╯─│ Error"  # the characters of the frame of click's rich error box


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


def check_case(c: Case, app, world: Path, tmp_path: Path) -> None:
    """Run ``c`` and assert the contract (module docstring)."""
    if c.setup is not None:
        c.setup(tmp_path, world)
    before, world_before = files_under(tmp_path), files_under(world)
    args = [a.replace("{tmp}", str(tmp_path)).replace("{w}", str(world)) for a in c.args]
    try:
        result = CliRunner().invoke(app, args)
    finally:
        while HELD:
            os.close(HELD.pop())
    assert isinstance(result.exception, SystemExit), f"traceback: {result.exception!r}\n{result.output}"
    assert result.exit_code == 2, result.output
    stderr = result.stderr.strip()
    assert "Traceback" not in result.output
    lines = stderr.splitlines()
    if lines and lines[0].startswith("Usage:"):  # click's usage error: usage, hint, then the message box
        lines = [line for line in lines[2:] if set(line) - set(_BOX)]
    assert 1 <= len(lines) <= 3, stderr
    assert re.search(c.expect, stderr), stderr
    left = {p for p in files_under(tmp_path) - before - set(c.keep) if Path(p).name not in stderr}  # kept, said so
    assert not left, f"left behind: {sorted(left)}"
    assert files_under(world) == world_before, "a valid shared input was changed"


def write_file(name: str, content: bytes | str):
    def setup(tmp: Path, w: Path) -> None:
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)

    return setup


def hold_flock(relative: str):
    """Setup: another process holds the ``flock`` of ``tmp/relative`` (released after the case)."""

    def setup(tmp: Path, w: Path) -> None:
        import fcntl

        fd = os.open(tmp / relative, os.O_RDWR | os.O_CREAT)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        HELD.append(fd)

    return setup


def fake_run(task: str, name: str = "run"):
    """Setup: ``tmp/<name>``, a run directory whose config.json says ``task`` (and nothing else)."""

    def setup(tmp: Path, w: Path) -> None:
        (tmp / name / "checkpoints").mkdir(parents=True)
        (tmp / name / "config.json").write_text(json.dumps({"task": task}))

    return setup


# ---------------------------------------------------------------------- generated: every task's train


def task_cases(task: str) -> list[Case]:
    """Engine-level refusals of ``simrnn <task> train``, the same for every registered task."""
    train = f"{task} train"
    other = "sequence" if task != "sequence" else "fields"
    return [
        case(f"{task}/epochs-0", f"{train} --epochs 0 --runs-root {{tmp}}/runs", "'epochs' must be at least 1"),
        case(f"{task}/seed-negative", f"{train} --seed -1 --runs-root {{tmp}}/runs", "'seed' must be between 0 and"),
        case(f"{task}/patience-negative", f"{train} --patience -2 --runs-root {{tmp}}/runs",
             "'patience' must not be negative"),
        case(f"{task}/config-not-utf8", f"{train} --config {{tmp}}/c.yml", "c.yml: not a UTF-8 text file",
             write_file("c.yml", b"\xff\xfe epochs: 1")),
        case(f"{task}/config-a-list", f"{train} --config {{tmp}}/c.yml", "c.yml", write_file("c.yml", "- 1\n- 2\n")),
        case(f"{task}/resume-missing", f"{train} --resume {{tmp}}/nope", "nope: not a simrnn run directory"),
        case(f"{task}/resume-foreign-task", f"{train} --resume {{tmp}}/run",
             f"run is a {other} run, expected a {task} run", fake_run(other)),
        case(f"{task}/resume-not-trained", f"{train} --resume {{tmp}}/run", "no settings/data sections",
             fake_run(task)),
        case(f"{task}/init-from-missing", f"{train} --init-from {{tmp}}/nope --runs-root {{tmp}}/runs",
             "nope: not a simrnn run directory"),
        case(f"{task}/init-from-foreign-task", f"{train} --init-from {{tmp}}/run --runs-root {{tmp}}/runs",
             f"run is a {other} run, expected a {task} run", fake_run(other)),
    ]


# ---------------------------------------------------------------------- generated: crafted checkpoints


def _edit_checkpoint(run: str, which: str, edit: Callable[[dict], None]):
    """Setup: ``tmp/<run>``, a copy of ``w/<run>`` whose ``which`` checkpoint ``edit`` changed."""

    def setup(tmp: Path, w: Path) -> None:
        shutil.copytree(w / run, tmp / run)
        path = tmp / run / "checkpoints" / f"{which}.ckpt"
        ckpt = torch.load(path, weights_only=True)
        edit(ckpt)
        torch.save(ckpt, path)

    return setup


def _set_arg(key: str, value):
    def edit(ckpt: dict) -> None:
        ckpt["hyper_parameters"]["model_args"][key] = value

    return edit


def _hp(key: str, value):
    def edit(ckpt: dict) -> None:
        ckpt["hyper_parameters"][key] = value

    return edit


def _drop_meta(dotted: str):
    def edit(ckpt: dict) -> None:
        *path, last = dotted.split(".")
        node = ckpt["hyper_parameters"]["data_meta"]
        for part in path:
            node = node[part]
        del node[last]

    return edit


def _drop_state(ckpt: dict) -> None:
    del ckpt["state_dict"]


#: (reader id, command line with {run}, the run folder of ``w`` it reads, checkpoint, width key, a meta key)
READERS = [
    ("predict", "sequence predict {tmp}/{run} --data {w}/data.h5 --split all --out {tmp}/p", "run", "best",
     "hidden_size", "output_std"),
    ("calibrate", "calibrate {tmp}/{run} --obs {w}/obs.dat --fixed pressure=0.2 --out {tmp}/c", "run", "best",
     "hidden_size", "output_std"),
    ("fpredict", "fields predict {tmp}/{run} --out {tmp}/p", "frun", "best", "hidden_channels",
     "normalisation.t_ambient_K"),
    ("frollout", "fields rollout {tmp}/{run} --out {tmp}/p", "frun", "best", "hidden_channels",
     "normalisation.t_max_train_K"),
    ("resume", "sequence train --resume {tmp}/{run} --epochs 9", "trun", "last", "hidden_size", None),
    ("init-from", "sequence train --raw-data {w}/data.h5 --init-from {tmp}/{run} --epochs 1 --runs-root {tmp}/runs",
     "run", "best", "hidden_size", "output_std"),
    ("hybrid-surrogate", "calibrate --simulator triaxial --surrogate {tmp}/{run} --obs {w}/obs.dat --fixed pressure=0.2 "
     "--out {tmp}/c", "run", "best", "hidden_size", "output_std"),
]


def checkpoint_cases() -> list[Case]:
    """A crafted checkpoint for every reader: each refused in one sentence before any allocation."""
    out = []
    for reader, args, run, which, width, meta in READERS:
        line = args.replace("{run}", run)
        variants = [
            ("no-state-dict", _drop_state, "'state_dict' is missing"),
            ("model-args-list", _hp("model_args", [1, 2]), "model_args must be a mapping"),
            ("model-args-unknown-key", _set_arg("bogus", 1), r"unknown key\(s\) bogus"),
            ("width-changed", _set_arg(width, 3), "has shape .* but model_args give"),
            ("width-100000", _set_arg(width, 100000), "has shape .* but model_args give"),
            ("foreign-model", _hp("model_name", "no-such-model"), "model_name is 'no-such-model'; expected one of"),
        ]
        if meta is not None:
            variants.append(("meta-key-missing", _drop_meta(meta), f"lacks the key '{meta}'"))
        out += [case(f"ckpt/{reader}/{name}", line, expect, _edit_checkpoint(run, which, edit))
                for name, edit, expect in variants]
    return out
