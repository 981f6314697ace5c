"""The Draw tab driven with the real mouse and keys (issue 14): undo belongs to the tab in view, the
model chooser names runs, a doubt looks like a doubt, the pad grows with the window, and the bars
are readable in a dark palette. Classified by the default model that ships with the app."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtWidgets import QApplication, QPushButton

from playground.core.config import TrainConfig

# Digits as strokes in a unit box (x right, y down).
SEVEN = [[(0.15, 0.08), (0.85, 0.08), (0.65, 0.4), (0.45, 0.95)]]
ONE = [[(0.5, 0.05), (0.5, 0.95)]]


def draw_strokes(qtbot, pad, strokes, box=(0.25, 0.2, 0.5), steps=6):
    """Draw strokes given in a unit box, placed at (x, y, size) as shares of the pad's side."""
    side = min(pad.width(), pad.height())
    x0, y0, size = (v * side for v in box)
    for stroke in strokes:
        points = []
        for (ax, ay), (bx, by) in zip(stroke, stroke[1:]):
            for i in range(steps):
                t = i / steps
                points.append(QPoint(int(x0 + size * (ax + t * (bx - ax))), int(y0 + size * (ay + t * (by - ay)))))
        points.append(QPoint(int(x0 + size * stroke[-1][0]), int(y0 + size * stroke[-1][1])))
        qtbot.mousePress(pad, Qt.MouseButton.LeftButton, pos=points[0])
        for p in points[1:]:
            qtbot.mouseMove(pad, p)
        qtbot.mouseRelease(pad, Qt.MouseButton.LeftButton, pos=points[-1])


def click_tab(qtbot, window, area):
    bar = window.tabs.tabBar()
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(window.tabs.indexOf(area)).center())
    qtbot.waitUntil(area.isVisible, timeout=10_000)


def classified(qtbot, draw):
    """Wait for the drawing's classification."""
    qtbot.waitUntil(lambda: not draw.timer.isActive() and draw.probabilities is not None, timeout=10_000)


# -- 1. undo belongs to the tab in view ------------------------------------------------------------------


def test_ctrl_z_on_the_draw_tab_undoes_a_stroke_not_the_hidden_design(active_window, qtbot):
    window, doc = active_window, active_window.document
    stack = window.designer.stack
    stack.setCurrentIndex(stack.model().index(0, 0))
    qtbot.keyClick(stack, Qt.Key.Key_Delete)  # a design edit, undoable
    edited = doc.spec
    assert doc.undo_stack.canUndo()
    click_tab(qtbot, window, window.draw_area)
    pad = window.draw_area.pad
    for box in ((0.1, 0.1, 0.3), (0.5, 0.5, 0.3), (0.1, 0.5, 0.3)):
        draw_strokes(qtbot, pad, ONE, box)
    assert len(pad.strokes) == 3
    (button,) = [b for b in window.draw_area.findChildren(QPushButton) if b.text() == "Undo stroke"]
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert len(pad.strokes) == 2
    assert QApplication.focusWidget() is not pad  # the button (or anything but the pad) has the focus
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert len(pad.strokes) == 1 and doc.spec == edited  # a stroke fewer, the design as it was
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Z,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert len(pad.strokes) == 2 and doc.spec == edited  # the stroke is back
    assert window.undo_action.text() == "&Undo Stroke" and window.undo_action.isEnabled()
    # On the pad itself too.
    qtbot.mouseClick(pad, Qt.MouseButton.LeftButton, pos=QPoint(5, 5))  # a dot: three strokes
    qtbot.keyClick(pad, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert len(pad.strokes) == 2 and doc.spec == edited
    # On the Evaluate tab, no undo at all; back on the Design tab, the design's.
    click_tab(qtbot, window, window.evaluate_area)
    assert not window.undo_action.isEnabled() and not window.redo_action.isEnabled()
    qtbot.keyClick(QApplication.focusWidget() or window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert doc.spec == edited
    click_tab(qtbot, window, window.designer)
    assert window.undo_action.isEnabled() and window.undo_action.text().startswith("&Undo ")
    stack.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is stack, timeout=10_000)
    qtbot.keyClick(stack, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert doc.spec != edited and len(doc.spec.layers) == len(edited.layers) + 1
    assert len(pad.strokes) == 2  # the drawing is untouched by the design's undo


# -- 2. the model chooser names runs; a followed run that ends becomes its usual entry -------------------


def test_a_followed_run_becomes_its_usual_entry_named_by_label_and_start(monkeypatch, tmp_path, active_window,
                                                                         qtbot):
    monkeypatch.setenv("PLAYGROUND_DATA_DIR", str(tmp_path / "data"))
    window = active_window
    area, draw, library = window.train_area, window.draw_area, window.library
    window.new_from_preset("mlp-300")
    area.form.set_config(TrainConfig(epochs=2, limit=300, test_limit=300, batch_size=32, device="cpu", lr=0.003))
    click_tab(qtbot, window, area)
    qtbot.mouseClick(area.start_button, Qt.MouseButton.LeftButton)
    run = library.current
    assert run is not None and library.training is run
    click_tab(qtbot, window, draw)
    draw_strokes(qtbot, draw.pad, SEVEN)
    box = draw.model_box
    box.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is box, timeout=10_000)
    while not box.currentText().startswith("Training now"):
        qtbot.keyClick(box, Qt.Key.Key_Down)
    assert run.label in box.currentText() and draw.follow_path == run.path
    with qtbot.waitSignal(library.run_finished, timeout=240_000):
        pass
    texts = [box.itemText(i) for i in range(box.count())]
    assert not any(t.startswith("Training now") for t in texts)  # the run has ended
    assert box.currentData() == ("run", str(run.path))  # still chosen, under its usual entry
    status = draw.model_status.text()
    assert run.path.name not in status and "safetensors" not in status  # no folder or file names
    assert run.label in status and run.started in status and "best weights" in status
    assert box.currentText().startswith(f"{run.label} · {run.started}")
    assert run.path.name not in box.currentText()
    assert box.itemData(box.currentIndex(), Qt.ItemDataRole.ToolTipRole) == str(run.path)  # on hover
    assert draw.probabilities is not None and draw.classifier.source.startswith(str(run.path))


# -- 3. a doubt looks like a doubt ----------------------------------------------------------------------


@pytest.fixture
def draw_window(active_window, qtbot):
    click_tab(qtbot, active_window, active_window.draw_area)
    return active_window.draw_area


def test_a_dot_is_shown_as_a_doubt_and_a_clear_digit_as_a_guess(draw_window, qtbot):
    draw = draw_window
    qtbot.mouseClick(draw.pad, Qt.MouseButton.LeftButton, pos=QPoint(140, 140))  # a single dot
    classified(qtbot, draw)
    first, second = np.argsort(draw.probabilities)[::-1][:2]
    assert draw.guess_caption.text().startswith(f"Not sure: {first} or {second}?")
    assert draw.sure is False
    assert "larger" in draw.guess_caption.text()
    doubt_font = draw.guess.font()
    assert not doubt_font.bold()
    qtbot.keyClick(draw.pad, Qt.Key.Key_Escape)
    draw_strokes(qtbot, draw.pad, SEVEN)
    qtbot.waitUntil(lambda: not draw.timer.isActive() and draw.guess.text() == "7", timeout=10_000)
    assert draw.sure is True and draw.guess_caption.text().endswith("% sure")
    assert draw.guess.font().bold() and draw.guess.font().pixelSize() >= 2 * doubt_font.pixelSize()


def test_a_low_top_probability_names_the_two_candidates(draw_window, qtbot):
    class Undecided:  # a model that cannot make up its mind between 1 and 7
        spec = draw_window.classifier.spec
        source = "undecided"

        def probabilities(self, image):
            p = np.full(10, 0.05)
            p[1], p[7] = 0.32, 0.28
            return p

    draw = draw_window
    draw.classifier = Undecided()
    draw_strokes(qtbot, draw.pad, SEVEN)
    qtbot.waitUntil(lambda: not draw.timer.isActive() and draw.probabilities is not None
                    and draw.probabilities[1] == 0.32, timeout=10_000)
    assert draw.guess_caption.text() == "Not sure: 1 or 7? (32%, 28%)"
    assert draw.sure is False and draw.guess.text() == "1"


# -- 4. sizes -------------------------------------------------------------------------------------------


def leaf_widgets(draw):
    return [draw.pad, draw.preview, draw.bars, draw.guess, draw.guess_caption, draw.model_box, draw.brush,
            draw.model_status, *draw.findChildren(QPushButton)]


def laid_out(qtbot, window, width, height):
    window.resize(width, height)
    qtbot.waitExposed(window)
    for _ in range(5):
        QApplication.processEvents()
    draw = window.draw_area
    rects = {w: QRect(w.mapTo(draw, QPoint(0, 0)), w.size()) for w in leaf_widgets(draw)}
    for (a, ra), (b, rb) in itertools.combinations(rects.items(), 2):
        assert not ra.intersects(rb), f"{type(a).__name__} overlaps {type(b).__name__} at {width}x{height}"
    for w, r in rects.items():
        assert draw.rect().contains(r), f"{type(w).__name__} is clipped at {width}x{height}"
    assert draw.pad.width() == draw.pad.height()
    return draw.pad.width()


def test_the_pad_and_the_preview_grow_with_the_window(draw_window, qtbot):
    draw = draw_window
    window = draw.window()
    big = laid_out(qtbot, window, 1920, 1080)
    assert big > 400 and draw.preview.square().width() > 112
    assert draw.bars.width() > 300  # the bars take what is left, not all of it
    draw_strokes(qtbot, draw.pad, SEVEN)
    classified(qtbot, draw)
    image_big = draw.preview.pixmap().toImage()
    small = laid_out(qtbot, window, 800, 600)
    assert window.width() <= 800 or draw.minimumSizeHint().width() <= 780  # the Draw tab fits in 800x600
    assert 280 <= small < big and draw.preview.square().width() >= 112
    # The drawing is the same drawing at the new size: the network sees the same image.
    draw.classify()
    assert draw.preview.pixmap().toImage() == image_big
    # Drawn again at the small size, the same shape gives (nearly) the same image.
    before = draw.probabilities.copy()
    qtbot.keyClick(draw.pad, Qt.Key.Key_Escape)
    draw_strokes(qtbot, draw.pad, SEVEN)
    classified(qtbot, draw)
    assert draw.probabilities.argmax() == before.argmax() == 7
    assert np.abs(draw.probabilities - before).max() < 0.05


# -- colours: dark mode -----------------------------------------------------------------------------------


@pytest.fixture
def dark(qapp):
    from playground.ui import theme

    old = qapp.palette()
    qapp.setPalette(theme.dark_palette())
    yield
    qapp.setPalette(old)


def near(colour, image, rect, tolerance=40) -> bool:
    """Whether some pixel in ``rect`` of ``image`` is within ``tolerance`` of ``colour`` (each channel)."""
    for x in range(int(rect.left()), int(rect.right())):
        for y in range(int(rect.top()), int(rect.bottom())):
            c = image.pixelColor(x, y)
            if max(abs(c.red() - colour.red()), abs(c.green() - colour.green()),
                   abs(c.blue() - colour.blue())) < tolerance:
                return True
    return False


def test_the_percentages_are_written_in_the_palettes_text_colour_when_dark(dark, draw_window, qtbot):
    from PySide6.QtGui import QPalette

    draw = draw_window
    draw_strokes(qtbot, draw.pad, SEVEN)
    classified(qtbot, draw)
    image = draw.bars.grab().toImage()
    text = draw.bars.palette().color(QPalette.ColorRole.WindowText)
    assert text.lightnessF() > 0.7  # the dark palette's light text
    for digit in (0, 7):
        assert near(text, image, draw.bars.percent_rect(digit)), f"no readable percentage for {digit}"
    assert draw.sure and draw.guess.palette().color(QPalette.ColorRole.WindowText) == text
