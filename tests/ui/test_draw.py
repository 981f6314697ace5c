"""Drawing digits with the mouse on the real pad, classified by the default model as they are drawn."""

from __future__ import annotations

import math

import pytest
from PySide6.QtCore import QPoint, Qt


# Digits as strokes in a unit box (x right, y down).
SHAPES = {
    "1": [[(0.5, 0.05), (0.5, 0.95)]],
    "7": [[(0.15, 0.08), (0.85, 0.08), (0.65, 0.4), (0.45, 0.95)]],
    "0": [[(0.5 + 0.3 * math.sin(t / 24 * 2 * math.pi), 0.5 - 0.45 * math.cos(t / 24 * 2 * math.pi))
           for t in range(25)]],
}
PLACES = {"centred": (90, 70, 120), "small in a corner": (10, 10, 55), "large": (15, 10, 260)}


@pytest.fixture
def draw(ready_window):
    ready_window.tabs.setCurrentWidget(ready_window.draw_area)
    return ready_window.draw_area


def stroke_points(shape, place, steps=6):
    x0, y0, size = place
    for stroke in SHAPES[shape]:
        points = []
        for (ax, ay), (bx, by) in zip(stroke, stroke[1:]):
            for i in range(steps):
                t = i / steps
                points.append(QPoint(int(x0 + size * (ax + t * (bx - ax))), int(y0 + size * (ay + t * (by - ay)))))
        points.append(QPoint(int(x0 + size * stroke[-1][0]), int(y0 + size * stroke[-1][1])))
        yield points


def draw_shape(qtbot, pad, shape, place):
    for points in stroke_points(shape, place):
        qtbot.mousePress(pad, Qt.MouseButton.LeftButton, pos=points[0])
        for p in points[1:]:
            qtbot.mouseMove(pad, p)
        qtbot.mouseRelease(pad, Qt.MouseButton.LeftButton, pos=points[-1])


@pytest.mark.parametrize("place", list(PLACES))
@pytest.mark.parametrize("shape", list(SHAPES))
def test_drawn_digits_are_classified(draw, qtbot, shape, place):
    draw.pad.clear()
    draw_shape(qtbot, draw.pad, shape, PLACES[place])
    qtbot.waitUntil(lambda: draw.guess.text() == shape, timeout=10_000)
    assert draw.probabilities.argmax() == int(shape)


def test_the_guess_changes_while_drawing(draw, qtbot):
    pad = draw.pad
    assert draw.guess_caption.text() == "Draw a digit on the pad"  # a hint, not a guess
    points = list(stroke_points("0", PLACES["centred"], steps=2))[0]
    qtbot.mousePress(pad, Qt.MouseButton.LeftButton, pos=points[0])
    guesses, probabilities = [], []
    for p in points[1:]:
        with qtbot.waitSignal(draw.classified, timeout=10_000):  # each move is classified, however busy
            qtbot.mouseMove(pad, p)
        guesses.append(draw.guess.text())
        probabilities.append(tuple(draw.probabilities.round(3)))
    # Before the release: the probabilities were updated many times and the guess moved to the 0.
    assert len(set(probabilities)) >= 10
    assert len(set(guesses)) >= 2 and guesses[-1] == "0"
    qtbot.mouseRelease(pad, Qt.MouseButton.LeftButton, pos=points[-1])


def test_clear_and_undo(draw, qtbot):
    pad = draw.pad
    draw_shape(qtbot, pad, "1", PLACES["centred"])
    draw_shape(qtbot, pad, "7", PLACES["small in a corner"])
    assert len(pad.strokes) == 2
    pad.setFocus()
    qtbot.keySequence(pad, "Ctrl+Z")
    assert len(pad.strokes) == 1
    qtbot.keyClick(pad, Qt.Key.Key_Escape)
    assert pad.empty
    qtbot.waitUntil(lambda: draw.guess.text() == "", timeout=10_000)
    assert draw.probabilities is None and draw.preview.pixmap().isNull()


def test_the_canvas_follows_a_training_run_epoch_by_epoch(draw, qtbot):
    from playground.core.config import TrainConfig

    window = draw.window()
    area = window.train_area
    window.new_from_preset("mlp-300")
    area.form.set_config(TrainConfig(epochs=3, limit=3000, test_limit=3000, batch_size=16, device="cpu", lr=0.003))
    draw_shape(qtbot, draw.pad, "1", PLACES["centred"])
    loads = []
    assert area.start()
    index = draw.model_box.findText("Training now", Qt.MatchFlag.MatchStartsWith)
    assert index > 0
    draw.model_box.setCurrentIndex(index)
    assert draw.follow_path == window.library.current.path
    original = draw.load_model

    def counting(path, which=None):
        loads.append(which)
        return original(path, which)

    draw.load_model = counting
    with qtbot.waitSignal(window.library.run_finished, timeout=240_000):
        pass
    assert loads.count("last") >= 2  # reloaded after each epoch, from the run folder's copy
    assert draw.classifier is not None and draw.probabilities is not None
    # Finished runs are offered too.
    assert draw.model_box.findText("mlp-300", Qt.MatchFlag.MatchStartsWith) > 0
