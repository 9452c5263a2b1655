"""Configuration of a sequence-surrogate run, with GrainLearning's key names and meanings.

A GrainLearning config dict (``lstm_units``, ``window_size``, ``beta_1`` ...) is accepted
unchanged; keys simrnn does not use produce one warning naming them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from simrnn.errors import UserInputError

#: GrainLearning keys accepted without a warning although simrnn does not need them.
GRAINLEARNING_COMPAT_KEYS = frozenset({"save_weights_only", "wandb_version"})


@dataclass
class SequenceConfig:
    """Every setting of a sequence run. Defaults follow GrainLearning 2.0.5 where it has one.

    Data (GrainLearning's preprocessing keys):
        raw_data: HDF5 file in GrainLearning's layout.
        pressure, experiment_type: group names to select, or ``'All'``.
        add_pressure: append pressure/1e6 (MPa) as a parameter column.
        add_experiment_type: append 1.0 for drained, 0.0 for undrained.
        add_e0: append the initial void ratio as the last parameter column.
        train_frac, val_frac: split fractions BY SEQUENCE (test = the rest), seeded.
        window_size, window_step: sliding windows; the target is the output at the window's last step.
        pad_length: copies of the first step prepended; ``window_size - 1`` predicts every step.
        standardize_outputs: standardise each output label with the training mean/std.
    Model: model (registry name), lstm_units, dense_units.
    Optimisation: batch_size, epochs, patience, learning_rate, beta_1, beta_2, epsilon (Adam),
        gradient_clip_val (0 = off), seed.
    Engine: accelerator, devices, num_nodes, strategy, precision, logger, runs_root, progress_bar.
    """

    raw_data: str = "data/sequences.hdf5"
    pressure: str = "All"
    experiment_type: str = "All"
    add_pressure: bool = True
    add_experiment_type: bool = True
    add_e0: bool = False
    train_frac: float = 0.7
    val_frac: float = 0.15
    window_size: int = 10
    window_step: int = 1
    pad_length: int = 0
    standardize_outputs: bool = True
    model: str = "lstm"
    lstm_units: int = 200
    dense_units: int = 200
    batch_size: int = 256
    epochs: int = 100
    patience: int = 5
    learning_rate: float = 1e-3
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-7
    gradient_clip_val: float = 0.0
    seed: int = 42
    accelerator: str = "auto"
    devices: str = "auto"
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "32-true"
    logger: Literal["csv", "tensorboard", "wandb"] = "csv"
    runs_root: str = "runs"
    progress_bar: bool = True

    def validate(self, source: str = "config") -> None:
        """Raise a one-sentence :class:`UserInputError` for inconsistent values."""
        positive = ("window_size", "window_step", "lstm_units", "dense_units", "batch_size", "epochs", "num_nodes")
        for key in positive:
            if getattr(self, key) < 1:
                raise UserInputError(f"{source}: {key!r} must be at least 1, got {getattr(self, key)}.")
        for key in ("pad_length", "patience", "gradient_clip_val"):
            if getattr(self, key) < 0:
                raise UserInputError(f"{source}: {key!r} must not be negative, got {getattr(self, key)}.")
        if not (0 < self.train_frac < 1 and 0 < self.val_frac < 1 and self.train_frac + self.val_frac < 1):
            raise UserInputError(
                f"{source}: train_frac ({self.train_frac}) and val_frac ({self.val_frac}) must be in (0, 1) "
                "and leave a test fraction, i.e. sum to less than 1."
            )
        if not self.learning_rate > 0:
            raise UserInputError(f"{source}: 'learning_rate' must be positive, got {self.learning_rate}.")
