"""A YADE driver for the simulator protocol: one ``yade-batch`` run per batch of parameter rows.

:class:`YadeBatch` is a callable ``run(params [N, P]) -> curves [N, T, O]`` (wrap it with
:func:`~.simulator.cached_simulator`, or name it to ``simrnn calibrate --simulator MODULE:NAME``).
Each call

1. claims a new folder ``workdir/batch_0000``, ``batch_0001``, ... (never reuses one);
2. writes there the parameter table that ``yade-batch`` reads (GrainLearning's layout):
   a header ``!OMP_NUM_THREADS description key NAME ...`` and one row per sample: the threads per
   job, the description ``sample_<i>``, the key ``i`` and the values of ``param_names`` then of
   ``fixed``, each as the shortest text that reads back as the same float64;
3. runs ``EXECUTABLE [-j JOBS] --log @.log samples.txt SCRIPT`` in that folder (no shell; its
   output goes to ``yade-batch.log``, each job's to ``sample_<i>.log``) for at most ``timeout``
   seconds, then stops the whole process group;
4. reads each sample's output ``sample_<i>.npy`` (the YADE script writes it under the name
   ``O.tags['description'] + '.npy'``): the pickled ``(params dict, features dict)`` pair of
   :mod:`simrnn.sequence.yade` (the layout ``simrnn`` already converts to training data), read
   with the same restricted unpickler; ``features`` holds per-step lists, among them the control
   ``control_key`` (axial strain e_z, a fraction, compression positive, increasing) and the
   observables ``obs_names`` (p and q in Pa, returned in MPa);
5. interpolates every observable linearly onto the calibration's ``control`` points ``[T]``.

Failures:

- a sample without a readable output, with a missing or non-finite feature, a control that does
  not increase, or one that stops short of ``control`` (beyond :data:`CONTROL_TOLERANCE` of its
  span) gives a NaN row and a :class:`~.simulator.SimulationFailed` warning with the reason; the
  cached simulator then skips it (probability 0) and never runs it again;
- hitting ``timeout`` stops the batch; the samples finished by then are read, the others fail;
- a missing executable, a non-zero exit status of ``yade-batch`` (which exits 0 when single jobs
  fail) or a batch in which every sample failed while no sample in ``workdir`` ever worked (a broken
  script, a wrong key, a timeout too short) raises :class:`~simrnn.errors.UserInputError` naming
  the log: nothing is recorded as failed, so the same samples run again once the cause is fixed.
  Once a sample has worked (:data:`WORKED_MARKER`), a batch whose samples all fail gives NaN rows
  like any failed sample, so a hybrid round that lands in a failing region does not stop the loop.

Example (the template ``examples/yade/triax_template.py``)::

    run = YadeBatch("examples/yade/triax_template.py", ["E", "v", "kr", "eta", "mu"], ["e", "q"],
                    control=np.linspace(0, 0.1, 101), workdir="yade_runs", fixed={"conf": 2e5}, jobs=8)
    curves = run(params)                 # params [N, 5] -> curves [N, 101, 2]; NaN rows for failed samples
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from simrnn.errors import UserInputError
from simrnn.files import write_text_atomic
from simrnn.sequence.calibration.simulator import SimulationFailed
from simrnn.sequence.yade import feature_columns, load_simulation

#: A sample's control may start after the first or end before the last ``control`` point by this
#: fraction of the control's span (the edge values are held there); further is a failed sample.
CONTROL_TOLERANCE = 1e-3
TABLE_NAME = "samples.txt"
LOG_NAME = "yade-batch.log"
#: written into ``workdir`` once a sample succeeded: from then on a batch whose samples all fail is
#: taken as failed samples (e.g. a region of the parameter box where the packing collapses), not a
#: broken setup.
WORKED_MARKER = ".a_sample_worked"
_BATCH = re.compile(r"batch_(\d+)")


@dataclass(frozen=True)
class YadeBatch:
    """``run(params [N, P]) -> curves [N, T, O]`` through one ``yade-batch`` run per call (module docstring).

    Args:
        script: the YADE script (reads its parameters with ``readParamsFromTable``).
        param_names: the table columns filled from ``params [N, P]``, in that order.
        obs_names: the features returned as ``curves[..., o]`` (p and q converted from Pa to MPa).
        control: ``[T]`` increasing values of ``control_key`` to interpolate onto.
        workdir: the folder of the batch folders.
        fixed: further table columns, the same for every sample (e.g. ``{"conf": 2e5}``).
        control_key: the feature along which the curves are interpolated.
        executable: ``yade-batch``, another build's (``yade-double-batch``), or a path.
        jobs: ``-j``: samples run at once (``None``: yade-batch's default, the number of cores).
        job_threads: the ``!OMP_NUM_THREADS`` column: threads per sample.
        timeout: seconds one batch may run (``None``: no limit).
    """

    script: str | Path
    param_names: Sequence[str]
    obs_names: Sequence[str]
    control: np.ndarray
    workdir: str | Path
    fixed: Mapping[str, float] = field(default_factory=dict)
    control_key: str = "e_z"
    executable: str = "yade-batch"
    jobs: int | None = None
    job_threads: int = 1
    timeout: float | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "script", Path(self.script).resolve())
        set_(self, "workdir", Path(self.workdir))
        set_(self, "param_names", list(self.param_names))
        set_(self, "obs_names", list(self.obs_names))
        try:
            set_(self, "fixed", {k: float(v) for k, v in self.fixed.items()})
        except (TypeError, ValueError):
            raise UserInputError(f"fixed values {dict(self.fixed)}: expected numbers.") from None
        set_(self, "control", np.asarray(self.control, dtype=np.float64))
        if not self.script.is_file():
            raise UserInputError(f"{self.script}: the YADE script does not exist.")
        names = [*self.param_names, *self.fixed]
        bad = [n for n in names if not re.fullmatch(r"[A-Za-z_]\w*", n) or n in ("description", "key")]
        if bad or len(set(names)) < len(names) or not self.param_names:
            raise UserInputError(f"table columns {names}: expected distinct Python names (not 'description' or "
                                 "'key'), at least one of them calibrated, none both calibrated and fixed.")
        if not np.isfinite([0.0, *self.fixed.values()]).all():
            raise UserInputError(f"fixed values {self.fixed}: expected finite numbers.")
        if self.control.ndim != 1 or len(self.control) < 2 or not (np.diff(self.control) > 0).all():
            raise UserInputError(f"control {self.control.tolist()[:6]}...: expected [T >= 2] increasing values.")
        if not self.obs_names:
            raise UserInputError("obs_names is empty: name at least one feature of the YADE output.")
        if (self.jobs is not None and self.jobs < 1) or self.job_threads < 1 or (
                self.timeout is not None and not self.timeout > 0):
            raise UserInputError(f"jobs={self.jobs}, job_threads={self.job_threads}, timeout={self.timeout}: "
                                 "expected positive numbers (jobs and timeout may be None).")

    def __call__(self, params: np.ndarray) -> np.ndarray:
        """``params [N, P]`` -> ``curves [N, T, O]``, NaN rows for failed samples (each warned once)."""
        params = np.asarray(params, dtype=np.float64)
        if params.ndim != 2 or params.shape[1] != len(self.param_names):
            raise UserInputError(f"params {list(params.shape)}: expected [N, {len(self.param_names)}] "
                                 f"({', '.join(self.param_names)}).")
        if not len(params):
            return np.zeros((0, len(self.control), len(self.obs_names)))
        executable = shutil.which(self.executable)
        if executable is None:
            raise UserInputError(f"executable {self.executable!r}: not found or not executable (is YADE installed "
                                 "and on PATH? give executable= its name, e.g. 'yade-double-batch').")
        folder = self._new_batch_folder()
        names = [f"sample_{i:0{len(str(len(params) - 1))}d}" for i in range(len(params))]
        write_text_atomic(folder / TABLE_NAME, self.table(params, names))
        timed_out = self._run_batch(executable, folder)
        curves = np.full((len(params), len(self.control), len(self.obs_names)), np.nan)
        reasons = {}
        for i, name in enumerate(names):
            try:
                curves[i] = self.read_sample(folder / f"{name}.npy")
            except UserInputError as exc:
                reasons[i] = str(exc) + (f" (the batch was stopped after {self.timeout:g} s)" if timed_out else "")
        worked = Path(self.workdir) / WORKED_MARKER
        if len(reasons) == len(params) and not worked.exists():
            raise UserInputError(f"every sample of {folder} failed (first: {reasons[0]}), and no earlier batch in "
                                 f"{self.workdir} produced one; see {folder / LOG_NAME} and the samples' logs.")
        if len(reasons) < len(params):
            worked.touch()
        for i, reason in reasons.items():
            warnings.warn(SimulationFailed(f"YADE sample {params[i].tolist()}: {reason}"), stacklevel=2)
        return curves

    def table(self, params: np.ndarray, names: Sequence[str]) -> str:
        """The ``yade-batch`` parameter table for ``params [N, P]``, one row per sample named ``names[i]``."""
        header = ["!OMP_NUM_THREADS", "description", "key", *self.param_names, *self.fixed]
        fixed = [repr(v) for v in self.fixed.values()]
        rows = [[str(self.job_threads), name, str(i), *(repr(float(v)) for v in row), *fixed]
                for i, (name, row) in enumerate(zip(names, params, strict=True))]
        return "".join(" ".join(cells) + "\n" for cells in [header, *rows])

    def read_sample(self, path: Path) -> np.ndarray:
        """One sample's output -> its curves ``[T, O]`` on ``control``; a :class:`UserInputError` says why not."""
        if not path.is_file():
            raise UserInputError(f"{path}: no output (the sample crashed or did not finish).")
        _, features = load_simulation(path)
        keys = [self.control_key, *self.obs_names]
        missing = [k for k in keys if k not in features]
        if missing:
            raise UserInputError(f"{path}: no feature {', '.join(map(repr, missing))}; it has {', '.join(features)}.")
        try:
            length = min(len(features[k]) for k in keys)
        except TypeError:
            raise UserInputError(f"{path}: the features {keys} are not per-step lists.") from None
        columns = feature_columns(path, features, keys, length)
        x = columns[:, 0]
        if length < 2 or not (np.diff(x) > 0).all():
            raise UserInputError(f"{path}: {self.control_key} does not increase step by step over {length} steps.")
        slack = CONTROL_TOLERANCE * (self.control[-1] - self.control[0])
        if x[0] > self.control[0] + slack or x[-1] < self.control[-1] - slack:
            raise UserInputError(f"{path}: {self.control_key} covers [{x[0]:g}, {x[-1]:g}], not the calibration's "
                                 f"[{self.control[0]:g}, {self.control[-1]:g}] (a simulation stopped short?).")
        return np.stack([np.interp(self.control, x, columns[:, j + 1]) for j in range(len(self.obs_names))], axis=-1)

    def _new_batch_folder(self) -> Path:
        """A new ``workdir/batch_<n>``, ``n`` one more than the largest there (never an existing folder)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        taken = [int(m.group(1)) for p in self.workdir.iterdir() if (m := _BATCH.fullmatch(p.name))]
        number = max(taken, default=-1) + 1
        while True:
            folder = self.workdir / f"batch_{number:04d}"
            try:
                folder.mkdir()
                return folder
            except FileExistsError:
                number += 1

    def _run_batch(self, executable: str, folder: Path) -> bool:
        """Run ``executable`` (yade-batch) in ``folder``; True if it was stopped at the timeout."""
        command = [executable, *(["-j", str(self.jobs)] if self.jobs else []), "--log", "@.log", TABLE_NAME,
                   str(self.script)]
        with open(folder / LOG_NAME, "wb") as log:
            process = subprocess.Popen(command, cwd=folder, stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True)
            try:
                status = process.wait(timeout=self.timeout)
            except subprocess.TimeoutExpired:
                _stop(process)
                return True
            except BaseException:  # Ctrl-C or a kill of the calibration: stop the jobs too
                _stop(process)
                raise
        if status != 0:
            raise UserInputError(f"{self.executable} exited with status {status} in {folder}; see {folder / LOG_NAME}.")
        return False


def _stop(process: subprocess.Popen) -> None:
    """Kill ``yade-batch`` and every job it started (its own process group)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
