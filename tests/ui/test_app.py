"""The window opens and shows the app's name and the default design's summary."""

from __future__ import annotations

from playground import APP_NAME
from playground.ui.app import MainWindow


def test_window_shows_name_and_summary(qtbot):
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    assert window.windowTitle().startswith(APP_NAME)
    assert "431,080" in window.summary.toPlainText()
