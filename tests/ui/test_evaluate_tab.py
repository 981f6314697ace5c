"""The Evaluate tab's confusion matrix (issue 14): its rows are named "true", its cells open by
keyboard as by a click, and its labels are written in the palette's colours (readable when dark).
On the default model's evaluation of 300 real MNIST test images."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication


@pytest.fixture(scope="module")
def evaluated():
    """The default model's evaluation of the first 300 MNIST test images, and those images."""
    from playground.core.data import load_dataset
    from playground.core.metrics import evaluate
    from playground.core.predict import Classifier

    data = load_dataset("mnist", seed=0)
    images, labels = data.test.images[:300], data.test.labels[:300]
    classifier = Classifier.from_path(None)
    return classifier.spec, evaluate(classifier.model, images, labels), images


@pytest.fixture
def area(evaluated, qtbot):
    from playground.core.config import TrainConfig
    from playground.core.runs import RunRecord
    from playground.ui.evaluate_area import EvaluateArea

    spec, evaluation, images = evaluated
    run = RunRecord(None, spec, TrainConfig(), {"status": "completed", "test_accuracy": evaluation.accuracy},
                    [], evaluation, label="fast-cnn")
    area = EvaluateArea()
    qtbot.addWidget(area)
    area.resize(1280, 700)
    area.show()
    qtbot.waitExposed(area)
    area.show_run(run, images)
    return area


def test_cells_open_by_keyboard(area, qtbot):
    matrix, evaluation = area.matrix, area.run.evaluation
    area.activateWindow()
    area.table.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is area.table, timeout=10_000)
    qtbot.keyClick(area.table, Qt.Key.Key_Tab)  # from the per-class table on to the matrix
    assert QApplication.focusWidget() is matrix
    for key in (Qt.Key.Key_Down,) * 3 + (Qt.Key.Key_Right,) * 5:
        qtbot.keyClick(matrix, key)
    assert matrix.current == (3, 5)
    qtbot.keyClick(matrix, Qt.Key.Key_Return)
    assert matrix.selected == (3, 5)
    assert area.images_label.text().startswith("<b>True 3, predicted 5</b>")
    assert area.shown_count == evaluation.confusion[3][5]
    for key in (Qt.Key.Key_Left, Qt.Key.Key_Left, Qt.Key.Key_Space):
        qtbot.keyClick(matrix, key)
    assert area.images_label.text().startswith("<b>True 3, correctly classified</b>")
    assert area.shown_count == evaluation.confusion[3][3] > 0
    assert area.gallery.item(0).text() == "3 → 3"
    for _ in range(12):  # the cursor stops at the edge
        qtbot.keyClick(matrix, Qt.Key.Key_Up)
    qtbot.keyClick(matrix, Qt.Key.Key_Enter)
    assert matrix.selected == (0, 3)


def has_pixel_near(image, rect: QRect, colour: QColor, tolerance: int = 40) -> bool:
    for x in range(max(rect.left(), 0), min(rect.right(), image.width() - 1)):
        for y in range(max(rect.top(), 0), min(rect.bottom(), image.height() - 1)):
            c = image.pixelColor(x, y)
            if max(abs(c.red() - colour.red()), abs(c.green() - colour.green()),
                   abs(c.blue() - colour.blue())) < tolerance:
                return True
    return False


def axis_label_rects(matrix):
    first, last = matrix.cell_rect(0, 0), matrix.cell_rect(9, 9)
    columns = QRect(first.left(), 0, last.right() - first.left(), first.top())  # names and "predicted"
    rows = QRect(0, first.top(), first.left(), last.bottom() - first.top())  # the row names
    return columns, rows


def test_the_rows_are_named_true(area):
    matrix = area.matrix
    image = matrix.grab().toImage()
    text = matrix.palette().color(QPalette.ColorRole.WindowText)
    assert has_pixel_near(image, matrix.row_title_rect(), text)  # "true ↓" above the row names
    assert matrix.row_title_rect().right() < matrix.cell_rect(0, 0).left()
    assert "Rows: true class" in matrix.toolTip()


@pytest.fixture
def dark(qapp):
    from playground.ui import theme

    old = qapp.palette()
    qapp.setPalette(theme.dark_palette())
    yield
    qapp.setPalette(old)


def test_axis_labels_and_counts_are_readable_in_a_dark_palette(dark, area):
    matrix = area.matrix
    palette = matrix.palette()
    text, base = palette.color(QPalette.ColorRole.WindowText), palette.color(QPalette.ColorRole.Base)
    assert text.lightnessF() > 0.7
    image = matrix.grab().toImage()
    for rect in axis_label_rects(matrix):
        assert has_pixel_near(image, rect, text)
    assert has_pixel_near(image, matrix.row_title_rect(), text)
    # An empty cell is the dark base, not a white square.
    empty = next((t, p) for t in range(10) for p in range(10) if area.run.evaluation.confusion[t][p] == 0)
    centre = matrix.cell_rect(*empty).center()
    assert abs(image.pixelColor(centre).lightnessF() - base.lightnessF()) < 0.1


def test_class_names_cut_to_fit_stay_told_apart(qtbot):
    from playground.ui.evaluate_area import ConfusionMatrixView, axis_labels

    assert axis_labels(["class A", "class B"], lambda t: len(t) <= 3) == ["…A", "…B"]
    assert axis_labels(["cat", "cats"], lambda t: len(t) <= 2) == ["…t", "…ts"]
    assert axis_labels(["7", "8"], lambda t: False) == ["7", "8"]
    view = ConfusionMatrixView()
    qtbot.addWidget(view)
    names = ["class of long name A", "class of long name B", "class of long name C"]
    view.set_matrix([[3, 0, 1], [0, 2, 0], [1, 0, 4]], names)
    view.resize(view.MINIMUM, view.MINIMUM)
    columns, rows = view.axis_texts()
    assert len(set(columns)) == len(set(rows)) == 3, (columns, rows)
    assert all(text.endswith(("A", "B", "C")) for text in columns + rows)
    cell = view.cell_rect(0, 2)
    assert view.tooltip_at(cell.center().x(), view.TOP - 5) == "Predicted class of long name C"
    assert view.tooltip_at(5, cell.center().y()) == "True class of long name A"
    assert view.tooltip_at(cell.center().x(), cell.center().y()).endswith("predicted class of long name C: 1 image")
