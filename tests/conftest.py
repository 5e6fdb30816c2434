"""Shared test settings."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny ops: a second OpenMP thread only adds barrier stalls (badly so when the other core is busy,
    as under `pytest -n 2`). Every test runs torch on one thread."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
