"""Configuration of a sequence-surrogate run, with GrainLearning's key names and meanings.

A GrainLearning config dict (``lstm_units``, ``window_size``, ``beta_1`` ...) is accepted
unchanged; keys simrnn does not use produce one warning naming them. The engine's settings
(epochs, patience, seed, devices, precision, logger ...) come from
:class:`~simrnn.engine.settings.TrainSettings`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from simrnn.config import setting
from simrnn.engine.settings import TrainSettings
from simrnn.errors import UserInputError

#: GrainLearning keys accepted without a warning although simrnn does not need them.
GRAINLEARNING_COMPAT_KEYS = frozenset({"save_weights_only", "wandb_version"})


@dataclass
class SequenceConfig(TrainSettings):
    """Every setting of a sequence run. Defaults follow GrainLearning 2.0.5 where it has one.

    The split is BY SEQUENCE (seeded), windows end at their target step, and ``pad_length =
    window_size - 1`` predicts every step (see :mod:`simrnn.sequence.preprocess`).
    """

    raw_data: str = setting("", "HDF5 data file in GrainLearning's layout (required).")
    pressure: str = setting("All", "Pressure group to select (e.g. 0.2e6), or All.")
    experiment_type: str = setting("All", "Experiment type group to select (drained, undrained), or All.")
    add_pressure: bool = setting(True, "Append the confining pressure in MPa as a parameter column.")
    add_experiment_type: bool = setting(True, "Append 1.0 for drained, 0.0 for undrained as a parameter column.")
    add_e0: bool = setting(False, "Append the initial void ratio as the last parameter column.")
    train_frac: float = setting(0.7, "Fraction of the sequences used for training.")
    val_frac: float = setting(0.15, "Fraction of the sequences used for validation (test: the rest).")
    window_size: int = setting(10, "Steps per input window; the target is the window's last step.")
    window_step: int = setting(1, "Steps between the ends of consecutive training windows.")
    pad_length: int = setting(0, "Copies of the first step prepended; window_size - 1 predicts every step.")
    standardize_outputs: bool = setting(True, "Standardise every output label with the training mean/std.")
    model: str = setting("lstm", "Registered sequence model.")
    lstm_units: int = setting(200, "LSTM units (hidden size).")
    dense_units: int = setting(200, "Units of the ReLU layer after the LSTM.")
    batch_size: int = setting(256, "Windows per training batch.")
    learning_rate: float = setting(1e-3, "Adam learning rate.")
    beta_1: float = setting(0.9, "Adam beta_1, in [0, 1).")
    beta_2: float = setting(0.999, "Adam beta_2, in [0, 1).")
    epsilon: float = setting(1e-7, "Adam epsilon (Keras' default 1e-7), > 0.")

    def validate(self, source: str = "config") -> None:
        """Raise a one-sentence :class:`UserInputError` for inconsistent values."""
        super().validate(source)
        if not self.raw_data:
            raise UserInputError(f"{source}: no data file; give raw_data (an HDF5 file).", key="raw_data")
        for key in ("window_size", "window_step", "lstm_units", "dense_units", "batch_size"):
            if getattr(self, key) < 1:
                raise UserInputError(f"{source}: {key!r} must be at least 1, got {getattr(self, key)}.")
        if self.pad_length < 0:
            raise UserInputError(f"{source}: 'pad_length' must not be negative, got {self.pad_length}.")
        if not (0 < self.train_frac < 1 and 0 < self.val_frac < 1 and self.train_frac + self.val_frac < 1):
            raise UserInputError(
                f"{source}: train_frac ({self.train_frac}) and val_frac ({self.val_frac}) must be in (0, 1) "
                "and leave a test fraction, i.e. sum to less than 1."
            )
        if not 0 < self.learning_rate < math.inf:
            raise UserInputError(f"{source}: 'learning_rate' must be positive, got {self.learning_rate}.")
        for key in ("beta_1", "beta_2"):
            if not 0 <= getattr(self, key) < 1:
                raise UserInputError(f"{source}: {key!r} must be in [0, 1), got {getattr(self, key)}.")
        if not self.epsilon > 0:
            raise UserInputError(f"{source}: 'epsilon' must be positive, got {self.epsilon}.")
