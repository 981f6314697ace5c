"""Starting the app: Qt paints on the GUI thread alone, so that a training beside it keeps both cores."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# A large semi-transparent fill, as the plots and panels paint, then Qt's helper threads counted.
PAINT = """
import glob, os, sys
sys.path.insert(0, {root!r})
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QImage, QPainter
if {through_app}:
    from playground.ui.app import create_app
    app = create_app([])
else:
    from PySide6.QtWidgets import QApplication
    app = QApplication([])
image = QImage(800, 600, QImage.Format.Format_ARGB32_Premultiplied)
painter = QPainter(image)
painter.setRenderHint(QPainter.RenderHint.Antialiasing)
painter.fillRect(QRectF(0.5, 0.5, 700.3, 500.2), QColor(10, 20, 30, 128))
painter.end()
print(sum(open(t + "/comm").read().strip() == "Thread (pooled)" for t in glob.glob("/proc/self/task/*")))
"""


def helper_threads_after_painting(through_app: bool) -> int:
    env = {k: v for k, v in os.environ.items() if k != "QT_NO_GUI_THREADPOOL"}
    out = subprocess.run([sys.executable, "-c", PAINT.format(root=str(ROOT), through_app=through_app)],
                         capture_output=True, text=True, env=env, timeout=120, check=True).stdout
    return int(out.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts threads through /proc")
def test_the_app_paints_without_qts_helper_threads():
    """Qt hands large fills to a pool of helper threads; during a training on every core, each redraw
    woke two of them and cost the training speed. The app turns the pool off."""
    if (os.cpu_count() or 1) > 1:  # Qt's default, for comparison (one core: no helpers anyway)
        assert helper_threads_after_painting(through_app=False) >= 1
    assert helper_threads_after_painting(through_app=True) == 0
