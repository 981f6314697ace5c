"""What a new user met on the Design tab: typing ahead in the palette adds the layer typed, Save As
renames what is on screen, Ctrl+Return trains from any tab, a click into "all images" replaces it, and
F1 lists F2. Keys are pressed and fields clicked as a user does."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from playground.core.config import TrainConfig

K = Qt.Key
CTRL = Qt.KeyboardModifier.ControlModifier
LEFT = Qt.MouseButton.LeftButton
TINY = dict(epochs=1, limit=500, test_limit=500, batch_size=32, device="cpu", optimizer="adam", lr=0.003)


@pytest.fixture
def window(own_data_folder, active_window):
    return active_window


def types(window) -> list[str]:
    return [layer.type for layer in window.document.spec.layers]


def focus(qtbot, widget) -> None:
    widget.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is widget, timeout=10_000)


# -- 1. typing ahead in the palette ------------------------------------------------------------------


def test_typing_ahead_adds_each_layer_typed_without_pauses(window, press, qtbot):
    press(K.Key_N, CTRL)  # an empty design, the layer list focused
    palette = window.designer.palette
    for name in ("relu", "maxpool", "conv2d"):  # no waits: well within the type-ahead interval
        press(K.Key_Insert)
        assert QApplication.focusWidget() is palette
        qtbot.keyClicks(palette, name)
        press(K.Key_Return)
    assert types(window) == ["ReLU", "MaxPool2d", "Conv2d"]
    assert window.designer.palette_hint.text().startswith("Type a name to find a layer")


def test_letters_that_match_no_layer_leave_nothing_for_enter_and_say_so(window, press, qtbot):
    press(K.Key_N, CTRL)
    palette = window.designer.palette
    press(K.Key_Insert)
    qtbot.keyClicks(palette, "reluz")
    assert palette.currentItem() is None
    assert "No layer starts with “reluz”" in window.designer.palette_hint.text()
    press(K.Key_Return)
    assert types(window) == []  # not the ReLU that "relu" had found
    press(K.Key_Insert)  # starts over
    assert window.designer.palette_hint.text().startswith("Type a name to find a layer")
    qtbot.keyClicks(palette, "tanh")
    press(K.Key_Return)
    assert types(window) == ["Tanh"]


# -- 2. Save As shows the new name ---------------------------------------------------------------------


def test_save_as_shows_the_new_name_in_the_caption_and_the_train_tab(window, press, qtbot, tmp_path):
    press(K.Key_N, CTRL)
    palette = window.designer.palette
    press(K.Key_Insert)
    qtbot.keyClicks(palette, "flatten")
    press(K.Key_Return)
    assert window.document.spec.name == "untitled"
    assert window.save_to(tmp_path / "mycnn.json")
    assert window.document.spec.name == "mycnn"
    assert window.designer.network_caption.text().startswith("Network: mycnn ")
    snapshot = window.train_area.snapshot_label.text()
    assert "mycnn" in snapshot and "untitled" not in snapshot
    assert not window.document.modified


# -- 3. Ctrl+Return from the Design tab -------------------------------------------------------------------


def test_ctrl_return_on_the_design_tab_shows_the_train_tab_and_starts(window, qtbot):
    window.new_from_preset("mlp-300")
    window.train_area.form.set_config(TrainConfig(**TINY))
    assert window.tabs.currentWidget() is window.designer
    with qtbot.waitSignal(window.library.run_finished, timeout=240_000) as blocker:
        qtbot.keyClick(window, K.Key_Return, CTRL)
        assert window.tabs.currentWidget() is window.train_area
        assert window.train_area.training
    run = blocker.args[0]
    assert run.status == "completed" and run.config.limit == 500


# -- 4. a click into "all images" --------------------------------------------------------------------------


def test_a_click_into_all_images_then_typing_replaces_the_word(window, press, qtbot):
    press(K.Key_2, CTRL)
    field = window.train_area.form.editors["limit"]
    field.setValue(0)
    assert field.text() == "all images"
    qtbot.mouseClick(field, LEFT, pos=field.rect().center())
    assert QApplication.focusWidget() is field
    qtbot.keyClicks(field, "2000")
    qtbot.keyClick(field, K.Key_Tab)
    assert field.text() == "2000" and field.value() == 2000 and not field.problem()
    # A second click into a number places the cursor, as in any text field.
    qtbot.mouseClick(field, LEFT, pos=field.rect().center())
    assert not field.hasSelectedText()


# -- 5. F1 lists F2 ----------------------------------------------------------------------------------------


def test_the_shortcut_list_names_f2(window, press, qtbot):
    seen = []

    def read_and_close():
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, read_and_close)
            return
        seen.append(box.text())
        box.accept()

    QTimer.singleShot(0, read_and_close)
    press(K.Key_F1)
    assert seen and "<b>F2</b>" in seen[0] and "Rename the selected run" in seen[0]
