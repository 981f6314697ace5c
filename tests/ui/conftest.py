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
