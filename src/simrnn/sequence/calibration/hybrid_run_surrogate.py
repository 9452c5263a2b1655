"""A trained simrnn sequence run as the hybrid loop's surrogate, fine-tuned through the training engine.

:class:`RunSurrogate` predicts the calibrated experiment (one load path, fixed conditions) with a
sequence run (an LSTM whose initial state comes from the parameters, trained by ``simrnn sequence
train`` or imported from GrainLearning) and follows the :class:`~.hybrid_surrogates.Surrogate`
protocol. Each :meth:`~RunSurrogate.fit`:

1. writes the simulations so far as a GrainLearning-layout HDF5 file (``data/fit_K.h5``: inputs the
   load path ``[N, T, F]``, contact parameters ``[N, 5]`` with the fixed ones filled in, outputs
   ``[N, T, L]`` for ALL the run's labels). Labels the simulator does not return are filled with the
   current surrogate's own prediction (self-distillation), so fine-tuning on, say, e and q leaves
   the run's p, f0, fabric ... where they were instead of training them on nothing;
2. trains a NEW run with the engine's warm start (``init_from`` = the current run: its weights,
   model and output normalisation, see :mod:`simrnn.engine.warm_start`), at most ``epochs`` epochs,
   early-stopped after ``patience`` epochs without a lower validation loss on the held-out
   simulations (``holdout`` fraction; one more sequence is the engine's test split);
3. continues with that run's best checkpoint.

The fine-tuned runs are ordinary runs under ``work_dir/runs/sequence/`` (``simrnn runs list`` shows
them); a round folder stores only which one is current (``surrogate_run.json``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from simrnn.errors import UserInputError
from simrnn.files import read_json, write_json_atomic

#: the pointer to the current fine-tuned run in a round folder.
RUN_POINTER_FILE = "surrogate_run.json"
#: the run's parameter columns that are not contact parameters (see :func:`~simrnn.sequence.preprocess.build_params`).
CONDITION_COLUMNS = ("pressure", "drained", "e0")


class RunSurrogate:
    """``params [N, P]`` -> curves ``[N, T, O]`` of a sequence run at one experiment; fine-tuned by :meth:`fit`.

    Args:
        run: the sequence run directory to start from.
        param_names: the calibrated parameters (columns of ``params``), a subset of the run's.
        obs_names: the observables (the simulator's curves ``[N, T, O]``), outputs of the run.
        control_names, control: the load path ``control [F, T]`` feeding the run's input features.
        observed: ``[O, T]``, fills the steps a windowed run does not predict (the likelihood's steps
            before the first predicted one carry no information).
        fixed: values of the run's other parameter columns (``pressure`` in MPa, ``drained`` 1/0, ...).
        work_dir: where the fine-tuning data and runs are written (the attribute may be set later,
            before the first :meth:`fit`).
    """

    #: epochs and patience that suit an LSTM (the MLP's defaults are full-batch steps).
    initial_epochs = 40
    fine_tune_epochs = 20
    patience = 5

    def __init__(self, run: str | Path, param_names: Sequence[str], obs_names: Sequence[str],
                 control_names: Sequence[str], control: np.ndarray, observed: np.ndarray,
                 fixed: Mapping[str, float], work_dir: str | Path):
        self.param_names = list(param_names)
        self.obs_names = list(obs_names)
        self.control_names = list(control_names)
        self.control = np.asarray(control, dtype=np.float64).reshape(len(self.control_names), -1)
        self.observed = np.asarray(observed, dtype=np.float64)
        self.fixed = {k: float(v) for k, v in fixed.items()}
        self.work_dir = Path(work_dir)
        self._use(Path(run))

    def _use(self, run: Path) -> None:
        """Load ``run`` and its callback predicting every label ``[N, L, T]``."""
        from simrnn.sequence.calibration.callbacks import surrogate_callback
        from simrnn.sequence.predict import load_run

        self.run_dir = run
        self._run = load_run(run)
        self.labels = list(self._run.meta["output_labels"])
        missing = [n for n in self.obs_names if n not in self.labels]
        if missing:
            raise UserInputError(f"{run}: the run predicts {', '.join(self.labels)}, not {', '.join(missing)}.")
        self._callback = surrogate_callback(self._run, self.labels, self.control_names, self.fixed)
        self._callback.check_param_names(self.param_names)
        self._obs_index = [self.labels.index(n) for n in self.obs_names]

    def _all_labels(self, params: np.ndarray) -> np.ndarray:
        """``params [N, P]`` -> every label's curve ``[N, T, L]`` (steps before the first predicted one: 0)."""
        fill = np.zeros((len(self.labels), self.control.shape[1]))
        return self._callback.simulate(params, self.param_names, self.control, fill).transpose(0, 2, 1)

    def __call__(self, params: np.ndarray) -> np.ndarray:
        """``params [N, P]`` -> curves ``[N, T, O]``; steps the run does not predict carry ``observed``."""
        curves = self._all_labels(np.asarray(params, dtype=np.float64))[:, :, self._obs_index]
        first = self._callback.init_inference_step
        curves[:, :first] = self.observed.T[None, :first]
        return curves

    def fit(self, params: np.ndarray, curves: np.ndarray, epochs: int, patience: int, holdout: float,
            seed: int) -> dict:
        """Fine-tune on ``params [N, P]``, ``curves [N, T, O]`` into a new run (module docstring)."""
        from simrnn.sequence import train

        params = np.asarray(params, dtype=np.float64)
        n = len(params)
        n_val = max(1, int(round(holdout * n)))
        n_train = n - n_val - 1  # one sequence is the engine's test split
        if n_train < 1:
            raise UserInputError(f"fine-tuning a run needs at least 3 simulations, got {n}.")
        data = self._write_data(params, np.asarray(curves, dtype=np.float64))
        run = train({"raw_data": str(data), "init_from": str(self.run_dir), "runs_root": str(self.work_dir / "runs"),
                     "epochs": epochs, "patience": patience, "seed": seed, "pressure": "All",
                     "experiment_type": "All", "train_frac": (n_train + 0.25) / n, "val_frac": (n_val + 0.25) / n,
                     "progress_bar": False, "threads": "1"})
        history = read_json(run / "history.json")
        best = min(history, key=lambda row: row["val_loss"])
        self._use(run)
        return {"train_loss": best["train_loss"], "holdout_loss": best["val_loss"], "train": n_train,
                "holdout": n_val, "epochs": len(history), "run": str(run)}

    def _write_data(self, params: np.ndarray, curves: np.ndarray) -> Path:
        """The simulations as a new ``work_dir/data/fit_K.h5`` (module docstring, step 1; K counts the files,
        so a resumed loop never overwrites the data of a run it trained before)."""
        from simrnn.sequence.hdf5 import pressure_group_name, write_triaxial_hdf5

        outputs = self._all_labels(params)
        outputs[:, :, self._obs_index] = curves
        full = self._callback.assemble_params(params, self.param_names)  # [N, P_run], the run's columns
        names = list(self._run.meta["param_names"])
        if "e0" in names and "e" in self.labels and "e" not in self.obs_names:
            # a run reads e0 from the first void ratio of its outputs: there it must be the given e0
            outputs[:, 0, self.labels.index("e")] = full[:, names.index("e0")]
        contact = [n for n in names if n not in CONDITION_COLUMNS]
        pressure = self.fixed.get("pressure")
        group = pressure_group_name(pressure * 1e6) if pressure is not None else str(self._run.meta["pressure"])
        kind = "drained" if self.fixed.get("drained", 1.0) else "undrained"
        inputs = np.repeat(self.control.T[None], len(params), axis=0)
        folder = self.work_dir / "data"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"fit_{len(list(folder.glob('fit_*.h5'))) + 1}.h5"
        write_triaxial_hdf5(path, {(group, kind): {"inputs": inputs, "outputs": outputs,
                                                    "contact_params": full[:, [names.index(c) for c in contact]]}},
                            input_names=list(self._run.meta["input_features"]), contact_param_names=contact,
                            output_names=self.labels)
        return path

    def save(self, directory: Path) -> None:
        """Write ``directory/surrogate_run.json`` naming the current run."""
        write_json_atomic(Path(directory) / RUN_POINTER_FILE, {"run": str(self.run_dir.resolve())})

    def load(self, directory: Path) -> RunSurrogate:
        """Continue with the run a :meth:`save` named."""
        self._use(Path(read_json(Path(directory) / RUN_POINTER_FILE)["run"]))
        return self
