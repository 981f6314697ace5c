"""Shared test set-up: no screen, and the app's folders in a temporary place."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def app_folders(tmp_path_factory):
    """Point the cache (extracted MNIST) and data (runs) folders at a temporary place, once."""
    cache = tmp_path_factory.mktemp("cache")
    data = tmp_path_factory.mktemp("data")
    old = {k: os.environ.get(k) for k in ("PLAYGROUND_CACHE_DIR", "PLAYGROUND_DATA_DIR")}
    os.environ["PLAYGROUND_CACHE_DIR"] = str(cache)
    os.environ["PLAYGROUND_DATA_DIR"] = str(data)
    yield {"cache": cache, "data": data}
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def mnist(app_folders):
    """Real MNIST: the whole bundled set, split (the same for every test)."""
    from playground.core.data import load_dataset

    return load_dataset("mnist", seed=0)
