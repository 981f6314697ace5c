"""Starting the app: the QApplication, then the main window, shown before torch has loaded."""

from __future__ import annotations

import sys

from PySide6.QtWidgets import QApplication

from playground import APP_NAME, __version__


def create_app(argv: list[str] | None = None) -> QApplication:
    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv)
    app.setApplicationName(APP_NAME)
    app.setOrganizationName("nn-playground")
    app.setApplicationVersion(__version__)
    return app


def run(path: str | None = None) -> int:
    app = create_app()
    from playground.ui.main_window import MainWindow

    window = MainWindow()
    window.show()
    if path:
        window.open_file(path, ask=False)
    return app.exec()
