"""The core runs headless: no module under playground/core imports Qt."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import playground.core

FORBIDDEN = ("PySide6", "PyQt5", "PyQt6", "pyqtgraph", "superqt", "qtpy", "playground.ui")


def core_modules() -> list[str]:
    return [f"playground.core.{m.name}" for m in pkgutil.iter_modules(playground.core.__path__)]


def test_no_core_source_names_qt():
    for path in Path(playground.core.__path__[0]).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert not name.startswith(FORBIDDEN), f"{path.name} imports {name}"


def test_importing_every_core_module_loads_no_qt():
    mods = core_modules()
    assert len(mods) >= 8
    code = (f"import sys, importlib\nfor m in {mods!r}: importlib.import_module(m)\n"
            f"bad = [m for m in sys.modules if m.startswith({FORBIDDEN!r})]\nassert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
