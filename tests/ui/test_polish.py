"""Issue 14, after review: counts read as English ("1 image", "6 images"), one refused Train field
does not reset the others when presets or recommendations apply, the Evaluate title follows a
rename, the Edit menu's Undo text is set only when it changes, and Clear on the Draw tab can be
undone. Driven with real keys and clicks."""

from __future__ import annotations

import io

import pytest
import torch
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication, QPushButton

from playground.core.config import TrainConfig
from playground.core.text import counted


def click_tab(qtbot, window, area):
    bar = window.tabs.tabBar()
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(window.tabs.indexOf(area)).center())
    qtbot.waitUntil(area.isVisible, timeout=10_000)


def type_into(qtbot, field, text):
    """Select what the field holds, type ``text``, press Enter."""
    qtbot.mouseClick(field, Qt.MouseButton.LeftButton)
    qtbot.keyClick(field, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(field, text)
    qtbot.keyClick(field, Qt.Key.Key_Return)


# -- plurals -----------------------------------------------------------------------------------------


def test_counted_says_one_thing_and_many_things():
    assert counted(1, "epoch") == "1 epoch"
    assert counted(0, "epoch") == "0 epochs"
    assert counted(6000, "image") == "6,000 images"
    assert counted(2, "entry", "entries") == "2 entries"
    assert counted(1, "entry", "entries") == "1 entry"


def test_the_cli_progress_line_counts_epochs_in_english():
    from playground.cli.train import ProgressPrinter

    out = io.StringIO()
    ProgressPrinter(out)({"type": "start", "device": "cpu", "train_size": 500, "val_size": 50,
                          "parameters": 1, "epochs": 1})
    assert "1 parameter, 1 epoch" in out.getvalue() and "(s)" not in out.getvalue()


@pytest.fixture
def evaluate_area(qtbot):
    """The Evaluate area on a made-up evaluation of 10 images: true 0 predicted 0 six times, true 1
    predicted 7 once."""
    from playground.core.metrics import Evaluation, confusion_matrix, per_class_metrics
    from playground.core.runs import RunRecord
    from playground.core.presets import get_preset
    from playground.ui.evaluate_area import EvaluateArea

    labels = [0] * 6 + [1, 2, 3, 4]
    predictions = [0] * 6 + [7, 2, 3, 4]
    confusion = confusion_matrix(labels, predictions)
    evaluation = Evaluation(0.9, 0.3, 10, confusion, per_class_metrics(confusion), [6], predictions, labels)
    run = RunRecord(None, get_preset("fast-cnn").spec, TrainConfig(), {"status": "completed"}, [], evaluation,
                    label="fast-cnn")
    area = EvaluateArea()
    qtbot.addWidget(area)
    area.resize(1280, 700)
    area.show()
    qtbot.waitExposed(area)
    area.show_run(run, torch.zeros((10, 28, 28), dtype=torch.uint8))
    return area


def test_the_evaluate_area_counts_images_in_english(evaluate_area, qtbot):
    area = evaluate_area
    assert "10 test images" in area.title.text()
    assert area.images_label.text() == "<b>All misclassified test images</b>: 1 image"
    qtbot.mouseClick(area.matrix, Qt.MouseButton.LeftButton, pos=area.matrix.cell_rect(0, 0).center())
    assert area.images_label.text() == "<b>True 0, correctly classified</b>: 6 images"
    qtbot.mouseClick(area.matrix, Qt.MouseButton.LeftButton, pos=area.matrix.cell_rect(1, 7).center())
    assert area.images_label.text() == "<b>True 1, predicted 7</b>: 1 image"


def test_the_train_area_banners_count_in_english(ready_window):
    from playground.core.runs import RunRecord
    from playground.ui.train_area import _why_not_learning

    area = ready_window.train_area
    area.show_unreadable_runs(["run-1: its config.json cannot be read"])
    assert area.banner.text().startswith("1 saved run folder could not be read")
    area.show_unreadable_runs(["a", "b"])
    assert area.banner.text().startswith("2 saved run folders could not be read")
    run = RunRecord(None, ready_window.document.spec, TrainConfig(epochs=1, batch_size=1), {"status": "completed"},
                    [{"type": "start", "train_size": 1, "steps_per_epoch": 1},
                     {"type": "epoch", "epoch": 1, "step": 1}])
    assert "1 epoch on 1 image may be too little training" in _why_not_learning(run)


# -- one refused field does not reset the others --------------------------------------------------------


def test_recommended_settings_keep_the_user_s_valid_fields_beside_a_refused_one(ready_window, qtbot):
    window = ready_window
    window.resize(1280, 800)
    click_tab(qtbot, window, window.train_area)
    area = window.train_area
    editors = area.form.editors
    window.train_area.form.set_devices(["cpu", "cuda:0"])  # as torch would find a GPU
    type_into(qtbot, editors["limit"], "2000")
    device = editors["device"]
    qtbot.mouseClick(device, Qt.MouseButton.LeftButton)  # the popup opens; choose by keyboard
    popup = device.view()
    qtbot.waitUntil(popup.isVisible, timeout=5_000)
    while device.view().currentIndex().data() != "cuda:0":
        qtbot.keyClick(popup, Qt.Key.Key_Down)
    qtbot.keyClick(popup, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not popup.isVisible(), timeout=5_000)
    assert device.value() == "cuda:0"
    seed_before = editors["seed"].value()
    type_into(qtbot, editors["seed"], "abc")
    assert editors["seed"].problem()
    qtbot.mouseClick(area.recommended_button, Qt.MouseButton.LeftButton)
    assert editors["limit"].value() == 2000 and editors["device"].value() == "cuda:0"
    assert editors["seed"].value() == seed_before and not editors["seed"].problem()
    assert "Changed" in area.banner.text() or "nothing changed" in area.banner.text()
    assert area.form.config().limit == 2000


# -- the Evaluate title follows a rename ----------------------------------------------------------------


def test_the_evaluate_title_follows_a_rename_with_f2(monkeypatch, tmp_path, active_window, qtbot):
    from playground.core.paths import runs_dir
    from playground.core.runs import RunWriter, new_run_dir

    monkeypatch.setenv("PLAYGROUND_DATA_DIR", str(tmp_path / "data"))
    spec = active_window.document.spec
    writer = RunWriter(new_run_dir(runs_dir(), spec.name), spec, TrainConfig(limit=500))
    writer.write_summary(status="completed")
    writer.close()
    window = active_window
    window.library.load_from_disk()
    click_tab(qtbot, window, window.train_area)
    runs = window.train_area.run_list
    item = runs.topLevelItem(0)
    centre = runs.visualItemRect(item).center()
    qtbot.mouseClick(runs.viewport(), Qt.MouseButton.LeftButton, pos=centre)  # a view takes a double-click
    qtbot.mouseDClick(runs.viewport(), Qt.MouseButton.LeftButton, pos=centre)  # on the row it was pressed on
    qtbot.waitUntil(window.evaluate_area.isVisible, timeout=5_000)  # a double-click evaluates
    old = item.text(0)
    assert old in window.evaluate_area.title.text()
    click_tab(qtbot, window, window.train_area)
    qtbot.mouseClick(runs.viewport(), Qt.MouseButton.LeftButton, pos=runs.visualItemRect(item).center())
    qtbot.keyClick(runs, Qt.Key.Key_F2)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is not runs, timeout=5_000)
    editor = QApplication.focusWidget()
    qtbot.keyClick(editor, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(editor, "my first CNN")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: item.text(0) == "my first CNN", timeout=5_000)
    title = window.evaluate_area.title.text()
    assert "my first CNN" in title and old not in title


# -- the Edit menu's Undo text is set when it changes -----------------------------------------------------


def counting_set_text(monkeypatch, action) -> list[str]:
    texts = []
    real = action.setText

    def set_text(text):
        texts.append(text)
        real(text)

    monkeypatch.setattr(action, "setText", set_text)
    return texts


def test_drawing_a_stroke_sets_the_undo_text_once_not_on_every_move(monkeypatch, active_window, qtbot):
    window = active_window
    click_tab(qtbot, window, window.draw_area)
    pad = window.draw_area.pad
    texts = counting_set_text(monkeypatch, window.undo_action)
    qtbot.mousePress(pad, Qt.MouseButton.LeftButton, pos=QPoint(40, 40))
    for i in range(50):
        qtbot.mouseMove(pad, QPoint(40 + 3 * i, 40 + i))
    qtbot.mouseRelease(pad, Qt.MouseButton.LeftButton, pos=QPoint(190, 90))
    assert len(pad.strokes) == 1 and len(pad.strokes[0]) >= 40
    assert window.undo_action.text() == "&Undo Stroke" and window.undo_action.isEnabled()
    assert len(texts) <= 2


def test_a_design_edit_sets_the_undo_text_once(monkeypatch, active_window, qtbot):
    window = active_window
    stack = window.designer.stack
    stack.setCurrentIndex(stack.model().index(0, 0))
    texts = counting_set_text(monkeypatch, window.undo_action)
    qtbot.keyClick(stack, Qt.Key.Key_Delete)
    assert window.undo_action.isEnabled() and window.undo_action.text().startswith("&Undo ")
    assert len(texts) == 1


# -- Clear can be undone --------------------------------------------------------------------------------


def test_ctrl_z_after_clear_brings_the_drawing_back(active_window, qtbot):
    window = active_window
    click_tab(qtbot, window, window.draw_area)
    pad = window.draw_area.pad
    for x in (60, 120):
        qtbot.mousePress(pad, Qt.MouseButton.LeftButton, pos=QPoint(x, 40))
        for y in range(45, 200, 10):
            qtbot.mouseMove(pad, QPoint(x, y))
        qtbot.mouseRelease(pad, Qt.MouseButton.LeftButton, pos=QPoint(x, 200))
    drawn = pad.point_lists()
    assert len(drawn) == 2
    (clear,) = [b for b in window.draw_area.findChildren(QPushButton) if b.text() == "Clear"]
    qtbot.mouseClick(clear, Qt.MouseButton.LeftButton)
    assert pad.empty
    assert window.undo_action.text() == "&Undo Clear" and window.undo_action.isEnabled()
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert pad.point_lists() == drawn  # both strokes are back
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Z,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert pad.empty  # Clear again
    # On the pad: Esc clears, Ctrl+Z brings it back, a second Ctrl+Z takes back the last stroke.
    qtbot.keyClick(pad, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert pad.point_lists() == drawn
    qtbot.keyClick(pad, Qt.Key.Key_Escape)
    assert pad.empty
    qtbot.keyClick(pad, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert pad.point_lists() == drawn
    qtbot.keyClick(pad, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert pad.point_lists() == drawn[:1]
