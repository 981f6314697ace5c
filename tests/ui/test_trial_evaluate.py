"""The Evaluate tab fits an 800x600 window (a new user's trial): the panes shrink, the confusion
matrix scales down, and the per-class table's headers stay readable (short, with the full word as
their tooltip). On the default model's evaluation of 300 real MNIST test images."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt


@pytest.fixture(scope="module")
def evaluated():
    """A run with the default model's evaluation of the first 300 MNIST test images, and those images."""
    from playground.core.config import TrainConfig
    from playground.core.data import load_dataset
    from playground.core.metrics import evaluate
    from playground.core.predict import Classifier
    from playground.core.runs import RunRecord

    data = load_dataset("mnist", seed=0)
    images, labels = data.test.images[:300], data.test.labels[:300]
    classifier = Classifier.from_path(None)
    evaluation = evaluate(classifier.model, images, labels)
    run = RunRecord(None, classifier.spec, TrainConfig(), {"status": "completed"}, [], evaluation,
                    label="fast-cnn")
    return run, images


def test_the_window_fits_800x600_with_an_evaluation_shown(ready_window, evaluated, qtbot):
    window, (run, images) = ready_window, evaluated
    area = window.evaluate_area
    area.show_run(run, images)
    bar = window.tabs.tabBar()
    qtbot.waitExposed(window)
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(window.tabs.indexOf(area)).center())
    assert window.tabs.currentWidget() is area
    window.resize(800, 600)
    qtbot.waitUntil(lambda: window.height() == 600, timeout=5_000)
    assert window.width() == 800  # was 887 or more: the Evaluate tab's minimum
    assert window.minimumSizeHint().width() <= 800

    header = area.table.horizontalHeader()
    for col in range(header.count()):
        assert header.sectionSize(col) >= header.sectionSizeHint(col), area.table.horizontalHeaderItem(col).text()
    assert area.table.horizontalHeaderItem(1).text() == "Prec."
    assert "Precision" in area.table.horizontalHeaderItem(1).toolTip()

    for index, size in enumerate(area.splitter.sizes()):
        pane = area.splitter.widget(index)
        assert size >= pane.minimumSizeHint().width() and pane.isVisible()
    matrix = area.matrix
    last = matrix.cell_rect(9, 9)
    assert last.right() < matrix.width() and last.bottom() < matrix.height()  # the matrix scaled down whole
    assert matrix.cell_at(last.center().x(), last.center().y()) == (9, 9)
    qtbot.mouseClick(matrix, Qt.MouseButton.LeftButton, pos=matrix.cell_rect(3, 5).center())
    assert matrix.selected == (3, 5) and area.shown_count == run.evaluation.confusion[3][5]
