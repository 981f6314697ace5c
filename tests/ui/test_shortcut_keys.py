"""Every shortcut in the F1 list, pressed as keys on the widget that has the focus (not by
triggering the action): each has its effect. File dialogs are answered by patching QFileDialog."""

from __future__ import annotations

import pytest
import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from playground.core import PRESETS, load_design
from playground.core.build import build_model
from playground.core.config import TrainConfig
from playground.core.export import save_model_file
from playground.ui.main_window import MainWindow

CTRL = Qt.KeyboardModifier.ControlModifier
CTRL_SHIFT = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
K = Qt.Key


@pytest.fixture
def window(own_data_folder, active_window):
    return active_window


def answer_dialogs(monkeypatch, open_path=None, save_path=None) -> list[str]:
    asked = []

    def get_open(*args, **kwargs):
        asked.append("open")
        return str(open_path), ""

    def get_save(*args, **kwargs):
        asked.append("save")
        return str(save_path), ""

    monkeypatch.setattr(QFileDialog, "getOpenFileName", get_open)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", get_save)
    return asked


def types(window) -> list[str]:
    return [layer.type for layer in window.document.spec.layers]


def test_ctrl_n_starts_an_empty_design(window, press):
    assert window.document.spec.layers
    press(K.Key_N, CTRL)
    assert window.document.spec.layers == () and not window.isWindowModified()


def test_ctrl_o_opens_the_chosen_design(window, press, monkeypatch, tmp_path):
    path = tmp_path / "chosen.json"
    PRESETS["lenet5"].spec.save(path)
    asked = answer_dialogs(monkeypatch, open_path=path)
    press(K.Key_O, CTRL)
    assert asked == ["open"]
    assert window.document.spec == PRESETS["lenet5"].spec and window.document.path == path
    assert window.windowTitle().startswith("chosen.json")


def test_ctrl_s_saves_to_the_design_file_and_asks_for_a_name_first_time(window, press, monkeypatch, tmp_path):
    first = tmp_path / "first.json"
    asked = answer_dialogs(monkeypatch, save_path=first)
    window.document.insert_layer(0, "BatchNorm")
    press(K.Key_S, CTRL)  # no file yet: Save asks for a name
    assert asked == ["save"]
    assert load_design(first) == window.document.spec and not window.isWindowModified()
    window.document.insert_layer(0, "Dropout")
    press(K.Key_S, CTRL)  # now it saves to that file without asking
    assert asked == ["save"]
    assert load_design(first).layers[0].type == "Dropout" and not window.isWindowModified()


def test_ctrl_shift_s_saves_under_a_new_name(window, press, monkeypatch, tmp_path):
    path = tmp_path / "other.json"
    PRESETS["mlp-300"].spec.save(tmp_path / "mine.json")
    assert window.open_file(tmp_path / "mine.json")
    window.document.insert_layer(0, "BatchNorm")
    asked = answer_dialogs(monkeypatch, save_path=path)
    press(K.Key_S, CTRL_SHIFT)
    assert asked == ["save"]
    assert load_design(path) == window.document.spec and window.document.path == path
    assert load_design(tmp_path / "mine.json") == PRESETS["mlp-300"].spec  # the old file is left as it was


def test_ctrl_shift_o_opens_a_model(window, press, monkeypatch, tmp_path):
    spec = PRESETS["mlp-300"].spec
    torch.manual_seed(0)
    path = save_model_file(tmp_path / "m.pgmodel.safetensors", spec, build_model(spec).state_dict())
    asked = answer_dialogs(monkeypatch, open_path=path)
    press(K.Key_O, CTRL_SHIFT)
    assert asked == ["open"]
    assert window.document.spec == spec
    assert window.draw_area.model_box.currentText() == "Opened: m.pgmodel.safetensors"


def test_ctrl_e_opens_the_export_dialog_once_a_run_has_weights(own_data_folder, qtbot, monkeypatch):
    """A finished run with weights on disk (written before the window starts) makes Export available;
    Ctrl+E then opens the dialog on that run."""
    from playground.core.paths import runs_dir
    from playground.core.runs import RunWriter, new_run_dir
    from playground.ui.export_dialog import ExportDialog

    spec = PRESETS["mlp-300"].spec
    path = new_run_dir(runs_dir(), "exportable")
    writer = RunWriter(path, spec, TrainConfig(epochs=1, limit=600))
    writer.save_weights("best", build_model(spec).state_dict())
    writer.write_summary(status="completed", test_accuracy=0.5)
    writer.close()

    shown = []
    monkeypatch.setattr(ExportDialog, "exec", lambda dialog: shown.append(dialog) or 0)
    window = MainWindow(load_torch=False)
    qtbot.addWidget(window)
    window.ask_save_changes = lambda: QMessageBox.StandardButton.Discard
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    window.windowHandle().requestActivate()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=10_000)
    window.designer.stack.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is window.designer.stack, timeout=10_000)
    qtbot.keyClick(window.designer.stack, K.Key_E, CTRL)
    assert shown == []  # PyTorch not loaded: no runs listed yet, Export is off
    window._torch_loaded("CPU", 0.0, ["cpu"])
    assert window.export_action.isEnabled()
    qtbot.keyClick(QApplication.focusWidget(), K.Key_E, CTRL)
    (dialog,) = shown
    qtbot.addWidget(dialog)
    assert [r.path for r in dialog.runs] == [path]
    window.train_area.shutdown()


def test_ctrl_z_undoes_and_ctrl_shift_z_or_ctrl_y_redo(window, press):
    doc = window.document
    start = doc.spec
    doc.insert_layer(0, "BatchNorm")
    doc.insert_layer(0, "Dropout")
    after = doc.spec
    press(K.Key_Z, CTRL)
    press(K.Key_Z, CTRL)
    assert doc.spec == start and not window.isWindowModified()
    press(K.Key_Z, CTRL_SHIFT)
    assert types(window)[0] == "BatchNorm"
    press(K.Key_Y, CTRL)
    assert doc.spec == after


def test_del_deletes_and_ctrl_d_duplicates_the_selected_layer(window, press):
    stack = window.designer.stack
    stack.setCurrentIndex(stack.model().index(2, 0))
    assert window.document.selected == 2
    assert types(window)[1:4] == ["ReLU", "MaxPool2d", "Conv2d"]
    press(K.Key_Delete)
    assert types(window)[1:3] == ["ReLU", "Conv2d"] and len(window.document.spec.layers) == 9
    press(K.Key_D, CTRL)
    assert types(window)[1:4] == ["ReLU", "Conv2d", "Conv2d"] and len(window.document.spec.layers) == 10


def test_enter_or_double_click_in_the_palette_adds_the_layer_after_the_selected_one(window, press, qtbot):
    stack = window.designer.stack
    stack.setCurrentIndex(stack.model().index(1, 0))  # the first ReLU
    palette = window.designer.palette
    item = palette.type_item("GELU")
    palette.setCurrentItem(item)
    palette.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is palette, timeout=10_000)
    press(K.Key_Return)
    assert types(window)[1:3] == ["ReLU", "GELU"] and window.document.selected == 2
    item = palette.type_item("Tanh")
    palette.scrollToItem(item)
    rect = palette.visualItemRect(item)
    # What a double-click delivers: a press and release, then the double-click (QTest's mouseDClick
    # alone sends only the last, which an item view ignores).
    qtbot.mouseClick(palette.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(palette.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert types(window)[1:4] == ["ReLU", "GELU", "Tanh"]


def test_ctrl_1_to_4_show_the_areas(window, press):
    for key, area in ((K.Key_2, window.train_area), (K.Key_3, window.evaluate_area), (K.Key_4, window.draw_area),
                      (K.Key_5, window.gan_area), (K.Key_1, window.designer)):
        press(key, CTRL)
        assert window.tabs.currentWidget() is area


def test_f1_lists_every_shortcut(window, press, monkeypatch):
    shown = []
    monkeypatch.setattr(QMessageBox, "information", lambda parent, title, text, *a: shown.append((title, text)))
    press(K.Key_F1)
    ((title, text),) = shown
    assert title == "Keyboard shortcuts"
    for keys in ("Ctrl+N", "Ctrl+O", "Ctrl+S", "Ctrl+Shift+S", "Ctrl+Shift+O", "Ctrl+E", "Ctrl+Z",
                 "Ctrl+Shift+Z or Ctrl+Y", "Del", "Ctrl+D", "Enter or double-click in the palette",
                 "Ctrl+1 … Ctrl+5", "F1", "Ctrl+Q"):
        assert f"<b>{keys}</b>" in text  # each one tested in this file


def test_ctrl_q_quits(window, press, qtbot):
    window.document.insert_layer(0, "BatchNorm")
    asked = []
    window.ask_save_changes = lambda: asked.append(1) or QMessageBox.StandardButton.Discard
    press(K.Key_Q, CTRL)
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=10_000)
    assert asked == [1]  # asked about the unsaved change first
