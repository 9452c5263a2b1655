"""The options of predicting a data file with a sequence run, importable without PyTorch (for ``--help``)."""

from __future__ import annotations

import dataclasses

from simrnn.config import setting
from simrnn.errors import UserInputError

#: which sequences of a data file are predicted (``auto``: the test split of the run's own file, else all).
SPLITS = ("auto", "train", "val", "test", "all")
#: the most sequences one prediction figure shows.
MAX_PLOTTED = 100


@dataclasses.dataclass(frozen=True)
class PredictSettings:
    """Options of predicting a data file (``simrnn sequence predict --data``); defaults written once, here."""

    split: str = setting("auto", "For a data file: auto (the test split of the run's own data file, else all), "
                                 "test, val, train or all.")
    n_plot: int = setting(3, "For a data file: sequences shown in the figure.")

    def validate(self, source: str = "predict") -> None:
        """One sentence (with the key) for a split or figure size that cannot be predicted."""
        if self.split not in SPLITS:
            raise UserInputError(f"split is {self.split!r}; expected {', '.join(SPLITS)}.", key="split")
        if not 0 <= self.n_plot <= MAX_PLOTTED:
            raise UserInputError(f"n_plot is {self.n_plot}; expected 0 to {MAX_PLOTTED} sequences to plot.",
                                 key="n_plot")
