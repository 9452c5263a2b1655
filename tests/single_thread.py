"""A fixture for tests of tiny models (convolutions, MLPs, small LSTMs): run them on one thread.

Tiny models gain nothing from threads, and on a busy 2-core machine every OpenMP barrier
waits for a time slice of the busy core (measured 100x slower). Import ``one_thread`` into a test
module to apply it to that module.
"""

from __future__ import annotations

import pytest

from simrnn.cpu import torch_threads


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    with torch_threads(1):
        yield
