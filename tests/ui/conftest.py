"""GUI tests: QSettings in a temporary folder so that tests never touch a user's settings."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QCoreApplication, QSettings


@pytest.fixture(autouse=True)
def temporary_settings(tmp_path, qapp):
    QCoreApplication.setOrganizationName("nn-playground-tests")
    QCoreApplication.setApplicationName("playground-tests")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    QSettings().clear()
    from playground.ui.designer import PATH_HINT_CLOSED_KEY

    QSettings().setValue(PATH_HINT_CLOSED_KEY, True)  # the first-launch hint only where a test asks for it
    yield tmp_path / "settings"


@pytest.fixture(autouse=True)
def one_thread_training_workers(monkeypatch):
    """Training workers started by these tests use one torch thread. The tests check behaviour, not
    speed, and share the machine: beside two busy processes, a two-thread worker spent most of its
    time in torch's thread barriers (a run took 210 s instead of 79 s with one thread)."""
    import os

    if "OMP_NUM_THREADS" not in os.environ:
        monkeypatch.setenv("OMP_NUM_THREADS", "1")


@pytest.fixture
def own_data_folder(monkeypatch, tmp_path):
    """A data folder of this test's own, so that the window lists no other test's runs (use it before
    the window is made)."""
    monkeypatch.setenv("PLAYGROUND_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


@pytest.fixture
def ready_window(qtbot):
    """The main window with torch 'loaded' (devices: the CPU) and no dialogs on close."""
    from PySide6.QtWidgets import QMessageBox

    from playground.ui.main_window import MainWindow

    window = MainWindow(load_torch=False)
    qtbot.addWidget(window)
    window.ask_save_changes = lambda: QMessageBox.StandardButton.Discard
    window.ask_stop_training = lambda: True
    window.errors = []
    window.show_error = lambda title, message: window.errors.append((title, message))
    window.show()
    window._torch_loaded("CPU", 0.0, ["cpu"])
    yield window
    window.train_area.shutdown()


@pytest.fixture
def active_window(ready_window, qtbot):
    """``ready_window`` made the active window with the designer's layer list focused, so that key
    presses go where a user's would (shortcuts act only in the active window)."""
    from PySide6.QtWidgets import QApplication

    window = ready_window
    qtbot.waitExposed(window)
    window.activateWindow()
    window.windowHandle().requestActivate()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=10_000)
    stack = window.designer.stack
    stack.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is stack, timeout=10_000)
    return window


@pytest.fixture
def press(qtbot):
    """Press a key (with modifiers) on the widget that has the keyboard focus, as a user does."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    def press(key, modifiers=Qt.KeyboardModifier.NoModifier):
        target = QApplication.focusWidget()
        assert target is not None, "no widget has the keyboard focus"
        qtbot.keyClick(target, key, modifiers)

    return press
