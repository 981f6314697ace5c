"""The application window and its launcher."""

from __future__ import annotations

import sys

from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow, QPlainTextEdit, QVBoxLayout, QWidget

from playground import APP_NAME, __version__
from playground.core import DEFAULT_PRESET, get_preset, infer_shapes
from playground.core.summary import format_report


class MainWindow(QMainWindow):
    """The main window: the app's name and the summary of the default preset's design."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(APP_NAME)
        spec = get_preset(DEFAULT_PRESET).spec
        central = QWidget(self)
        layout = QVBoxLayout(central)
        title = QLabel(APP_NAME, central)
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 1.6)
        font.setBold(True)
        title.setFont(font)
        layout.addWidget(title)
        self.summary = QPlainTextEdit(central)
        self.summary.setReadOnly(True)
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.summary.setFont(mono)
        self.summary.setPlainText(format_report(spec, infer_shapes(spec)))
        layout.addWidget(self.summary)
        self.setCentralWidget(central)
        self.resize(900, 560)


def create_app(argv: list[str] | None = None) -> QApplication:
    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv)
    app.setApplicationName(APP_NAME)
    app.setOrganizationName("nn-playground")
    app.setApplicationVersion(__version__)
    return app


def run() -> int:
    app = create_app()
    window = MainWindow()
    window.show()
    return app.exec()
