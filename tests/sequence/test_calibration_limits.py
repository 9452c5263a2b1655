"""Calibration settings that cannot run are one sentence before any work (seed range, memory of the chain)."""

from __future__ import annotations

import pytest

from simrnn.errors import UserInputError
from simrnn.sequence.calibration.driver import check_counts
from simrnn.sequence.calibration.mcmc import McmcSettings


@pytest.mark.parametrize(("settings", "message", "keys"), [
    ({"seed": -1}, "seed must be from 0 to 4294967295, got -1.", ("seed",)),
    ({"seed": 2**40}, "seed must be from 0 to 4294967295, got 1099511627776.", ("seed",)),
    ({"walkers": 100_000_000}, "walkers x max_steps is 100000000 x 2000; at most 5e+07 draws are kept",
     ("walkers", "max_steps")),
])
def test_mcmc_settings_refused_before_sampling(settings, message, keys):
    with pytest.raises(UserInputError, match="^" + message.replace("+", r"\+")) as info:
        McmcSettings(**settings).validate(num_params=5)
    assert info.value.keys == keys


@pytest.mark.parametrize(("args", "message"), [
    ((100_000_000, 10, 0.3, 0), r"^samples must be >= 2 and iterations >= 1 \(at most 100000 and 10000\)"),
    ((200, 10, 0.3, -1), "^seed must be from 0 to 4294967295, got -1."),
])
def test_grainlearning_counts_refused_before_sampling(args, message):
    with pytest.raises(UserInputError, match=message):
        check_counts(*args)
