"""Fixtures of the field-data tests: tiny hand-built data sets under tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest
from fields_helpers import write_steps

from simrnn.fields.cache import convert

SHAPE = (5, 4, 3)


@pytest.fixture(scope="module")
def hand_cache(tmp_path_factory) -> Path:
    """A 24-step cache of a 5x4x3 hand-built grid whose values encode (step, i, j, k)."""
    tmp = tmp_path_factory.mktemp("hand")
    write_steps(tmp / "csv", SHAPE, 24)
    return convert(tmp / "csv", tmp / "cache.h5", workers=2)
