"""The options of ``simrnn fields predict`` and ``fields rollout``, importable without PyTorch (for ``--help``).

Defaults are written once, here; :func:`simrnn.fields.predict.predict_to_files` and
:func:`simrnn.fields.rollout.rollout_to_files` take theirs from these classes. Each ``validate``
refuses, in one sentence naming the key, what no split can have (a negative step, slice or window);
what the chosen split has is checked against the data once it is open.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from simrnn.config import setting
from simrnn.errors import UserInputError

_SPLIT_HELP = "Split to predict: test, val or train."


def _at_least(settings: object, minimum: int, *keys: str) -> None:
    for key in keys:
        value = getattr(settings, key)
        if value is not None and value < minimum:
            raise UserInputError(f"{key} {value}: expected {minimum} or more.", key=key)


@dataclasses.dataclass(frozen=True)
class FieldPredictSettings:
    """Which sample ``simrnn fields predict`` predicts: a split, its target step and a slice."""

    split: Literal["test", "val", "train"] = setting("test", _SPLIT_HELP)
    timestep: int | None = setting(None, "Target step k to predict (default: the split's first).")
    slice_index: int | None = dataclasses.field(default=None, metadata={
        "help": "Slice along the plane's fixed axis (default: middle).", "flags": ("--slice",)})

    def validate(self, source: str = "predict") -> None:
        """One sentence (with the key) for a step or slice below 0."""
        _at_least(self, 0, "timestep", "slice_index")


@dataclasses.dataclass(frozen=True)
class RolloutSettings:
    """The rollout of ``simrnn fields rollout``: how many frames, from which window of which split."""

    horizon: int = dataclasses.field(default=3, metadata={
        "help": "Horizon: predicted frames, each fed back as context.", "flags": ("--steps",)})
    split: Literal["test", "val", "train"] = setting("test", _SPLIT_HELP)
    start: int = setting(0, "Window of the split whose true context starts the rollout.")

    def validate(self, source: str = "rollout") -> None:
        """One sentence (with the key) for a horizon below 1 or a start window below 0."""
        _at_least(self, 1, "horizon")
        _at_least(self, 0, "start")
