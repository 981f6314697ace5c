"""The Design tab by keyboard (move a layer, add one at a place, palette type-ahead), counts in
words, colours that follow a dark palette, and the first-launch hint. Keys are pressed on the
widget that has the focus, and buttons clicked, as a user does."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication, QMessageBox

from playground.core import PRESETS
from playground.ui import theme
from playground.ui.designer import PATH_HINT_CLOSED_KEY
from playground.ui.main_window import MainWindow

K = Qt.Key
ALT = Qt.KeyboardModifier.AltModifier
CTRL = Qt.KeyboardModifier.ControlModifier
TUTORIAL = [layer.type for layer in PRESETS["tutorial-cnn"].spec.layers]


@pytest.fixture
def window(own_data_folder, active_window):
    return active_window


def types(window) -> list[str]:
    return [layer.type for layer in window.document.spec.layers]


def focus(qtbot, widget) -> None:
    widget.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is widget, timeout=10_000)


def select_row(window, press, row: int) -> None:
    """Arrow keys in the layer list, from the top."""
    press(K.Key_Home)
    for _ in range(row):
        press(K.Key_Down)
    assert window.document.selected == row


# -- counts ----------------------------------------------------------------------------------------


def test_one_layer_is_not_one_layers(window, press, qtbot):
    press(K.Key_N, CTRL)  # an empty design
    assert window.designer.network_caption.text().endswith("0 layers")
    focus(qtbot, window.designer.palette)
    qtbot.keyClicks(window.designer.palette, "fl")
    press(K.Key_Return)
    assert types(window) == ["Flatten"]
    assert window.designer.network_caption.text().endswith(", 1 layer")
    assert "0 parameters · 0 multiply-adds per image" in window.designer.problems.totals.text()
    press(K.Key_Return)
    assert window.designer.network_caption.text().endswith(", 2 layers")


# -- moving a layer ----------------------------------------------------------------------------------


def test_alt_up_and_alt_down_move_the_selected_layer_one_undo_step_each(window, press):
    undo = window.document.undo_stack
    select_row(window, press, 2)  # MaxPool2d
    press(K.Key_Up, ALT)
    assert types(window)[:3] == ["Conv2d", "MaxPool2d", "ReLU"] and window.document.selected == 1
    press(K.Key_Up, ALT)
    assert types(window)[:2] == ["MaxPool2d", "Conv2d"] and window.document.selected == 0
    press(K.Key_Up, ALT)  # already at the top: nothing happens, nothing to undo
    assert types(window)[:2] == ["MaxPool2d", "Conv2d"] and undo.count() == 2
    press(K.Key_Down, ALT)
    press(K.Key_Down, ALT)
    press(K.Key_Down, ALT)
    assert types(window)[:4] == ["Conv2d", "ReLU", "Conv2d", "MaxPool2d"] and window.document.selected == 3
    assert undo.count() == 5 and undo.undoText().startswith("Move MaxPool2d") and undo.undoText().endswith("down")
    press(K.Key_Z, CTRL)
    assert types(window)[:3] == ["Conv2d", "ReLU", "MaxPool2d"]  # one step back
    for _ in range(4):
        press(K.Key_Z, CTRL)
    assert types(window) == TUTORIAL


def test_the_last_layer_does_not_move_down(window, press):
    press(K.Key_End)
    assert window.document.selected == len(TUTORIAL) - 1
    press(K.Key_Down, ALT)
    assert types(window) == TUTORIAL and window.document.undo_stack.count() == 0


def test_move_buttons_name_their_keys_and_move_the_layer(window, press, qtbot):
    buttons = window.designer.move_buttons
    assert "Alt+Up" in buttons["Up"].toolTip() and "Alt+Down" in buttons["Down"].toolTip()
    assert "Ins" in buttons["Add…"].toolTip()
    press(K.Key_Home)
    assert not buttons["Up"].isEnabled() and buttons["Down"].isEnabled()
    qtbot.mouseClick(buttons["Down"], Qt.MouseButton.LeftButton)
    assert types(window)[:2] == ["ReLU", "Conv2d"] and window.document.selected == 1
    qtbot.mouseClick(buttons["Up"], Qt.MouseButton.LeftButton)
    assert types(window) == TUTORIAL and window.document.undo_stack.count() == 2


# -- adding a layer at a place --------------------------------------------------------------------------


def test_ins_then_a_name_and_enter_add_a_layer_after_the_selected_one(window, press, qtbot):
    designer = window.designer
    select_row(window, press, 7)  # Linear 500
    press(K.Key_Insert)
    assert QApplication.focusWidget() is designer.palette
    qtbot.keyClicks(designer.palette, "drop")
    assert designer.palette.currentItem().text(0) == "Dropout"
    press(K.Key_Return)
    assert types(window)[7:10] == ["Linear", "Dropout", "ReLU"] and window.document.selected == 8
    assert window.document.undo_stack.count() == 1
    press(K.Key_Escape)  # back to the layer list, where Alt+Up moves the new layer
    assert QApplication.focusWidget() is designer.stack
    press(K.Key_Up, ALT)
    assert types(window)[6:9] == ["Flatten", "Dropout", "Linear"]


def test_with_nothing_selected_the_palette_adds_at_the_end(qtbot):
    window = MainWindow(load_torch=False)
    qtbot.addWidget(window)
    window.ask_save_changes = lambda: QMessageBox.StandardButton.Discard
    window.show()
    assert window.document.selected == -1
    palette = window.designer.palette
    palette.setCurrentItem(palette.type_item("GELU"))
    focus(qtbot, palette)
    qtbot.keyClick(palette, K.Key_Return)
    assert types(window) == [*TUTORIAL, "GELU"]
    window.train_area.shutdown()


@pytest.mark.parametrize(("typed", "lands_on"), [("li", "Linear"), ("re", "ReLU"), ("co", "Conv2d"),
                                                 ("ls", "LSTM"), ("b", "BatchNorm")])
def test_palette_type_ahead_lands_on_layers_not_group_headers(window, press, qtbot, typed, lands_on):
    palette = window.designer.palette
    focus(qtbot, palette)
    qtbot.keyClicks(palette, typed)
    assert palette.currentItem().text(0) == lands_on
    press(K.Key_Return)  # and Enter adds it (after the selected first layer)
    assert types(window)[1] == lands_on


def test_typing_the_same_letter_again_steps_through_the_layers_with_it(window, qtbot):
    palette = window.designer.palette
    focus(qtbot, palette)
    seen = []
    for _ in range(4):
        qtbot.keyClick(palette, K.Key_G)
        seen.append(palette.currentItem().text(0))
    assert seen == ["GRU", "GELU", "GRU", "GELU"]


def test_arrow_keys_in_the_palette_step_over_group_headers(window, press, qtbot):
    palette = window.designer.palette
    focus(qtbot, palette)
    press(K.Key_Home)
    assert palette.currentItem().text(0) == "Linear"  # not the "Core" header
    press(K.Key_Down)
    press(K.Key_Down)
    press(K.Key_Down)
    assert palette.currentItem().text(0) == "Conv2d"  # over the "Convolution" header
    press(K.Key_Up)
    assert palette.currentItem().text(0) == "Unflatten"
    press(K.Key_Up)
    press(K.Key_Up)
    press(K.Key_Up)
    assert palette.currentItem().text(0) == "Linear"  # the top: stays on the first layer
    press(K.Key_End)
    assert palette.currentItem().text(0) == "GELU"


# -- colours that follow the palette ------------------------------------------------------------------


def text_lightness(widget) -> float:
    """The lightness of the rendered text: the pixel furthest from the widget's background."""
    image = widget.grab().toImage()
    background = widget.palette().color(widget.backgroundRole()).lightnessF()
    best = background
    for y in range(0, image.height()):
        for x in range(0, image.width()):
            value = QColor(image.pixel(x, y)).lightnessF()
            if abs(value - background) > abs(best - background):
                best = value
    return best


@pytest.fixture
def dark_app(qapp):
    light = qapp.palette()
    qapp.setPalette(theme.dark_palette())
    yield qapp
    qapp.setPalette(light)


def test_layer_summary_and_hints_are_light_on_a_dark_palette(dark_app, qtbot, press):
    window = MainWindow(load_torch=False)
    qtbot.addWidget(window)
    window.ask_save_changes = lambda: QMessageBox.StandardButton.Discard
    window.resize(1280, 800)
    window.show()
    qtbot.waitExposed(window)
    stack = window.designer.stack
    focus(qtbot, stack)
    press(K.Key_Home)  # a layer selected: the property panel shows its summary
    designer = window.designer
    assert designer.properties.summary.text()
    for label in (designer.properties.summary, designer.palette_hint, designer.path_hint.text):
        assert text_lightness(label) > 0.6, label.text()
    assert "#059669" not in designer.problems.totals.text()  # "ready to train" in a colour for dark
    window.train_area.shutdown()


def test_colours_follow_a_palette_changed_while_the_window_is_open(qapp, qtbot, press):
    window = MainWindow(load_torch=False)
    qtbot.addWidget(window)
    window.ask_save_changes = lambda: QMessageBox.StandardButton.Discard
    window.show()
    qtbot.waitExposed(window)
    summary = window.designer.properties.summary
    assert text_lightness(summary) < 0.5
    light = qapp.palette()
    qapp.setPalette(theme.dark_palette())
    try:
        qtbot.waitUntil(lambda: text_lightness(summary) > 0.6, timeout=5_000)
    finally:
        qapp.setPalette(light)
    window.train_area.shutdown()


# -- the first-launch hint ---------------------------------------------------------------------------


def new_window(qtbot) -> MainWindow:
    window = MainWindow(load_torch=False)
    qtbot.addWidget(window)
    window.ask_save_changes = lambda: QMessageBox.StandardButton.Discard
    window.show()
    qtbot.waitExposed(window)
    return window


def test_first_launch_hint_shows_once_and_stays_closed(qtbot):
    QSettings().remove(PATH_HINT_CLOSED_KEY)  # a fresh settings store, as on a first launch
    window = new_window(qtbot)
    hint = window.designer.path_hint
    assert hint.isVisible()
    assert "Train tab" in hint.text.text() and "Draw tab" in hint.text.text()
    qtbot.mouseClick(hint.close_button, Qt.MouseButton.LeftButton)
    assert not hint.isVisible()
    window.close()
    window.train_area.shutdown()
    again = new_window(qtbot)
    assert not again.designer.path_hint.isVisible()
    again.train_area.shutdown()
