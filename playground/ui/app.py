"""Starting the app: the QApplication, then the main window, shown before torch has loaded."""

from __future__ import annotations

import os
import sys

from PySide6.QtWidgets import QApplication

from playground import APP_NAME, __version__


def create_app(argv: list[str] | None = None) -> QApplication:
    # Qt's raster engine hands every large fill to a pool of helper threads and waits for them; while a
    # training uses every core, those wake-ups slow it (figures in docs/benchmarks.md). The fills are
    # small enough for one thread. Qt reads this once.
    os.environ.setdefault("QT_NO_GUI_THREADPOOL", "1")
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
