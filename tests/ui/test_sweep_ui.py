"""The Sweep dialog and the learning-rate finder, used as a person would: typed values, clicks, the
results table and scatter, and the settings applied to the Train form."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import Qt

from playground.core.config import preset_config

RUN_TIMEOUT = 180_000  # ms; only bounds a hang (two worker processes each import torch)


def _train_form_for(window, **settings):
    window.new_from_preset("mlp-300")
    window.tabs.setCurrentWidget(window.train_area)
    window.train_area._set_form(preset_config("mlp-300", **settings))


def _type(qtbot, edit, text):
    edit.setFocus()
    qtbot.keyClick(edit, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(edit, text)


def test_a_tiny_sweep_runs_shows_results_and_applies_a_row(own_data_folder, ready_window, qtbot):
    from playground.ui.sweep_dialog import SweepDialog

    window = ready_window
    _train_form_for(window, epochs=1, limit=600, test_limit=300)
    area = window.train_area
    listed = area.run_list.topLevelItemCount()
    qtbot.mouseClick(area.sweep_button, Qt.MouseButton.LeftButton)
    dialog = area.findChild(SweepDialog)
    assert dialog is not None and dialog.isVisible()
    _type(qtbot, dialog.value_edits[0], "0.1,0.003")
    qtbot.keyClick(dialog.setting_boxes[1], Qt.Key.Key_Home)  # "—": batch size not swept
    assert dialog.count_label.text().startswith("2 runs of mlp-300")
    _type(qtbot, dialog.value_edits[0], "0.1..1 x1")
    assert "2 to 32 values" in dialog.count_label.text() and not dialog.start_button.isEnabled()
    _type(qtbot, dialog.value_edits[0], "0.1,0.003")

    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert dialog.running and not dialog.start_button.isEnabled() and dialog.stop_button.isEnabled()
    qtbot.waitUntil(lambda: not dialog.running, timeout=RUN_TIMEOUT)

    assert dialog.progress_label.text() == "Done: 2 runs."
    table = dialog.table
    assert table.rowCount() == 2 and table.item(0, 0).text() == "★ best"
    vals = [float(table.item(r, 2).text().rstrip("%")) for r in range(2)]
    assert vals[0] >= vals[1]
    assert dialog.best()["lr"] == 0.1  # 0.003 learns far less in one short epoch
    assert len(dialog.scatter.data) == 2 and len(dialog.best_marker.data) == 1
    # Normal runs: in the Train list, each folder's config.json holding the value it reports.
    assert area.run_list.topLevelItemCount() == listed + 2
    for result in dialog.results:
        assert json.loads((Path(result["run_dir"]) / "config.json").read_text())["lr"] == result["lr"]

    # The second row (lr 0.003) selected by a click, then applied to the form.
    rect = table.visualItemRect(table.item(1, 1))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseClick(dialog.apply_button, Qt.MouseButton.LeftButton)
    assert area.form.editors["lr"].value() == 0.003
    assert "learning rate 0.1 → 0.003" in area.banner.text()
    dialog.reject()


def test_the_lr_finder_shows_a_suggestion_and_use_applies_it(own_data_folder, active_window, qtbot, press):
    """Opened with its key (Ctrl+Shift+L, the Train menu's) from the Design area."""
    from playground.ui.lr_finder import LrFinderDialog

    window = active_window
    _train_form_for(window, limit=3000)
    window.tabs.setCurrentWidget(window.designer)
    window.designer.stack.setFocus()
    area = window.train_area
    press(Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert window.tabs.currentWidget() is area
    dialog = area.findChild(LrFinderDialog)
    assert dialog is not None and dialog.isVisible()
    qtbot.waitUntil(lambda: dialog.use_button.isEnabled(), timeout=RUN_TIMEOUT)
    lr = float(f"{dialog.suggested_lr():.3g}")
    assert dialog.status.text().startswith(f"Suggested learning rate: {lr:g}")
    assert dialog.marker.isVisible() and len(dialog.curve.xData) > 20
    qtbot.mouseClick(dialog.use_button, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()
    assert area.form.editors["lr"].value() == lr
    assert area.run_list.topLevelItemCount() == 0  # the finder keeps no run


def test_the_finders_plot_follows_a_change_to_dark(qtbot):
    from PySide6.QtGui import QPalette

    from playground.core.presets import get_preset
    from playground.ui import theme
    from playground.ui.lr_finder import LrFinderDialog

    preset = get_preset("mlp-300")
    dialog = LrFinderDialog(preset.spec, preset_config("mlp-300"))
    qtbot.addWidget(dialog)
    dark = theme.dark_palette()
    assert dialog.plot.backgroundBrush().color() != dark.color(QPalette.ColorRole.Base)
    dialog.setPalette(dark)  # what View > Dark mode does to every window
    assert dialog.plot.backgroundBrush().color() == dark.color(QPalette.ColorRole.Base)
    assert dialog.plot.getAxis("left").textPen().color() == dark.color(QPalette.ColorRole.Text)
