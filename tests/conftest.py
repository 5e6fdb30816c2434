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


@pytest.fixture
def clean_plugins(monkeypatch):
    """The test starts and ends without plug-ins: those it loads are unloaded, $YAN_DOG_PLUGINS restored."""
    from yan_dog import plugins

    monkeypatch.delenv(plugins.PLUGINS_ENV, raising=False)
    before = plugins.loaded_plugins()
    yield
    for plugin in plugins.loaded_plugins():
        if plugin not in before:
            plugins.unload_plugin(plugin)
