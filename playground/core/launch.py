"""How this app starts another copy of itself: from a checkout or an installed package, and from a
frozen bundle (PyInstaller), where ``sys.executable`` is the app itself and ``-m`` does not exist."""

from __future__ import annotations

import sys


def frozen() -> bool:
    """Whether this is a frozen bundle (PyInstaller sets ``sys.frozen``)."""
    return bool(getattr(sys, "frozen", False))


def self_command() -> list[str]:
    """The command line that runs ``playground`` (add the subcommand and its arguments)."""
    return [sys.executable] if frozen() else [sys.executable, "-m", "playground"]
