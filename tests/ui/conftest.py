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
    yield tmp_path / "settings"


@pytest.fixture
def ready_window(qtbot):
    """The main window with torch 'loaded' (devices: the CPU) and no dialogs on close."""
    from PySide6.QtWidgets import QMessageBox

    from playground.ui.main_window import MainWindow

    window = MainWindow(load_torch=False)
    qtbot.addWidget(window)
    window.ask_save_changes = lambda: QMessageBox.StandardButton.Discard
    window.errors = []
    window.show_error = lambda title, message: window.errors.append((title, message))
    window.show()
    window._torch_loaded("CPU", 0.0, ["cpu"])
    yield window
    window.train_area.shutdown()
