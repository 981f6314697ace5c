"""Folder data sets in the window: "Add a folder…" shows what the folder holds as the network will
see it; a design made for 10 classes gets the problem and its one-click fix for a 5-class folder; a
short run on it names its 5 classes in the Evaluate area and on the Draw area's bars. Driven with
real clicks and keys, on photographed-style digits (``core.synthetic_digits``) in a tmp folder."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QFileDialog

from playground.core.config import TrainConfig

LEFT = Qt.MouseButton.LeftButton
WORDS = ["zero", "one", "two", "three", "four"]  # the folders of digits 0-4
NAMES = sorted(WORDS)  # the classes: folders sorted by name
PER_CLASS = 24


@pytest.fixture(scope="module")
def digit_folder(tmp_path_factory):
    """5 classes named in words, 24 photographed-style digits each (JPEG and PNG), plus two odd files."""
    from playground.core.data import load_raw
    from playground.core.synthetic_digits import write_digit_folder

    folder = tmp_path_factory.mktemp("shapes") / "digits"
    train, _ = load_raw("mnist")
    write_digit_folder(folder, train.images.numpy(), train.labels.numpy(), [0, 1, 2, 3, 4], PER_CLASS)
    for digit, name in enumerate(WORDS):
        (folder / str(digit)).rename(folder / name)
    (folder / "readme.txt").write_text("not a class")
    (folder / "two" / "notes.txt").write_text("not an image")
    return folder


def add_folder(area, qtbot, monkeypatch, folder) -> None:
    """Click "Add a folder…" and pick ``folder`` in the (stand-in) dialog; wait for the preview."""
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *args: str(folder)))
    with qtbot.waitSignal(area.form.folder_preview.preview_shown, timeout=30_000):
        qtbot.mouseClick(area.form.add_folder_button, LEFT)


def show_train_tab(window, qtbot):
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
    assert window.tabs.currentWidget() is window.train_area


def test_adding_a_folder_shows_its_classes_counts_images_and_skipped_files(active_window, qtbot, monkeypatch,
                                                                         digit_folder, tmp_path):
    window, area = active_window, active_window.train_area
    show_train_tab(window, qtbot)
    add_folder(area, qtbot, monkeypatch, digit_folder)
    form, panel = area.form, area.form.folder_preview
    assert form.editors["dataset"].value() == "folder" and form.editors["data_folder"].value() == str(digit_folder)
    assert form.config().dataset == "folder" and form.config().data_folder == str(digit_folder)  # Start trains on it
    assert panel.isVisible() and panel.grid.isVisible()
    preview = panel.preview
    assert list(preview.class_names) == NAMES and form.class_count == 5 and window.document.class_count == 5
    # A seeded 20% of each class (5 of 24) is the test set.
    assert preview.train_counts == (19,) * 5 and preview.test_counts == (5,) * 5
    assert panel.status.text().startswith("120 images in 5 classes: 95 to train (10% of them to validate), "
                                          "25 to test (a seeded 20% of each class")
    assert panel.grid.rows() == 5 and all(len(row) == 8 for row in preview.samples)
    # Scrolled into view: the whole grid, once it has its final size (as far as the view is tall).
    from PySide6.QtCore import QPoint
    from PySide6.QtWidgets import QScrollArea

    scroll = form.parentWidget()
    while not isinstance(scroll, QScrollArea):
        scroll = scroll.parentWidget()

    def grid_seen() -> bool:
        view = scroll.viewport()
        top = panel.grid.mapTo(view, QPoint(0, 0)).y()
        return 0 <= top and (top + panel.grid.height() <= view.height() or top == 0)
    qtbot.waitUntil(grid_seen, timeout=10_000)
    sample = preview.samples[1][0].astype(float)  # white ink on black, as the network sees it
    assert sample.shape == (28, 28) and sample[:, :3].mean() < 20 < sample[8:20, 8:20].mean()

    # The odd files: counted, and listed when asked.
    assert panel.skipped_button.text() == "2 files skipped" and not panel.skipped_list.isVisible()
    qtbot.mouseClick(panel.skipped_button, LEFT)
    lines = panel.skipped_list.toPlainText().splitlines()
    assert panel.skipped_list.isVisible() and len(lines) == 2
    assert any(line.startswith("readme.txt: a file beside the class folders") for line in lines)
    assert any(line.startswith("two/notes.txt: not an image file") for line in lines)

    # The other preprocessing shows other images; the folder is remembered among the recent ones.
    box = form.editors["preprocess"]
    with qtbot.waitSignal(panel.preview_shown, timeout=30_000):
        box.setFocus()
        qtbot.keyClick(box, Qt.Key.Key_Down)
    assert box.value() == "resize" and not np.array_equal(panel.preview.samples[1][0], preview.samples[1][0])
    folder_box = form.editors["data_folder"].box
    assert [folder_box.itemText(i) for i in range(folder_box.count())] == [str(digit_folder)]

    # A folder that is not a data set: the reason in words, and no class count.
    empty = tmp_path / "empty"
    (empty / "only").mkdir(parents=True)
    line = folder_box.lineEdit()
    line.setFocus()
    line.selectAll()
    qtbot.keyClicks(line, str(empty))
    with qtbot.waitSignal(panel.preview_shown, timeout=30_000):
        qtbot.keyClick(line, Qt.Key.Key_Return)
    assert panel.status.text().startswith("Cannot use this folder: ") and "1 class folder" in panel.status.text()
    assert panel.preview is None and form.class_count is None and not panel.grid.isVisible()


def test_a_five_class_folder_gets_the_fix_then_its_run_names_its_classes(own_data_folder, active_window, qtbot,
                                                                          monkeypatch, digit_folder):
    window, area, document = active_window, active_window.train_area, active_window.document
    window.new_from_preset("mlp-300")
    area.form.set_config(TrainConfig(epochs=1, batch_size=16, device="cpu", lr=0.003))
    show_train_tab(window, qtbot)
    assert not area.class_box.isVisible()
    add_folder(area, qtbot, monkeypatch, digit_folder)

    # The design ends with 10 scores: the problem and its fix, here and in the designer.
    assert area.class_box.isVisible()
    assert area.class_text.text().startswith("The data set has 5 classes but the design ends with 10 class scores")
    last = len(document.spec.layers)
    assert area.class_fix_button.text() == f"Set outputs of layer {last} to 5"
    assert [b.text() for b in window.designer.problems.fix_buttons] == [area.class_fix_button.text()]
    qtbot.mouseClick(area.class_fix_button, LEFT)
    assert document.spec.layers[-1].params["out_features"] == 5 and document.spec.num_classes == 5
    assert not area.class_box.isVisible() and document.report.valid

    with qtbot.waitSignal(window.library.run_finished, timeout=120_000) as blocker:
        qtbot.mouseClick(area.start_button, LEFT)
    run = blocker.args[0]
    assert run.status == "completed", area.banner.text()
    assert run.classes == NAMES and run.config.data_folder == str(digit_folder)

    # The Evaluate area: 5 named rows and a 5 x 5 matrix.
    qtbot.mouseClick(area.evaluation_button, LEFT)
    evaluate = window.evaluate_area
    assert window.tabs.currentWidget() is evaluate and evaluate.run is run
    assert evaluate.table.rowCount() == 5
    assert [evaluate.table.item(row, 0).text() for row in range(5)] == NAMES
    assert evaluate.matrix.names == NAMES and len(evaluate.matrix.matrix) == 5
    assert all(len(row) == 5 for row in evaluate.matrix.matrix)
    qtbot.waitUntil(lambda: evaluate.images is not None, timeout=30_000)  # its test images, from the folder
    assert len(evaluate.images) == 25

    # The Draw area with this run's model: 5 bars named after the classes.
    draw = window.draw_area
    window.tabs.setCurrentWidget(draw)
    box = draw.model_box
    box.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is box, timeout=10_000)
    for _ in range(box.count()):
        if box.currentData() == ("run", str(run.path)):
            break
        qtbot.keyClick(box, Qt.Key.Key_Down)
    assert box.currentData() == ("run", str(run.path))
    qtbot.waitUntil(lambda: draw.classifier is not None and draw.classifier.classes == NAMES, timeout=30_000)
    bars = draw.bars
    assert bars.classes == NAMES and bars.count == 5
    image = np.zeros((28, 28), np.float32)
    image[6:22, 12:16] = 1.0  # a stroke, classified straight
    probs = draw.classifier.probabilities(image)
    draw._show(image, probs)
    assert draw.guess.text() in NAMES and len(bars.probabilities) == 5
    with qtbot.waitSignal(bars.digit_clicked) as picked:  # "3" picks the 4th bar (no class is named 3)
        bars.setFocus()
        qtbot.keyClick(bars, Qt.Key.Key_3)
    assert picked.args == [3]
    with qtbot.assertNotEmitted(bars.digit_clicked):
        qtbot.keyClick(bars, Qt.Key.Key_7)  # no 8th bar

    # Undo brings the 10 outputs back, and with them the problem.
    document.undo_stack.undo()
    assert document.spec.layers[-1].params["out_features"] == 10 and not area.class_box.isHidden()
