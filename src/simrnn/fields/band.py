"""The solidification band derived from a field cache: where in temperature the cells solidify.

LASERNet's band (1400..1500 K) belongs to its alloy; the synthetic data melts at 1700 K, where
that band holds no solidifying cell. Unless a run is given ``t_solidus``/``t_liquidus``, the
band is taken from the data: over every pair of consecutive *train* steps ``(t-1, t)``, the
cells present in both that are liquid at ``t-1`` and solid at ``t`` (:func:`~simrnn.fields.metrics.is_liquid`)
are collected, and the band is the central ``BAND_QUANTILES`` range (5 % .. 95 %) of their
temperature at step ``t`` (the target step's temperature, as :func:`~simrnn.fields.metrics.band_mask`
reads it). On the demo cache (96 x 24 x 16, 24 steps) this gives about 1597..1690 K (tested).

Example::

    band = derive_band(open_cache("cache.h5"), steps=range(1, 12))   # (t_solidus_K, t_liquidus_K) or None
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from simrnn.fields.cache import FieldCache
from simrnn.fields.metrics import is_liquid

#: quantiles of the solidifying cells' temperatures that bound the derived band.
BAND_QUANTILES = (0.05, 0.95)


def solidifying_temperatures(cache: FieldCache, steps: Iterable[int]) -> np.ndarray:
    """Temperatures (K) at step ``t`` of the cells that are liquid at ``t - 1`` and solid at ``t``,
    for consecutive pairs among ``steps`` (cache indices, ascending); ``[n]`` float64."""
    steps = sorted(steps)
    found = []
    with cache.open() as h5:
        previous = None
        for t in steps:
            ipf = torch.from_numpy(h5["ipf"][t].astype(np.float32))  # [X, Y, Z, 9]
            liquid = is_liquid(ipf.movedim(-1, 0)[None])[0].numpy()
            mask = h5["mask"][t]
            if previous is not None and previous[0] == t - 1:
                solidified = previous[1] & ~liquid & previous[2] & mask
                found.append(h5["temperature"][t][solidified].astype(np.float64))
            previous = (t, liquid, mask)
    return np.concatenate(found) if found else np.empty(0)


def derive_band(cache: FieldCache, steps: Iterable[int]) -> tuple[float, float] | None:
    """``(t_solidus_K, t_liquidus_K)`` from the cells that solidify within ``steps``; None if none do."""
    temps = solidifying_temperatures(cache, steps)
    if temps.size == 0:
        return None
    low, high = np.quantile(temps, BAND_QUANTILES)
    if high <= low:  # a single temperature: widen by 1 K either side so the band holds it
        low, high = low - 1.0, high + 1.0
    return round(float(low), 1), round(float(high), 1)
