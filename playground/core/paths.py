"""Where the app keeps its files: the bundled assets and the user's cache and data folders.

``PLAYGROUND_CACHE_DIR`` and ``PLAYGROUND_DATA_DIR`` override the platform folders (tests use them
so they never touch a user's files).
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

APP_DIR_NAME = "nn-playground"


def assets_dir() -> Path:
    """The bundled assets: ``playground/assets`` in an installed wheel, ``assets/`` in a checkout."""
    packaged = resources.files("playground") / "assets"
    if packaged.is_dir():
        return Path(str(packaged))
    checkout = Path(__file__).resolve().parents[2] / "assets"
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(
        "the app's bundled assets are missing (neither playground/assets nor assets/ exists); "
        "reinstall the app"
    )


def cache_dir() -> Path:
    override = os.environ.get("PLAYGROUND_CACHE_DIR")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_DIR_NAME, appauthor=False))


def data_dir() -> Path:
    override = os.environ.get("PLAYGROUND_DATA_DIR")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_DIR_NAME, appauthor=False))


def runs_dir() -> Path:
    return data_dir() / "runs"
