"""A fixture for tests of tiny convolutions: run them on one thread.

Tiny convolutions gain nothing from threads, and on a busy 2-core machine every OpenMP barrier
waits for a time slice of the busy core (measured 100x slower). Import ``one_thread`` into a test
module to apply it to that module.
"""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
