"""Teach it your handwriting, in the window: after a guess, "That's right" (Enter) or "No, it's a …"
(a digit's key or button) keeps the drawing in My digits; the browser shows and deletes them; "Fine-tune
on my digits" trains a new run on a worker thread and the Draw area classifies with it."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt, QTimer

from playground.core.my_digits import MyDigits, read_drawing
from playground.core.preprocess import preprocess_strokes

SEVEN = [(0.2, 0.1), (0.8, 0.1), (0.45, 0.95)]
ONE = [(0.5, 0.05), (0.5, 0.95)]


@pytest.fixture
def draw(own_data_folder, ready_window):
    ready_window.tabs.setCurrentWidget(ready_window.draw_area)
    return ready_window.draw_area


def draw_stroke(qtbot, area, stroke, steps=8):
    pad, side = area.pad, area.pad.side
    points = []
    for (ax, ay), (bx, by) in zip(stroke, stroke[1:]):
        points += [QPoint(int(side * (ax + (bx - ax) * i / steps)), int(side * (ay + (by - ay) * i / steps)))
                   for i in range(steps)]
    points.append(QPoint(int(side * stroke[-1][0]), int(side * stroke[-1][1])))
    qtbot.mousePress(pad, Qt.MouseButton.LeftButton, pos=points[0])
    for p in points[1:]:
        qtbot.mouseMove(pad, p)
    with qtbot.waitSignal(area.classified, timeout=10_000):
        qtbot.mouseRelease(pad, Qt.MouseButton.LeftButton, pos=points[-1])
    assert area.probabilities is not None


def pick_from_menu(qtbot, teach, digit):
    """Click "No, it's a…", then the digit's entry in the menu it opens (the menu runs its own event
    loop, in which the timer's click comes)."""
    menu = teach.digit_menu

    def click():
        assert menu.isVisible()
        qtbot.mouseClick(menu, Qt.MouseButton.LeftButton, pos=menu.actionGeometry(menu.actions()[digit]).center())

    QTimer.singleShot(0, click)
    qtbot.mouseClick(teach.no_button, Qt.MouseButton.LeftButton)


def test_thats_right_and_no_its_a_keep_the_drawing(draw, qtbot):
    store = MyDigits()
    teach = draw.teach
    assert not teach.right_button.isEnabled() and not teach.no_button.isEnabled()  # nothing drawn
    draw_stroke(qtbot, draw, SEVEN)
    guess = int(draw.guess.text())
    seen = draw.image.copy()
    qtbot.keyClick(draw.pad, Qt.Key.Key_Return)  # "That's right"
    assert store.counts()[guess] == 1 and draw.pad.empty
    assert teach.message.text() == f"Added a {guess} to My digits (1 in all)."
    kept = read_drawing(store.drawings(guess)[0].path)
    assert np.abs(kept.astype(int) - np.round(seen * 255)).max() <= 1  # what the network saw

    # "No, it's a 4" by key, then taken back with Undo: the drawing is on the pad again.
    draw_stroke(qtbot, draw, ONE)
    strokes = draw.pad.point_lists()
    qtbot.keyClick(draw.pad, Qt.Key.Key_4)
    assert store.counts()[4] == 1 and draw.pad.empty
    assert "Added a 4" in teach.message.text() and "(2 in all)" in teach.message.text()
    qtbot.mouseClick(teach.undo_button, Qt.MouseButton.LeftButton)
    assert store.counts()[4] == 0 and draw.pad.point_lists() == strokes
    qtbot.waitUntil(lambda: draw.probabilities is not None, timeout=10_000)

    # By the menu of "No, it's a…"; then Y for "That's right".
    pick_from_menu(qtbot, teach, 1)
    assert store.counts()[1] == 1 and draw.pad.empty
    draw_stroke(qtbot, draw, ONE)
    guess = int(draw.guess.text())
    draw.pad.setFocus()
    qtbot.keyClick(draw.pad, Qt.Key.Key_Y)
    assert sum(store.counts()) == 3 and store.counts()[guess] >= 1
    assert draw.fine_tune_bar.browse_button.text() == "My digits (3)…"


def test_digit_keys_on_the_bars_still_pick_the_saliency_target(draw, qtbot):
    draw_stroke(qtbot, draw, SEVEN)
    draw.bars.setFocus()
    qtbot.keyClick(draw.bars, Qt.Key.Key_4)
    assert draw.target == 4 and sum(MyDigits().counts()) == 0 and not draw.pad.empty
    qtbot.keyClick(draw.bars, Qt.Key.Key_Return)  # Enter is not a bar's: "That's right" there too
    assert sum(MyDigits().counts()) == 1


def test_nothing_drawn_nothing_added(draw, qtbot):
    qtbot.keyClick(draw.pad, Qt.Key.Key_5)
    assert sum(MyDigits().counts()) == 0
    assert "Draw a digit first" in draw.teach.message.text()


def test_browse_delete_and_undo(draw, qtbot):
    store = MyDigits()
    image = preprocess_strokes([[(0, 0), (0, 100)]])
    for digit in (1, 1, 7):
        store.add(image, digit)
    (store.folder(7) / "holiday.jpg").write_bytes(b"not a drawing")  # a stranger's file
    bar = draw.fine_tune_bar
    bar.update_count()
    qtbot.mouseClick(bar.browse_button, Qt.MouseButton.LeftButton)
    dialog = bar.dialog
    qtbot.waitExposed(dialog)
    assert dialog.grid.count() == 3 and "Skipped 1 odd file" in dialog.message.text()
    dialog.digit_box.setCurrentIndex(dialog.digit_box.findData(1))
    assert dialog.grid.count() == 2
    first = dialog.grid.visualItemRect(dialog.grid.item(0)).center()
    qtbot.mouseClick(dialog.grid.viewport(), Qt.MouseButton.LeftButton, pos=first)
    qtbot.keyClick(dialog.grid, Qt.Key.Key_Delete)
    assert store.counts()[1] == 1 and dialog.grid.count() == 1
    assert "Deleted 1 drawing" in dialog.message.text()
    assert bar.browse_button.text() == "My digits (2)…"
    qtbot.mouseClick(dialog.undo_button, Qt.MouseButton.LeftButton)
    assert store.counts()[1] == 2 and dialog.grid.count() == 2
    assert bar.browse_button.text() == "My digits (3)…"
    dialog.close()


def test_fine_tune_makes_a_run_the_draw_area_uses(draw, qtbot, own_data_folder):
    store = MyDigits()
    rng = np.random.default_rng(0)
    for _ in range(12):
        jitter = rng.normal(0, 3, (3, 2))
        store.add(preprocess_strokes([np.array([(45, 0), (60, 0), (45, 100)]) + jitter]), 7)
    bar = draw.fine_tune_bar
    bar.update_count()
    bar.mnist_images = 600  # the test checks the flow; the core test checks what it learns
    assert bar.tune_button.isEnabled()
    results = []
    bar.fine_tuned.connect(results.append)
    qtbot.mouseClick(bar.tune_button, Qt.MouseButton.LeftButton)
    assert bar.running and not bar.tune_button.isEnabled()
    # The window stays responsive: the pad is classified while the fine-tune runs.
    draw_stroke(qtbot, draw, SEVEN)
    qtbot.waitUntil(lambda: bool(results) and not bar.running, timeout=120_000)
    result = results[0]
    assert result["status"] == "completed" and result["drawings"] == 12
    assert "right before" in bar.result.text() and "MNIST test" in bar.result.text()
    runs = list((own_data_folder / "runs").iterdir())
    assert [str(p) for p in runs] == [result["run_dir"]]
    # The new run is in the chooser, chosen, and classifies the drawing.
    assert draw.model_box.currentData() == ("run", result["run_dir"])
    assert "tuned on my digits" in draw.model_box.currentText()
    assert draw.classifier is not None and draw.classifier.source.startswith(result["run_dir"])
    assert draw.probabilities is not None


def test_a_stopped_fine_tune_keeps_what_it_has(draw, qtbot, own_data_folder):
    store = MyDigits()
    store.add(preprocess_strokes([[(45, 0), (60, 0), (45, 100)]]), 7)
    bar = draw.fine_tune_bar
    bar.update_count()
    results = []
    bar.fine_tuned.connect(results.append)
    qtbot.mouseClick(bar.tune_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(bar.stop_button, Qt.MouseButton.LeftButton)  # while it measures the model before
    assert bar.result.text() == "Stopping…" and not bar.stop_button.isEnabled()
    qtbot.waitUntil(lambda: bool(results) and not bar.running, timeout=120_000)
    assert results[0]["status"] == "stopped"
    assert bar.result.text().startswith("Stopped early.") and bar.tune_button.isEnabled()
