"""The options of ``simrnn demo``, importable without PyTorch (for ``--help``); defaults written once, here.

:func:`simrnn.demo.run_demo` takes its defaults from :class:`DemoSettings`; a setting left as None
keeps the demo's own choice (its training and calibration settings).
"""

from __future__ import annotations

import dataclasses

from simrnn.config import setting


@dataclasses.dataclass(frozen=True)
class DemoSettings:
    """Where the demo writes, how much synthetic data it makes, and optional overrides of its steps."""

    workdir: str = setting("demo_output", "Parent folder; each demo gets a fresh <timestamp> folder.")
    samples_per_group: int = setting(192, "Synthetic sequences per pressure and drainage.")
    epochs: int | None = setting(None, "Training epochs (default: the demo's setting).")
    field_epochs: int | None = setting(None, "Epochs of each field model (default: the demo's setting).")
    calibration_walkers: int | None = setting(None, "MCMC walkers of each calibration (default: the demo's setting).")
    calibration_steps: int | None = setting(
        None, "MCMC steps of each calibration, at most (default: the demo's setting).")

    def calibration(self) -> dict[str, int]:
        """The calibration overrides given, as :func:`simrnn.demo.run_demo` takes them (``walkers``, ``steps``)."""
        return {k: v for k, v in (("walkers", self.calibration_walkers), ("steps", self.calibration_steps))
                if v is not None}
