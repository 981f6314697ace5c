"""Screenshots of the window for the README and for checking how it looks.

usage: python docs/screenshots.py [OUT_DIR]   (default: docs/screenshots)

Runs offscreen unless DISPLAY is set (under Xvfb: ``xvfb-run -a python docs/screenshots.py``).
Writes designer.png (the tutorial-cnn preset, a layer selected) and designer-problem.png (a design
with a shape problem and its one-click fix), both at 1280x800.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
if not os.environ.get("DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main() -> None:
    import tempfile

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from playground.ui.app import create_app
    from playground.ui.main_window import MainWindow

    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    app = create_app([])
    # Fresh settings, so that the shots do not depend on a remembered layout.
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, tempfile.mkdtemp())

    window = MainWindow(load_torch=False)
    window._torch_loaded("CPU", 0.0)
    window.new_from_preset("tutorial-cnn")
    window.resize(1280, 800)
    window.show()
    window.reset_layout()
    stack = window.designer.stack
    stack.setCurrentIndex(stack.model().index(3, 0))
    for _ in range(5):
        QApplication.processEvents()
    window.grab().save(str(out / "designer.png"))

    window.document.remove_layer(6)  # take Flatten out: Linear 500 then gets an image
    stack.setCurrentIndex(stack.model().index(6, 0))
    for _ in range(5):
        QApplication.processEvents()
    window.grab().save(str(out / "designer-problem.png"))
    window.document.undo_stack.setClean()
    window.close()
    print(f"saved {out / 'designer.png'} and {out / 'designer-problem.png'}")
    app.quit()


if __name__ == "__main__":
    main()
