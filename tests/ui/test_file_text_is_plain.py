"""Text from a file is shown as text: a design or folder named like HTML never becomes markup.

Qt reads a label's or a message box's text as HTML when it looks like HTML, and an ``<img src=...>``
in it makes Qt open that file (a pipe hangs the window, ``/dev/zero`` fills its memory). Every place
that shows text from a file shows it as plain text, or escapes it inside markup of its own.
"""

from __future__ import annotations

import json

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from playground.core import NetworkSpec, make_layer

HOSTILE = '<img src="/nonexistent/picture.png"><b>bold</b>'


def answer_modal_boxes(seen: list) -> None:
    """When a modal message box opens (from the real code path), record its text format and text,
    then answer it; waits on the box itself, not on a clock."""

    def grab():
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(10, grab)
            return
        seen.append((box.textFormat(), box.text()))
        box.done(QMessageBox.StandardButton.Discard if box.buttons()[1:] else QMessageBox.StandardButton.Ok)

    QTimer.singleShot(0, grab)


def test_an_error_quoting_a_file_is_a_plain_text_box(ready_window, qtbot, monkeypatch, tmp_path):
    window = ready_window
    del window.show_error  # the real message box, not the fixture's recorder
    path = tmp_path / "hostile.json"
    path.write_text(json.dumps({"format_version": 1, "layers": [{"type": HOSTILE, "params": {}}]}))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(path), ""))
    before = window.document.spec
    seen: list = []
    answer_modal_boxes(seen)
    window.open_design_dialog()
    assert len(seen) == 1
    text_format, text = seen[0]
    assert text_format == Qt.TextFormat.PlainText
    assert HOSTILE in text and str(path) in text  # shown as the characters it is
    assert window.document.spec is before


def test_the_unsaved_changes_question_names_the_design_as_text(ready_window, monkeypatch):
    window = ready_window
    del window.ask_save_changes  # the real question
    window.document.reset(NetworkSpec((make_layer("Flatten"), make_layer("Linear", out_features=10)),
                                      name=HOSTILE))
    seen: list = []
    answer_modal_boxes(seen)
    answer = window.ask_save_changes()
    assert answer == QMessageBox.StandardButton.Discard
    assert seen and seen[0][0] == Qt.TextFormat.PlainText and HOSTILE in seen[0][1]


def test_labels_show_names_and_errors_as_text(ready_window):
    window = ready_window
    area = window.train_area
    area._show_banner(f"Cannot start: {HOSTILE}")
    assert area.banner.textFormat() == Qt.TextFormat.PlainText and HOSTILE in area.banner.text()
    for label in (area.progress_label, window.draw_area.model_status):
        assert label.textFormat() == Qt.TextFormat.PlainText
    # Labels with markup of their own escape the name inside it.
    window.document.reset(NetworkSpec((make_layer("Flatten"), make_layer("Linear", out_features=10)),
                                      name=HOSTILE))
    text = area.snapshot_label.text()
    assert "<img" not in text and "&lt;img" in text
