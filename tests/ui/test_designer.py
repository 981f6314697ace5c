"""The designer driven through its real widgets: drops, drags, edits, fixes, undo, files."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import QApplication, QMessageBox

from playground.core import PRESETS, NetworkSpec, load_design
from playground.ui.main_window import MainWindow


@pytest.fixture
def window(qtbot):
    w = MainWindow(load_torch=False)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    w.activateWindow()  # shortcuts act in the active window only
    w.windowHandle().requestActivate()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is w, timeout=10_000)
    errors = []
    w.show_error = lambda title, message: errors.append((title, message))
    w.errors = errors
    # Closing a modified window at teardown would otherwise wait on a real dialog.
    w.ask_save_changes = lambda: QMessageBox.StandardButton.Discard
    return w


def types(window) -> list[str]:
    return [layer.type for layer in window.document.spec.layers]


def drop_between(view, mime, row: int) -> None:
    """What a mouse drop does: the view asks its model to drop ``mime`` in the gap before ``row``."""
    model = view.model()
    assert model.canDropMimeData(mime, Qt.DropAction.CopyAction, row, 0, QModelIndex())
    model.dropMimeData(mime, Qt.DropAction.CopyAction, row, 0, QModelIndex())


def test_window_starts_with_the_default_preset(window):
    assert window.windowTitle().startswith("tutorial-cnn")
    assert window.designer.stack.model().rowCount() == 10
    assert "431,080 parameters" in window.designer.problems.totals.text()
    assert [window.tabs.tabText(i) for i in range(4)] == ["Design", "Train", "Evaluate", "Draw"]
    assert window.device_label.text() == "Loading PyTorch…"


def test_palette_has_every_layer_with_tooltips(window):
    from playground.core import CATALOG

    palette = window.designer.palette
    for name, layer_type in CATALOG.items():
        item = palette.type_item(name)
        assert layer_type.summary in item.toolTip(0)
        assert not item.icon(0).isNull()


def test_drop_palette_entry_at_a_position(window):
    palette = window.designer.palette
    mime = palette.mimeData([palette.type_item("Dropout")])
    drop_between(window.designer.stack, mime, 8)  # between Linear 500 (row 7) and ReLU (row 8)
    assert types(window)[7:10] == ["Linear", "Dropout", "ReLU"]
    assert window.document.selected == 8
    assert window.designer.stack.currentIndex().row() == 8
    assert window.designer.properties.title.text() == "Layer 9: Dropout"
    assert window.isWindowModified()


def test_double_click_or_enter_appends(window, qtbot):
    palette = window.designer.palette
    item = palette.type_item("GELU")
    palette.setCurrentItem(item)
    palette.setFocus()
    qtbot.keyClick(palette, Qt.Key.Key_Return)
    assert types(window)[-1] == "GELU"


def test_reorder_by_drag(window):
    view = window.designer.stack
    mime = view.model().mimeData([view.model().index(2, 0)])  # MaxPool2d, dragged
    drop_between(view, mime, 0)  # to the top
    assert types(window)[:3] == ["MaxPool2d", "Conv2d", "ReLU"]
    mime = view.model().mimeData([view.model().index(0, 0)])
    drop_between(view, mime, 3)  # back down, into the gap before row 3
    assert types(window) == [layer.type for layer in PRESETS["tutorial-cnn"].spec.layers]
    assert window.document.undo_stack.count() == 2  # each drag is one command


def test_editing_a_parameter_updates_shapes_and_totals(window, qtbot):
    stack = window.designer.stack
    stack.setCurrentIndex(stack.model().index(0, 0))
    editor = window.designer.properties.editors["out_channels"]
    editor.setValue(32)
    model = stack.model()
    assert model.data(model.index(0, 2)) == "32x24x24"
    assert model.data(model.index(0, 3)) == "832"
    expected = NetworkSpec.set_param(PRESETS["tutorial-cnn"].spec, 0, "out_channels", 32)
    from playground.core import infer_shapes

    total = infer_shapes(expected).total_parameters
    assert f"{total:,} parameters" in window.designer.problems.totals.text()
    # Typing 3, 2 and 8 into the field is one undo step.
    editor.setValue(33)
    editor.setValue(40)
    assert window.document.undo_stack.count() == 1
    window.document.undo_stack.undo()
    assert window.document.spec == PRESETS["tutorial-cnn"].spec
    assert editor.value() == 20  # the panel follows the undo


def test_invalid_design_is_marked_and_fixed_in_one_click(window, qtbot):
    window.document.remove_layer(6)  # remove Flatten: Linear 500 now gets 50x4x4
    model = window.designer.stack.model()
    assert model.data(model.index(6, 1), Qt.ItemDataRole.BackgroundRole) is not None
    assert "needs a flat vector but gets 50x4x4" in model.data(model.index(6, 1), Qt.ItemDataRole.ToolTipRole)
    assert model.data(model.index(7, 2)) == "?"
    buttons = window.designer.problems.fix_buttons
    assert [b.text() for b in buttons] == ["Insert Flatten before layer 7"]
    assert window.designer.problems.problem_box.isVisibleTo(window)
    qtbot.mouseClick(buttons[0], Qt.MouseButton.LeftButton)
    assert window.document.report.valid
    assert types(window)[6] == "Flatten"
    assert not window.designer.problems.problem_box.isVisibleTo(window)


def test_undo_and_redo_a_sequence_back_to_the_exact_spec(window, qtbot):
    start = window.document.spec
    doc = window.document
    doc.insert_layer(0, "BatchNorm")
    doc.set_param(1, "kernel_size", 3)
    doc.move_layer(3, 1)
    doc.duplicate_layer(2)
    doc.remove_layer(0)
    doc.apply_fix(doc.report.problems[0].fix) if doc.report.problems else None
    after = doc.spec
    steps = doc.undo_stack.count()
    assert steps >= 5
    stack = window.designer.stack
    stack.setFocus()
    for _ in range(steps):
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert doc.spec == start
    assert not window.isWindowModified()
    for _ in range(steps):
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Z,
                       Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert doc.spec == after


def test_delete_and_duplicate_from_the_keyboard(window, qtbot):
    stack = window.designer.stack
    stack.setFocus()
    stack.setCurrentIndex(stack.model().index(1, 0))
    qtbot.keyClick(stack, Qt.Key.Key_Delete)
    assert len(window.document.spec.layers) == 9 and types(window)[1] == "MaxPool2d"
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)
    assert types(window)[1:3] == ["MaxPool2d", "MaxPool2d"]


def test_save_and_reopen_gives_an_equal_spec(window, tmp_path):
    window.document.insert_layer(7, "Dropout")
    path = tmp_path / "mine.json"
    assert window.save_to(path)
    assert not window.isWindowModified()
    assert window.windowTitle().startswith("mine.json")
    saved = window.document.spec
    window.new_from_preset("mlp-300")
    assert window.open_file(path)
    assert window.document.spec == saved == load_design(path)
    assert str(path.resolve()) in window.recent_files()


def test_opening_a_malformed_file_keeps_the_current_design(window, tmp_path):
    window.document.insert_layer(0, "BatchNorm")
    before = window.document.spec
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format_version": 1, "layers": [{"type": "Conv9d", "params": {}}]}))
    window.ask_save_changes = lambda: QMessageBox.StandardButton.Discard
    assert not window.open_file(bad)
    assert window.document.spec == before and window.isWindowModified()
    title, message = window.errors[-1]
    assert title == "Cannot open design" and "layer 1: unknown layer type 'Conv9d'" in message


def test_saving_into_a_read_only_folder_keeps_everything(window, tmp_path, monkeypatch):
    import os

    import playground.core.atomic as atomic

    folder = tmp_path / "locked"
    folder.mkdir()
    target = folder / "design.json"
    PRESETS["mlp-300"].spec.save(target)
    before = target.read_bytes()
    os.chmod(folder, 0o555)
    if os.access(folder, os.W_OK):
        # Root may write anywhere: have the OS refuse the way it does for a user.
        def refuse(*args, **kwargs):
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(atomic.tempfile, "mkstemp", refuse)
    try:
        window.document.insert_layer(0, "BatchNorm")
        assert not window.save_to(target)
    finally:
        os.chmod(folder, 0o755)
    assert target.read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == ["design.json"]
    title, message = window.errors[-1]
    assert title == "Cannot save design" and "Permission denied" in message
    assert window.isWindowModified() and window.document.spec.layers[0].type == "BatchNorm"


def test_unsaved_changes_are_asked_about(window):
    window.document.insert_layer(0, "BatchNorm")
    answers = []

    def ask(answer):
        def _ask():
            answers.append(answer)
            return answer
        return _ask

    window.ask_save_changes = ask(QMessageBox.StandardButton.Cancel)
    window.new_design()
    assert types(window)[0] == "BatchNorm"  # cancelled: nothing lost
    window.ask_save_changes = ask(QMessageBox.StandardButton.Discard)
    window.new_design()
    assert window.document.spec.layers == () and len(answers) == 2
    assert not window.isWindowModified()


def test_close_with_unsaved_changes_can_be_cancelled(window):
    window.document.insert_layer(0, "BatchNorm")
    window.ask_save_changes = lambda: QMessageBox.StandardButton.Cancel
    assert not window.close()
    assert window.isVisible()
    window.ask_save_changes = lambda: QMessageBox.StandardButton.Discard
    assert window.close()


def test_layout_is_remembered(qtbot):
    first = MainWindow(load_torch=False)
    first.ask_save_changes = lambda: QMessageBox.StandardButton.Discard
    qtbot.addWidget(first)
    first.resize(761, 640)  # within the offscreen screen's 800x800, above the window's minimum size
    first.tabs.setCurrentIndex(2)
    first.designer.splitter.setSizes([150, 700, 261])
    first.show()
    sizes = first.designer.splitter.sizes()
    first.close()
    second = MainWindow(load_torch=False)
    qtbot.addWidget(second)
    assert (second.width(), second.height()) == (761, 640)
    second.show()
    assert second.designer.splitter.sizes() == sizes
    assert second.tabs.currentIndex() == 2


def test_torch_loads_in_the_background(qtbot):
    window = MainWindow(load_torch=False)
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.torch_loader.loaded, timeout=240_000):
        window.torch_loader.start()
    assert window.torch_ready
    assert window.device_label.text() == "Training device: CPU"


def test_a_real_drop_event_at_a_pixel_position(window, qtbot):
    """A QDropEvent on the stack's viewport, as a mouse release delivers it: the view turns the
    position into a gap (above row 8's middle: before it) and shows where it will land."""
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QDropEvent

    view = window.designer.stack
    palette = window.designer.palette
    mime = palette.mimeData([palette.type_item("Dropout")])
    rect = view.visualRect(view.model().index(8, 1))
    pos = QPointF(rect.center().x(), rect.top() + 1)
    event = QDropEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    view.dropEvent(event)
    assert types(window)[7:10] == ["Linear", "Dropout", "ReLU"]
    # Dropped below the last row: appended.
    mime = palette.mimeData([palette.type_item("Sigmoid")])
    empty = QPointF(rect.center().x(), view.viewport().height() - 5)
    view.dropEvent(QDropEvent(empty, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                              Qt.KeyboardModifier.NoModifier))
    assert types(window)[-1] == "Sigmoid"
    assert view.showDropIndicator()


def test_start_from_a_preset(window):
    action = window.preset_actions["lenet5"]
    assert action.text() == "lenet5 — LeCun's LeNet-5 (1998)"
    assert "LeNet-5" in action.toolTip()
    action.trigger()
    assert window.document.spec == PRESETS["lenet5"].spec
    assert "61,706 parameters" in window.designer.problems.totals.text()
    assert not window.isWindowModified() and window.document.undo_stack.count() == 0


def test_the_window_module_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys, playground.ui.main_window; "
            "assert 'torch' not in sys.modules, 'importing the window imports torch'")
    subprocess.run([sys.executable, "-c", code], check=True, env={**__import__('os').environ,
                                                                  "QT_QPA_PLATFORM": "offscreen"})
