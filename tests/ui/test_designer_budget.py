"""The designer shows the memory a design needs and marks an over-budget design like any problem."""

from __future__ import annotations

from PySide6.QtCore import Qt

from playground.core import NetworkSpec, make_layer
from playground.core import shapes as shapes_module
from playground.core.shapes import infer_shapes, training_bytes
from playground.ui.designer import PROBLEM_BACKGROUND
from playground.ui.editors import NumberEdit

START = NetworkSpec((make_layer("Flatten"), make_layer("Linear", out_features=65536),
                     make_layer("Linear", out_features=128), make_layer("Linear", out_features=10)),
                    name="wide")


def type_into(qtbot, field: NumberEdit, text: str) -> None:
    """What a user does: select the field's text, type, press Enter."""
    field.setFocus()
    field.selectAll()
    qtbot.keyClicks(field, text)
    qtbot.keyClick(field, Qt.Key.Key_Return)


def test_typing_a_huge_out_features_marks_the_design_over_budget(ready_window, qtbot):
    window = ready_window
    window.document.reset(START)
    designer = window.designer
    panel = designer.problems
    assert window.document.report.valid
    batch = window.train_area.form.config().batch_size  # the Train tab's batch size (the start preset's)
    assert f"Memory: parameters 239 MB · training at batch size {batch} about" in panel.memory.text()
    assert not panel.problem_box.isVisibleTo(designer)

    designer.stack.setCurrentIndex(designer.stack.model().index(2, 0))
    assert window.document.selected == 2
    spin = designer.properties.editors["out_features"]
    type_into(qtbot, spin, "65536")

    assert window.document.spec.layers[2].params["out_features"] == 65536
    report = window.document.report
    assert not report.valid
    messages = [label.text() for label in panel.problem_labels]
    assert messages == [
        "The design has 4,347,133,962 parameters, 17.4 GB as float32, over the limit of 2 GB; layer 3 "
        "(Linear 65536) alone has 4,295,032,832: give it fewer outputs"]
    assert panel.problem_box.isVisibleTo(designer)
    assert "ready to train" not in panel.totals.text()
    assert "Memory: parameters 17.4 GB" in panel.memory.text()
    # The row of the costliest layer is marked, and its panel says why.
    model = designer.stack.model()
    assert model.data(model.index(2, 0), Qt.ItemDataRole.BackgroundRole).color() == PROBLEM_BACKGROUND
    assert "17.4 GB" in model.data(model.index(2, 1), Qt.ItemDataRole.ToolTipRole)
    assert "over the limit of 2 GB" in designer.properties.shape_info.text()

    window.document.undo_stack.undo()
    assert window.document.report.valid and panel.problem_labels == []


def test_memory_line_follows_the_batch_size_and_warns_past_the_machine(ready_window, monkeypatch):
    window = ready_window
    window.document.reset(START)
    panel = window.designer.problems
    window.document.set_batch_size(32)
    assert "training at batch size 32 about" in panel.memory.text()
    need = training_bytes(infer_shapes(START), 4096)
    monkeypatch.setattr(shapes_module, "machine_memory_bytes", lambda: need - 1)
    window.document.set_batch_size(4096)
    text = panel.memory.text()
    assert "training at batch size 4096 about" in text and "use a smaller batch size on the Train tab" in text
    assert window.document.report.valid  # one image at a time fits: a warning, not a problem


def test_start_refuses_a_batch_size_the_machine_cannot_hold(ready_window, monkeypatch):
    window = ready_window
    window.document.reset(START)
    need = training_bytes(infer_shapes(START), 128)
    monkeypatch.setattr(shapes_module, "machine_memory_bytes", lambda: need - 1)
    window.findChild(NumberEdit, "config_batch_size").setValue(128)
    assert window.train_area.start() is False
    banner = window.train_area.banner.text()
    assert "this design needs about" in banner and "to train at batch size 128" in banner
    assert "use a smaller batch size or fewer channels" in banner


def test_the_train_tabs_batch_size_is_the_one_the_designer_estimates_for(ready_window, qtbot):
    window = ready_window
    window.document.reset(START)
    field = window.findChild(NumberEdit, "config_batch_size")
    type_into(qtbot, field, "32")
    assert field.value() == 32 and window.document.batch_size == 32
    assert "training at batch size 32 about" in window.designer.problems.memory.text()
